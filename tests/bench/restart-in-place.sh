#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Local recovery on loopback: from killing the active node's service to the same node's service
# answering again (restarts = 100 per 0.1 s, so every kill is a restart in place, no failover), over N
# runs; and, with a webhook pointing at a port nobody listens on, the same (posting must not slow
# recovery). Prints a table and a JSON summary. Not a test: nothing here asserts a time.
# Usage: tests/bench/restart-in-place.sh [RUNS]   (VC_BUILD: build dir, default build/)
set -u
runs=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
export VC_BUILD=${VC_BUILD:-$here/../../build}

measure() { # measure WEBHOOK(0|1) -> one "ms" line per run
        (
                export VC_INTERVAL=0.1 VC_FALL=1
                export VC_SERVICE_EXTRA='restarts = 100; restart_window = 0.1;'
                VC_TEST_NAME=bench
                # shellcheck source=../lib/cluster.sh
                source "$here/../lib/cluster.sh"
                if [ "$1" = 1 ]; then
                        hook="webhook = { url = \"http://127.0.0.1:$(vc_port 61)/\"; timeout = 1.0; };"
                        VC_A_EXTRA=$hook VC_B_EXTRA=$hook vc_pair_up >/dev/null 2>&1
                else
                        vc_pair_up >/dev/null 2>&1
                fi
                port_a=$(($(vc_port 1) + 10))
                for i in $(seq "$runs"); do
                        vc_wait_serving a yes 10 >/dev/null
                        vc_wait_json a 's["operation"] == "none" and s["checks"][0]["status"] == "passing"' 10 >/dev/null
                        sleep 0.3
                        python3 - "$(cat "$VC_TMP/a/service.pid")" "$port_a" "$VC_TMP/a/service.pid" <<'PY'
import os, signal, sys, time, urllib.request
pid, port, pidfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = time.time()
os.kill(pid, signal.SIGKILL)
while time.time() < t0 + 30:
    try:
        if urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=0.2).read().strip() == b"a":
            # the old process may answer until it is reaped: only a new one counts
            if open(pidfile).read().strip() != str(pid):
                print("%.0f" % ((time.time() - t0) * 1000))
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.002)
print("timeout")
PY
                done
                [ "$(vc_state b)" = passive ] || echo "b is $(vc_state b): a failover happened" >&2
        )
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else print "-"}'; }
p90() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.9+0.999); if (i<1) i=1; print a[i]}'; }

plain=$(measure 0 | grep -E "^[0-9]+$")
hooked=$(measure 1 | grep -E "^[0-9]+$")
printf '%-46s %5s %8s %8s\n' "kill -> same node answering again" runs median p90
printf '%-46s %5s %6s ms %5s ms\n' "restart in place" "$(echo "$plain" | wc -l)" \
        "$(echo "$plain" | median)" "$(echo "$plain" | p90)"
printf '%-46s %5s %6s ms %5s ms\n' "restart in place, webhook receiver down" "$(echo "$hooked" | wc -l)" \
        "$(echo "$hooked" | median)" "$(echo "$hooked" | p90)"
printf '{"restart_in_place_ms":{"runs":%d,"median":%s,"p90":%s},"with_dead_webhook_ms":{"runs":%d,"median":%s,"p90":%s}}\n' \
        "$(echo "$plain" | wc -l)" "$(echo "$plain" | median)" "$(echo "$plain" | p90)" \
        "$(echo "$hooked" | wc -l)" "$(echo "$hooked" | median)" "$(echo "$hooked" | p90)"
