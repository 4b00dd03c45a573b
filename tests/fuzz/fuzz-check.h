/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* An assert that survives NDEBUG (release builds define it): a broken invariant must abort, so
 * libFuzzer saves the input as a crash. */

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(expr)                                                                           \
        do {                                                                                       \
                if (!(expr)) {                                                                     \
                        fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
                                #expr);                                                            \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
