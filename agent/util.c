/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <netdb.h>
#include <stdarg.h>
#include <sys/stat.h>

usec_t now_usec(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

usec_t usec_from_seconds(double s)
{
        if (!(s > 0))
                return 0;
        if (s >= (double)(UINT64_MAX / USEC_PER_SEC))
                return USEC_INFINITY;
        return (usec_t)llround(s * (double)USEC_PER_SEC);
}

int socket_address_split(const char *s, char **ret_host, uint16_t *ret_port)
{
        _cleanup_free_ char *host = NULL;
        const char *colon, *port_s;
        char *end;
        unsigned long port;

        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *close_bracket = strchr(s, ']');
                if (!close_bracket || close_bracket[1] != ':')
                        return -EINVAL;
                host = strndup(s + 1, (size_t)(close_bracket - s - 1));
                port_s = close_bracket + 2;
        } else {
                colon = strrchr(s, ':');
                if (!colon || strchr(s, ':') != colon)
                        return -EINVAL;
                host = strndup(s, (size_t)(colon - s));
                port_s = colon + 1;
        }
        if (!host)
                return -ENOMEM;
        if (*port_s < '0' || *port_s > '9')
                return -EINVAL;
        errno = 0;
        port = strtoul(port_s, &end, 10);
        if (errno || end == port_s || *end || port == 0 || port > 65535)
                return -EINVAL;
        *ret_host = TAKE_PTR(host);
        *ret_port = (uint16_t)port;
        return 0;
}

int socket_address_from_host(const char *host, uint16_t port, SocketAddress *ret)
{
        struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
        struct addrinfo *ai = NULL;
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ret->sa;

        memset(ret, 0, sizeof(*ret));
        if (streq(host, "*") || streq(host, "")) {
                in4->sin_family = AF_INET;
                in4->sin_addr.s_addr = htonl(INADDR_ANY);
                in4->sin_port = htons(port);
                ret->len = sizeof(*in4);
                return 0;
        }
        /* getaddrinfo, not inet_pton: it also takes an IPv6 zone ("fe80::1%eth0"). */
        if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
                return -EINVAL;
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(ret->sa)) {
                freeaddrinfo(ai);
                return -EINVAL;
        }
        memcpy(&ret->sa, ai->ai_addr, ai->ai_addrlen);
        ret->len = ai->ai_addrlen;
        freeaddrinfo(ai);
        socket_address_set_port(ret, port);
        return 0;
}

void socket_address_set_port(SocketAddress *a, uint16_t port)
{
        if (a->sa.ss_family == AF_INET)
                ((struct sockaddr_in *)&a->sa)->sin_port = htons(port);
        else if (a->sa.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&a->sa)->sin6_port = htons(port);
}

int socket_address_parse(const char *s, SocketAddress *ret)
{
        _cleanup_free_ char *host = NULL;
        uint16_t port;
        int r;

        r = socket_address_split(s, &host, &port);
        if (r < 0)
                return r;
        return socket_address_from_host(host, port, ret);
}

bool hostname_is_valid(const char *s)
{
        size_t label = 0, n = strlen(s);

        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_'))
                        return false;
                if (c == '-' && label == 0)
                        return false;
                if (++label > 63)
                        return false;
        }
        return s[n - 1] != '-';
}

bool socket_address_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
        if (a->sa_family != b->sa_family)
                return false;
        if (a->sa_family == AF_INET)
                return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
                       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
        if (a->sa_family == AF_INET6) {
                const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a,
                                          *y = (const struct sockaddr_in6 *)b;
                /* A link-local address is only the same host on the same link. */
                if (IN6_IS_ADDR_LINKLOCAL(&x->sin6_addr) && x->sin6_scope_id != y->sin6_scope_id)
                        return false;
                return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
        }
        return false;
}

const char *socket_address_to_string(const struct sockaddr *sa, socklen_t len, char *buf,
                                     size_t size)
{
        char host[INET6_ADDRSTRLEN], zone[IF_NAMESIZE + 1] = "";

        if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
                inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
                snprintf(buf, size, "%s:%u", host, ntohs(in4->sin_port));
        } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
                char ifname[IF_NAMESIZE];
                inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                if (in6->sin6_scope_id != 0) {
                        if (if_indextoname(in6->sin6_scope_id, ifname))
                                snprintf(zone, sizeof(zone), "%%%s", ifname);
                        else
                                snprintf(zone, sizeof(zone), "%%%u", in6->sin6_scope_id);
                }
                snprintf(buf, size, "[%s%s]:%u", host, zone, ntohs(in6->sin6_port));
        } else
                snprintf(buf, size, "(unknown)");
        return buf;
}

int fd_set_nonblock(int fd, bool nonblock)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        flags = nonblock ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        if (fcntl(fd, F_SETFL, flags) < 0)
                return -errno;
        return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (;;) {
                if (size + 1 >= alloc) {
                        size_t n = alloc ? alloc * 2 : 4096;
                        char *p;
                        if (alloc > max + 1)
                                return -EFBIG;
                        p = realloc(buf, n);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = n;
                }
                ssize_t k = read(fd, buf + size, alloc - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t)k;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        const char *p = data;
        int r;

        tmp = strdup_printf("%s.tmp.%d", path, (int)getpid());
        if (!tmp)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                p += k;
                size -= (size_t)k;
        }
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;
fail:
        (void)unlink(tmp);
        return r;
}

int mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *copy = strdup(path);

        if (!copy)
                return -ENOMEM;
        for (char *p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(copy, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

char *strdup_printf(const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}
