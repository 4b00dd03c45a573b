#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The agent's footprint: resident memory of the daemon and its checker processes (RSS, and PSS,
# which shares the common pages fairly), and CPU use
#   idle:        3 checks (pcheck, memcheck, content), heartbeat 0.2 s, peer connected
#   many-checks: 1000 checks at 1 s interval
#   fast-hb:     heartbeat 0.05 s
# Prints a table and a JSON summary. Usage: tests/bench/footprint.sh [IDLE_SECONDS]
set -u
idle=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
export VC_BUILD=${VC_BUILD:-$here/../../build}

# Sum of utime+stime (clock ticks) and RSS/PSS (kB) over a daemon and its children.
sample() {
        python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
pids = [root] + [int(p) for p in open(f"/proc/{root}/task/{root}/children").read().split()]
ticks = rss = pss = 0
for p in pids:
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        ticks += int(f[11]) + int(f[12])
        for line in open(f"/proc/{p}/smaps_rollup"):
            if line.startswith("Rss:"): rss += int(line.split()[1])
            if line.startswith("Pss:"): pss += int(line.split()[1])
    except OSError:
        pass
print(ticks, rss, pss, len(pids))
PY
}

# cpu_percent PID SECONDS -> "percent rss_kb pss_kb processes"
measure() {
        local a b hz
        hz=$(getconf CLK_TCK)
        a=$(sample "$1")
        sleep "$2"
        b=$(sample "$1")
        python3 -c 'import sys
a=list(map(int,sys.argv[1].split())); b=list(map(int,sys.argv[2].split())); hz=int(sys.argv[3]); s=float(sys.argv[4])
print("%.3f %d %d %d" % (100.0*(b[0]-a[0])/hz/s, b[1], b[2], b[3]))' "$a" "$b" "$hz" "$2"
}

run_scenario() { # run_scenario NAME SECONDS (env configures the pair)
        (
                VC_TEST_NAME=bench
                source "$here/../lib/cluster.sh"
                vc_pair_up >/dev/null 2>&1
                sleep 2
                echo "$1 $(measure "${VC_AGENT_PID[a]}" "$2")"
        )
}

export VC_PORT_BASE=${VC_PORT_BASE:-$((20000 + ($$ % 400) * 100))}
out=$(mktemp)
# Three checks: the harness's pcheck plus memcheck and content (always scope).
VC_HEARTBEAT=0.2 VC_DEAD_TIME=1.0 VC_INTERVAL=1.0 \
VC_EXTRA_CHECKS=', { name = "memory"; plugin = "memcheck"; interval = 5.0; scope = "always"; params = { min_available_percent = 1.0; }; },
  { name = "page"; plugin = "content"; interval = 2.0; timeout = 1.0; scope = "active"; params = { url = "http://127.0.0.1:'"$((${VC_PORT_BASE:-$((20000 + ($$ % 400) * 100))} + 11))"'/"; content_length = 2; }; }' \
        run_scenario idle "$idle" >>"$out"

# pidfile checks: each run costs the same however many processes the host has (a by-name check
# scans /proc, and a thousand of them on a host with a thousand checkers measure /proc, not us).
echo 1 >"$out.pid"
many=$(python3 -c 'import sys; print("".join(", { name = \"p%d\"; plugin = \"pcheck\"; interval = 1.0; scope = \"always\"; params = { pidfile = \"%s\"; }; }" % (i, sys.argv[1]) for i in range(999)))' "$out.pid")
VC_HEARTBEAT=0.2 VC_DEAD_TIME=1.0 VC_INTERVAL=1.0 VC_INIT_DEAD=3.0 VC_EXTRA_CHECKS="$many" \
        run_scenario many-checks 30 >>"$out"

VC_HEARTBEAT=0.05 VC_DEAD_TIME=0.25 VC_INTERVAL=1.0 run_scenario fast-heartbeat 30 >>"$out"

echo "footprint of one agent (daemon + checker processes), $(nproc) cores, $(uname -r)"
printf '%-16s %10s %10s %10s %6s\n' scenario cpu_%core rss_MiB pss_MiB procs
awk '{printf "%-16s %10.3f %10.1f %10.1f %6d\n", $1, $2, $3/1024, $4/1024, $5}' "$out"
echo "JSON:"
awk 'BEGIN{printf "["} NR>1{printf ","} {printf "{\"scenario\":\"%s\",\"cpu_percent_of_core\":%s,\"rss_kib\":%s,\"pss_kib\":%s,\"processes\":%s}", $1,$2,$3,$4,$5} END{print "]"}' "$out"
rm -f "$out" "$out.pid"
