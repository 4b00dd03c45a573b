/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The manager's side of the etcd arbiter: role actions to arbiter calls, arbiter answers to role
 * events, the fence, and the arbiter in status. */
#include "log.h"
#include "manager.h"

/* What the fence keeps between the kill and the earliest moment the lease can expire. */
static usec_t fence_margin(const Manager *m)
{
        usec_t margin = m->config->arbiter->ttl / 10;
        return margin < 200 * USEC_PER_MSEC ? 200 * USEC_PER_MSEC : margin;
}

/* What the watchdog fences at if we die: the lease deadline while we hold the key; serving
 * without it (failsafe), at once; otherwise nothing. */
static void manager_fence_update_full(Manager *m, bool spawn)
{
        RoleState st = m->machine.state;
        usec_t deadline = 0;

        if (!m->fence)
                return;
        if (arbiter_holds(m->arbiter))
                deadline = arbiter_lease_deadline(m->arbiter);
        else if (role_state_is_serving(st) || st == ROLE_STOPPING ||
                 (st == ROLE_STARTING && !m->machine.awaiting_key) ||
                 m->machine.op == ROLE_OP_BOOT_ADOPT)
                deadline = 1; /* services may run without the key: fence at once */
        (void)fence_arm(m->fence, deadline, spawn);
}

static void manager_fence_update(Manager *m)
{
        manager_fence_update_full(m, true);
}

static void on_renewed(Arbiter *a, void *userdata)
{
        manager_fence_update(userdata);
}

static void on_acquired(Arbiter *a, void *userdata)
{
        Manager *m = userdata;

        fence_stand_down_old(m->fence);
        manager_fence_update(m);
        if (m->started)
                manager_dispatch(m, ROLE_EVENT_KEY_ACQUIRED);
}

static void on_refused(Arbiter *a, void *userdata)
{
        Manager *m = userdata;

        if (m->started)
                manager_dispatch(m, ROLE_EVENT_KEY_REFUSED);
}

static void on_lost(Arbiter *a, void *userdata)
{
        Manager *m = userdata;

        if (m->started)
                manager_dispatch(m, ROLE_EVENT_KEY_LOST);
}

static void on_changed(Arbiter *a, void *userdata)
{
        /* The status line names the holder; nothing for the role to do. */
}

int manager_arbiter_start(Manager *m)
{
        static const ArbiterCallbacks callbacks = {
            .acquired = on_acquired,
            .refused = on_refused,
            .lost = on_lost,
            .changed = on_changed,
            .renewed = on_renewed,
        };
        _cleanup_free_ char *error = NULL;
        int r;

        if (!m->config->arbiter)
                return 0;
        r = arbiter_new(m->event, m->config->arbiter, m->config->node_name, &callbacks, m,
                        &m->arbiter, &error);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the arbiter: %s",
                                       error ? error : strerror(-r));
        r = fence_new(m->event, m->config->path, m->config->state_dir, m->config->arbiter->ttl,
                      m->config->systemd_bus, &m->fence);
        if (r < 0)
                log_warning_errno(r, "No fence watchdog (vacataire-fence): if this agent dies "
                                     "while serving, its services run on: %m");
        log_info("arbiter: etcd %s, key %s, ttl %llus", m->config->arbiter->etcd[0],
                 m->config->arbiter->key,
                 (unsigned long long)(m->config->arbiter->ttl / USEC_PER_SEC));
        return arbiter_start(m->arbiter);
}

void manager_arbiter_free(Manager *m)
{
        /* The last word to a running watchdog; exiting is no time to start one. */
        manager_fence_update_full(m, false);
        m->fence = fence_free(m->fence);
        sd_event_source_disable_unref(m->fence_kill);
        m->fence_kill = NULL;
        m->arbiter = arbiter_free(m->arbiter);
}

static void fence_done(ServiceSet *s, int result, const char *message, void *userdata)
{
        Manager *m = userdata;

        sd_event_source_set_enabled(m->fence_kill, SD_EVENT_OFF);
        if (result < 0) {
                log_error("Fence: %s", message ? message : "the services did not all stop");
                manager_dispatch(m, ROLE_EVENT_SERVICES_STOP_FAILED);
                return;
        }
        log_notice("Fence: services stopped");
        manager_dispatch(m, ROLE_EVENT_SERVICES_STOPPED);
}

static int on_fence_kill(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        /* The lease may end soon after this: say loudly that the services may still run. */
        if (service_set_busy(m->services))
                log_error("Fence: services still stopping %llu ms before the lease can expire",
                          (unsigned long long)(fence_margin(m) / USEC_PER_MSEC));
        return 0;
}

static void manager_fence(Manager *m)
{
        usec_t now = now_usec(CLOCK_MONOTONIC), deadline = arbiter_lease_deadline(m->arbiter);
        usec_t kill_at, budget;
        int r;

        /* Never held (a restart found the peer holding the key): it serves already, so now. */
        if (deadline == 0 || deadline <= now + fence_margin(m))
                kill_at = now + fence_margin(m) / 2;
        else
                kill_at = deadline - fence_margin(m);
        budget = kill_at > now ? kill_at - now : USEC_PER_MSEC;
        log_warning("Fence: stopping services, killing what still runs within %llu ms",
                    (unsigned long long)(budget / USEC_PER_MSEC));
        if (!m->fence_kill &&
            sd_event_add_time(m->event, &m->fence_kill, CLOCK_MONOTONIC, USEC_INFINITY,
                              USEC_PER_MSEC, on_fence_kill, m) >= 0)
                sd_event_source_set_priority(m->fence_kill, SD_EVENT_PRIORITY_IMPORTANT);
        if (m->fence_kill) {
                sd_event_source_set_time(m->fence_kill, kill_at);
                sd_event_source_set_enabled(m->fence_kill, SD_EVENT_ONESHOT);
        }
        r = service_set_fence(m->services, budget, fence_done, m);
        if (r < 0) {
                log_error_errno(r, "Fence: cannot stop services: %m");
                manager_dispatch(m, ROLE_EVENT_SERVICES_STOP_FAILED);
        }
}

void manager_arbiter_apply(Manager *m, unsigned actions)
{
        RoleFacts f;

        if (!m->arbiter)
                return;
        f = manager_facts(m);
        if (actions & ROLE_ACTION_CANCEL_KEY)
                arbiter_cancel(m->arbiter);
        /* Without the peer, a holder serving in failsafe mode may still run: give it its ttl. */
        if (actions & ROLE_ACTION_ACQUIRE_KEY)
                (void)arbiter_acquire(m->arbiter, m->machine.epoch, false, !f.peer_connected);
        if (actions & ROLE_ACTION_ADOPT_KEY)
                (void)arbiter_acquire(m->arbiter, m->machine.epoch, true, false);
        if (actions & ROLE_ACTION_FENCE)
                manager_fence(m);
}

bool manager_arbiter_may_start(Manager *m)
{
        if (!m->arbiter || arbiter_holds(m->arbiter))
                return true;
        log_error("Refusing to start services without the arbiter key");
        return false;
}

static void take_released(Arbiter *a, int result, void *userdata)
{
        Manager *m = userdata;

        if (!m->take_after_release)
                return;
        m->take_after_release = false;
        /* Released or not (etcd unreachable: the lease then runs out), the peer may try now. */
        if (m->machine.op == ROLE_OP_HANDOVER_WAIT_PEER)
                manager_send_request(m, FRAME_TAKE, m->last_reason);
}

bool manager_arbiter_defer_take(Manager *m)
{
        if (!m->arbiter || arbiter_lease_deadline(m->arbiter) == 0)
                return false;
        if (arbiter_release(m->arbiter, take_released, m) < 0)
                return false;
        m->take_after_release = true;
        return true;
}

void manager_arbiter_sync(Manager *m)
{
        RoleState s = m->machine.state;

        if (!m->arbiter)
                return;
        /* Stopped for good (start failed, handed over, fenced, yielded): let the peer have it. */
        if ((s == ROLE_PASSIVE || s == ROLE_FAULT) && m->machine.op == ROLE_OP_NONE &&
            !m->machine.awaiting_key &&
            (arbiter_holds(m->arbiter) || arbiter_acquiring(m->arbiter)))
                (void)arbiter_release(m->arbiter, NULL, NULL);
        /* Failsafe: serving on the peer's word; take the key back as soon as etcd answers. */
        ArbiterStatus st;
        arbiter_get_status(m->arbiter, &st);
        if (role_state_is_serving(s) && st.phase == ARBITER_OBSERVING)
                (void)arbiter_acquire(m->arbiter, m->machine.epoch, false, false);
        manager_fence_update(m);
}

void manager_arbiter_status(Manager *m, FILE *f, JsonWriter *w)
{
        ArbiterStatus st;

        if (!m->arbiter) {
                if (w)
                        json_add_null(w, "arbiter");
                return;
        }
        arbiter_get_status(m->arbiter, &st);
        if (w) {
                json_begin_object(w, "arbiter");
                json_add_bool(w, "reachable", st.reachable);
                json_add_string(w, "endpoint", st.endpoint);
                json_add_string(w, "key", m->config->arbiter->key);
                json_add_string(w, "holder", st.holder);
                json_add_uint(w, "epoch", st.epoch);
                if (st.lease_remaining_ms >= 0)
                        json_add_int(w, "lease_remaining_ms", st.lease_remaining_ms);
                else
                        json_add_null(w, "lease_remaining_ms");
                json_add_bool(w, "held", st.held_by_us);
                json_add_string(w, "phase", arbiter_phase_to_string(st.phase));
                json_add_string(w, "error", st.error);
                json_end_object(w);
        }
        if (f) {
                fprintf(f, "arbiter  %s: %s, key %s ", st.endpoint,
                        st.reachable ? "reachable" : "unreachable", m->config->arbiter->key);
                if (st.holder)
                        fprintf(f, "held by %s (epoch %llu)", st.holder,
                                (unsigned long long)st.epoch);
                else
                        fputs("free", f);
                if (st.lease_remaining_ms >= 0)
                        fprintf(f, ", lease %lld ms left", (long long)st.lease_remaining_ms);
                if (st.phase == ARBITER_ACQUIRING)
                        fputs(", acquiring", f);
                if (st.error)
                        fprintf(f, " (%s)", st.error);
                fputc('\n', f);
        }
}
