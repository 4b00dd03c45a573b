/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* libFuzzer target for the configuration loader: each input is written to a file in a private
 * directory and loaded with config_load, exactly as `vacataire -t` does. @include resolves in
 * that directory, which holds a valid fragment, a subdirectory and a fifo, so the fuzzer can
 * reach the include checks too. Beyond "no crash": a load succeeds with no error or fails with
 * at least one, every error names a file in the directory, and a loaded config has every
 * required field. */
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include "config.h"
#include "fuzz-check.h"

#define PLUGIN_DIR_DEFAULT "/nonexistent/vacataire/plugins"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[128], config_path[160];

static void write_file(const char *name, const char *text)
{
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        FUZZ_CHECK(f);
        FUZZ_CHECK(fputs(text, f) >= 0);
        FUZZ_CHECK(fclose(f) == 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void remove_dir(void)
{
        (void)nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *tmp = getenv("TMPDIR");
        char path[256];

        snprintf(dir, sizeof(dir), "%s/vc-fuzz-config.XXXXXX",
                 tmp && *tmp && strlen(tmp) < 64 ? tmp : "/tmp");
        FUZZ_CHECK(mkdtemp(dir));
        atexit(remove_dir);
        snprintf(config_path, sizeof(config_path), "%s/fuzz.conf", dir);
        write_file("timers.conf", "timers = { heartbeat = 0.1; dead_time = 0.5; };\n");
        write_file("nested.conf", "@include \"timers.conf\"\n");
        snprintf(path, sizeof(path), "%s/subdir", dir);
        FUZZ_CHECK(mkdir(path, 0700) == 0);
        snprintf(path, sizeof(path), "%s/fifo", dir);
        FUZZ_CHECK(mkfifo(path, 0600) == 0);
        return 0;
}

static void check_loaded(const Config *c)
{
        FUZZ_CHECK(c->path && streq(c->path, config_path));
        FUZZ_CHECK(c->node_name && c->peer_name && !streq(c->node_name, c->peer_name));
        FUZZ_CHECK(c->listen && c->peer_address_string && c->key_file);
        FUZZ_CHECK(c->plugin_dir && c->state_dir && c->control_socket);
        FUZZ_CHECK(c->heartbeat > 0 && c->dead_time > c->heartbeat && c->init_dead > 0);
        FUZZ_CHECK(c->role < _HOME_ROLE_MAX && c->on_peer_loss < _PEER_LOSS_MAX);
        FUZZ_CHECK(c->handover < _HANDOVER_MAX && c->systemd_bus < _SYSTEMD_BUS_MAX);
        for (size_t i = 0; i < c->n_checks; i++) {
                const ConfigCheck *k = &c->checks[i];
                FUZZ_CHECK(k->name && k->plugin && k->plugin_path);
                FUZZ_CHECK(k->interval > 0 && k->fall > 0 && k->rise > 0);
                FUZZ_CHECK(config_find_check(c, k->name) == k);
        }
        for (size_t i = 0; i < c->n_services; i++) {
                const ConfigService *s = &c->services[i];
                FUZZ_CHECK(s->name);
                FUZZ_CHECK(s->unit || (s->start && s->stop));
        }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        _cleanup_close_ int fd = -1;
        ConfigErrors errors = {};
        Config *c = NULL;
        size_t dir_len = strlen(dir);
        int r;

        fd = open(config_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
        fd = (close(fd), -1);

        r = config_load(config_path, PLUGIN_DIR_DEFAULT, &c, &errors);
        if (r == 0) {
                FUZZ_CHECK(c && errors.n == 0);
                check_loaded(c);
        } else {
                FUZZ_CHECK(r == -EINVAL && !c && errors.n > 0);
        }
        for (size_t i = 0; i < errors.n; i++) {
                /* "file:line: message" or "file: message", the file being ours. */
                FUZZ_CHECK(strncmp(errors.lines[i], dir, dir_len) == 0);
                FUZZ_CHECK(errors.lines[i][dir_len] == '/');
        }
        config_errors_done(&errors);
        config_unref(c);
        return 0;
}
