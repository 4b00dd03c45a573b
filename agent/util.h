/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t usec_t;
#define USEC_INFINITY ((usec_t)UINT64_MAX)
#define USEC_PER_SEC  ((usec_t)1000000ULL)
#define USEC_PER_MSEC ((usec_t)1000ULL)

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define ELEMENTSOF(x)  (sizeof(x) / sizeof((x)[0]))

static inline void freep(void *p)
{
        free(*(void **)p);
}
static inline void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Declares a cleanup helper for a type whose destructor accepts NULL: type##_freep. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
        static inline void func##p(type *p)                                                        \
        {                                                                                          \
                func(*p);                                                                          \
        }

/* Hands ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })

#define streq(a, b) (strcmp((a), (b)) == 0)

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

/* String tables: enum <-> name, used for every state and result. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                                     \
        const char *name##_to_string(type i)                                                       \
        {                                                                                          \
                if ((size_t)i >= ELEMENTSOF(name##_table))                                         \
                        return NULL;                                                               \
                return name##_table[i];                                                            \
        }                                                                                          \
        type name##_from_string(const char *s)                                                     \
        {                                                                                          \
                if (!s)                                                                            \
                        return (type)-EINVAL;                                                      \
                for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)                              \
                        if (name##_table[i] && streq(name##_table[i], s))                          \
                                return (type)i;                                                    \
                return (type)-EINVAL;                                                              \
        }

usec_t now_usec(clockid_t clock);
/* Seconds (as configured) to microseconds, rounding to the nearest microsecond. */
usec_t usec_from_seconds(double s);

typedef struct SocketAddress {
        struct sockaddr_storage sa;
        socklen_t len;
} SocketAddress;

/* Splits "host:port", "[v6]:port", "[fe80::1%eth0]:port", "*:port" into a malloc'd host and a
 * port (1-65535); the host is not checked. -EINVAL if the form is wrong. */
int socket_address_split(const char *s, char **ret_host, uint16_t *ret_port);
/* A numeric host ("" and "*": any IPv4 address; IPv6 may carry a zone) and a port; -EINVAL if
 * the host is not a numeric address. */
int socket_address_from_host(const char *host, uint16_t port, SocketAddress *ret);
/* "host:port" etc. where host is a numeric address (no DNS): the listen addresses. */
int socket_address_parse(const char *s, SocketAddress *ret);
void socket_address_set_port(SocketAddress *a, uint16_t port);
/* Syntax of a DNS host name (RFC 1123 labels; '_' tolerated). */
bool hostname_is_valid(const char *s);
/* Same IP address (and, for IPv6 link-local, the same zone); ports are ignored. */
bool socket_address_same_host(const struct sockaddr *a, const struct sockaddr *b);
/* Formats "1.2.3.4:5" / "[::1]:5" / "[fe80::1%eth0]:5" into buf (at least 64 bytes). */
const char *socket_address_to_string(const struct sockaddr *sa, socklen_t len, char *buf,
                                     size_t size);

int fd_set_nonblock(int fd, bool nonblock);
/* Reads a whole (small) file; refuses files above max bytes with -EFBIG. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);
/* write + fsync + rename, so readers see the old or the new file, never a mix. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);
int mkdir_p(const char *path, mode_t mode);

char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
