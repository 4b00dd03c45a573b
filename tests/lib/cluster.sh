# SPDX-License-Identifier: AGPL-3.0-or-later
# Two real agents on loopback, each with a real HTTP service (busybox httpd) of its own.
# Sourced by tests/integration/test-* and the benchmarks; every helper bounds its own time.

set -u
VC_BUILD=${VC_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}
VC_SOURCE=${VC_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# The python helpers in tests/lib must not leave .pyc files in the source tree.
export PYTHONDONTWRITEBYTECODE=1
VC_TMP=$(mktemp -d /tmp/vc-test.XXXXXX)
chmod 755 "$VC_TMP"
# A block of 100 ports per run, so tests can run side by side: below the ephemeral range
# (32768-60999), where no client connection takes them, and claimed with a lock directory
# that names our PID (a dead owner's lock is taken over).
VC_PORT_LOCK=
vc_claim_ports() {
        local i base lock owner
        for i in $(seq 0 119); do
                base=$((20000 + (($$ + i) % 120) * 100))
                lock=/tmp/vc-ports.$base
                if ! mkdir "$lock" 2>/dev/null; then
                        owner=$(cat "$lock/pid" 2>/dev/null)
                        [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null || continue
                        mv "$lock" "$lock.stale.$$" 2>/dev/null || continue
                        rm -rf "$lock.stale.$$"
                        mkdir "$lock" 2>/dev/null || continue
                fi
                echo $$ >"$lock/pid"
                VC_PORT_LOCK=$lock
                VC_PORT_BASE=$base
                return 0
        done
        VC_PORT_BASE=$((20000 + ($$ % 120) * 100))
}
[ -n "${VC_PORT_BASE:-}" ] || vc_claim_ports
declare -A VC_AGENT_PID=()

vc_log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S.%3N)" "${VC_TEST_NAME:-test}" "$*" >&2; }
vc_fail() {
        vc_log "FAIL: $*"
        for n in "$VC_TMP"/*/; do
                [ -f "$n/agent.log" ] || continue
                echo "----- $(basename "$n") agent.log (last 40 lines)" >&2
                tail -n 40 "$n/agent.log" >&2
        done
        exit 1
}

# Stops everything the test started and removes its files. Returns 1 (after printing them) when
# an agent's log holds a sanitizer report. Registered with vc_on_exit below; never call it from a
# trap of your own.
vc_cleanup() {
        local pid f deadline status=0
        [ -z "${VC_KEEP:-}" ] || echo "files kept in $VC_TMP" >&2
        # Quiet meanwhile: bash would report every agent it sees killed.
        exec 3>&2 2>/dev/null
        [ -n "${VC_TIMER_PID:-}" ] && kill "$VC_TIMER_PID"
        [ -n "${VC_MONITOR_PID:-}" ] && kill -9 "$VC_MONITOR_PID"
        # SIGUSR1 (exit for a restart: no handover, services left as they are) first, so that a
        # sanitizer build checks the agents' exit for leaks.
        for pid in "${VC_AGENT_PID[@]}"; do kill -USR1 "$pid"; done
        deadline=$(($(date +%s%N) + ${VC_STOP_WAIT:-3} * 1000000000))
        for pid in "${VC_AGENT_PID[@]}"; do
                while kill -0 "$pid" && [ "$(date +%s%N)" -lt "$deadline" ]; do sleep 0.02; done
                kill -9 "$pid"
        done
        for f in "$VC_TMP"/*/service.pid "$VC_TMP"/*/extra*.pid; do
                [ -f "$f" ] && kill -9 "$(cat "$f")"
        done
        for pid in "${VC_AGENT_PID[@]}"; do wait "$pid"; done
        VC_AGENT_PID=()
        for f in "$VC_TMP"/*/agent.log; do
                grep -qE "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$f" || continue
                echo "FAIL: sanitizer report in $f:" >&3
                grep -E -A 12 "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$f" | head -40 >&3
                status=1
        done
        [ -n "${VC_KEEP:-}" ] || rm -rf "$VC_TMP"
        [ -z "$VC_PORT_LOCK" ] || rm -rf "$VC_PORT_LOCK"
        exec 2>&3 3>&-
        return $status
}

# One EXIT trap for every test: what a test, a harness or a library has to undo at exit is
# registered with vc_on_exit COMMAND, and the trap runs each, newest first (vc_cleanup, the first
# registered, runs last). A command that fails makes a test that passed fail: that is how a
# sanitizer report in an agent's log always fails the test. So a command returns non-zero only
# for a real failure (end it with "; true" when a kill of something already gone may fail), and
# never exits. Nobody else sets an EXIT trap; a test's own status is kept when it failed.
VC_ON_EXIT=()
vc_on_exit() { VC_ON_EXIT=("$1" "${VC_ON_EXIT[@]}"); } # vc_on_exit COMMAND
vc_exit() {
        local rc=$? cmd
        for cmd in "${VC_ON_EXIT[@]}"; do
                eval "$cmd" || [ "$rc" != 0 ] || rc=1
        done
        exit "$rc"
}
vc_on_exit vc_cleanup
trap vc_exit EXIT

vc_port() { echo $((VC_PORT_BASE + $1)); }

# Fails the test (logs shown, everything cleaned up) once SECONDS have passed.
vc_time_limit() { # vc_time_limit SECONDS (times VC_TIME_SCALE, for slow runs under valgrind)
        set -- $(($1 * ${VC_TIME_SCALE:-1}))
        (
                trap 'kill $s 2>/dev/null; exit 0' TERM
                sleep "$1" &
                s=$!
                wait $s
                kill -TERM $$
        ) </dev/null >/dev/null 2>&1 &
        VC_TIMER_PID=$!
        trap 'vc_fail "time limit of '"$1"' s exceeded"' TERM
}

# A latency bound in milliseconds, times VC_TIME_SCALE: never compare with a bare number.
vc_ms() { echo $(($1 * ${VC_TIME_SCALE:-1})); } # vc_ms MILLISECONDS

vc_make_key() { # vc_make_key FILE
        head -c 48 /dev/urandom | base64 -w0 >"$1"
        chmod 600 "$1"
}

# vc_service_scripts DIR LISTEN: start, stop and status scripts in DIR for a busybox httpd serving
# DIR/www on LISTEN ("ip:port"), its pid in DIR/service.pid. start refuses while DIR/fail-start
# exists (tests of rollback) and returns once the server answers. A killed server may stay a
# zombie for a while (its parent is whatever reaps orphans here): a zombie counts as stopped.
vc_service_scripts() {
        local d=$1 listen=$2
        cat >"$d/service-start" <<EOS
#!/bin/sh
[ -e "$d/fail-start" ] && { echo "start refused" >&2; exit 1; }
busybox httpd -f -p $listen -h "$d/www" &
echo \$! >"$d/service.pid"
i=0; while [ \$i -lt 100 ]; do
        curl -s -o /dev/null -m 1 http://$listen/ && exit 0
        sleep 0.02; i=\$((i+1))
done
exit 1
EOS
        cat >"$d/service-stop" <<EOS
#!/bin/sh
[ -f "$d/service.pid" ] || exit 0
pid=\$(cat "$d/service.pid")
alive() { st=\$(sed 's/.*) \(.\).*/\1/' /proc/\$pid/stat 2>/dev/null); [ -n "\$st" ] && [ "\$st" != Z ]; }
kill "\$pid" 2>/dev/null
i=0; while alive && [ \$i -lt 100 ]; do sleep 0.02; i=\$((i+1)); done
rm -f "$d/service.pid"
EOS
        cat >"$d/service-status" <<EOS
#!/bin/sh
[ -f "$d/service.pid" ] || exit 1
st=\$(sed 's/.*) \(.\).*/\1/' /proc/\$(cat "$d/service.pid")/stat 2>/dev/null)
[ -n "\$st" ] && [ "\$st" != Z ]
EOS
        chmod +x "$d/service-start" "$d/service-stop" "$d/service-status"
}

# vc_node NAME ROLE INDEX PEER PEER_INDEX [extra config lines...]
# INDEX picks ports: peer link base+INDEX, service base+10+INDEX.
vc_node() {
        local name=$1 role=$2 idx=$3 peer=$4 pidx=$5
        shift 5
        local d=$VC_TMP/$name
        mkdir -p "$d/www" "$d/state"
        echo "$name" >"$d/www/index.html"
        [ -f "$VC_TMP/peer.key" ] || vc_make_key "$VC_TMP/peer.key"
        local svc_port
        svc_port=$(vc_port $((10 + idx)))
        vc_service_scripts "$d" "127.0.0.1:$svc_port"
        cat >"$d/vacataire.conf" <<EOF2
node = { name = "$name"; role = "$role"; listen = "127.0.0.1:$(vc_port "$idx")"; };
peer = { name = "$peer"; address = "127.0.0.1:$(vc_port "$pidx")"; };
auth = { key_file = "${VC_KEY_FILE:-$VC_TMP/peer.key}"; };
timers = { heartbeat = ${VC_HEARTBEAT:-0.1}; dead_time = ${VC_DEAD_TIME:-0.5}; init_dead = ${VC_INIT_DEAD:-1.0}; };
failover = { on_peer_loss = "${VC_ON_PEER_LOSS:-takeover}"; handover = "${VC_HANDOVER:-break-before-make}"; drain_time = ${VC_DRAIN_TIME:-0.2}; };
plugin_dir = "$VC_BUILD/plugins";
state_dir = "$d/state";
control_socket = "$d/control.sock";
${VC_NOTIFY:+notify = \"$VC_NOTIFY\";}
checks = (
  { name = "web"; plugin = "pcheck"; interval = ${VC_INTERVAL:-0.1}; timeout = 0.5; fall = ${VC_FALL:-1}; rise = 1;
    scope = "active"; params = { pidfile = "$d/service.pid"; }; }
  ${VC_EXTRA_CHECKS:-}
);
services = (
  ${VC_EXTRA_SERVICES_BEFORE:-}
  { name = "web"; start = "$d/service-start"; stop = "$d/service-stop"; status = "$d/service-status";
    timeout = ${VC_SERVICE_TIMEOUT:-10.0}; start_retries = ${VC_START_RETRIES:-1}; ${VC_SERVICE_EXTRA:-} }
  ${VC_EXTRA_SERVICES_AFTER:-}
);
$*
EOF2
        # Snippets in VC_EXTRA_* name files of the node they end up in through @DIR@.
        sed -i "s|@DIR@|$d|g" "$d/vacataire.conf"
}

vc_start() { # vc_start NAME
        local d=$VC_TMP/$1
        # VC_AGENT_WRAPPER (e.g. "valgrind --log-file=...") runs the agent under a tool that
        # execs it in place, so $! stays the agent's PID.
        # shellcheck disable=SC2086
        ${VC_AGENT_WRAPPER:-} "$VC_BUILD/vacataire" -c "$d/vacataire.conf" >>"$d/agent.log" 2>&1 &
        VC_AGENT_PID[$1]=$!
        local i
        for i in $(seq $((${VC_START_WAIT:-5} * 20))); do
                [ -S "$d/control.sock" ] && vc_ctl "$1" status >/dev/null 2>&1 && return 0
                kill -0 "${VC_AGENT_PID[$1]}" 2>/dev/null || vc_fail "agent $1 exited at start"
                sleep 0.05
        done
        vc_fail "agent $1 did not answer on its control socket"
}

vc_stop() { # vc_stop NAME [SIGNAL]
        local pid=${VC_AGENT_PID[$1]:-}
        [ -n "$pid" ] || return 0
        kill -"${2:-TERM}" "$pid" 2>/dev/null
        { wait "$pid"; } 2>/dev/null
        unset "VC_AGENT_PID[$1]"
        rm -f "$VC_TMP/$1/control.sock"
}

vc_ctl() { # vc_ctl NAME ARGS...
        local n=$1
        shift
        # shellcheck disable=SC2086
        ${VC_CTL_WRAPPER:-} "$VC_BUILD/vacataire-ctl" -s "$VC_TMP/$n/control.sock" "$@"
}

vc_json() { # vc_json NAME PYTHON-EXPR-ON-s
        vc_ctl "$1" status --json 2>/dev/null | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}

vc_state() { vc_json "$1" 's["state"]' 2>/dev/null || echo "down"; }

vc_wait_state() { # vc_wait_state NAME STATE [SECONDS]
        local deadline=$(($(date +%s%N) + ${3:-10} * 1000000000)) st
        while [ "$(date +%s%N)" -lt "$deadline" ]; do
                st=$(vc_state "$1")
                [ "$st" = "$2" ] && return 0
                sleep 0.05
        done
        vc_fail "$1 is $(vc_state "$1"), expected $2 within ${3:-10} s"
}

# What a client sees on NAME's service port: the node name in the page, or "down".
vc_serving() {
        local idx
        idx=$(sed -n 's/.*listen = "127.0.0.1:\([0-9]*\)".*/\1/p' "$VC_TMP/$1/vacataire.conf")
        curl -s -m 1 "http://127.0.0.1:$((idx + 10))/" 2>/dev/null || echo down
}

vc_assert_serving() { # vc_assert_serving NAME yes|no
        local got
        got=$(vc_serving "$1")
        if [ "$2" = yes ]; then
                [ "$got" = "$1" ] || vc_fail "$1's service should answer, got '$got'"
        else
                [ "$got" = down ] || vc_fail "$1's service should be stopped, got '$got'"
        fi
}

vc_wait_serving() { # vc_wait_serving NAME yes|no [SECONDS]
        local deadline=$(($(date +%s%N) + ${3:-10} * 1000000000)) got
        while [ "$(date +%s%N)" -lt "$deadline" ]; do
                got=$(vc_serving "$1")
                if [ "$2" = yes ] && [ "$got" = "$1" ]; then return 0; fi
                if [ "$2" = no ] && [ "$got" = down ]; then return 0; fi
                sleep 0.02
        done
        vc_assert_serving "$1" "$2"
}

vc_kill_service() { # vc_kill_service NAME
        local f=$VC_TMP/$1/service.pid
        [ -f "$f" ] || vc_fail "$1 has no service pid"
        kill -9 "$(cat "$f")"
}

vc_grep_log() { grep -q -- "$2" "$VC_TMP/$1/agent.log"; }

# Standard pair: a = master, b = standby; both started, a active, b passive.
vc_pair_up() {
        vc_node a master 1 b 2 "${VC_A_EXTRA:-}"
        vc_node b standby 2 a 1 "${VC_B_EXTRA:-}"
        vc_pair_start
}

# Starts a and b (configured with vc_node) and waits until a serves and b is passive.
vc_pair_start() {
        vc_start a
        vc_start b
        vc_wait_state a active 10
        vc_wait_state b passive 5
        vc_wait_serving a yes 5
        vc_assert_serving b no
}

# Stops a and b (agents and services) and removes their directories, so a test can build another
# pair; the next pair uses ports OFFSET above the current ones (default 20), away from sockets
# the last one may have left in TIME_WAIT.
vc_pair_down() { # vc_pair_down [OFFSET]
        local n f
        for n in a b; do
                vc_stop "$n" KILL
                for f in "$VC_TMP/$n"/service.pid "$VC_TMP/$n"/extra*.pid; do
                        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
                done
                rm -rf "${VC_TMP:?}/$n"
        done
        VC_PORT_BASE=$((VC_PORT_BASE + ${1:-20}))
}

# SIGTERM is a stop (the active node hands over), SIGUSR1 a restart (services left running).
vc_restart() { # vc_restart NAME [SIGNAL]: stop the agent (SIGUSR1 by default), start it again
        vc_stop "$1" "${2:-USR1}"
        vc_start "$1"
}

vc_now_ms() { echo $(($(date +%s%N) / 1000000)); }

vc_wait_log() { # vc_wait_log NAME PATTERN [SECONDS]
        local deadline=$(($(date +%s%N) + ${3:-10} * 1000000000))
        while [ "$(date +%s%N)" -lt "$deadline" ]; do
                vc_grep_log "$1" "$2" && return 0
                sleep 0.05
        done
        vc_fail "$1's log has no '$2' within ${3:-10} s"
}

vc_wait_json() { # vc_wait_json NAME PYTHON-CONDITION-ON-s [SECONDS]
        local deadline=$(($(date +%s%N) + ${3:-10} * 1000000000))
        while [ "$(date +%s%N)" -lt "$deadline" ]; do
                [ "$(vc_json "$1" "bool($2)" 2>/dev/null)" = True ] && return 0
                sleep 0.05
        done
        vc_fail "$1: status never satisfied '$2' within ${3:-10} s: $(vc_ctl "$1" status --json 2>&1)"
}

vc_assert_json() { # vc_assert_json NAME PYTHON-CONDITION-ON-s
        [ "$(vc_json "$1" "bool($2)" 2>/dev/null)" = True ] ||
                vc_fail "$1: status does not satisfy '$2': $(vc_ctl "$1" status --json 2>&1)"
}

# vc_ctl_expect NAME ok|fail [STDERR-REGEX] -- ARGS...: runs vacataire-ctl (bounded to 60 s);
# "fail" wants the agent's refusal (exit 1) and exactly one line on stderr matching the regex. The
# output is left in VC_CTL_OUT and VC_CTL_ERR.
vc_ctl_expect() {
        local n=$1 want=$2 pattern='' rc=0
        shift 2
        if [ "$1" != -- ]; then
                pattern=$1
                shift
        fi
        shift
        # shellcheck disable=SC2086
        timeout 60 ${VC_CTL_WRAPPER:-} "$VC_BUILD/vacataire-ctl" -s "$VC_TMP/$n/control.sock" "$@" \
                >"$VC_TMP/ctl.out" 2>"$VC_TMP/ctl.err" || rc=$?
        VC_CTL_OUT=$(cat "$VC_TMP/ctl.out")
        VC_CTL_ERR=$(cat "$VC_TMP/ctl.err")
        if [ "$want" = ok ]; then
                [ "$rc" = 0 ] || vc_fail "vacataire-ctl $* on $n exited $rc: $VC_CTL_ERR"
                return 0
        fi
        [ "$rc" = 1 ] || vc_fail "vacataire-ctl $* on $n exited $rc, expected a refusal (1): $VC_CTL_OUT$VC_CTL_ERR"
        [ "$(wc -l <"$VC_TMP/ctl.err")" = 1 ] ||
                vc_fail "vacataire-ctl $* on $n: expected one line on stderr, got: $VC_CTL_ERR"
        [ -z "$pattern" ] || grep -Eq -- "$pattern" "$VC_TMP/ctl.err" ||
                vc_fail "vacataire-ctl $* on $n: stderr '$VC_CTL_ERR' does not match '$pattern'"
}

vc_service_pid() { cat "$VC_TMP/$1/service.pid" 2>/dev/null || echo none; }

# A process check on a "canary" sleep process, beside the service: killing the canary fails a
# check while the service itself keeps answering. Add VC_CANARY_CHECK to VC_EXTRA_CHECKS.
VC_CANARY_CHECK=', { name = "canary"; plugin = "pcheck"; interval = 0.1; timeout = 0.5; fall = 1;
    rise = 1; scope = "active"; params = { pidfile = "@DIR@/extra-canary.pid"; }; }'

vc_canary_start() { # vc_canary_start NAME
        sleep 600 >/dev/null 2>&1 &
        echo $! >"$VC_TMP/$1/extra-canary.pid"
        disown $!
}

vc_canary_kill() { kill -9 "$(cat "$VC_TMP/$1/extra-canary.pid")"; }

# A second service (name "first") that a node starts before its web service: a sleep process
# with a pidfile. Use as VC_EXTRA_SERVICES_BEFORE="$VC_FIRST_SERVICE".
VC_FIRST_SERVICE='{ name = "first"; start = "sleep 600 </dev/null >/dev/null 2>&1 & echo $! >@DIR@/extra-first.pid";
    stop = "kill $(cat @DIR@/extra-first.pid) 2>/dev/null; rm -f @DIR@/extra-first.pid";
    status = "kill -0 $(cat @DIR@/extra-first.pid 2>/dev/null) 2>/dev/null"; timeout = 5.0; },'

# Records, every ~10 ms, which of the named nodes' services answer, one line per sample:
# "MS NAME=yes|no ...". vc_monitor_stop ends it; vc_monitor_gaps prints samples where none did.
vc_monitor_start() { # vc_monitor_start NAME...
        local args=() n port
        for n in "$@"; do
                port=$(sed -n 's/.*listen = "127.0.0.1:\([0-9]*\)".*/\1/p' "$VC_TMP/$n/vacataire.conf")
                args+=("$n=$((port + 10))")
        done
        rm -f "$VC_TMP/monitor.stop"
        python3 - "$VC_TMP/monitor.log" "$VC_TMP/monitor.stop" "${args[@]}" <<'PY' &
import http.client, os, sys, time
log, stop, nodes = sys.argv[1], sys.argv[2], [a.split("=") for a in sys.argv[3:]]
def answers(name, port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=0.5)
        c.request("GET", "/")
        ok = c.getresponse().read().decode().strip() == name
        c.close()
        return ok
    except Exception:
        return False
deadline = time.monotonic() + 120
with open(log, "w", buffering=1) as f:
    while not os.path.exists(stop) and time.monotonic() < deadline:
        t = time.time()
        f.write("%d %s\n" % (t * 1000, " ".join("%s=%s" % (n, "yes" if answers(n, p) else "no") for n, p in nodes)))
        time.sleep(max(0.0, 0.01 - (time.time() - t)))
PY
        VC_MONITOR_PID=$!
        # Started once it has written a sample.
        local _
        for _ in $(seq 100); do
                [ -s "$VC_TMP/monitor.log" ] && return 0
                sleep 0.02
        done
        vc_fail "the service monitor did not start"
}

vc_monitor_stop() {
        touch "$VC_TMP/monitor.stop"
        { wait "$VC_MONITOR_PID"; } 2>/dev/null
        VC_MONITOR_PID=
}

vc_monitor_gaps() { grep -v '=yes' "$VC_TMP/monitor.log" || true; }

# Milliseconds, over the monitor's samples so far, with two or more services answering at once
# and with none answering: "DUAL_MS NONE_MS". Each sample counts until the next one.
vc_monitor_ms() {
        python3 - "$VC_TMP/monitor.log" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 2:
        continue
    rows.append((int(f[0]), sum(1 for x in f[1:] if x.endswith("=yes"))))
dual = none = 0
for (t, n), (t2, _) in zip(rows, rows[1:]):
    if n >= 2:
        dual += t2 - t
    elif n == 0:
        none += t2 - t
print(dual, none)
PY
}

# The PIDs of NAME's agent's checker processes (its children running vacataire-checker), or
# only CHECK's.
vc_checker_pids() { # vc_checker_pids NAME [CHECK]
        local pid=${VC_AGENT_PID[$1]:-} c
        [ -n "$pid" ] || return 0
        for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
                case $(tr '\0' ' ' </proc/"$c"/cmdline 2>/dev/null) in
                *vacataire-checker\ --serve\ "${2:-}"*) echo "$c" ;;
                esac
        done
        return 0
}

# Counts the state changes in NAME's log ("... X -> Y" lines of the role machine).
vc_count_log() { grep -c -- "$2" "$VC_TMP/$1/agent.log" || true; } # vc_count_log NAME PATTERN
