/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* The daemon's side of a vacataire-checker process: starting it and speaking its protocol
 * (checker-protocol.h). The scheduling around it is check.c. */

#include <sys/types.h>

#include "checker-protocol.h"
#include "config.h"

/* Starts checker_path with one end of a new SOCK_SEQPACKET pair as its fd 3, its signal mask and
 * handlers reset, no other fds but 0-2, in a process group of its own (pgid = pid), with
 * PR_SET_PDEATHSIG and cfg->memory_limit passed on; returns the pid and our end (non-blocking,
 * close-on-exec). cfg->name labels the process for ps. */
int checker_spawn(const char *checker_path, const ConfigCheck *cfg, pid_t *ret_pid, int *ret_fd);

/* SIGKILLs a checker and its whole process group (what its plugin forked). Call it before the
 * checker is reaped. */
void checker_kill(pid_t pid);

/* Encodes the CONFIGURE request for cfg (built once per check, resent to each new process). */
int checker_configure_message(const ConfigCheck *cfg, void **ret, size_t *ret_size);

/* How a checker process ended, as a run's message: "plugin crashed: signal 11 (Segmentation
 * fault)", "plugin exceeded memory_limit" or "checker exited with status 1". code is a CLD_*
 * si_code. */
void checker_describe_exit(int code, int status, char *buf, size_t size);

/* Seconds as a user wrote them: 0.5 -> "0.5", 2 -> "2". */
void checker_format_seconds(usec_t t, char *buf, size_t size);
