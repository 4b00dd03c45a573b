#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Partition benchmark: hosts a and b in network namespaces, the a<->b path cut (lb still reaches
# both) for CUT seconds (> dead_time), then healed. lb polls both services every 10 ms; per
# on_peer_loss policy and run: how long two nodes served at once, and how long none did, from
# the cut until 3 s after exactly one was active again. Prints a table and a JSON summary.
# Not a test: nothing here asserts a figure (test-partition-policies does).
# Then the same pair with the etcd arbiter (a real 3-member etcd on a, b and the tie-breaker c,
# tests/lib/etcd.sh), haproxy in lb and a paced client through it: per fault (the active node
# cut from everyone, only a<->b cut, the active agent killed with SIGKILL), the time from the
# fault until the other node's service answers, milliseconds with both serving, and the requests
# that failed through haproxy.
# Usage: tests/bench/partition.sh [RUNS] [CUT] [PARTS]   (PARTS: "policies arbiter", the default;
#        VC_BUILD: build dir, default build/; needs root)
set -u
runs=${1:-3}
cut=${2:-3}
parts=${3:-policies arbiter}
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

case " $parts " in *" policies "*) policies="stay takeover" ;; *) policies="" ;; esac
for policy in $policies; do
        for i in $(seq "$runs"); do
                one_run "$policy"
                echo "run $i $policy: $(tail -n 1 "$results")" >&2
        done
done

[ -n "$policies" ] && python3 - "$results" "$runs" "$cut" "$VC_DEAD_TIME" <<'PY'
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

case " $parts " in *" arbiter "*) ;; *) exit 0 ;; esac

# --- with the arbiter
. "$(dirname "$0")/../lib/etcd.sh"
ve_up >/dev/null 2>&1
vn_haproxy_up >/dev/null 2>&1
arb_results=$VC_TMP/arbiter-results
: >"$arb_results"

# Between runs: the watchdogs of the last run go (by their pid), and so does the key.
ve_pair_reset() {
        local n pid pids=()
        for n in "$VN_A" "$VN_B"; do
                pid=$(cat "$VC_TMP/$n/state/fence.pid" 2>/dev/null) && pids+=("$pid")
        done
        # Agents first: one that exits while serving tells its watchdog the deadline.
        vn_pair_reset
        for pid in "${pids[@]}"; do
                [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = vacataire-fence ] && kill -9 "$pid"
        done
        vn_exec c curl -s -m 2 -X POST http://127.0.0.1:2379/v3/kv/deleterange \
                -d "{\"key\":\"$(printf '%s' "/vacataire/$VN" | base64 -w0)\"}" >/dev/null
}

# First poll sample at or after T in which NODE answered: milliseconds from T, or -1.
first_serving_ms() { # first_serving_ms NODE T
        python3 - "$VC_TMP/poll.log" "$1" "$2" <<'PY'
import sys
node, t0 = sys.argv[2], float(sys.argv[3])
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 3 and float(f[0]) >= t0 and f"{node}=yes" in f[1:]:
        print(round((float(f[0]) - t0) * 1000)); break
else:
    print(-1)
PY
}

arbiter_run() { # arbiter_run SCENARIO
        ve_pair_up >"$VC_TMP/pair-up.log" 2>&1 || { cat "$VC_TMP/pair-up.log" >&2; exit 1; }
        vn_poll_start
        vn_client_start >/dev/null 2>&1
        sleep 1
        local t0 other=$VN_B
        t0=$(vn_now)
        case $1 in
        cut-active) vn_cut "$VN_A" ;;
        cut-pair) vn_cut_pair ;;
        kill-agent) vc_stop "$VN_A" KILL ;;
        esac
        # A cut pair keeps a serving: the figure is how long b stays out, 2 ttl.
        local deadline=$(($(date +%s) + VE_TTL * 4))
        if [ "$1" = cut-pair ]; then
                sleep $((VE_TTL * 2))
        else
                while [ "$(date +%s)" -lt "$deadline" ] && [ "$(vn_serving "$other")" != "$other" ]; do sleep 0.05; done
                sleep 1
        fi
        vn_client_stop
        vn_poll_stop
        local serves both failed
        serves=$(first_serving_ms "$other" "$t0")
        both=$(vn_poll_overlap "$t0" | cut -d' ' -f1)
        failed=$(vn_client_json 's["failed"]')
        echo "$1 $serves $both $failed" >>"$arb_results"
        case $1 in cut-active) vn_heal "$VN_A" ;; cut-pair) vn_heal_pair ;; esac
        ve_pair_reset
}

for scenario in cut-active cut-pair kill-agent; do
        for i in $(seq "$runs"); do
                arbiter_run "$scenario"
                echo "run $i arbiter $scenario: $(tail -n 1 "$arb_results")" >&2
        done
done

python3 - "$arb_results" "$runs" "$VE_TTL" "$VC_DEAD_TIME" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"with the arbiter: ttl {sys.argv[3]} s, dead_time {sys.argv[4]} s, {sys.argv[2]} runs per fault (median [min-max])")
print(f"{'fault':<12} {'other serves after ms':>24} {'both serving ms':>18} {'failed requests':>18}")
def fmt(v): return f"{statistics.median(v):.0f} [{min(v):.0f}-{max(v):.0f}]"
summary = []
for scenario in ("cut-active", "cut-pair", "kill-agent"):
    r = [x for x in rows if x[0] == scenario]
    if not r:
        continue
    serves = [float(x[1]) for x in r]; both = [float(x[2]) for x in r]; failed = [float(x[3]) for x in r]
    shown = fmt(serves) if scenario != "cut-pair" else ("never (a keeps the key)" if max(serves) < 0 else fmt(serves))
    print(f"{scenario:<12} {shown:>24} {fmt(both):>18} {fmt(failed):>18}")
    summary.append({"fault": scenario, "runs": len(r), "other_serves_ms": serves,
                    "both_serving_ms": both, "failed_requests": failed})
print(json.dumps({"ttl_s": float(sys.argv[3]), "arbiter": summary}))
PY
