/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "resolve.h"

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

/* Shared by the loop and the thread; the last one to let go frees it. */
typedef struct ResolveShared {
        atomic_int refs;
        int event_fd;
        char *host;
        uint16_t port;
        int error;
        SocketAddress addresses[RESOLVE_ADDRESSES_MAX];
        size_t n;
} ResolveShared;

struct Resolve {
        ResolveShared *shared;
        sd_event_source *io;
        ResolveFn fn;
        void *userdata;
};

static void shared_unref(ResolveShared *s)
{
        if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
                return;
        if (s->event_fd >= 0)
                close(s->event_fd);
        free(s->host);
        free(s);
}

int resolve_blocking(const char *host, uint16_t port, SocketAddress *addresses, size_t max,
                     size_t *ret_n)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
        struct addrinfo *ai = NULL;
        size_t n = 0;
        int r;

        /* A numeric address needs no lookup (and may carry an IPv6 zone). */
        if (max > 0 && socket_address_from_host(host, port, &addresses[0]) == 0) {
                *ret_n = 1;
                return 0;
        }
        r = getaddrinfo(host, NULL, &hints, &ai);
        if (r != 0)
                return r;
        for (struct addrinfo *i = ai; i && n < max; i = i->ai_next) {
                if ((i->ai_family != AF_INET && i->ai_family != AF_INET6) ||
                    i->ai_addrlen > sizeof(addresses[n].sa))
                        continue;
                memset(&addresses[n], 0, sizeof(addresses[n]));
                memcpy(&addresses[n].sa, i->ai_addr, i->ai_addrlen);
                addresses[n].len = i->ai_addrlen;
                socket_address_set_port(&addresses[n], port);
                n++;
        }
        freeaddrinfo(ai);
        if (n == 0)
                return EAI_NONAME;
        *ret_n = n;
        return 0;
}

bool resolve_error_is_not_found(int error)
{
        return error == EAI_NONAME
#ifdef EAI_NODATA
               || error == EAI_NODATA
#endif
            ;
}

const char *resolve_error_string(int error)
{
        if (resolve_error_is_not_found(error))
                return "host not found";
        return gai_strerror(error);
}

static void *resolve_thread(void *userdata)
{
        ResolveShared *s = userdata;
        uint64_t one = 1;

        s->error = resolve_blocking(s->host, s->port, s->addresses, RESOLVE_ADDRESSES_MAX, &s->n);
        (void)!write(s->event_fd, &one, sizeof(one));
        shared_unref(s);
        return NULL;
}

static int on_resolved(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
        Resolve *r = userdata;
        ResolveShared *s = r->shared;
        SocketAddress addresses[RESOLVE_ADDRESSES_MAX];
        size_t n = s->error ? 0 : s->n;
        int error = s->error;

        r->io = sd_event_source_disable_unref(r->io);
        /* The eventfd write is after the results: they are complete here. Copied, since fn may
         * free r (and with it the shared results). */
        memcpy(addresses, s->addresses, n * sizeof(addresses[0]));
        r->fn(r, error, addresses, n, r->userdata);
        return 0;
}

int resolve_start(sd_event *e, const char *host, uint16_t port, ResolveFn fn, void *userdata,
                  Resolve **ret)
{
        _cleanup_(resolve_freep) Resolve *r = NULL;
        pthread_attr_t attr;
        pthread_t thread;
        int k;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->fn = fn;
        r->userdata = userdata;
        r->shared = calloc(1, sizeof(*r->shared));
        if (!r->shared)
                return -ENOMEM;
        atomic_init(&r->shared->refs, 1);
        r->shared->port = port;
        r->shared->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->shared->event_fd < 0)
                return -errno;
        r->shared->host = strdup(host);
        if (!r->shared->host)
                return -ENOMEM;
        k = sd_event_add_io(e, &r->io, r->shared->event_fd, EPOLLIN, on_resolved, r);
        if (k < 0)
                return k;

        atomic_fetch_add(&r->shared->refs, 1);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* getaddrinfo needs little stack; keep the footprint of a thread small. */
        pthread_attr_setstacksize(&attr, 256 * 1024);
        k = pthread_create(&thread, &attr, resolve_thread, r->shared);
        pthread_attr_destroy(&attr);
        if (k != 0) {
                atomic_fetch_sub(&r->shared->refs, 1);
                return -k;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

Resolve *resolve_free(Resolve *r)
{
        if (!r)
                return NULL;
        sd_event_source_disable_unref(r->io);
        shared_unref(r->shared);
        free(r);
        return NULL;
}
