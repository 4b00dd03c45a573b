#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# vacataire in one command, as root on Debian 12, from a clean clone:
#   sudo tests/demo.sh
# Installs what is missing, builds into build/, then on this machine: two hosts web1 (master)
# and web2 (standby) in network namespaces, each with an agent and a small web server, haproxy in
# front, and a client asking haproxy which node answers. web1's web server is killed, web2 takes
# over; `vacataire-ctl quiesce` on web2 hands the service back to web1. Everything it started is
# removed at the end.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' Y=$'\e[33m' N=$'\e[0m'; else B= G= Y= N=; fi
now() { date +%H:%M:%S.%3N; }
say() { printf '%s %s==>%s %s%s%s\n' "$(now)" "$G" "$N" "$B" "$*" "$N"; }
note() { printf '%s     %s\n' "$(now)" "$*"; }
die() {
        printf '%s %s\n' "$(now)" "error: $*" >&2
        exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, apt-get): sudo $0"

# 1. Packages: only the missing ones.
packages=(cmake gcc make pkg-config libconfig-dev libsystemd-dev libcurl4-openssl-dev
          libsodium-dev libcmocka-dev busybox curl python3 haproxy iproute2)
missing=()
for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        say "Installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null || die "apt-get update failed"
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
                die "apt-get install ${missing[*]} failed"
else
        say "Build dependencies: all installed"
fi

# 2. Build.
say "Building into build/"
{ cmake -S . -B build >build.log 2>&1 && cmake --build build -j "$(nproc)" >>build.log 2>&1; } ||
        { tail -n 30 build.log >&2; die "build failed (build.log)"; }
rm -f build.log
note "built $(ls build/vacataire build/vacataire-ctl build/plugins/*.so | wc -l) binaries and plugins"

# 3. Two hosts and a load balancer.
export VC_BUILD=$top/build VC_SOURCE=$top VC_TEST_NAME=demo
VN_A=web1 VN_B=web2
. "$top/tests/lib/netns.sh"
if ! ip netns add "$VN-probe" 2>/dev/null; then
        die "cannot create network namespaces here ('ip netns add' failed): a container without CAP_SYS_ADMIN?"
fi
ip netns del "$VN-probe"
# The helpers' own progress lines are for tests; the demo tells its story itself.
vc_log() { case $1 in FAIL:*) printf '%s %s\n' "$(now)" "error: ${1#FAIL: }" >&2 ;; esac; }

# Reports as it happens what each agent decides (its state changes and warnings).
follow_agent() { # follow_agent NODE
        local log=$VC_TMP/$1/agent.log line
        touch "$log"
        tail -n 0 -F --pid=$$ "$log" 2>/dev/null | while IFS= read -r line; do
                case $line in
                "<4>"* | "<5>"*) printf '%s     %s%-5s%s %s\n' "$(now)" "$Y" "$1" "$N" "${line#<?>}" ;;
                esac
        done &
}

export VC_HEARTBEAT=0.2 VC_DEAD_TIME=1.0 VC_INIT_DEAD=2.0 VC_INTERVAL=0.2 VC_FALL=1
export VC_HANDOVER=make-before-break VC_DRAIN_TIME=1.0
say "Creating hosts web1, web2 and lb (network namespaces on a private bridge)"
vn_network_up
note "web1 $(vn_ip web1), web2 $(vn_ip web2), haproxy $(vn_ip lb):80"
say "Starting the agents: web1 is the master, web2 the standby"
vn_node web1 master web2
vn_node web2 standby web1
follow_agent web1
follow_agent web2
vn_start web1
vn_start web2
vc_wait_state web1 active 15
vc_wait_state web2 passive 10
vn_wait_serving web1 yes 5
say "Starting haproxy (port checks every 100 ms, and it asks each agent: agent-check)"
vn_haproxy_up
vn_lb_wait web1 UP 5

say "Starting a client: 50 requests a second through haproxy, one line every 0.5 s"
VN_CLIENT_OUT=$VC_TMP/client.json
ip netns exec "$(vn_ns lb)" python3 "$top/tests/lib/paced-client.py" --url "http://$VN_LB_IP/" \
        --interval-ms 20 --duration 55 --progress 0.5 --out "$VN_CLIENT_OUT" > >(sed -u 's/^/    /') 2>&1 &
VN_CLIENT_PID=$!
sleep 3

say "Killing web1's web server (kill -9): its process check fails, web2 must take over"
killed_at=$(date +%s%N)
vc_kill_service web1
vc_wait_state web2 active 15
note "web2 is active $((($(date +%s%N) - killed_at) / 1000000)) ms after the kill"
vc_wait_state web1 passive 15
sleep 3

say "An operator repaired web1. On web2: vacataire-ctl quiesce (hand the service back)"
ctl_out=$(vc_ctl web2 quiesce 2>&1) || die "quiesce failed: $ctl_out"
note "vacataire-ctl: $(echo "$ctl_out" | tr '\n' ' ')"
vc_wait_state web1 active 15
vn_wait_serving web1 yes 5
sleep 3

kill -TERM "$VN_CLIENT_PID" 2>/dev/null
for _ in $(seq 50); do [ -f "$VN_CLIENT_OUT" ] && break; sleep 0.1; done
wait "$VN_CLIENT_PID" 2>/dev/null
VN_CLIENT_PID=
say "What the client saw"
python3 - "$VN_CLIENT_OUT" <<'EOF'
import json, sys, time
s = json.load(open(sys.argv[1]))
def t(x): return time.strftime("%H:%M:%S", time.localtime(x)) + ".%03d" % (int(x * 1000) % 1000)
print("     %d requests, %d failed, longest outage %.0f ms" % (s["sent"], s["failed"], s["longest_outage_ms"]))
print("     answers: " + ", ".join("%s %d" % kv for kv in sorted(s["answers"].items())))
# While a make-before-break handover drains, both nodes answer in turn: show the steady runs.
sw = s["switches"] + [[float("inf"), None, None]]
runs = []
for (w, n, _), (w2, _, _) in zip(sw, sw[1:]):
    if w2 - w >= 0.3 and (not runs or runs[-1][1] != n):
        runs.append((w, n))
print("     who answered: " + " -> ".join("%s (from %s)" % (n, t(w)) for w, n in runs))
EOF
say "Done: cleaning up (agents, web servers, haproxy, namespaces)"
