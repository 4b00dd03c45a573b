#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Clean runs under valgrind memcheck: the failover integration tests with both agents under
# valgrind (cluster.sh's VC_AGENT_WRAPPER), then every vacataire-ctl command under valgrind
# against a live pair. Prints, for the daemon and for vacataire-ctl, the processes checked, the
# memcheck errors and the leaks (definitely / indirectly / possibly lost), and each test's result
# (timing-sensitive tests may fail under valgrind's slowdown; that is reported, not hidden).
# Slow (minutes); not in CTest.
# Usage: tests/bench/valgrind.sh [TEST-NAME-REGEX]   (default: test-failover-; VC_BUILD: build dir)
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
export VC_BUILD=${VC_BUILD:-$src/build}
export VC_SOURCE=$src
pattern=${1:-test-failover-}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
out=$(mktemp -d /tmp/vc-valgrind.XXXXXX)
chmod 755 "$out"
vg="valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite --track-fds=no --num-callers=30"
mkdir -p "$out/daemon" "$out/ctl"

# The daemon: under valgrind in every test; slower, so start and stop waits and limits grow.
export VC_AGENT_WRAPPER="$vg --log-file=$out/daemon/%p.log"
export VC_START_WAIT=60 VC_STOP_WAIT=60 VC_TIME_SCALE=4
: >"$out/results"
for t in "$src"/tests/integration/test-*; do
        name=$(basename "$t")
        [[ $name =~ $pattern ]] || continue
        # Only the loopback pairs: the netns tests start agents through ip netns exec.
        grep -q 'lib/cluster.sh' "$t" || continue
        start=$(date +%s)
        timeout 900 "$t" >"$out/$name.log" 2>&1
        rc=$?
        echo "$name rc=$rc $(($(date +%s) - start))s" | tee -a "$out/results" >&2
done
unset VC_AGENT_WRAPPER VC_START_WAIT VC_STOP_WAIT VC_TIME_SCALE

# vacataire-ctl: every command under valgrind against a live (native) pair.
(
        VC_TEST_NAME=valgrind-ctl
        # shellcheck source=../lib/cluster.sh
        source "$src/tests/lib/cluster.sh"
        vc_pair_up
        ctl="$vg --log-file=$out/ctl/%p.log $VC_BUILD/vacataire-ctl"
        s=$VC_TMP/a/control.sock
        $ctl -s "$s" status
        $ctl -s "$s" status --json
        $ctl -s "$s" checks
        $ctl -c "$VC_TMP/a/vacataire.conf" status
        $ctl -s "$s" reload
        $ctl -s "$VC_TMP/b/control.sock" takeover          # refused: peer healthy? or done
        $ctl -s "$s" takeover
        $ctl -s "$s" quiesce
        $ctl -s "$VC_TMP/b/control.sock" quiesce
        $ctl -s "$VC_TMP/nowhere.sock" status                 # no agent
        $ctl -c /nonexistent.conf status                       # no config
        $ctl -s "$s" frobnicate                                # unknown command
        $ctl --help
        $ctl
        true
) >"$out/ctl.log" 2>&1

summarize() { # summarize DIR LABEL
        python3 - "$1" "$2" <<'PY'
import glob, re, sys
d, label = sys.argv[1], sys.argv[2]
procs = complete = errors = 0
lost = {"definitely": [0, 0], "indirectly": [0, 0], "possibly": [0, 0]}
bad = []
logs = {}
for f in sorted(glob.glob(d + "/*.log")):
    logs[f.rsplit("/", 1)[1][:-4]] = (f, open(f, errors="replace").read())
forks = 0
for pid, (f, text) in logs.items():
    parent = re.search(r"Parent PID: (\d+)", text)
    m = re.search(r"ERROR SUMMARY: ([\d,]+) errors", text)
    if parent and parent.group(1) in logs and not m:
        forks += 1                    # a child the agent forked to exec a command: not traced on
        continue
    procs += 1
    if not m:
        continue                      # killed with SIGKILL by its test: no summary
    complete += 1
    n = int(m.group(1).replace(",", ""))
    errors += n
    for kind in lost:
        m2 = re.search(kind + r" lost: ([\d,]+) bytes in ([\d,]+) blocks", text)
        if m2:
            lost[kind][0] += int(m2.group(1).replace(",", ""))
            lost[kind][1] += int(m2.group(2).replace(",", ""))
            if kind == "definitely" and m2.group(2) != "0":
                bad.append(f)
    if n:
        bad.append(f)
print(f"{label}: {procs} processes ({forks} forks for commands not counted), {complete} exited with a summary "
      f"(the others were SIGKILLed by their test); "
      f"{errors} errors; definitely lost {lost['definitely'][0]} B in {lost['definitely'][1]} blocks, "
      f"indirectly {lost['indirectly'][0]} B in {lost['indirectly'][1]}, possibly {lost['possibly'][0]} B in {lost['possibly'][1]}")
for f in sorted(set(bad))[:10]:
    print("  see " + f)
PY
}
echo "valgrind memcheck, logs in $out"
cat "$out/results"
summarize "$out/daemon" "vacataire (daemon)"
summarize "$out/ctl" "vacataire-ctl"
