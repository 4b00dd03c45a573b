/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "util.h"

/* One shell command (/bin/sh -c) running as a child process in its own session, watched on an
 * sd-event loop. The loop's thread must have SIGCHLD blocked (sd_event_add_child needs it). */
typedef struct Command Command;

/* status: the exit code (>= 0), or -signal if a signal killed it, or -ETIME if it hit its
 * timeout (its whole process group was then killed). */
typedef void (*CommandDone)(Command *c, int status, void *userdata);

/* Starts shell_command with stdin from /dev/null, stdout/stderr inherited, every signal unblocked
 * and at its default disposition, fds >= 3 closed, and extra_env ("KEY=value", NULL-terminated,
 * may be NULL) added to or overriding the environment. timeout is USEC_INFINITY or 0 for none.
 * On success the process group is never killed, so a server started with "&" keeps running.
 * With ret, the caller owns the command and frees it (done may do so). Without ret it is
 * fire-and-forget: freed after done, or when the loop is freed while it still runs (the
 * process is then left alone). done may be NULL. */
int command_run(sd_event *e, const char *shell_command, char *const *extra_env, usec_t timeout,
                CommandDone done, void *userdata, Command **ret);

/* Like command_run (ret required), but the child stops just before it execs the command, in its
 * own session already, until command_release(): time to move it into a transient scope unit
 * (scope.h). The timeout counts from now. If the command is freed first, the child never execs. */
int command_run_held(sd_event *e, const char *shell_command, char *const *extra_env, usec_t timeout,
                     CommandDone done, void *userdata, Command **ret);
/* Lets a held command exec; a no-op for one that is not (or no longer) held. */
void command_release(Command *c);

/* Kills the process group with SIGKILL and reaps the shell if it still runs; never calls done.
 * Only for commands started with ret. */
Command *command_free(Command *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Command *, command_free);

/* Gives up an owned command without killing it: it runs on as if started fire-and-forget,
 * done is never called, and the loop frees it. */
void command_disown(Command *c);

pid_t command_get_pid(const Command *c);
const char *command_get_shell_command(const Command *c);

/* "exit status 3", "killed by signal TERM", "timed out"; buf needs 64 bytes. */
const char *command_status_to_string(int status, char *buf, size_t size);
#define COMMAND_STATUS_STRING_MAX 64
