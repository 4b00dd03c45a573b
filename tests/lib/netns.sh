# SPDX-License-Identifier: AGPL-3.0-or-later
# Hosts a and b and a load balancer lb, each in its own network namespace, joined by a bridge in
# lb; an agent and a busybox httpd on each host, haproxy in lb, a paced client in lb.
# Sourced by tests/integration/test-e2e-* (after cluster.sh's helpers: vc_ctl, vc_json,
# vc_wait_state, vc_fail, ...). Needs root. Everything is named after this run (VN) and removed
# on exit: processes by PID, namespaces by name.
#
#   lb   10.213.X.1   br0; haproxy on :80, its stats on :8404
#   a    10.213.X.11  eth0 (veth VN"a"0 in lb); agent :7411, agent-check :7412, http :7413,
#   b    10.213.X.12  eth0 (veth VN"b"0 in lb)       service (busybox httpd) :80
# The hosts' names (and nodes' names) are $VN_A and $VN_B, "a" and "b" unless set before sourcing.

# shellcheck source=cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

VN=vt$$
VN_A=${VN_A:-a}
VN_B=${VN_B:-b}
VN_X=$((($$ % 250) + 1))
VN_NET=10.213.$VN_X
VN_LB_IP=$VN_NET.1
VN_PORT_PEER=7411
VN_PORT_AGENT=7412
VN_PORT_HTTP=7413
VN_PORT_LB_API=9999
VN_NAMESPACES=()
VN_HAPROXY_PID=
VN_CLIENT_PID=
VN_CLIENT_OUT=
VN_PAGE_PIDS=()

vn_ns() { echo "$VN-$1"; }
vn_exec() { # vn_exec HOST CMD...: runs CMD inside HOST's namespace
        local h=$1
        shift
        ip netns exec "$(vn_ns "$h")" "$@"
}
vn_ip() {
        case $1 in
        lb) echo "$VN_LB_IP" ;;
        "$VN_A") echo "$VN_NET.11" ;;
        "$VN_B") echo "$VN_NET.12" ;;
        *) vc_fail "unknown host $1" ;;
        esac
}
vn_now() { date +%s.%N; }
# Milliseconds from epoch time $1 to $2 (both as printed by vn_now).
vn_ms() { python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))" "$1" "$2"; }

# Run by cluster.sh's EXIT chain (vc_on_exit), before vc_cleanup, which then reads the agents'
# logs for sanitizer reports and removes the temporary files.
vn_cleanup() {
        local ns pid deadline
        {
                [ -n "$VN_CLIENT_PID" ] && kill -9 "$VN_CLIENT_PID"
                [ -n "$VN_HAPROXY_PID" ] && kill -9 "$VN_HAPROXY_PID"
                for pid in "${VN_PAGE_PIDS[@]}"; do kill -9 "$pid"; done
                # Agents get SIGTERM first, so that a sanitizer build checks their exit for leaks.
                for pid in "${VC_AGENT_PID[@]}"; do kill -TERM "$pid"; done
                deadline=$(($(date +%s%N) + 3000000000))
                for pid in "${VC_AGENT_PID[@]}"; do
                        while kill -0 "$pid" && [ "$(date +%s%N)" -lt "$deadline" ]; do sleep 0.02; done
                        kill -9 "$pid"
                        wait "$pid"
                done
                # Then whatever else still runs inside our namespaces (services, their helpers):
                # a namespace lives on while a process holds it.
                for ns in "${VN_NAMESPACES[@]}"; do
                        for pid in $(ip netns pids "$ns"); do kill -9 "$pid"; done
                done
                for ns in "${VN_NAMESPACES[@]}"; do ip netns del "$ns"; done
        } 2>/dev/null
        return 0
}
vc_on_exit vn_cleanup
trap 'exit 130' INT TERM

# Skips (77) only when this machine cannot create a network namespace (not root, or a container
# without CAP_SYS_ADMIN); everything else missing is a failure.
vn_require_root() {
        if ! ip netns add "$VN-probe" 2>"$VC_TMP/netns.err"; then
                echo "SKIP: 'ip netns add' failed (uid $(id -u)): $(cat "$VC_TMP/netns.err")" >&2
                exit 77
        fi
        ip netns del "$VN-probe"
        command -v haproxy >/dev/null || vc_fail "haproxy is not installed (apt-get install haproxy)"
        command -v busybox >/dev/null || vc_fail "busybox is not installed"
}

vn_add_ns() {
        ip netns add "$(vn_ns "$1")" || vc_fail "ip netns add $(vn_ns "$1") failed"
        VN_NAMESPACES+=("$(vn_ns "$1")")
        ip -n "$(vn_ns "$1")" link set lo up
}

# The veth is created inside lb with its peer born in the host: nothing is ever left in the
# namespace this script runs in.
vn_add_host() { # vn_add_host NAME
        local h=$1 lb
        lb=$(vn_ns lb)
        vn_add_ns "$h"
        ip -n "$lb" link add "$VN${h}0" type veth peer name eth0 netns "$(vn_ns "$h")" ||
                vc_fail "cannot create the veth pair for $h"
        ip -n "$lb" link set "$VN${h}0" master br0
        ip -n "$lb" link set "$VN${h}0" up
        ip -n "$(vn_ns "$h")" addr add "$(vn_ip "$h")/24" dev eth0
        ip -n "$(vn_ns "$h")" link set eth0 up
}

vn_network_up() {
        local lb
        lb=$(vn_ns lb)
        vn_add_ns lb
        ip -n "$lb" link add br0 type bridge
        ip -n "$lb" addr add "$VN_LB_IP/24" dev br0
        ip -n "$lb" link set br0 up
        vn_add_host "$VN_A"
        vn_add_host "$VN_B"
        local h i
        for h in "$VN_A" "$VN_B"; do
                for i in $(seq 100); do
                        ip -n "$lb" -o link show dev "$VN${h}0" | grep -q "state UP" &&
                                ip -n "$(vn_ns "$h")" -o link show dev eth0 | grep -q "state UP" &&
                                break
                        [ "$i" -eq 100 ] && vc_fail "the link to $h did not come up"
                        sleep 0.05
                done
        done
        vc_log "network: namespaces $VN-{$VN_A,$VN_B,lb}, $VN_NET.0/24"
}

# Partition a host from everyone (its side of the wire stays up, so nothing rebinds).
vn_cut() { ip -n "$(vn_ns lb)" link set "$VN${1}0" down; }
vn_heal() { ip -n "$(vn_ns lb)" link set "$VN${1}0" up; }

# vn_node NAME ROLE PEER: config, service scripts and page for a host. Settings from the
# environment: VC_HEARTBEAT, VC_DEAD_TIME, VC_INIT_DEAD, VC_ON_PEER_LOSS, VC_HANDOVER,
# VC_DRAIN_TIME, VC_INTERVAL, VC_FALL; VN_CHECKS replaces the default pcheck; VN_LB=yes gives
# the agents an lb group (haproxy's runtime API on lb, VN_PORT_LB_API; see vn_haproxy_up).
vn_node() {
        local name=$1 role=$2 peer=$3
        local d=$VC_TMP/$name ip
        ip=$(vn_ip "$name")
        mkdir -p "$d/www" "$d/state"
        echo "$name" >"$d/www/index.html"
        [ -f "$VC_TMP/peer.key" ] || vc_make_key "$VC_TMP/peer.key"
        vc_service_scripts "$d" "$ip:80"
        local checks=${VN_CHECKS:-"{ name = \"web\"; plugin = \"pcheck\"; interval = ${VC_INTERVAL:-0.1}; timeout = 0.5; fall = ${VC_FALL:-1}; rise = 1; scope = \"active\"; params = { pidfile = \"$d/service.pid\"; }; }"}
        checks=${checks//@DIR@/$d}
        checks=${checks//@IP@/$ip}
        cat >"$d/vacataire.conf" <<EOF
node = { name = "$name"; role = "$role"; listen = "$ip:$VN_PORT_PEER"; };
peer = { name = "$peer"; address = "$(vn_ip "$peer"):$VN_PORT_PEER"; };
auth = { key_file = "$VC_TMP/peer.key"; };
timers = { heartbeat = ${VC_HEARTBEAT:-0.1}; dead_time = ${VC_DEAD_TIME:-1.0}; init_dead = ${VC_INIT_DEAD:-1.0}; };
failover = { on_peer_loss = "${VC_ON_PEER_LOSS:-takeover}"; handover = "${VC_HANDOVER:-break-before-make}"; drain_time = ${VC_DRAIN_TIME:-0.5}; };
health = { agent_listen = "$ip:$VN_PORT_AGENT"; http_listen = "$ip:$VN_PORT_HTTP"; };
$([ "${VN_LB:-no}" = yes ] && echo "lb = { haproxy = \"$VN_LB_IP:$VN_PORT_LB_API\"; backend = \"web\"; };")
plugin_dir = "$VC_BUILD/plugins";
state_dir = "$d/state";
control_socket = "$d/control.sock";
checks = ( $checks );
services = (
  { name = "web"; start = "$d/service-start"; stop = "$d/service-stop"; status = "$d/service-status";
    timeout = 10.0; start_retries = 1; }
);
EOF
}

vn_start() { # vn_start NAME: the agent runs inside its host
        local d=$VC_TMP/$1 i
        # ip netns exec itself, not a shell function: $! must be the agent's own PID.
        ip netns exec "$(vn_ns "$1")" "$VC_BUILD/vacataire" -c "$d/vacataire.conf" >>"$d/agent.log" 2>&1 &
        VC_AGENT_PID[$1]=$!
        for i in $(seq 100); do
                [ -S "$d/control.sock" ] && vc_ctl "$1" status >/dev/null 2>&1 && return 0
                kill -0 "${VC_AGENT_PID[$1]}" 2>/dev/null || vc_fail "agent $1 exited at start"
                sleep 0.05
        done
        vc_fail "agent $1 did not answer on its control socket"
}

# What lb sees on NAME's service port: the node name, or "down".
vn_serving() {
        vn_exec lb curl -s -m 1 "http://$(vn_ip "$1")/" 2>/dev/null || echo down
}

vn_wait_serving() { # vn_wait_serving NAME yes|no [SECONDS]
        local deadline=$(($(date +%s%N) + ${3:-10} * 1000000000)) got
        while [ "$(date +%s%N)" -lt "$deadline" ]; do
                got=$(vn_serving "$1")
                [ "$2" = yes ] && [ "$got" = "$1" ] && return 0
                [ "$2" = no ] && [ "$got" = down ] && return 0
                sleep 0.05
        done
        vc_fail "$1's service: expected serving=$2, got '$(vn_serving "$1")'"
}

vn_pair_up() { # a = master, b = standby; a active and serving, b passive
        vn_node "$VN_A" master "$VN_B"
        vn_node "$VN_B" standby "$VN_A"
        vn_start "$VN_A"
        vn_start "$VN_B"
        vc_wait_state "$VN_A" active 15
        vc_wait_state "$VN_B" passive 10
        vn_wait_serving "$VN_A" yes 5
        vn_wait_serving "$VN_B" no 1
        vc_log "pair up: $VN_A active, $VN_B passive"
}

# haproxy in lb, both hosts as servers. VN_AGENT_CHECK=no leaves out the agent-check; VN_LB=yes
# opens the runtime API (stats socket at level admin) to the agents; VN_HAPROXY_CHECK replaces
# the servers' check settings ("check inter 100 fall 1 rise 1").
vn_haproxy_up() {
        local cfg=$VC_TMP/haproxy.cfg agent="" api=""
        [ "${VN_AGENT_CHECK:-yes}" = yes ] &&
                agent=" agent-check agent-port $VN_PORT_AGENT agent-inter 100"
        [ "${VN_LB:-no}" = yes ] && api="    stats socket ipv4@$VN_LB_IP:$VN_PORT_LB_API level admin"
        cat >"$cfg" <<EOF
global
    maxconn 4096
$api

defaults
    mode http
    timeout connect 200ms
    timeout client 10s
    timeout server 5s
    retries 3
    # Redispatch on every retry: a refused connection moves on to the other server at once.
    option redispatch 1

frontend web
    bind $VN_LB_IP:80
    default_backend web

backend web
    balance roundrobin
    default-server ${VN_HAPROXY_CHECK:-check inter 100 fall 1 rise 1}$agent
    server $VN_A $(vn_ip "$VN_A"):80
    server $VN_B $(vn_ip "$VN_B"):80

listen stats
    bind $VN_LB_IP:8404
    stats enable
    stats uri /stats
EOF
        haproxy -c -q -f "$cfg" || vc_fail "haproxy rejects $cfg"
        ip netns exec "$(vn_ns lb)" haproxy -f "$cfg" -db >"$VC_TMP/haproxy.log" 2>&1 &
        VN_HAPROXY_PID=$!
        local i
        for i in $(seq 100); do
                vn_lb_status "$VN_A" >/dev/null 2>&1 && break
                kill -0 "$VN_HAPROXY_PID" 2>/dev/null || vc_fail "haproxy exited: $(cat "$VC_TMP/haproxy.log")"
                sleep 0.05
        done
        vc_log "haproxy up in lb (${VN_AGENT_CHECK:-yes} agent-check)"
}

vn_lb_status() { # vn_lb_status SERVER: haproxy's status column (UP, DOWN, DRAIN, ...)
        vn_exec lb curl -sf -m 1 "http://$VN_LB_IP:8404/stats;csv" |
                awk -F, -v s="$1" '$1 == "web" && $2 == s { print $18; found=1 } END { exit !found }'
}

vn_lb_wait() { # vn_lb_wait SERVER STATUS-PREFIX [SECONDS]
        local deadline=$(($(date +%s%N) + ${3:-10} * 1000000000)) st
        while [ "$(date +%s%N)" -lt "$deadline" ]; do
                st=$(vn_lb_status "$1")
                case $st in "$2"*) return 0 ;; esac
                sleep 0.05
        done
        vc_fail "haproxy: server $1 is '$(vn_lb_status "$1")', expected $2"
}

# The paced client in lb, through haproxy, in the background.
vn_client_start() { # vn_client_start [ARGS...] (default: 5 ms pace, at most 120 s)
        VN_CLIENT_OUT=$VC_TMP/client.json
        rm -f "$VN_CLIENT_OUT"
        ip netns exec "$(vn_ns lb)" python3 "$VC_SOURCE/tests/lib/paced-client.py" --url "http://$VN_LB_IP/" \
                --interval-ms 5 --duration 120 --out "$VN_CLIENT_OUT" "$@" >"$VC_TMP/client.log" 2>&1 &
        VN_CLIENT_PID=$!
        vc_log "client: one request every 5 ms through haproxy"
}

vn_client_stop() {
        local i
        kill -TERM "$VN_CLIENT_PID" 2>/dev/null
        for i in $(seq 100); do
                [ -f "$VN_CLIENT_OUT" ] && break
                sleep 0.1
        done
        wait "$VN_CLIENT_PID" 2>/dev/null
        VN_CLIENT_PID=
        [ -f "$VN_CLIENT_OUT" ] || vc_fail "the client wrote no summary: $(tail -5 "$VC_TMP/client.log")"
}

vn_client_json() { # vn_client_json PYTHON-EXPR-ON-s
        python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($1)" "$VN_CLIENT_OUT"
}

# One line about what the client saw, and the failures (at most 20) with their times.
vn_client_report() {
        python3 - "$VN_CLIENT_OUT" <<'EOF' >&2
import json, sys, time
s = json.load(open(sys.argv[1]))
def t(x): return time.strftime("%H:%M:%S", time.localtime(x)) + ".%03d" % (int(x * 1000) % 1000)
print("client: sent %d, failed %d, longest outage %.0f ms, max latency %.0f ms, answers %s"
      % (s["sent"], s["failed"], s["longest_outage_ms"], s["max_latency_ms"], s["answers"]))
sw = s["switches"]
print("client: answering node: " + ", ".join("%s from %s" % (n, t(w)) for w, n, _ in sw[:12])
      + (" ... (%d more changes: both nodes were answering)" % (len(sw) - 12) if len(sw) > 12 else ""))
for w, what in s["failures"][:20]:
    print("client: failed at %s: %s" % (t(w), what))
if s["failed"] > 20:
    print("client: ... %d more failures" % (s["failed"] - 20))
EOF
}

# Epoch time at which NODE first answered a request sent after epoch time T, or "none".
vn_client_first_after() { # vn_client_first_after NODE T
        vn_client_json "next((a for w, n, a in s['switches'] if n == '$1' and w >= $2), 'none')"
}

# Ends a test: a sanitizer report in any agent's log fails it even if the scenario passed.
vn_finish() { # vn_finish SUMMARY
        local n
        for n in "$VN_A" "$VN_B"; do
                [ -f "$VC_TMP/$n/agent.log" ] || continue
                if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$VC_TMP/$n/agent.log"; then
                        vc_fail "sanitizer report in $n's log"
                fi
        done
        vc_log "PASS: $*"
}

# Cuts only the a<->b path, both ways, while lb still reaches both hosts: a blackhole route to
# the other host in each of them drops every packet silently (TCP retransmits into the void,
# nothing is refused). vn_heal_pair removes them.
vn_cut_pair() {
        ip -n "$(vn_ns "$VN_A")" route add blackhole "$(vn_ip "$VN_B")/32" || vc_fail "cannot cut $VN_A->$VN_B"
        ip -n "$(vn_ns "$VN_B")" route add blackhole "$(vn_ip "$VN_A")/32" || vc_fail "cannot cut $VN_B->$VN_A"
}
vn_heal_pair() {
        ip -n "$(vn_ns "$VN_A")" route del blackhole "$(vn_ip "$VN_B")/32" 2>/dev/null
        ip -n "$(vn_ns "$VN_B")" route del blackhole "$(vn_ip "$VN_A")/32" 2>/dev/null
        return 0
}

# Stops both agents and their services and forgets their saved state, so the namespaces can
# host another scenario.
vn_pair_reset() {
        local n
        vn_heal_pair
        for n in "$VN_A" "$VN_B"; do
                vc_stop "$n"
                "$VC_TMP/$n/service-stop"
                rm -rf "${VC_TMP:?}/$n/state" "$VC_TMP/$n/agent.log"
        done
}

# From lb, every ~10 ms, whether each host's service answers: lines "EPOCH_S a=yes|no b=yes|no"
# in $VC_TMP/poll.log until vn_poll_stop.
VN_POLL_PID=
vn_poll_start() {
        rm -f "$VC_TMP/poll.stop" "$VC_TMP/poll.log"
        ip netns exec "$(vn_ns lb)" python3 - "$VC_TMP/poll.log" "$VC_TMP/poll.stop" \
                "$VN_A=$(vn_ip "$VN_A")" "$VN_B=$(vn_ip "$VN_B")" <<'PY' &
import http.client, os, sys, time
log, stop, nodes = sys.argv[1], sys.argv[2], [a.split("=") for a in sys.argv[3:]]
def answers(name, ip):
    try:
        c = http.client.HTTPConnection(ip, 80, timeout=0.2)
        c.request("GET", "/")
        ok = c.getresponse().read().decode().strip() == name
        c.close()
        return ok
    except Exception:
        return False
deadline = time.monotonic() + 300
with open(log, "w", buffering=1) as out:
    while not os.path.exists(stop) and time.monotonic() < deadline:
        t = time.time()
        out.write("%.3f %s\n" % (t, " ".join("%s=%s" % (n, "yes" if answers(n, ip) else "no") for n, ip in nodes)))
        time.sleep(max(0.0, 0.01 - (time.time() - t)))
PY
        VN_POLL_PID=$!
        VN_PAGE_PIDS+=("$VN_POLL_PID")
        local _
        for _ in $(seq 100); do
                [ -s "$VC_TMP/poll.log" ] && return 0
                sleep 0.02
        done
        vc_fail "the poller in lb did not start"
}

vn_poll_stop() {
        touch "$VC_TMP/poll.stop"
        { wait "$VN_POLL_PID"; } 2>/dev/null
        VN_POLL_PID=
}

# Milliseconds (summed over samples, each worth the time to the next) during which both hosts
# answered, and during which neither did, between epoch times FROM and TO: "BOTH_MS NONE_MS".
vn_poll_overlap() { # vn_poll_overlap [FROM [TO]]
        python3 - "$VC_TMP/poll.log" "${1:-0}" "${2:-1e12}" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 3:
        continue
    rows.append((float(f[0]), [x.endswith("=yes") for x in f[1:]]))
lo, hi = float(sys.argv[2]), float(sys.argv[3])
both = none = 0.0
for (t, up), (t2, _) in zip(rows, rows[1:]):
    if t < lo or t > hi:
        continue
    if all(up):
        both += t2 - t
    elif not any(up):
        none += t2 - t
print(round(both * 1000), round(none * 1000))
PY
}
