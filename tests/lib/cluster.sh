# SPDX-License-Identifier: AGPL-3.0-or-later
# Two real agents on loopback, each with a real HTTP service (busybox httpd) of its own.
# Sourced by tests/integration/test-* and the benchmarks; every helper bounds its own time.

set -u
VC_BUILD=${VC_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}
VC_SOURCE=${VC_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VC_TMP=$(mktemp -d /tmp/vc-test.XXXXXX)
chmod 755 "$VC_TMP"
# A port block per run, so tests can run side by side.
VC_PORT_BASE=${VC_PORT_BASE:-$((20000 + ($$ % 400) * 100))}
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

vc_cleanup() {
        local pid
        for pid in "${VC_AGENT_PID[@]}"; do kill -9 "$pid" 2>/dev/null; done
        for f in "$VC_TMP"/*/service.pid "$VC_TMP"/*/extra*.pid; do
                [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
        done
        for pid in "${VC_AGENT_PID[@]}"; do wait "$pid" 2>/dev/null; done
        [ -n "${VC_KEEP:-}" ] || rm -rf "$VC_TMP"
}
trap vc_cleanup EXIT

vc_port() { echo $((VC_PORT_BASE + $1)); }

vc_make_key() { # vc_make_key FILE
        head -c 48 /dev/urandom | base64 -w0 >"$1"
        chmod 600 "$1"
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
        cat >"$d/service-start" <<EOS
#!/bin/sh
# Refuses to start when asked to fail (tests of rollback).
[ -e "$d/fail-start" ] && { echo "start refused" >&2; exit 1; }
busybox httpd -f -p 127.0.0.1:$svc_port -h "$d/www" &
echo \$! >"$d/service.pid"
# Ready when it answers.
i=0; while [ \$i -lt 50 ]; do
        curl -s -o /dev/null -m 1 http://127.0.0.1:$svc_port/ && exit 0
        sleep 0.02; i=\$((i+1))
done
exit 1
EOS
        cat >"$d/service-stop" <<EOS
#!/bin/sh
[ -f "$d/service.pid" ] || exit 0
pid=\$(cat "$d/service.pid")
kill "\$pid" 2>/dev/null
i=0; while kill -0 "\$pid" 2>/dev/null && [ \$i -lt 100 ]; do sleep 0.02; i=\$((i+1)); done
rm -f "$d/service.pid"
EOS
        cat >"$d/service-status" <<EOS
#!/bin/sh
[ -f "$d/service.pid" ] && kill -0 "\$(cat "$d/service.pid")" 2>/dev/null
EOS
        chmod +x "$d/service-start" "$d/service-stop" "$d/service-status"
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
    timeout = ${VC_SERVICE_TIMEOUT:-10.0}; start_retries = ${VC_START_RETRIES:-1}; }
  ${VC_EXTRA_SERVICES_AFTER:-}
);
$*
EOF2
}

vc_start() { # vc_start NAME
        local d=$VC_TMP/$1
        "$VC_BUILD/vacataire" -c "$d/vacataire.conf" >>"$d/agent.log" 2>&1 &
        VC_AGENT_PID[$1]=$!
        local i
        for i in $(seq 100); do
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
        wait "$pid" 2>/dev/null
        unset "VC_AGENT_PID[$1]"
        rm -f "$VC_TMP/$1/control.sock"
}

vc_ctl() { # vc_ctl NAME ARGS...
        local n=$1
        shift
        "$VC_BUILD/vacataire-ctl" -s "$VC_TMP/$n/control.sock" "$@"
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
        vc_start a
        vc_start b
        vc_wait_state a active 10
        vc_wait_state b passive 5
        vc_wait_serving a yes 5
        vc_assert_serving b no
}
