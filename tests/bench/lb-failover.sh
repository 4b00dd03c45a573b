#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Failover behind a real haproxy: hosts a and b and the balancer lb in network namespaces
# (tests/lib/netns.sh), one agent and one busybox httpd per host, haproxy in lb with port checks
# every 100 ms and the agents' agent-check. Measured:
#   failover time   fault -> the peer's own service answering (polled from lb every 2 ms):
#                   service killed at check interval 0.1 and 1.0 (fall 1), break-before-make;
#                   a's link cut (heartbeat 0.1, dead_time 0.5); a's page changed (content check)
#   client view     a paced client in lb sends 200 requests/s through haproxy all along; for each
#                   fault (or planned handover) the failed requests and the longest outage it saw,
#                   between the fault and the reset that follows it
#   planned         quiesce and takeover, make-before-break, drain_time 1.0, agent-check
#   lb              the check kills again at interval 0.1 and 1.0, with the agents' `lb` group
#                   (haproxy's runtime API) instead of the agent-check, and haproxy's own checks
#                   as the README suggests with lb, a backstop (inter 1s fall 2): the agents tell
#                   it first
#   plannedlb       the planned handovers again, with lb instead of the agent-check
# VC_BENCH_PHASES picks phases (default: check01 check10 content planned lb01 lb10 plannedlb).
# Between two runs the new active node runs `vacataire-ctl quiesce` (a node that handed over
# after a failure is never given the services back by itself); those resets are not counted.
# Prints a table and a JSON summary. Not a test: nothing here fails on a time. Needs root.
# Usage: tests/bench/lb-failover.sh [RUNS] [LOSS_RUNS] [CONTENT_RUNS] [PLANNED_CYCLES]
#        (defaults 20 10 5 3; VC_BUILD: build dir, default build/)
set -u
runs=${1:-20}
loss_runs=${2:-10}
content_runs=${3:-5}
planned_cycles=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
export VC_BUILD=${VC_BUILD:-$here/../../build}
export VC_SOURCE=${VC_SOURCE:-$(cd "$here/../.." && pwd)}
[ -x "$VC_BUILD/vacataire" ] || {
        echo "no $VC_BUILD/vacataire: build first, or set VC_BUILD" >&2
        exit 1
}
out=$(mktemp -d /tmp/vc-lb-bench.XXXXXX)
# VC_BENCH_KEEP=1 keeps the raw data (fault times, client records, phase logs).
trap '[ -n "${VC_BENCH_KEEP:-}" ] && echo "raw data kept in $out" >&2 || rm -rf "$out"' EXIT

# The prober: runs in lb, does the fault, then polls HOST's own service until it answers with
# NODE's page. Prints "fault_time answer_time" (epoch seconds; "none" after 30 s). The fault is
# stamped just before it is done: a link cut counts from before `ip` runs.
cat >"$out/prober.py" <<'PY'
import os, signal, socket, subprocess, sys, time
ip, node, action, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
want = b"\r\n\r\n" + node.encode() + b"\n"  # the page names the node
t0 = time.time()
if action == "kill":
    os.kill(int(args[0]), signal.SIGKILL)
elif action == "run":
    subprocess.run(args, check=True)
elif action == "move":
    os.rename(args[0], args[1])
deadline = t0 + 30
answered = None
while time.time() < deadline:
    s = None
    try:
        s = socket.create_connection((ip, 80), timeout=0.05)
        s.settimeout(0.5)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        if got.split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"] and want in got:
            answered = time.time()
            break
    except OSError:
        pass
    finally:
        if s:
            s.close()
    time.sleep(0.002)
print("%.6f %s" % (t0, "%.6f" % answered if answered else "none"))
PY

# phase NAME: a subshell with its own namespaces, pair and haproxy (the environment configures
# them); runs the function bench_NAME, the paced client running meanwhile. Its log goes to
# $out/NAME.log, the client's records to $out/NAME.client.json.
phase() {
        local ph=$1
        echo "$(date +%H:%M:%S) phase $ph ..." >&2
        (
                # shellcheck disable=SC2034 # read by cluster.sh's vc_log
                VC_TEST_NAME=bench-$ph
                # shellcheck source-path=SCRIPTDIR source=../lib/netns.sh
                . "$here/../lib/netns.sh"
                vn_require_root
                vn_network_up
                # haproxy first, so that agents with an lb group find its runtime API at once.
                vn_haproxy_up
                vn_pair_up
                vn_lb_wait "$VN_A" UP 5
                vn_lb_wait "$VN_B" "$(passive_lb)" 5
                "before_$ph"
                vn_client_start --records --duration 1200
                sleep 1
                "bench_$ph"
                sleep 0.5
                vn_client_stop
                cp "$VN_CLIENT_OUT" "$out/$ph.client.json"
                vn_finish "phase $ph"
        ) 2>"$out/$ph.log" || {
                echo "phase $ph FAILED; its log ends with:" >&2
                tail -n 60 "$out/$ph.log" >&2
        }
}

# What haproxy shows for the passive node: down by its own check, or in maintenance when the
# agents tell it (lb).
passive_lb() { [ "${VN_LB:-no}" = yes ] && echo MAINT || echo DOWN; }

# Waits until a serves, haproxy sends to it, and b is passive and stopped.
steady_a() {
        vc_wait_state a active 15
        vc_wait_state b passive 15
        vn_wait_serving a yes 5
        vn_wait_serving b no 5
        vn_lb_wait a UP 5
        vn_lb_wait b "$(passive_lb)" 5
        sleep 0.3
}

# b took over: b serves and haproxy sends to it, a passive. Then the reset: quiesce on b.
# Appends "fault answer reset" to $out/FILE.
after_fault() { # after_fault FILE PROBER-LINE
        vc_wait_state b active 15
        vn_wait_serving b yes 5
        vn_lb_wait b UP 5
        vc_wait_state a passive 15
        vn_wait_serving a no 5
        sleep 0.3
        echo "$2 $(vn_now)" >>"$out/$1"
        vc_ctl b quiesce >"$VC_TMP/ctl.out" 2>&1 || vc_fail "quiesce on b: $(cat "$VC_TMP/ctl.out")"
        steady_a
}

probe() { # probe ACTION ARGS...: the fault, then b's service polled from lb
        vn_exec lb python3 "$out/prober.py" "$(vn_ip b)" b "$@"
}

kill_runs() { # kill_runs FILE
        local i line
        for i in $(seq "$runs"); do
                steady_a
                line=$(probe kill "$(cat "$VC_TMP/a/service.pid")")
                vc_log "kill run $i: $line"
                after_fault "$1" "$line"
        done
}

before_check01() { :; }
bench_check01() {
        kill_runs kill-0.1
        local i line
        for i in $(seq "$loss_runs"); do
                steady_a
                # shellcheck disable=SC2031 # runs inside the phase's subshell, like netns.sh
                line=$(probe run ip -n "$(vn_ns lb)" link set "$VN${VN_A}0" down)
                vc_log "loss run $i: $line"
                vc_wait_state b active 15
                vn_wait_serving b yes 5
                vn_lb_wait b UP 5
                sleep 0.3
                # a, cut off, still serves on its side; healed, it yields to b's higher epoch.
                vn_heal a
                vc_wait_state a passive 15
                vn_wait_serving a no 5
                after_fault loss "$line"
        done
}

before_check10() { :; }
bench_check10() { kill_runs kill-1.0; }

before_lb01() { :; }
bench_lb01() { kill_runs kill-lb-0.1; }
before_lb10() { :; }
bench_lb10() { kill_runs kill-lb-1.0; }

page_check_passing() {
        local i
        for i in $(seq 200); do
                [ "$(vc_json a "[c['status'] for c in s['checks'] if c['name'] == 'page'][0]")" = passing ] && return 0
                sleep 0.05
        done
        vc_fail "a's content check never passed: $(vc_ctl a checks)"
}
before_content() { page_check_passing; }
bench_content() {
        local i line
        for i in $(seq "$content_runs"); do
                steady_a
                page_check_passing
                # Still names the node on its first line: the client can tell who answered.
                printf 'a\nthis page is not what the check expects\n' >"$VC_TMP/a/www/index.html.new"
                line=$(probe move "$VC_TMP/a/www/index.html.new" "$VC_TMP/a/www/index.html")
                vc_log "content run $i: $line"
                vc_wait_state a passive 15
                echo a >"$VC_TMP/a/www/index.html"
                after_fault content "$line"
        done
}

before_planned() { :; }
# One handover: vacataire-ctl COMMAND on CTL-NODE; appends "start ctl_returned end" to
# $out/planned once NEW serves alone and haproxy sends to it.
planned_step() { # planned_step CTL-NODE COMMAND NEW OLD
        local t0 t1
        t0=$(vn_now)
        vc_ctl "$1" "$2" >"$VC_TMP/ctl.out" 2>&1 || vc_fail "$2 on $1: $(cat "$VC_TMP/ctl.out")"
        t1=$(vn_now)
        vc_wait_state "$3" active 15
        vc_wait_state "$4" passive 15
        vn_wait_serving "$3" yes 5
        vn_wait_serving "$4" no 5
        vn_lb_wait "$3" UP 5
        sleep 0.3
        vc_log "$2 on $1: $3 serves (command returned after $(vn_ms "$t0" "$t1") ms)"
        echo "$t0 $t1 $(vn_now)" >>"$out/${PLANNED_OUT:-planned}"
}
bench_planned() {
        local i
        for i in $(seq "$planned_cycles"); do
                planned_step a quiesce b a
                planned_step b quiesce a b
                planned_step b takeover b a
                planned_step a takeover a b
        done
}

export VC_HEARTBEAT=0.1 VC_DEAD_TIME=0.5 VC_INIT_DEAD=1.0 VC_HANDOVER=break-before-make
# shellcheck disable=SC2034 # read by netns.sh's vn_haproxy_up
VN_AGENT_CHECK=yes
phases=" ${VC_BENCH_PHASES:-check01 check10 content planned lb01 lb10 plannedlb} "
want() { [[ "$phases" == *" $1 "* ]]; }
want check01 && VC_INTERVAL=0.1 VC_FALL=1 phase check01
want check10 && VC_INTERVAL=1.0 VC_FALL=1 phase check10
# Pages are "a\n" and "b\n": 2 bytes; @IP@ is each host's own address.
want content && VN_CHECKS='{ name = "page"; plugin = "content"; interval = 0.1; timeout = 1.0; fall = 1; rise = 1;
    scope = "active"; params = { url = "http://@IP@/index.html"; content_length = 2; }; }' \
        phase content
want planned && VC_HANDOVER=make-before-break VC_DRAIN_TIME=1.0 VC_INTERVAL=0.1 phase planned
# shellcheck disable=SC2034 # read by netns.sh
lb_check="check inter 1s fall 2 rise 1"
want lb01 && VN_LB=yes VN_AGENT_CHECK=no VN_HAPROXY_CHECK=$lb_check VC_INTERVAL=0.1 VC_FALL=1 phase lb01
# shellcheck disable=SC2034
want lb10 && VN_LB=yes VN_AGENT_CHECK=no VN_HAPROXY_CHECK=$lb_check VC_INTERVAL=1.0 VC_FALL=1 phase lb10
before_plannedlb() { :; }
bench_plannedlb() { PLANNED_OUT=plannedlb bench_planned; }
# shellcheck disable=SC2034
want plannedlb && VN_LB=yes VN_AGENT_CHECK=no VN_HAPROXY_CHECK=$lb_check VC_HANDOVER=make-before-break \
        VC_DRAIN_TIME=1.0 VC_INTERVAL=0.1 phase plannedlb

python3 - "$out" "$(nproc)" "$(uname -r)" <<'PY'
import json, math, os, statistics, sys

out, cores, kernel = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def lines(name):
    p = os.path.join(out, name)
    return [l.split() for l in open(p)] if os.path.exists(p) else []

def client(phase):
    p = os.path.join(out, phase + ".client.json")
    return json.load(open(p)) if os.path.exists(p) else None

def stats(vals):
    if not vals:
        return None
    v = sorted(vals)
    return {"median": round(statistics.median(v), 1), "p90": round(v[max(0, math.ceil(0.9 * len(v)) - 1)], 1),
            "min": round(v[0], 1), "max": round(v[-1], 1)}

def window(c, t0, t1):
    """Failed requests sent in [t0, t1), the longest outage there (first failure to the next
    success, ms), and when b first answered. haproxy may hold a request sent just after the
    fault until b is up: the answer's time counts, not the sending's."""
    failed, longest, start = 0, 0.0, None
    first_b = min((a for w, n, a in c["switches"] if n == "b" and t0 <= w < t1), default=None)
    for sent, node in c["records"]:
        if sent < t0:
            continue
        if sent >= t1:
            break
        if node is None:
            failed += 1
            if start is None:
                start = sent
            continue
        if start is not None:
            longest = max(longest, sent - start)
            start = None
    if start is not None:
        longest = max(longest, t1 - start)
    return failed, longest * 1000, first_b

failover_rows = [  # name, runs file, client phase, target ms, what the target is, client label
    ("check kill, interval 0.1 fall 1", "kill-0.1", "check01", 200, "interval x fall + 100 ms",
     "check failover (kill, bbm, i=0.1)"),
    ("check kill, interval 1.0 fall 1", "kill-1.0", "check10", 1100, "interval x fall + 100 ms",
     "check failover (kill, bbm, i=1.0)"),
    ("node loss, hb 0.1 dead_time 0.5", "loss", "check01", 600, "dead_time + 100 ms",
     "node loss (cut a's link)"),
    ("content failure, interval 0.1 fall 1", "content", "content", 200, "interval x fall + 100 ms",
     "content failure (bbm)"),
    ("check kill + lb, interval 0.1 fall 1", "kill-lb-0.1", "lb01", 200, "interval x fall + 100 ms",
     "check failover + lb (kill, bbm, i=0.1)"),
    ("check kill + lb, interval 1.0 fall 1", "kill-lb-1.0", "lb10", 1100, "interval x fall + 100 ms",
     "check failover + lb (kill, bbm, i=1.0)"),
]
summary = {"machine": {"nproc": cores, "kernel": kernel, "note": "shared, noisy machine"},
           "client_rate_per_s": 200, "failover": [], "client": []}
print("vacataire behind haproxy, hosts in network namespaces; %d cores, kernel %s; shared, noisy machine"
      % (cores, kernel))
print()
print("failover time: fault -> peer's service answering (ms); via lb: b's first answer through haproxy")
print("%-38s %4s %7s %7s %7s %7s %9s %7s %s" % ("scenario", "runs", "median", "p90", "min", "max",
                                               "via lb p50", "target", "within (median/p90)"))
client_rows = []
for name, f, phase, target, what, label in failover_rows:
    runs = [r for r in lines(f)]
    times = [(float(t1) - float(t0)) * 1000 for t0, t1, _ in runs if t1 != "none"]
    unanswered = sum(1 for r in runs if r[1] == "none")
    recs = client(phase)
    via, failed, outages = [], [], []
    if recs is not None:
        for t0, _, reset in runs:
            n, longest, first_b = window(recs, float(t0), float(reset))
            failed.append(n)
            outages.append(longest)
            if first_b is not None:
                via.append((first_b - float(t0)) * 1000)
    s, v = stats(times), stats(via)
    row = {"scenario": name, "runs": len(runs), "unanswered": unanswered, "target_ms": target,
           "target": what}
    if s:
        row.update({k + "_ms": x for k, x in s.items()})
        row["median_within_target"] = s["median"] <= target
        row["p90_within_target"] = s["p90"] <= target
        print("%-38s %4d %7.1f %7.1f %7.1f %7.1f %9s %7d %s/%s" % (
            name, len(runs), s["median"], s["p90"], s["min"], s["max"],
            "%.1f" % v["median"] if v else "-", target,
            "yes" if row["median_within_target"] else "NO", "yes" if row["p90_within_target"] else "NO"))
    else:
        print("%-38s %4d (no data)" % (name, len(runs)))
    if v:
        row["via_haproxy_median_ms"] = v["median"]
        row["via_haproxy_p90_ms"] = v["p90"]
    summary["failover"].append(row)
    if recs is not None and runs:
        client_rows.append((label, failed, outages, None))

planned = lines("planned")
recs = client("planned")
if recs is not None and planned:
    failed, outages = [], []
    for t0, _, end in planned:
        n, longest, _ = window(recs, float(t0), float(end))
        failed.append(n)
        outages.append(longest)
    client_rows.append(("planned quiesce/takeover (mbb+agent)", failed, outages, 0))
planned_lb, recs_lb = lines("plannedlb"), client("plannedlb")
if recs_lb is not None and planned_lb:
    failed, outages = [], []
    for t0, _, end in planned_lb:
        n, longest, _ = window(recs_lb, float(t0), float(end))
        failed.append(n)
        outages.append(longest)
    client_rows.append(("planned quiesce/takeover (mbb+lb)", failed, outages, 0))
    ctl = stats([(float(t1) - float(t0)) * 1000 for t0, t1, _ in planned])
    summary["planned_command_ms"] = ctl

print()
print("client through haproxy, 200 req/s: per fault or handover, failed requests and longest outage (ms)")
print("%-38s %5s %7s %9s %9s %9s %9s %s" % ("scenario", "n", "failed", "failed/n", "max/n",
                                           "outage p50", "outage max", "target"))
for label, failed, outages, target in client_rows:
    so = stats(outages)
    row = {"scenario": label, "events": len(failed), "failed_total": sum(failed),
           "failed_per_event_median": statistics.median(failed), "failed_per_event_max": max(failed),
           "longest_outage_ms_median": so["median"], "longest_outage_ms_max": so["max"]}
    tgt = "-"
    if target is not None:
        row["target_failed"] = target
        row["within_target"] = sum(failed) == target
        tgt = "0 failed: %s" % ("yes" if row["within_target"] else "NO")
    summary["client"].append(row)
    print("%-38s %5d %7d %9.1f %9d %9.1f %9.1f %s" % (label, len(failed), sum(failed),
                                                      statistics.median(failed), max(failed),
                                                      so["median"], so["max"], tgt))
if "planned_command_ms" in summary and summary["planned_command_ms"]:
    c = summary["planned_command_ms"]
    print("planned: vacataire-ctl returned after median %.1f ms, max %.1f ms (drain_time 1.0 s)"
          % (c["median"], c["max"]))
print()
print("JSON:")
print(json.dumps(summary))
PY
