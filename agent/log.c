/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "log.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

static int max_level = LOG_INFO;
static const char *log_ident = "vacataire";
static enum { LOG_TARGET_CONSOLE, LOG_TARGET_PREFIXED, LOG_TARGET_JOURNAL } target;
static bool timestamps; /* VACATAIRE_LOG_TIMESTAMPS: wall-clock prefix, for benchmarks and tests */

/* JOURNAL_STREAM names the device:inode of the stream journald gave us; only if stderr is still
 * that stream (not redirected by a test or a shell) do we send native, structured entries. */
static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(const char *ident)
{
        const char *e = getenv("VACATAIRE_LOG_LEVEL");

        if (ident)
                log_ident = ident;
        if (stderr_is_journal())
                target = LOG_TARGET_JOURNAL;
        else if (isatty(STDERR_FILENO))
                target = LOG_TARGET_CONSOLE;
        else
                target = LOG_TARGET_PREFIXED;
        if (e && streq(e, "debug"))
                max_level = LOG_DEBUG;
        timestamps = getenv("VACATAIRE_LOG_TIMESTAMPS") != NULL;
}

void log_set_max_level(int level)
{
        max_level = level;
}

int log_get_max_level(void)
{
        return max_level;
}

int log_internal(int level, int error, const char *fields[], const char *format, ...)
{
        int saved_errno = errno;
        char msg[2048];
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        errno = error; /* for %m */
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);

        if (target == LOG_TARGET_JOURNAL) {
                struct iovec iov[24];
                char prio[32], message[2100], errno_field[32], ident[64];
                size_t n = 0;

                snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
                snprintf(message, sizeof(message), "MESSAGE=%s", msg);
                snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", log_ident);
                iov[n++] = (struct iovec){prio, strlen(prio)};
                iov[n++] = (struct iovec){message, strlen(message)};
                iov[n++] = (struct iovec){ident, strlen(ident)};
                if (error) {
                        snprintf(errno_field, sizeof(errno_field), "ERRNO=%d", error);
                        iov[n++] = (struct iovec){errno_field, strlen(errno_field)};
                }
                for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
                        iov[n++] = (struct iovec){(void *)fields[i], strlen(fields[i])};
                if (sd_journal_sendv(iov, (int)n) >= 0)
                        goto out;
        }
        char stamp[40] = "";
        if (timestamps) {
                usec_t t = now_usec(CLOCK_REALTIME);
                snprintf(stamp, sizeof(stamp), "[%llu.%06llu] ",
                         (unsigned long long)(t / USEC_PER_SEC),
                         (unsigned long long)(t % USEC_PER_SEC));
        }
        if (target == LOG_TARGET_CONSOLE)
                fprintf(stderr, "%s%s: %s\n", stamp, log_ident, msg);
        else
                fprintf(stderr, "<%d>%s%s\n", level, stamp, msg);
out:
        errno = saved_errno;
        return -error;
}
