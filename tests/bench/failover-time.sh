#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Failover time on loopback: from killing the active node's service to the peer's service
# answering, over N runs, at interval 0.1 and 1.0 (fall 1), side by side. Also its parts:
# detection, from the kill to the old node's verdict (the agent watches its service's processes,
# and pcheck the process it counted, so this should not depend on the interval), and the agent's
# share, from that verdict to the peer's start command running (the old node's stop, the peer
# link, the peer's start command forking).
# Prints a table and a JSON summary. Not a test: nothing here asserts a time.
# Usage: tests/bench/failover-time.sh [RUNS]   (VC_BUILD: build dir, default build/)
set -u
runs=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
export VC_BUILD=${VC_BUILD:-$here/../../build}
export VACATAIRE_LOG_TIMESTAMPS=1

measure() { # measure INTERVAL -> prints "t_kill t_serving" per run; agent shares to $SHARE_OUT
        (
                export VC_INTERVAL=$1 VC_FALL=1
                VC_TEST_NAME=bench
                # shellcheck source=../lib/cluster.sh
                source "$here/../lib/cluster.sh"
                vc_pair_up >/dev/null 2>&1
                # The peer's start command stamps the moment it runs.
                sed -i "2i date +%s.%N >> \"$VC_TMP/b/start-times\"" "$VC_TMP/b/service-start"
                sed -i "2i date +%s.%N >> \"$VC_TMP/a/start-times\"" "$VC_TMP/a/service-start"
                port_b=$(($(vc_port 2) + 10))
                for i in $(seq "$runs"); do
                        # Back to the start: a serves, b passive and not handed over.
                        vc_wait_serving a yes 10 >/dev/null
                        vc_wait_state b passive 10 >/dev/null
                        sleep 0.3
                        line=$(python3 - "$(cat "$VC_TMP/a/service.pid")" "$port_b" <<'PY'
import os, signal, socket, sys, time
pid, port = int(sys.argv[1]), int(sys.argv[2])
t0 = time.time()
os.kill(pid, signal.SIGKILL)
deadline = t0 + 30
while time.time() < deadline:
    s = None
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.05)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        if s.recv(16).startswith(b"HTTP/1"):
            break
    except OSError:
        pass
    finally:
        if s:
            s.close()
    time.sleep(0.002)
print(f"{t0:.6f} {time.time():.6f}")
PY
)
                        echo "$line"
                        vc_wait_state a passive 10 >/dev/null
                        # The agent's share: a's failing verdict to b's start command.
                        # The first to see it: the service watch ("web: died") or the check.
                        verdict=$(grep -E 'check web: failing|web: died' "$VC_TMP/a/agent.log" |
                                sed -E 's/^<[0-9]>\[([0-9.]+)\].*/\1/' |
                                awk -v t="${line%% *}" '$1 >= t' | sort -n | head -n 1)
                        started=$(tail -n 1 "$VC_TMP/b/start-times")
                        echo "share $verdict $started" >&2
                        echo "detect ${line%% *} $verdict" >&2
                        vc_ctl b quiesce >/dev/null || vc_fail "quiesce back failed"
                done 2>"$VC_TMP/share"
                grep '^share' "$VC_TMP/share" | awk '{printf "%.1f\n", ($3-$2)*1000}' >"$SHARE_OUT"
                grep '^detect' "$VC_TMP/share" | awk '{printf "%.1f\n", ($3-$2)*1000}' >"$SHARE_OUT.detect"
        )
}

summary() { # summary NAME FILE
        python3 - "$1" "$2" <<'PY'
import json, statistics, sys
name, path = sys.argv[1], sys.argv[2]
vals = [float(x) for x in open(path).read().split()]
vals.sort()
p90 = vals[min(len(vals) - 1, int(round(0.9 * (len(vals) - 1))))]
print(json.dumps({"name": name, "runs": len(vals), "median_ms": round(statistics.median(vals), 1),
                  "p90_ms": round(p90, 1), "min_ms": round(vals[0], 1), "max_ms": round(vals[-1], 1)}))
PY
}

out=$(mktemp -d)
for interval in 0.1 1.0; do
        SHARE_OUT=$out/share-$interval measure "$interval" | awk '{printf "%.1f\n", ($2-$1)*1000}' >"$out/kill-$interval"
done
echo "failover time on loopback, kill -> peer serving, fall 1, $runs runs each (ms)"
printf '%-28s %8s %8s %8s %8s\n' scenario median p90 min max
for interval in 0.1 1.0; do
        summary "interval=$interval" "$out/kill-$interval" >"$out/sum-$interval"
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%-28s %8.1f %8.1f %8.1f %8.1f" % ("interval "+sys.argv[2]+" s", d["median_ms"], d["p90_ms"], d["min_ms"], d["max_ms"]))' "$out/sum-$interval" "$interval"
done
for interval in 0.1 1.0; do
        summary "detection interval=$interval" "$out/share-$interval.detect" >"$out/sum-detect-$interval"
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%-28s %8.1f %8.1f %8.1f %8.1f" % ("detection, interval "+sys.argv[2], d["median_ms"], d["p90_ms"], d["min_ms"], d["max_ms"]))' "$out/sum-detect-$interval" "$interval"
done
for interval in 0.1 1.0; do
        summary "agent-share interval=$interval" "$out/share-$interval" >"$out/sum-share-$interval"
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%-28s %8.1f %8.1f %8.1f %8.1f" % ("agent share, interval "+sys.argv[2], d["median_ms"], d["p90_ms"], d["min_ms"], d["max_ms"]))' "$out/sum-share-$interval" "$interval"
done
python3 - "$out/sum-0.1" "$out/sum-1.0" <<'PY'
import json, sys
a, b = (json.load(open(p))["median_ms"] for p in sys.argv[1:3])
print("ratio of medians, interval 1.0 / 0.1: %.2f (goal: within 1.5x; each median under 40 ms)" % (b / a))
PY
echo "JSON:"
cat "$out"/sum-*
rm -rf "$out"
