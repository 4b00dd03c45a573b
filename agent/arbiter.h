/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "etcd.h"

/* The arbiter key on etcd: value "<node> <epoch>", bound to a lease of cfg->ttl seconds.
 * Holding it is what allows a node to serve. The holder renews every ttl/3; a renewal counts from
 * the time it was SENT, so the lease cannot expire before confirmed_send + ttl, and the holder
 * reports the key lost (and fences) well before that. */
typedef struct Arbiter Arbiter;

typedef enum ArbiterPhase {
        ARBITER_OBSERVING, /* not holding: looking at the key for status */
        ARBITER_ACQUIRING,
        ARBITER_HOLDING,
        ARBITER_RELEASING,
        _ARBITER_PHASE_MAX,
} ArbiterPhase;

const char *arbiter_phase_to_string(ArbiterPhase p);
ArbiterPhase arbiter_phase_from_string(const char *s);

typedef struct ArbiterCallbacks {
        void (*acquired)(Arbiter *a, void *userdata);
        /* A one-shot acquire found the key held by another node. */
        void (*refused)(Arbiter *a, void *userdata);
        /* Holding: no renewal confirmed in time, or the lease is gone. One-shot acquire: no
         * answer from etcd within ttl. */
        void (*lost)(Arbiter *a, void *userdata);
        /* Holding: a renewal was confirmed (arbiter_lease_deadline moved). */
        void (*renewed)(Arbiter *a, void *userdata);
        /* Reachability or holder changed: status and log. */
        void (*changed)(Arbiter *a, void *userdata);
} ArbiterCallbacks;

typedef struct ArbiterStatus {
        ArbiterPhase phase;
        bool reachable;
        const char *endpoint; /* the endpoint in use */
        const char *holder;   /* node named by the key, NULL when free or unknown */
        uint64_t epoch;
        int64_t lease_remaining_ms; /* -1: unknown or no holder */
        bool held_by_us;
        const char *error; /* the last failure, or NULL */
} ArbiterStatus;

int arbiter_new(sd_event *e, const ConfigArbiter *cfg, const char *node, const ArbiterCallbacks *cb,
                void *userdata, Arbiter **ret, char **ret_error);
Arbiter *arbiter_free(Arbiter *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(Arbiter *, arbiter_free);

/* Starts looking at the key (status), every ttl/3. */
int arbiter_start(Arbiter *a);
/* Tries to take the key, value "<node> <epoch>", until it succeeds or arbiter_cancel. A key that
 * names this node with a live lease is re-adopted (after an agent restart). once: a single
 * answer: acquired, refused (another node holds it) or lost (etcd unreachable for ttl).
 * grace: do not take a free key before ttl has passed since this call (a holder that lost etcd
 * and then us fences within that time). */
int arbiter_acquire(Arbiter *a, uint64_t epoch, bool once, bool grace);
void arbiter_cancel(Arbiter *a);
/* Deletes the key if it is still ours (a transaction on value and mod_revision) and revokes the
 * lease; done gets 0 or -errno. Keepalives stop at once either way. */
int arbiter_release(Arbiter *a, void (*done)(Arbiter *a, int result, void *userdata),
                    void *userdata);

/* Holding, and the last confirmed renewal is recent enough to keep serving. */
bool arbiter_holds(const Arbiter *a);
bool arbiter_acquiring(const Arbiter *a);
/* Monotonic time before which the lease cannot expire (last confirmed send + ttl); 0: never held.
 */
usec_t arbiter_lease_deadline(const Arbiter *a);
void arbiter_get_status(const Arbiter *a, ArbiterStatus *ret);
