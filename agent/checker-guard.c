/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "checker-guard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "checker-protocol.h"
#include "vacataire-plugin.h"

static uint64_t guard_limit;  /* bytes the plugin may add; 0: none */
static uint64_t guard_rlimit; /* what RLIMIT_AS was set to */
static volatile uint32_t guard_run_id;
static volatile sig_atomic_t guard_in_run;
static char guard_crash_message[CHECKER_RESULT_MAX];
static char guard_altstack[64 * 1024];

/* Async-signal-safe: one field of /proc/self/status, in bytes (0 if unreadable). */
static uint64_t proc_status_bytes(const char *key)
{
        char buf[4096];
        size_t klen = strlen(key);
        ssize_t n, used = 0;
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return 0;
        while (used < (ssize_t)sizeof(buf) - 1 &&
               (n = read(fd, buf + used, sizeof(buf) - 1 - (size_t)used)) > 0)
                used += n;
        close(fd);
        buf[used] = 0;
        for (char *line = buf; line && *line;) {
                char *next = strchr(line, '\n');
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        uint64_t kb = 0;
                        for (char *p = line + klen + 1; *p && *p != '\n'; p++)
                                if (*p >= '0' && *p <= '9')
                                        kb = kb * 10 + (uint64_t)(*p - '0');
                        return kb * 1024;
                }
                line = next ? next + 1 : NULL;
        }
        return 0;
}

bool checker_guard_limit_reached(void)
{
        uint64_t margin, peak;

        if (guard_limit == 0)
                return false;
        /* A failed allocation leaves the peak just below the limit: within one allocation of
         * it. 1/16 of the limit (at least 4 MiB) stands for "one allocation". */
        margin = guard_limit / 16 > (4u << 20) ? guard_limit / 16 : (4u << 20);
        peak = proc_status_bytes("VmPeak");
        return peak + margin >= guard_rlimit;
}

/* The daemon is gone (PR_SET_PDEATHSIG) or stops us: take everything the plugin started. */
static void on_terminate(int sig)
{
        (void)kill(0, SIGKILL);
        _exit(128 + sig);
}

/* A plugin that does not check malloc() crashes when the limit bites: say so to the daemon, in
 * the run's answer, before dying of the signal as before. */
static void on_crash(int sig)
{
        if (guard_in_run && checker_guard_limit_reached()) {
                struct checker_result reply = {
                    .type = CHECKER_MSG_RESULT,
                    .id = guard_run_id,
                    .result = VACATAIRE_CRITICAL,
                };
                static char no_perfdata[1];
                struct iovec iov[3] = {{&reply, sizeof(reply)},
                                       {guard_crash_message, strlen(guard_crash_message) + 1},
                                       {no_perfdata, 1}};
                struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
                (void)sendmsg(CHECKER_FD, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                _exit(CHECKER_EXIT_MEMORY_LIMIT);
        }
        signal(sig, SIG_DFL);
        raise(sig);
}

int checker_guard_setup(uint64_t memory_limit)
{
        struct sigaction term = {.sa_handler = on_terminate};
        struct sigaction crash = {.sa_handler = on_crash, .sa_flags = SA_ONSTACK | SA_RESETHAND};
        stack_t stack = {.ss_sp = guard_altstack, .ss_size = sizeof(guard_altstack)};
        pid_t daemon = getppid();
        char limit[32];

        /* SIGKILL from the daemon's PR_SET_PDEATHSIG would leave the plugin's children behind:
         * a handled SIGTERM kills the whole group instead. Checked again afterwards in case the
         * daemon died in between. */
        if (sigaction(SIGTERM, &term, NULL) < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                return -errno;
        if (getppid() != daemon || daemon == 1)
                on_terminate(SIGTERM);

        guard_limit = memory_limit;
        if (memory_limit == 0)
                return 0;

        /* Above the size at start-up: the checker's own mappings (and a sanitizer's shadow) are
         * not the plugin's to pay for. */
        uint64_t base = proc_status_bytes("VmSize");
        guard_rlimit = base + memory_limit < base ? UINT64_MAX : base + memory_limit;
        struct rlimit rl = {.rlim_cur = guard_rlimit, .rlim_max = guard_rlimit};
        if (setrlimit(RLIMIT_AS, &rl) < 0)
                return -errno;

        checker_guard_format_bytes(memory_limit, limit, sizeof(limit));
        snprintf(guard_crash_message, sizeof(guard_crash_message),
                 "plugin exceeded memory_limit (%s) and crashed", limit);
        if (sigaltstack(&stack, NULL) < 0)
                return -errno;
        sigaction(SIGSEGV, &crash, NULL);
        sigaction(SIGBUS, &crash, NULL);
        sigaction(SIGABRT, &crash, NULL);
        return 0;
}

void checker_guard_begin_run(uint32_t id)
{
        guard_run_id = id;
        guard_in_run = 1;
}

void checker_guard_format_bytes(uint64_t bytes, char *buf, size_t size)
{
        static const char suffix[] = "KMGT";
        int i = -1;

        while (bytes != 0 && bytes % 1024 == 0 && i < 3) {
                bytes /= 1024;
                i++;
        }
        if (i < 0)
                snprintf(buf, size, "%" PRIu64, bytes);
        else
                snprintf(buf, size, "%" PRIu64 "%c", bytes, suffix[i]);
}

int checker_guard_parse_bytes(const char *s, uint64_t *ret)
{
        uint64_t v = 0, unit = 1;
        const char *p = s;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (*p) {
                const char *at = strchr("KMGT", *p >= 'a' ? *p - 'a' + 'A' : *p);
                if (!at || p[1])
                        return -EINVAL;
                unit = 1ull << (10 * (at - "KMGT" + 1));
        }
        if (v > UINT64_MAX / unit)
                return -ERANGE;
        *ret = v * unit;
        return 0;
}
