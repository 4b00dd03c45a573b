#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Heartbeat regularity: a dials b through a recording relay (tests/lib/hostile-peer.py mitm) that
# stamps the arrival of every frame; after the handshake each side sends only heartbeats, so the
# gaps between frames in each direction are the heartbeat intervals as the peer sees them. Prints
# p50/p99/max of the gap (ms) per configured heartbeat, and the excess over the configured value.
# Not a test: nothing here asserts a time (tests/integration/test-timer-accuracy does, loosely).
# Usage: tests/bench/heartbeat-jitter.sh [SECONDS] [HEARTBEAT...]   (default 15 s, 0.1 0.3)
set -u
seconds=${1:-15}
shift || true
heartbeats=("$@")
[ ${#heartbeats[@]} -gt 0 ] || heartbeats=(0.1 0.3)
here=$(cd "$(dirname "$0")" && pwd)
export VC_BUILD=${VC_BUILD:-$here/../../build}

measure() { # measure HEARTBEAT
        (
                export VC_HEARTBEAT=$1
                VC_DEAD_TIME=$(python3 -c "print(round($1 * 4 / 3, 3))")
                export VC_DEAD_TIME
                VC_TEST_NAME=bench
                # shellcheck source=../lib/cluster.sh
                source "$here/../lib/cluster.sh"
                vc_node a master 1 b 2 >/dev/null
                vc_node b standby 2 a 1 >/dev/null
                sed -i "s/address = \"127.0.0.1:$(vc_port 2)\"/address = \"127.0.0.1:$(vc_port 5)\"/" \
                        "$VC_TMP/a/vacataire.conf"
                python3 "$here/../lib/hostile-peer.py" mitm "$(vc_port 5)" "127.0.0.1:$(vc_port 2)" \
                        --record "$VC_TMP/capture" >"$VC_TMP/mitm.log" 2>&1 &
                relay=$!
                vc_on_exit "kill $relay 2>/dev/null; true"
                sleep 0.5
                vc_pair_start >/dev/null 2>&1
                sleep 1 # past the handshake and the start-up frames
                : >"$VC_TMP/from"
                n0=$(cat "$VC_TMP/capture/dialer.1.times" | wc -l)
                m0=$(cat "$VC_TMP/capture/listener.1.times" | wc -l)
                sleep "$seconds"
                epochs=$(vc_json a 's["epoch"]'),$(vc_json b 's["epoch"]')
                python3 - "$1" "$n0" "$m0" "$VC_TMP/capture/dialer.1.times" \
                        "$VC_TMP/capture/listener.1.times" "$epochs" <<'PY'
import sys
hb, n0, m0 = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
gaps = []
for path, skip in ((sys.argv[4], n0), (sys.argv[5], m0)):
    t = [float(x) for x in open(path).read().split()[skip:]]
    gaps += [(b - a) * 1000 for a, b in zip(t, t[1:])]
gaps.sort()
def pct(p):
    return gaps[min(len(gaps) - 1, int(p / 100 * len(gaps)))]
# A state change sends a heartbeat at once: such short gaps are not timer error.
print("heartbeat %.3f s: %d gaps  p50 %.1f ms  p99 %.1f ms  max %.1f ms  (excess at p99 %+.1f ms)"
      "  epochs a,b %s" % (hb, len(gaps), pct(50), pct(99), gaps[-1], pct(99) - hb * 1000,
                           sys.argv[6]))
PY
        )
}

for hb in "${heartbeats[@]}"; do
        measure "$hb"
done
