/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "service-unit.h"

/* Command services outlive `systemctl restart vacataire`.
 *
 * Under systemd, everything the agent forks lives in vacataire.service's cgroup, and stopping or
 * restarting that unit kills the whole cgroup: a server started by a start command would die with
 * the agent. So, when the agent runs under systemd, each start command's child is first moved into
 * a transient scope unit of its own, "vacataire-<service>-<random>.scope" (StartTransientUnit with
 * PIDs=[child], CollectMode=inactive-or-failed), on the bus named by systemd_bus:
 *   1. the agent forks the child, which waits on a pipe before it execs the command;
 *   2. the agent asks systemd for the scope (asynchronously) and waits for its start job;
 *   3. then it lets the child exec, so the command and everything it forks live in the scope.
 * The scope ends, and is garbage-collected, when its last process exits. If the scope cannot be
 * made (no bus, no permission, timeout), the agent logs why and runs the command anyway, in its
 * own cgroup, as it does when not under systemd. Stop and status commands are short-lived and run
 * without a scope. After a restart the agent re-adopts the services through their status
 * commands. */

/* True when the agent runs under systemd: started by a unit (INVOCATION_ID is set) or on a host
 * booted with systemd. Whether the bus answers is the caller's next question. */
bool scope_wanted(void);

/* "vacataire-<service>-<8 hex digits>.scope"; characters a unit name cannot hold become '_'. */
int scope_unit_name(const char *service, char **ret);

/* The glob (for ListUnitsByPatterns) that matches every scope scope_unit_name() makes for service,
 * and no other service's. */
int scope_unit_pattern(const char *service, char **ret);

/* Creates the scope for a service's start command whose child is pid; done when systemd has
 * moved pid into it (result 0) or could not (result < 0, message says why). */
int scope_start(UnitManager *m, const char *service, pid_t pid, usec_t timeout, UnitJobDone done,
                void *userdata, UnitJob **ret);
