/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "arbiter.h"

#include <inttypes.h>

#include "log.h"

static const char *const arbiter_phase_table[_ARBITER_PHASE_MAX] = {
    [ARBITER_OBSERVING] = "observing",
    [ARBITER_ACQUIRING] = "acquiring",
    [ARBITER_HOLDING] = "holding",
    [ARBITER_RELEASING] = "releasing",
};
DEFINE_STRING_TABLE_LOOKUP(arbiter_phase, ArbiterPhase)

struct Arbiter {
        sd_event *event;
        ConfigArbiter *cfg; /* our own copy: a reload frees the configuration */
        char *node;
        Etcd *etcd;
        ArbiterCallbacks cb;
        void *userdata;
        char *key_b64;
        ArbiterPhase phase;

        /* What the last look at the key found. */
        bool reachable;
        char *holder;
        uint64_t holder_epoch;
        int64_t holder_lease;
        int64_t holder_mod_revision;
        char *holder_value_b64;
        int64_t remaining_ms; /* -1 unknown */
        usec_t remaining_at;
        char *error;

        /* Ours while holding. */
        int64_t lease;
        usec_t lease_granted; /* send time of the grant, while acquiring */
        int64_t mod_revision;
        char *value_b64;
        uint64_t epoch;
        usec_t confirmed_send; /* send time of the last confirmed renewal */
        usec_t deadline;       /* confirmed_send + ttl */

        /* Acquiring. */
        bool once, grace, looked;
        usec_t started, not_before;

        EtcdCall *call;      /* the look, grant, transaction or release in flight */
        EtcdCall *keepalive; /* the renewal in flight */
        usec_t keepalive_sent;
        sd_event_source *tick;
        sd_event_source *fence;
        void (*release_done)(Arbiter *a, int result, void *userdata);
        void *release_userdata;
};

static usec_t arbiter_interval(const Arbiter *a)
{
        return a->cfg->ttl / 3;
}

/* While waiting for the key, look often: the takeover waits on this. */
static usec_t arbiter_poll(const Arbiter *a)
{
        usec_t p = a->cfg->ttl / 15;
        return p < 100 * USEC_PER_MSEC ? 100 * USEC_PER_MSEC : p;
}

/* Past this without a confirmed renewal the key counts as lost: a third of the ttl is left for
 * the fence (stop, then kill) before the lease can expire. */
static usec_t arbiter_fence_after(const Arbiter *a)
{
        return a->cfg->ttl * 2 / 3;
}

static void arbiter_schedule(Arbiter *a, usec_t delay)
{
        sd_event_source_set_time_relative(a->tick, delay);
        sd_event_source_set_enabled(a->tick, SD_EVENT_ONESHOT);
}

static void set_error(Arbiter *a, const char *error)
{
        free(a->error);
        a->error = error ? strdup(error) : NULL;
}

static void set_reachable(Arbiter *a, bool reachable, const char *error)
{
        bool changed = a->reachable != reachable;

        if (!reachable)
                set_error(a, error);
        a->reachable = reachable;
        if (changed) {
                if (reachable)
                        log_notice("arbiter: etcd reachable again (%s)",
                                   etcd_current_endpoint(a->etcd));
                else
                        log_warning("arbiter: etcd unreachable: %s", error ? error : "no answer");
                if (a->cb.changed)
                        a->cb.changed(a, a->userdata);
        }
}

static json_object *key_request(const Arbiter *a)
{
        json_object *o = json_object_new_object();

        if (o)
                json_object_object_add(o, "key", json_object_new_string(a->key_b64));
        return o;
}

static json_object *lease_request(int64_t id)
{
        json_object *o = json_object_new_object();

        if (o)
                json_object_object_add(o, "ID", json_object_new_int64(id));
        return o;
}

static void forget_holder(Arbiter *a)
{
        free(a->holder);
        a->holder = NULL;
        free(a->holder_value_b64);
        a->holder_value_b64 = NULL;
        a->holder_epoch = 0;
        a->holder_lease = 0;
        a->holder_mod_revision = 0;
        a->remaining_ms = -1;
}

/* kvs[0] of a range answer (or none): who holds the key. */
static void parse_range(Arbiter *a, json_object *range)
{
        _cleanup_free_ char *old = a->holder ? strdup(a->holder) : NULL;
        json_object *kvs, *kv, *v;
        _cleanup_free_ char *value = NULL;
        char name[128];
        unsigned long long epoch = 0;

        forget_holder(a);
        if (range && json_object_object_get_ex(range, "kvs", &kvs) &&
            json_object_array_length(kvs) > 0) {
                kv = json_object_array_get_idx(kvs, 0);
                if (json_object_object_get_ex(kv, "value", &v) && json_object_get_string(v) &&
                    etcd_base64_decode(json_object_get_string(v), &value, NULL) >= 0 &&
                    sscanf(value, "%127s %llu", name, &epoch) >= 1) {
                        a->holder = strdup(name);
                        a->holder_value_b64 = strdup(json_object_get_string(v));
                        a->holder_epoch = epoch;
                } else
                        a->holder = strdup("?"); /* someone else's value: not ours to take */
                a->holder_lease = etcd_json_int64(kv, "lease");
                a->holder_mod_revision = etcd_json_int64(kv, "mod_revision");
        }
        if (!streq_ptr(old, a->holder)) {
                log_info("arbiter: key %s %s%s", a->cfg->key, a->holder ? "held by " : "free",
                         a->holder ? a->holder : "");
                if (a->cb.changed)
                        a->cb.changed(a, a->userdata);
        }
}

static void look_done(Arbiter *a);
static void acquire_step(Arbiter *a);
static void report_lost(Arbiter *a, const char *why);

static void become_holding(Arbiter *a, int64_t lease, int64_t mod_revision, const char *value_b64,
                           usec_t confirmed_send);

static void on_ttl(EtcdCall *call, int result, json_object *reply, const char *error,
                   void *userdata)
{
        Arbiter *a = userdata;
        int64_t ttl;

        a->call = NULL;
        if (result < 0) {
                set_reachable(a, false, error);
                return look_done(a);
        }
        ttl = etcd_json_int64(reply, "TTL");
        a->remaining_ms = ttl > 0 ? ttl * 1000 : 0;
        a->remaining_at = now_usec(CLOCK_MONOTONIC);
        look_done(a);
}

static void on_range(EtcdCall *call, int result, json_object *reply, const char *error,
                     void *userdata)
{
        Arbiter *a = userdata;
        int r;

        a->call = NULL;
        if (result < 0) {
                set_reachable(a, false, error);
                return look_done(a);
        }
        set_reachable(a, true, NULL);
        parse_range(a, reply);
        if (a->phase == ARBITER_HOLDING) {
                /* Renewing a lease proves nothing if the key went (deleted by hand, say): the
                 * other node may take it at once. */
                if (!a->holder || !streq(a->holder, a->node) || a->holder_lease != a->lease)
                        return report_lost(a, "the key no longer names this node's lease");
                return;
        }
        if (a->holder_lease != 0) {
                r = etcd_call(a->etcd, "/v3/lease/timetolive", lease_request(a->holder_lease),
                              arbiter_interval(a), on_ttl, a, &a->call);
                if (r >= 0)
                        return;
        }
        look_done(a);
}

static void arbiter_look(Arbiter *a)
{
        int r;

        if (a->call)
                return;
        r = etcd_call(a->etcd, "/v3/kv/range", key_request(a), arbiter_interval(a), on_range, a,
                      &a->call);
        if (r < 0) {
                log_error_errno(r, "arbiter: cannot ask etcd: %m");
                arbiter_schedule(a, arbiter_interval(a));
        }
}

/* ---- holding: renewals and the fence deadline ---- */

static void report_lost(Arbiter *a, const char *why)
{
        log_warning("arbiter: key %s lost: %s", a->cfg->key, why);
        etcd_call_cancel(a->keepalive);
        a->keepalive = NULL;
        sd_event_source_set_enabled(a->fence, SD_EVENT_OFF);
        a->phase = ARBITER_OBSERVING;
        a->lease = 0;
        arbiter_schedule(a, 0);
        if (a->cb.lost)
                a->cb.lost(a, a->userdata);
}

static void arm_fence(Arbiter *a)
{
        sd_event_source_set_time(a->fence, a->confirmed_send + arbiter_fence_after(a));
        sd_event_source_set_enabled(a->fence, SD_EVENT_ONESHOT);
}

static int on_fence(sd_event_source *s, uint64_t usec, void *userdata)
{
        Arbiter *a = userdata;

        if (a->phase == ARBITER_HOLDING)
                report_lost(a, "no renewal confirmed in time");
        return 0;
}

static void on_keepalive(EtcdCall *call, int result, json_object *reply, const char *error,
                         void *userdata)
{
        Arbiter *a = userdata;
        json_object *res = NULL;

        a->keepalive = NULL;
        if (a->phase != ARBITER_HOLDING)
                return;
        if (result < 0) {
                set_reachable(a, false, error);
                return;
        }
        set_reachable(a, true, NULL);
        if (!json_object_object_get_ex(reply, "result", &res) || etcd_json_int64(res, "TTL") <= 0)
                return report_lost(a, "the lease has expired");
        if (a->keepalive_sent > a->confirmed_send) {
                a->confirmed_send = a->keepalive_sent;
                a->deadline = a->confirmed_send + a->cfg->ttl;
                arm_fence(a);
                if (a->cb.renewed)
                        a->cb.renewed(a, a->userdata);
        }
}

static void send_keepalive(Arbiter *a)
{
        int r;

        if (a->keepalive)
                return; /* still waiting: its own timeout ends it */
        a->keepalive_sent = now_usec(CLOCK_MONOTONIC);
        /* Shorter than the interval, so one lost renewal does not delay the next. */
        r = etcd_call(a->etcd, "/v3/lease/keepalive", lease_request(a->lease),
                      arbiter_interval(a) * 9 / 10, on_keepalive, a, &a->keepalive);
        if (r < 0)
                log_error_errno(r, "arbiter: cannot renew the lease: %m");
}

static void become_holding(Arbiter *a, int64_t lease, int64_t mod_revision, const char *value_b64,
                           usec_t confirmed_send)
{
        char *v = strdup(value_b64);

        if (!v)
                return report_lost(a, "out of memory");
        free(a->value_b64);
        a->value_b64 = v;
        a->phase = ARBITER_HOLDING;
        a->lease = lease;
        a->mod_revision = mod_revision;
        a->confirmed_send = confirmed_send;
        a->deadline = confirmed_send + a->cfg->ttl;
        free(a->holder);
        a->holder = strdup(a->node);
        a->holder_lease = lease;
        arm_fence(a);
        send_keepalive(a);
        arbiter_schedule(a, arbiter_interval(a));
        log_notice("arbiter: holding key %s (lease %" PRIx64 ", ttl %llus)", a->cfg->key,
                   (uint64_t)lease, (unsigned long long)(a->cfg->ttl / USEC_PER_SEC));
        if (a->cb.changed)
                a->cb.changed(a, a->userdata);
        if (a->cb.acquired)
                a->cb.acquired(a, a->userdata);
}

/* ---- acquiring ---- */

static void on_adopt(EtcdCall *call, int result, json_object *reply, const char *error,
                     void *userdata)
{
        Arbiter *a = userdata;
        json_object *res = NULL;

        a->call = NULL;
        if (a->phase != ARBITER_ACQUIRING)
                return;
        if (result >= 0 && json_object_object_get_ex(reply, "result", &res) &&
            etcd_json_int64(res, "TTL") > 0 && a->holder_value_b64) {
                log_info("arbiter: the key still names this node with a live lease: re-adopted");
                return become_holding(a, a->holder_lease, a->holder_mod_revision,
                                      a->holder_value_b64, a->keepalive_sent);
        }
        if (result < 0)
                set_reachable(a, false, error);
        forget_holder(a); /* look again: a dead lease takes its key with it */
        a->looked = false;
        arbiter_schedule(a, arbiter_poll(a));
}

static void on_txn(EtcdCall *call, int result, json_object *reply, const char *error,
                   void *userdata)
{
        Arbiter *a = userdata;
        json_object *ok = NULL, *responses, *first, *range;
        _cleanup_free_ char *value = NULL;

        a->call = NULL;
        if (a->phase != ARBITER_ACQUIRING)
                return;
        if (result < 0) {
                set_reachable(a, false, error);
                return look_done(a);
        }
        set_reachable(a, true, NULL);
        if (json_object_object_get_ex(reply, "succeeded", &ok) && json_object_get_boolean(ok)) {
                json_object *header = NULL;
                json_object_object_get_ex(reply, "header", &header);
                value = strdup_printf("%s %llu", a->node, (unsigned long long)a->epoch);
                _cleanup_free_ char *b64 = value ? etcd_base64_encode(value, strlen(value)) : NULL;
                if (!b64)
                        return arbiter_schedule(a, arbiter_poll(a));
                int64_t lease = a->lease;
                a->lease = 0;
                return become_holding(a, lease, etcd_json_int64(header, "revision"), b64,
                                      a->lease_granted);
        }
        /* Someone was faster: the failure branch read the key. */
        if (json_object_object_get_ex(reply, "responses", &responses) &&
            (first = json_object_array_get_idx(responses, 0)) &&
            json_object_object_get_ex(first, "response_range", &range))
                parse_range(a, range);
        look_done(a);
}

static void send_txn(Arbiter *a)
{
        _cleanup_free_ char *value = NULL, *value_b64 = NULL;
        json_object *o, *cmp, *put, *get, *c, *p, *g, *arr;
        int r;

        value = strdup_printf("%s %llu", a->node, (unsigned long long)a->epoch);
        value_b64 = value ? etcd_base64_encode(value, strlen(value)) : NULL;
        if (!value_b64)
                return arbiter_schedule(a, arbiter_poll(a));
        /* Put only if the key does not exist (create_revision 0), bound to our lease. */
        o = json_object_new_object();
        c = json_object_new_object();
        json_object_object_add(c, "key", json_object_new_string(a->key_b64));
        json_object_object_add(c, "result", json_object_new_string("EQUAL"));
        json_object_object_add(c, "target", json_object_new_string("CREATE"));
        json_object_object_add(c, "create_revision", json_object_new_int64(0));
        cmp = json_object_new_array();
        json_object_array_add(cmp, c);
        p = json_object_new_object();
        json_object_object_add(p, "key", json_object_new_string(a->key_b64));
        json_object_object_add(p, "value", json_object_new_string(value_b64));
        json_object_object_add(p, "lease", json_object_new_int64(a->lease));
        put = json_object_new_object();
        json_object_object_add(put, "request_put", p);
        arr = json_object_new_array();
        json_object_array_add(arr, put);
        json_object_object_add(o, "compare", cmp);
        json_object_object_add(o, "success", arr);
        g = json_object_new_object();
        json_object_object_add(g, "key", json_object_new_string(a->key_b64));
        get = json_object_new_object();
        json_object_object_add(get, "request_range", g);
        arr = json_object_new_array();
        json_object_array_add(arr, get);
        json_object_object_add(o, "failure", arr);
        r = etcd_call(a->etcd, "/v3/kv/txn", o, arbiter_interval(a), on_txn, a, &a->call);
        if (r < 0)
                arbiter_schedule(a, arbiter_poll(a));
}

static void on_grant(EtcdCall *call, int result, json_object *reply, const char *error,
                     void *userdata)
{
        Arbiter *a = userdata;

        a->call = NULL;
        if (a->phase != ARBITER_ACQUIRING)
                return;
        if (result < 0) {
                set_reachable(a, false, error);
                return look_done(a);
        }
        a->lease = etcd_json_int64(reply, "ID");
        if (a->lease == 0)
                return arbiter_schedule(a, arbiter_poll(a));
        send_txn(a);
}

static void grant_and_put(Arbiter *a)
{
        json_object *o;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        /* A lease granted a while ago for an attempt that lost may be near its end: get a new
         * one, so the lease we hold always starts with the ttl we count on. */
        if (a->lease != 0 && now - a->lease_granted < arbiter_interval(a))
                return send_txn(a);
        a->lease = 0;
        a->lease_granted = now;
        o = json_object_new_object();
        if (o)
                json_object_object_add(
                    o, "TTL", json_object_new_int64((int64_t)(a->cfg->ttl / USEC_PER_SEC)));
        r = etcd_call(a->etcd, "/v3/lease/grant", o, arbiter_interval(a), on_grant, a, &a->call);
        if (r < 0)
                arbiter_schedule(a, arbiter_poll(a));
}

static void acquire_step(Arbiter *a)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (a->call)
                return;
        if (!a->looked)
                return arbiter_look(a);
        if (a->holder && streq(a->holder, a->node) && a->holder_lease != 0 && a->holder_value_b64) {
                /* Our own key from before a restart: keep its lease alive and carry on. */
                a->keepalive_sent = now;
                if (etcd_call(a->etcd, "/v3/lease/keepalive", lease_request(a->holder_lease),
                              arbiter_interval(a), on_adopt, a, &a->call) < 0)
                        arbiter_schedule(a, arbiter_poll(a));
                return;
        }
        if (a->holder)
                return arbiter_look(a);
        if (now < a->not_before) {
                usec_t wait = a->not_before - now;
                return arbiter_schedule(a, wait < arbiter_poll(a) ? wait : arbiter_poll(a));
        }
        grant_and_put(a);
}

static void look_done(Arbiter *a)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (a->phase == ARBITER_HOLDING || a->phase == ARBITER_RELEASING)
                return;
        if (a->phase == ARBITER_OBSERVING)
                return arbiter_schedule(a, arbiter_interval(a));

        if (!a->looked && a->reachable) {
                a->looked = true;
                /* A holder whose lease has well over a third of the ttl left is renewing: it
                 * fences itself before that lease ends. A free key, or one about to expire, may
                 * belong to a holder in failsafe mode (serving without etcd while it had us):
                 * it stops once it loses us, so give it a ttl from then. */
                if (a->grace && (!a->holder || a->remaining_ms < 0 ||
                                 a->remaining_ms * (int64_t)USEC_PER_MSEC <=
                                     (int64_t)(a->cfg->ttl / 3 + 500 * USEC_PER_MSEC)))
                        a->not_before = a->started + a->cfg->ttl;
                if (a->not_before > now)
                        log_info("arbiter: key %s; waiting %llu ms before taking it, for a "
                                 "holder that may be serving without etcd",
                                 a->holder ? "about to expire" : "free",
                                 (unsigned long long)((a->not_before - now) / USEC_PER_MSEC));
        }
        if (a->once) {
                if (a->reachable && a->holder && !streq(a->holder, a->node)) {
                        a->phase = ARBITER_OBSERVING;
                        arbiter_schedule(a, arbiter_interval(a));
                        if (a->cb.refused)
                                a->cb.refused(a, a->userdata);
                        return;
                }
                if (!a->reachable && now >= a->started + a->cfg->ttl) {
                        a->phase = ARBITER_OBSERVING;
                        arbiter_schedule(a, arbiter_interval(a));
                        if (a->cb.lost)
                                a->cb.lost(a, a->userdata);
                        return;
                }
        }
        if (!a->reachable || (a->holder && !streq(a->holder, a->node)))
                return arbiter_schedule(a, arbiter_poll(a));
        acquire_step(a);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        Arbiter *a = userdata;

        switch (a->phase) {
        case ARBITER_OBSERVING:
                arbiter_look(a);
                break;
        case ARBITER_ACQUIRING:
                acquire_step(a);
                break;
        case ARBITER_HOLDING:
                send_keepalive(a);
                arbiter_look(a);
                arbiter_schedule(a, arbiter_interval(a));
                break;
        default:
                break;
        }
        return 0;
}

int arbiter_acquire(Arbiter *a, uint64_t epoch, bool once, bool grace)
{
        if (a->phase == ARBITER_HOLDING) {
                /* Already ours: say so from the loop, as for any answer. */
                a->once = once;
                if (a->cb.acquired)
                        a->cb.acquired(a, a->userdata);
                return 0;
        }
        if (a->phase == ARBITER_ACQUIRING && a->once == once) {
                a->epoch = epoch;
                return 0;
        }
        etcd_call_cancel(a->call);
        a->call = NULL;
        a->phase = ARBITER_ACQUIRING;
        a->epoch = epoch;
        a->once = once;
        a->grace = grace;
        a->looked = false;
        a->started = now_usec(CLOCK_MONOTONIC);
        a->not_before = 0;
        log_info("arbiter: acquiring key %s%s", a->cfg->key, once ? " (one look)" : "");
        arbiter_schedule(a, 0);
        return 0;
}

void arbiter_cancel(Arbiter *a)
{
        if (!a || a->phase != ARBITER_ACQUIRING)
                return;
        etcd_call_cancel(a->call);
        a->call = NULL;
        if (a->lease != 0) {
                /* The lease granted for a put that never happened ends by itself; say so now. */
                (void)etcd_call(a->etcd, "/v3/lease/revoke", lease_request(a->lease),
                                arbiter_interval(a), NULL, NULL, NULL);
                a->lease = 0;
        }
        a->phase = ARBITER_OBSERVING;
        arbiter_schedule(a, arbiter_interval(a));
        log_info("arbiter: no longer acquiring key %s", a->cfg->key);
}

static void on_released(EtcdCall *call, int result, json_object *reply, const char *error,
                        void *userdata)
{
        Arbiter *a = userdata;
        json_object *ok = NULL;
        void (*done)(Arbiter *, int, void *) = a->release_done;

        a->call = NULL;
        if (result >= 0 &&
            !(json_object_object_get_ex(reply, "succeeded", &ok) && json_object_get_boolean(ok)))
                result = -ESTALE; /* not ours any more: nothing to delete */
        if (result < 0)
                log_warning("arbiter: releasing key %s: %s", a->cfg->key,
                            result == -ESTALE ? "no longer ours" : (error ? error : "failed"));
        else
                log_info("arbiter: key %s released", a->cfg->key);
        if (a->lease != 0)
                (void)etcd_call(a->etcd, "/v3/lease/revoke", lease_request(a->lease),
                                arbiter_interval(a), NULL, NULL, NULL);
        a->lease = 0;
        a->phase = ARBITER_OBSERVING;
        forget_holder(a);
        arbiter_schedule(a, 0);
        a->release_done = NULL;
        if (done)
                done(a, result, a->release_userdata);
}

int arbiter_release(Arbiter *a, void (*done)(Arbiter *a, int result, void *userdata),
                    void *userdata)
{
        json_object *o, *cmp, *c1, *c2, *del, *d, *arr;
        int r;

        if (a->phase == ARBITER_ACQUIRING)
                arbiter_cancel(a);
        if (a->phase != ARBITER_HOLDING)
                return -ENOENT;
        etcd_call_cancel(a->keepalive);
        a->keepalive = NULL;
        etcd_call_cancel(a->call);
        a->call = NULL;
        sd_event_source_set_enabled(a->fence, SD_EVENT_OFF);
        sd_event_source_set_enabled(a->tick, SD_EVENT_OFF);
        a->phase = ARBITER_RELEASING;
        a->release_done = done;
        a->release_userdata = userdata;

        /* Delete only our own key: same value, not modified since we put it. */
        o = json_object_new_object();
        c1 = json_object_new_object();
        json_object_object_add(c1, "key", json_object_new_string(a->key_b64));
        json_object_object_add(c1, "result", json_object_new_string("EQUAL"));
        json_object_object_add(c1, "target", json_object_new_string("VALUE"));
        json_object_object_add(c1, "value", json_object_new_string(a->value_b64));
        c2 = json_object_new_object();
        json_object_object_add(c2, "key", json_object_new_string(a->key_b64));
        json_object_object_add(c2, "result", json_object_new_string("EQUAL"));
        json_object_object_add(c2, "target", json_object_new_string("MOD"));
        json_object_object_add(c2, "mod_revision", json_object_new_int64(a->mod_revision));
        cmp = json_object_new_array();
        json_object_array_add(cmp, c1);
        json_object_array_add(cmp, c2);
        d = json_object_new_object();
        json_object_object_add(d, "key", json_object_new_string(a->key_b64));
        del = json_object_new_object();
        json_object_object_add(del, "request_delete_range", d);
        arr = json_object_new_array();
        json_object_array_add(arr, del);
        json_object_object_add(o, "compare", cmp);
        json_object_object_add(o, "success", arr);
        r = etcd_call(a->etcd, "/v3/kv/txn", o, a->cfg->ttl / 3, on_released, a, &a->call);
        if (r < 0) {
                a->phase = ARBITER_OBSERVING;
                a->lease = 0;
                arbiter_schedule(a, 0);
                a->release_done = NULL;
                return r;
        }
        return 0;
}

bool arbiter_holds(const Arbiter *a)
{
        return a && a->phase == ARBITER_HOLDING &&
               now_usec(CLOCK_MONOTONIC) < a->confirmed_send + arbiter_fence_after(a);
}

bool arbiter_acquiring(const Arbiter *a)
{
        return a && a->phase == ARBITER_ACQUIRING;
}

usec_t arbiter_lease_deadline(const Arbiter *a)
{
        return a ? a->deadline : 0;
}

void arbiter_get_status(const Arbiter *a, ArbiterStatus *ret)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);

        *ret = (ArbiterStatus){
            .phase = a->phase,
            .reachable = a->reachable,
            .endpoint = etcd_current_endpoint(a->etcd),
            .holder = a->holder,
            .epoch = a->holder_epoch,
            .lease_remaining_ms = -1,
            .held_by_us = a->phase == ARBITER_HOLDING,
            .error = a->reachable ? NULL : a->error,
        };
        if (a->phase == ARBITER_HOLDING) {
                ret->epoch = a->epoch;
                ret->lease_remaining_ms =
                    a->deadline > now ? (int64_t)((a->deadline - now) / USEC_PER_MSEC) : 0;
        } else if (a->holder && a->remaining_ms >= 0) {
                int64_t gone = (int64_t)((now - a->remaining_at) / USEC_PER_MSEC);
                ret->lease_remaining_ms = a->remaining_ms > gone ? a->remaining_ms - gone : 0;
        }
}

int arbiter_start(Arbiter *a)
{
        arbiter_schedule(a, 0);
        return 0;
}

int arbiter_new(sd_event *e, const ConfigArbiter *cfg, const char *node, const ArbiterCallbacks *cb,
                void *userdata, Arbiter **ret, char **ret_error)
{
        _cleanup_(arbiter_freep) Arbiter *a = NULL;
        int r;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->event = sd_event_ref(e);
        r = config_arbiter_copy(cfg, &a->cfg);
        if (r < 0)
                return r;
        a->cb = *cb;
        a->userdata = userdata;
        a->remaining_ms = -1;
        a->reachable = true; /* until shown otherwise: the first failure is worth a line */
        a->node = strdup(node);
        a->key_b64 = etcd_base64_encode(cfg->key, strlen(cfg->key));
        if (!a->node || !a->key_b64)
                return -ENOMEM;
        r = etcd_new(e, cfg, &a->etcd, ret_error);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &a->tick, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_MSEC, on_tick,
                              a);
        if (r >= 0)
                r = sd_event_add_time(e, &a->fence, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_MSEC,
                                      on_fence, a);
        if (r < 0)
                return r;
        /* The fence deadline goes before anything else due at the same time. */
        sd_event_source_set_priority(a->fence, SD_EVENT_PRIORITY_IMPORTANT);
        sd_event_source_set_enabled(a->tick, SD_EVENT_OFF);
        sd_event_source_set_enabled(a->fence, SD_EVENT_OFF);
        *ret = TAKE_PTR(a);
        return 0;
}

Arbiter *arbiter_free(Arbiter *a)
{
        if (!a)
                return NULL;
        /* Calls first: their callbacks must not run on a half-freed arbiter. */
        etcd_free(a->etcd);
        sd_event_source_disable_unref(a->tick);
        sd_event_source_disable_unref(a->fence);
        sd_event_unref(a->event);
        forget_holder(a);
        free(a->error);
        free(a->value_b64);
        free(a->key_b64);
        free(a->node);
        config_arbiter_free(a->cfg);
        free(a);
        return NULL;
}
