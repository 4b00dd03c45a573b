/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Claims the right ABI version but a struct shorter than the agent knows: the loader must not
 * read past it. */
#include "vacataire-plugin.h"

const struct vacataire_plugin vacataire_plugin = {
    .abi_version = VACATAIRE_PLUGIN_ABI_VERSION,
    .struct_size = 16,
    .name = "small_struct",
};
