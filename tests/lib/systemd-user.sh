# SPDX-License-Identifier: AGPL-3.0-or-later
# A real systemd user manager for tests, without booting one (see ../shared/TESTING.md).
#
# Sourced by a test script:
#       source "$VC_SOURCE/tests/lib/systemd-user.sh"
#       sd_user_enter "$0" "$@"   # re-runs the script in a private mount namespace (once)
#       sd_user_up                # systemd --user with its session bus, ready
#       sd_user_unit h.service <<EOF ... EOF    # installs a unit and reloads
#       sd_user_ctl start h.service; sd_user_wait_state h.service active 5
# Teardown runs on EXIT: through cluster.sh's EXIT chain (vc_on_exit) when the test sources it,
# before vc_cleanup; otherwise first in the EXIT trap, keeping the exit status. Should the test shell end without it (a trap replaced, or the shell killed),
# a watcher process started by sd_user_up tears the manager down instead.
# Or as a wrapper that runs one command inside such a manager (unit test binaries use this):
#       bash tests/lib/systemd-user.sh run COMMAND [ARGS...]
# Both exit 77 when systemd or dbus-daemon is not installed.
#
# Isolation: /run/user (and /run/systemd when the host was not booted with systemd) are tmpfs
# mounts private to the namespace, the XDG directories point into a temporary directory, and the
# manager runs in a cgroup of its own (vc-sd.*), created and removed here. Without that cgroup, a
# user manager that finds itself in the root cgroup (containers, sandboxes) moves every process of
# the machine into its init.scope.
#
# The session bus is socket-activated by the manager (dbus.socket + dbus.service written here, as
# dbus-user-session ships them): a user manager puts its API on the bus only once those two units
# run, so a dbus-daemon started beside it would never see org.freedesktop.systemd1.

SD_USER_SYSTEMD=${SD_USER_SYSTEMD:-/lib/systemd/systemd}
SD_USER_TMP=
SD_USER_PID=
SD_USER_WATCHER_PID=
SD_USER_CGROUP=
SD_USER_UNIT_DIR=

sd_user_log() { printf '%s [systemd-user] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
sd_user_die() {
        sd_user_log "FAIL: $*"
        if [ -n "$SD_USER_TMP" ] && [ -f "$SD_USER_TMP/systemd.log" ]; then
                echo "----- systemd --user log (last 30 lines)" >&2
                tail -n 30 "$SD_USER_TMP/systemd.log" >&2
        fi
        exit 1
}

# Exits 77 (skip) when the binaries this needs are not installed.
sd_user_require() {
        local bin
        for bin in "$SD_USER_SYSTEMD" dbus-daemon systemctl busctl unshare; do
                if ! command -v "$bin" >/dev/null 2>&1; then
                        echo "SKIP: $bin is not installed (needs the systemd and dbus packages)" >&2
                        exit 77
                fi
        done
}

# sd_user_enter COMMAND [ARGS...]: re-executes COMMAND (the calling script and its arguments) in a
# private mount namespace, unless this process already runs in one made here.
sd_user_enter() {
        [ -n "${VC_SD_USER_NS:-}" ] && return 0
        sd_user_require
        VC_SD_USER_NS=1 exec unshare --mount --propagation private -- "$@"
}

# The cgroups (one per hierarchy systemd tracks processes in) the manager is moved into.
_sd_user_cgroup_dirs() {
        if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
                echo "/sys/fs/cgroup/$SD_USER_CGROUP"
                return
        fi
        [ -d /sys/fs/cgroup/systemd ] && echo "/sys/fs/cgroup/systemd/$SD_USER_CGROUP"
        [ -d /sys/fs/cgroup/unified ] && echo "/sys/fs/cgroup/unified/$SD_USER_CGROUP"
}

# Every directory of our cgroup in every hierarchy (the manager creates it in the v1 controller
# hierarchies too), deepest first.
_sd_user_cgroup_tree() {
        [ -n "$SD_USER_CGROUP" ] || return 0
        find /sys/fs/cgroup -maxdepth 2 -type d -name "$SD_USER_CGROUP" 2>/dev/null |
                while read -r d; do find "$d" -depth -type d; done
}

# _sd_user_wait_gone PID SECONDS: true once PID has exited.
_sd_user_wait_gone() {
        local i
        for ((i = 0; i < $2 * 20; i++)); do
                kill -0 "$1" 2>/dev/null || return 0
                sleep 0.05
        done
        ! kill -0 "$1" 2>/dev/null
}

# Puts $1 first in the EXIT trap, keeping the exit status for what was there (cluster.sh's
# vc_cleanup reads it, and ends with exit).
_sd_user_add_exit_trap() {
        local prev
        prev=$(trap -p EXIT)
        prev=${prev#"trap -- '"}
        prev=${prev%"' EXIT"}
        # shellcheck disable=SC2064
        trap "_sd_user_rc=\$?; $1; (exit \$_sd_user_rc)${prev:+; $prev}" EXIT
}

_sd_user_write_bus_units() {
        local dir=$XDG_CONFIG_HOME/systemd/user
        mkdir -p "$dir/sockets.target.wants"
        printf '[Socket]\nListenStream=%%t/bus\n' >"$dir/dbus.socket"
        printf '[Unit]\nRequires=dbus.socket\n[Service]\nType=notify\nNotifyAccess=main\nExecStart=%s --session --address=systemd: --nofork --nopidfile --systemd-activation\n' \
                "$(command -v dbus-daemon)" >"$dir/dbus.service"
        ln -s ../dbus.socket "$dir/sockets.target.wants/dbus.socket"
}

sd_user_up() {
        local d i state=
        sd_user_require
        [ -n "${VC_SD_USER_NS:-}" ] || sd_user_die "sd_user_up needs sd_user_enter first (private mount namespace)"
        SD_USER_TMP=$(mktemp -d /tmp/vc-sd.XXXXXX)
        chmod 755 "$SD_USER_TMP"
        SD_USER_CGROUP=$(basename "$SD_USER_TMP")
        if declare -F vc_on_exit >/dev/null; then
                vc_on_exit sd_user_down
        else
                _sd_user_add_exit_trap sd_user_down
        fi

        mkdir -p /run/user
        mount -t tmpfs -o mode=755 tmpfs /run/user || sd_user_die "cannot mount a tmpfs on /run/user"
        if [ ! -d /run/systemd/system ]; then
                mkdir -p /run/systemd
                mount -t tmpfs -o mode=755 tmpfs /run/systemd || sd_user_die "cannot mount a tmpfs on /run/systemd"
                mkdir /run/systemd/system
        fi
        export XDG_RUNTIME_DIR=/run/user/$(id -u)
        mkdir -m 700 "$XDG_RUNTIME_DIR"
        export DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus
        export XDG_CONFIG_HOME=$SD_USER_TMP/config XDG_DATA_HOME=$SD_USER_TMP/data
        export XDG_STATE_HOME=$SD_USER_TMP/state XDG_CACHE_HOME=$SD_USER_TMP/cache
        mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"
        SD_USER_UNIT_DIR=$XDG_RUNTIME_DIR/systemd/user
        mkdir -p "$SD_USER_UNIT_DIR"
        _sd_user_write_bus_units

        for d in $(_sd_user_cgroup_dirs); do
                mkdir "$d" || sd_user_die "cannot create the cgroup $d"
        done
        # The subshell moves itself into the new cgroup, then becomes the manager.
        (
                for d in $(_sd_user_cgroup_dirs); do echo "$BASHPID" >"$d/cgroup.procs" || exit 1; done
                SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=${SD_USER_LOG_LEVEL:-info} \
                        exec "$SD_USER_SYSTEMD" --user
        ) >"$SD_USER_TMP/systemd.log" 2>&1 </dev/null &
        SD_USER_PID=$!

        for ((i = 0; i < 200; i++)); do
                state=$(timeout 5 systemctl --user is-system-running 2>/dev/null)
                case $state in running | degraded) break ;; esac
                kill -0 "$SD_USER_PID" 2>/dev/null || sd_user_die "systemd --user exited at start"
                sleep 0.05
        done
        case $state in
        running | degraded) ;;
        *) sd_user_die "systemd --user is '$state', not running, after 10 s" ;;
        esac
        # The first call activates the bus; the manager joins it once dbus.service runs.
        for ((i = 0; i < 200; i++)); do
                timeout 5 busctl --user call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
                        org.freedesktop.DBus.Peer Ping >/dev/null 2>&1 && break
                kill -0 "$SD_USER_PID" 2>/dev/null || sd_user_die "systemd --user exited at start"
                sleep 0.05
        done
        [ "$i" -lt 200 ] || sd_user_die "systemd --user is not on the session bus after 10 s"
        # The safety net: $$ is the test shell, also in this subshell.
        (
                while kill -0 $$ 2>/dev/null; do sleep 0.2; done
                SD_USER_WATCHER_PID=
                sd_user_down
        ) </dev/null >/dev/null 2>&1 &
        SD_USER_WATCHER_PID=$!
        sd_user_log "systemd --user up (pid $SD_USER_PID, cgroup $SD_USER_CGROUP)"
}

sd_user_down() {
        local pid d i
        if [ -n "$SD_USER_WATCHER_PID" ]; then
                kill "$SD_USER_WATCHER_PID" 2>/dev/null
                wait "$SD_USER_WATCHER_PID" 2>/dev/null
                SD_USER_WATCHER_PID=
        fi
        if [ -n "$SD_USER_PID" ]; then
                # The manager stops its units (and the bus) on SIGTERM; test units keep their stop
                # timeouts short.
                kill -TERM "$SD_USER_PID" 2>/dev/null
                _sd_user_wait_gone "$SD_USER_PID" 15 || kill -KILL "$SD_USER_PID" 2>/dev/null
                wait "$SD_USER_PID" 2>/dev/null
                SD_USER_PID=
        fi
        # Whatever a killed manager left in its cgroup was started by this test.
        for d in $(_sd_user_cgroup_tree); do
                for pid in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        done
        for d in $(_sd_user_cgroup_tree); do
                for ((i = 0; i < 40; i++)); do
                        rmdir "$d" 2>/dev/null && break
                        sleep 0.05
                done
        done
        SD_USER_CGROUP=
        [ -n "$SD_USER_TMP" ] && [ -z "${VC_KEEP:-}" ] && rm -rf "$SD_USER_TMP"
        SD_USER_TMP=
        return 0
}

# sd_user_ctl ARGS...: systemctl --user, bounded.
sd_user_ctl() { timeout 30 systemctl --user "$@"; }

# sd_user_unit NAME: installs the unit read from stdin and reloads the manager.
sd_user_unit() {
        cat >"$SD_USER_UNIT_DIR/$1" || sd_user_die "cannot write $1"
        sd_user_ctl daemon-reload || sd_user_die "daemon-reload failed"
}

sd_user_state() { sd_user_ctl show -p ActiveState --value "$1" 2>/dev/null || echo "unknown"; }
sd_user_main_pid() { sd_user_ctl show -p MainPID --value "$1" 2>/dev/null; }

# sd_user_wait_state UNIT STATE [SECONDS]
sd_user_wait_state() {
        local i st=
        for ((i = 0; i < ${3:-10} * 20; i++)); do
                st=$(sd_user_state "$1")
                [ "$st" = "$2" ] && return 0
                sleep 0.05
        done
        sd_user_die "$1 is $st, expected $2 within ${3:-10} s"
}

# Run as a program: "run COMMAND..." inside a fresh manager; exits with COMMAND's status.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
        set -u
        if [ "${1:-}" != run ] || [ $# -lt 2 ]; then
                echo "usage: $0 run COMMAND [ARGS...]" >&2
                exit 64
        fi
        sd_user_enter bash "$0" "$@"
        shift
        sd_user_up
        rc=0
        "$@" || rc=$?
        exit "$rc"
fi
