/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "arbiter.h"
#include "fence.h"
#include "check-loader.h"
#include "check.h"
#include "config.h"
#include "control.h"
#include "health.h"
#include "json.h"
#include "histogram.h"
#include "history.h"
#include "key.h"
#include "notify.h"
#include "lb.h"
#include "peer.h"
#include "role.h"
#include "service-watch.h"
#include "service-unit.h"
#include "service.h"
#include "state-writer.h"

/* init_dead, handover request and drain timers fire within a millisecond (sd-event's default
 * accuracy is 250 ms). */
#define MANAGER_TIMER_ACCURACY (1 * USEC_PER_MSEC)
#include "state.h"

#define MANAGER_EVENT_QUEUE_MAX 32
/* Version of the `status --json` (and /status) document; raised when a field changes meaning
 * or goes away, not when one is added. */
#define MANAGER_STATUS_SCHEMA_VERSION 2

/* One restart budget per service (restarts per restart_window): when its restarts were. */
typedef struct RestartLog {
        usec_t *times; /* ring of the last `restarts` restart times, CLOCK_MONOTONIC */
        unsigned n, next, capacity;
        uint64_t total;
} RestartLog;

typedef struct QueuedEvent {
        RoleEvent event;
        bool has_cause;
        Cause cause;
} QueuedEvent;
/* How long every check plugin has to load before the agent refuses to start. */
#define MANAGER_CONFIGURE_TIMEOUT (30 * USEC_PER_SEC)
/* How long the new checks of a reload (and of `vacataire -t`) have to load before it is refused.
 * The loop keeps running meanwhile, so this is not a stall: unlike the unit's WatchdogSec. */
#define MANAGER_RELOAD_TIMEOUT (10 * USEC_PER_SEC)

/* Owns the event loop and every event source, and drives the role machine. */
typedef struct Manager {
        sd_event *event;
        Config *config; /* a reference, like every module that keeps it */
        Key *key;
        char *checker_path;

        Peer *peer;
        ServiceSet *services;
        Check **checks;
        size_t n_checks;
        ControlServer *control;
        HealthServer *health;        /* the load balancer's view: agent-check and HTTP */
        Notifier *notifier;          /* the notify command, one run at a time */
        LbClient *lb;                /* telling haproxy directly; NULL without "lb" */
        ServiceWatch *service_watch; /* running services, watched for death */
        char *service_died; /* "service X died (why)" while serving: counts as a failing check */
        ControlRequest *operator_request; /* quiesce/takeover waiting for its handover */

        RoleMachine machine;
        const char *last_reason;
        /* What the peer told us in its last frame. */
        RoleState peer_state;
        uint8_t peer_flags;
        uint64_t peer_epoch;
        bool peer_known;
        bool both_master; /* the peer's frames say its home role is master too */

        /* Requests to the peer: the one we wait on, and the one we answer. */
        uint32_t next_request_id;
        uint32_t outstanding_request;
        FrameType outstanding_type;
        uint32_t peer_request_id;
        char peer_reason[FRAME_MAX_PAYLOAD + 1];

        sd_event_source *init_dead_timer;
        CheckLoader *start_loader; /* the checks of the start-up, until all are ready */
        bool started;              /* every plugin loaded; peer link up; role machine booted */
        bool startup_probe;        /* the services' status, looked at once at start while passive */
        sd_event_source *drain_timer;
        sd_event_source *request_timer;
        sd_event_source *sigterm, *sigint, *sighup;

        /* Role events raised while one is being handled wait here, so handling never nests. */
        QueuedEvent queue[MANAGER_EVENT_QUEUE_MAX];
        size_t queue_len;
        bool dispatching;

        /* A reload waiting for its new checks to load (manager-reload.c). */
        Config *reload_config;
        CheckLoader *reload_loader;
        ControlRequest *reload_request; /* NULL for SIGHUP */

        /* Times ROLE_STABLE_USEC of good service after a last resort takeover. */
        sd_event_source *stable_timer;
        /* The etcd arbiter (NULL without one); manager-arbiter.c. */
        Arbiter *arbiter;
        Fence *fence;                /* the watchdog that outlives us while we hold the key */
        bool take_after_release;     /* a TAKE waits for the key's release */
        sd_event_source *fence_kill; /* the fence's last moment before the lease can expire */

        /* Stopping (manager-stop.c): a stop hands over first, a restart leaves all running. */
        sd_event_source *sigusr1;
        UnitManager *self_units; /* asks systemd which job stops us */
        UnitJob *job_query;
        sd_event_source *shutdown_timer;
        sd_event_source *restart_hold; /* the peer restarts its agent: wait init_dead for it */
        bool stop_requested;
        bool restart_requested;
        bool shutdown_dispatched;
        bool exiting;

        StateWriter *state_writer;
        sd_event_source *state_save_source;
        int state_save_error;         /* 0, or -errno of the failing save */
        char state_save_message[512]; /* what is wrong, while state_save_error */
        bool saved_valid;
        SavedState saved;

        /* manager-ops.c: causes, history, maintenance, restarts in place. */
        History *history;
        Cause cause;              /* of the event being handled */
        Cause op_cause;           /* of the operation in flight: its later steps share it */
        bool maintenance;         /* set here by an operator (or told by the peer); persisted */
        RestartLog *restart_logs; /* one per service (n_restart_logs) */
        size_t n_restart_logs;
        bool restart_in_flight;
        bool *restart_which;       /* the services the restart in flight is for */
        struct Webhook *webhook;   /* made on the first post */
        usec_t service_op_started; /* CLOCK_MONOTONIC: start of the running service operation */

        /* Counters for /metrics (metrics.c). */
        uint64_t failovers[_CAUSE_KIND_MAX]; /* takeovers by this node, by cause */
        uint64_t state_changes;
        Histogram service_start_duration, service_stop_duration;
        usec_t state_since; /* CLOCK_MONOTONIC of the last state change */
} Manager;

/* Takes a reference to config. */
int manager_new(Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Loads the key and saved state, opens sockets, starts checks and timers; then READY=1. */
int manager_start(Manager *m);
int manager_run(Manager *m);

/* Feeds one event to the role machine and carries out what it says. */
void manager_dispatch(Manager *m, RoleEvent event);
/* The same, naming what caused the event (NULL: derived from the event). */
void manager_dispatch_cause(Manager *m, RoleEvent event, const Cause *cause);
RoleFacts manager_facts(const Manager *m);

void manager_check_verdict(Check *c, CheckStatus old_status, CheckStatus new_status,
                           void *userdata);
/* Tells haproxy (config "lb") what the current role state means for it. */
void manager_update_lb(Manager *m);
/* After a configuration change: checks enabled per role, peer view, status, verdicts. */
void manager_sync(Manager *m);
/* Tells the peer our flags now (after maintenance changed), not at the next heartbeat. */
void manager_update_peer_view_public(Manager *m);

/* manager-state.c: reports failing state saves (journal, status, notify). */
int manager_watch_state_saves(Manager *m);
/* NULL while saves work, else one line saying what fails since when. */
const char *manager_state_save_error(const Manager *m);

/* manager-stop.c: SIGTERM, SIGINT and SIGUSR1; progress after each role step; the wait for a
 * restarting peer. */
int manager_stop_setup(Manager *m);
void manager_stop_free(Manager *m);
void manager_shutdown_progress(Manager *m);
void manager_peer_lost_hold(Manager *m);
/* Tells the peer link our state and flags (sent with the next frame). */
void manager_update_peer_view(Manager *m);

/* manager-reload.c: starts a reload on the loop; req (NULL for SIGHUP) is answered once the new
 * configuration is in place, or refused with the reason, and nothing changed. */
void manager_reload(Manager *m, ControlRequest *req);
/* Ends a reload in flight (at exit): its request is told, nothing changes. */
void manager_reload_cancel(Manager *m, const char *why);

/* manager-arbiter.c */
int manager_arbiter_start(Manager *m);
void manager_arbiter_free(Manager *m);
/* Carries out the role's key actions (acquire, adopt, cancel, fence). */
void manager_arbiter_apply(Manager *m, unsigned actions);
/* After each step: release a key we hold but no longer serve with; retake it in failsafe. */
void manager_arbiter_sync(Manager *m);
/* A TAKE that must wait for the key's release: true if it was deferred (sent once released). */
bool manager_arbiter_defer_take(Manager *m);
/* Fails the start if the key is not ours (a last guard; the role never asks for it). */
bool manager_arbiter_may_start(Manager *m);
void manager_arbiter_status(Manager *m, FILE *f, JsonWriter *w);
void manager_send_request(Manager *m, FrameType type, const char *reason);

/* manager-control.c */
void manager_handle_control(ControlServer *s, ControlRequest *req, const char *command,
                            const char *argument, void *userdata);
int manager_format_status(Manager *m, bool json, char **ret);
int manager_format_checks(Manager *m, bool json, char **ret);

/* manager-ops.c */
int manager_ops_init(Manager *m);
void manager_ops_free(Manager *m);
/* The cause of an event that came without one. */
void manager_event_cause(Manager *m, RoleEvent event, Cause *ret);
/* This node or the peer (as it says in its frames) is in maintenance. */
bool manager_in_maintenance(const Manager *m);
/* Sets (or clears) maintenance here, persisted; tell_peer: also asks the peer to. Returns 0, or
 * -errno if it could not be saved (then nothing changed). */
int manager_set_maintenance(Manager *m, bool on, bool tell_peer, const Cause *cause);
bool manager_restart_available(const Manager *m);
/* After a reload: restart budgets follow the services. */
void manager_ops_sync(Manager *m);
/* Carries out ROLE_ACTION_RESTART_SERVICES. */
void manager_restart_services(Manager *m);
/* A state change (or restart in place): the log line with its journal fields, history, notify
 * and the webhook. */
void manager_record_change(Manager *m, RoleState old_state, RoleState new_state, const char *reason,
                           bool alert);
/* `vacataire-ctl health`: "VACATAIRE <OK|WARNING|CRITICAL> - ... | perfdata". */
int manager_format_health(Manager *m, char **ret);

/* metrics.c: the Prometheus text exposition of /metrics. */
int manager_format_metrics(Manager *m, char **ret);
