/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* For unit tests: starts a test server (tests/lib/http-fixture.py, line-server.py, ...) that
 * prints its port on its first line of stdout, and stops it. */
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts the fixture server and reads the port it prints; -1 if it does not come up in 10 s. */
static pid_t start_server(char *const argv[], int *ret_port)
{
        char line[32] = "";
        size_t n = 0;
        int fds[2];
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -1;
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                /* Whatever happens to the test, the server goes with it. */
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                dup2(fds[1], STDOUT_FILENO);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(fds[1]);
        while (n + 1 < sizeof(line) && !strchr(line, '\n')) {
                struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
                ssize_t k;
                if (poll(&pfd, 1, 10000) <= 0)
                        break;
                k = read(fds[0], line + n, sizeof(line) - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t)k;
                line[n] = 0;
        }
        close(fds[0]);
        *ret_port = atoi(line);
        if (*ret_port <= 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return -1;
        }
        return pid;
}

static void stop_server(pid_t pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}
