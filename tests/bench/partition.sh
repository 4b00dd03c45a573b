#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Partition benchmark: hosts a and b in network namespaces, the a<->b path cut (lb still reaches
# both) for CUT seconds (> dead_time), then healed. lb polls both services every 10 ms; per
# on_peer_loss policy and run: how long two nodes served at once, and how long none did, from
# the cut until 3 s after exactly one was active again. Prints a table and a JSON summary.
# Not a test: nothing here asserts a figure (test-partition-policies does).
# Usage: tests/bench/partition.sh [RUNS] [CUT]   (VC_BUILD: build dir, default build/; needs root)
set -u
runs=${1:-3}
cut=${2:-3}
VC_TEST_NAME=partition-bench
. "$(dirname "$0")/../lib/netns.sh"
vn_require_root
export VC_DEAD_TIME=${VC_DEAD_TIME:-1.0} VC_HEARTBEAT=${VC_HEARTBEAT:-0.1}
vn_network_up >/dev/null 2>&1
results=$VC_TMP/results
: >"$results"

one_run() { # one_run POLICY
        export VC_ON_PEER_LOSS=$1
        vn_pair_up >/dev/null 2>&1
        vn_poll_start
        sleep 0.5
        local cut_at heal_at settled_at n act
        cut_at=$(vn_now)
        vn_cut_pair
        sleep "$cut"
        heal_at=$(vn_now)
        vn_heal_pair
        # Settled: one active, one passive, and only the active one answers.
        local deadline=$(($(date +%s) + 20))
        while [ "$(date +%s)" -lt "$deadline" ]; do
                act=$(vc_state a)/$(vc_state b)
                if [ "$act" = active/passive ] || [ "$act" = passive/active ]; then
                        n=${act%%/*}
                        [ "$n" = active ] && n=a || n=b
                        local other=a
                        [ "$n" = a ] && other=b
                        [ "$(vn_serving "$other")" = down ] && [ "$(vn_serving "$n")" = "$n" ] && break
                fi
                sleep 0.05
        done
        settled_at=$(vn_now)
        sleep 3
        vn_poll_stop
        read -r both none < <(vn_poll_overlap "$cut_at")
        echo "$1 $both $none $(vn_ms "$heal_at" "$settled_at") $act" >>"$results"
        vn_pair_reset
}

for policy in stay takeover; do
        for i in $(seq "$runs"); do
                one_run "$policy"
                echo "run $i $policy: $(tail -n 1 "$results")" >&2
        done
done

python3 - "$results" "$runs" "$cut" "$VC_DEAD_TIME" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"partition of a<->b for {sys.argv[3]} s, dead_time {sys.argv[4]} s, {sys.argv[2]} runs per policy (ms, median [min-max])")
print(f"{'on_peer_loss':<14} {'both active':>22} {'none active':>22} {'heal->one active':>22}  final")
summary = []
def fmt(v): return f"{statistics.median(v):.0f} [{min(v):.0f}-{max(v):.0f}]"
for policy in ("stay", "takeover"):
    r = [x for x in rows if x[0] == policy]
    both = [float(x[1]) for x in r]; none = [float(x[2]) for x in r]; settle = [float(x[3]) for x in r]
    finals = sorted(set(x[4] for x in r))
    print(f"{policy:<14} {fmt(both):>22} {fmt(none):>22} {fmt(settle):>22}  {','.join(finals)}")
    summary.append({"on_peer_loss": policy, "runs": len(r), "both_active_ms": both,
                    "none_active_ms": none, "heal_to_one_active_ms": settle,
                    "median_both_active_ms": statistics.median(both),
                    "median_none_active_ms": statistics.median(none), "final_states_a_b": finals})
print(json.dumps({"cut_s": float(sys.argv[3]), "dead_time_s": float(sys.argv[4]), "policies": summary}))
PY
