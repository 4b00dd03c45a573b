/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "scope.h"

#include <sys/random.h>
#include <systemd/sd-daemon.h>

/* Room for the prefix, the random suffix and ".scope" within systemd's 255-byte unit names. */
#define SCOPE_SERVICE_NAME_MAX 200

bool scope_wanted(void)
{
        const char *invocation = getenv("INVOCATION_ID");

        return (invocation && *invocation) || sd_booted() > 0;
}

static bool unit_name_char_ok(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ':' || c == '_' || c == '.' || c == '-';
}

static void scope_escape(const char *service, char escaped[static SCOPE_SERVICE_NAME_MAX + 1])
{
        size_t n = 0;

        for (; service[n] && n < SCOPE_SERVICE_NAME_MAX; n++)
                escaped[n] = unit_name_char_ok(service[n]) ? service[n] : '_';
        escaped[n] = '\0';
}

int scope_unit_pattern(const char *service, char **ret)
{
        char escaped[SCOPE_SERVICE_NAME_MAX + 1];

        if (!service || !*service || !ret)
                return -EINVAL;
        scope_escape(service, escaped);
        /* Exactly 8 characters of suffix: service "web" must not match "web-2"'s scopes. */
        *ret = strdup_printf("vacataire-%s-\?\?\?\?\?\?\?\?.scope", escaped);
        return *ret ? 0 : -ENOMEM;
}

int scope_unit_name(const char *service, char **ret)
{
        char escaped[SCOPE_SERVICE_NAME_MAX + 1];
        uint32_t suffix;
        char *name;

        if (!service || !*service || !ret)
                return -EINVAL;
        scope_escape(service, escaped);

        /* Unique per start, so a scope still winding down never blocks the next one. */
        if (getrandom(&suffix, sizeof(suffix), GRND_NONBLOCK) != (ssize_t)sizeof(suffix))
                suffix = (uint32_t)now_usec(CLOCK_MONOTONIC) ^ ((uint32_t)getpid() << 16);

        name = strdup_printf("vacataire-%s-%08x.scope", escaped, suffix);
        if (!name)
                return -ENOMEM;
        *ret = name;
        return 0;
}

int scope_start(UnitManager *m, const char *service, pid_t pid, usec_t timeout, UnitJobDone done,
                void *userdata, UnitJob **ret)
{
        _cleanup_free_ char *name = NULL, *description = NULL;
        int r;

        r = scope_unit_name(service, &name);
        if (r < 0)
                return r;
        description = strdup_printf("vacataire service %s", service);
        if (!description)
                return -ENOMEM;
        return unit_manager_start_scope(m, name, description, pid, timeout, done, userdata, ret);
}
