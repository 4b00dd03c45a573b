#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Clean runs under valgrind memcheck: the failover integration tests with both agents under
# valgrind (cluster.sh's VC_AGENT_WRAPPER), then every vacataire-ctl command under valgrind
# against a live pair. Prints, for the daemon and for vacataire-ctl, the processes checked, the
# memcheck errors and the leaks (definitely / indirectly / possibly lost), and each test's result
# (timing-sensitive tests may fail under valgrind's slowdown; that is reported, not hidden).
# Slow (minutes); not in CTest.
# Timers are raised where a test leaves them to the defaults (init_dead 4 s: an agent under
# valgrind takes over a second to start, and the peer must be heard within init_dead).
# Usage: tests/bench/valgrind.sh [TEST-NAME-REGEX]   (default: 'test-(failover|fault)-'; VC_BUILD: build dir)
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
export VC_BUILD=${VC_BUILD:-$src/build}
export VC_SOURCE=$src
pattern=${1:-'test-(failover|fault)-'}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
out=$(mktemp -d /tmp/vc-valgrind.XXXXXX)
chmod 755 "$out"
vg="valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite --track-fds=no --num-callers=30"
mkdir -p "$out/daemon" "$out/ctl"

# The daemon: under valgrind in every test; slower, so start and stop waits and limits grow.
# Its checker processes too (they run the plugins); not the shell commands and tools it runs.
skip='*/sh,*/dash,*/bash,*/busybox,*/sleep,*/curl,*/cat,*/kill,*/rm,*/sed,*/cut,*/date,*/python3*,/tmp/*'
export VC_AGENT_WRAPPER="$vg --trace-children=yes --trace-children-skip=$skip --log-file=$out/daemon/%p.log"
export VC_START_WAIT=60 VC_STOP_WAIT=60 VC_TIME_SCALE=4 VC_INIT_DEAD=${VC_INIT_DEAD:-4.0}
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
unset VC_AGENT_WRAPPER VC_START_WAIT VC_STOP_WAIT VC_TIME_SCALE VC_INIT_DEAD

# vacataire-ctl: every command under valgrind against a live (native) pair.
(
        VC_TEST_NAME=valgrind-ctl
        # shellcheck source=../lib/cluster.sh
        source "$src/tests/lib/cluster.sh"
        vc_pair_up
        ctl="$vg --log-file=$out/ctl/%p.log $VC_BUILD/vacataire-ctl"
        s=$VC_TMP/a/control.sock
        # Successes and refusals both: every path through the client, errors included.
        $ctl -s "$s" status
        $ctl -s "$s" status --json
        $ctl -s "$s" checks
        $ctl -c "$VC_TMP/a/vacataire.conf" status
        $ctl -s "$s" reload
        $ctl -s "$s" takeover                                  # refused: already active
        $ctl -s "$s" quiesce                                   # a hands over to b
        $ctl -s "$VC_TMP/b/control.sock" quiesce               # and b back to a
        $ctl -s "$VC_TMP/b/control.sock" takeover              # planned switchover to b
        $ctl -s "$VC_TMP/nowhere.sock" status                  # no agent there
        $ctl -c /nonexistent.conf status                       # no config file
        $ctl -s "$s" frobnicate                                # unknown command
        $ctl --help
        $ctl
        true
) >"$out/ctl.log" 2>&1

summarize() { # summarize DIR LABEL PROGRAM
        python3 - "$1" "$2" "$3" <<'PY'
import glob, re, sys
d, label, want = sys.argv[1], sys.argv[2], "/" + sys.argv[3]
procs = complete = errors = 0
lost = {"definitely": [0, 0], "indirectly": [0, 0], "possibly": [0, 0]}
bad = []
error_kinds = re.compile(r"^==\d+== (Invalid (read|write|free)|Conditional jump|Syscall param|Mismatched free"
                         r"|Use of uninitialised|Source and destination overlap|Argument .* of function)", re.M)
killed_errors = 0
logs = {}
for f in glob.glob(d + "/*.log"):
    text = open(f, errors="replace").read()
    command = re.search(r"Command: (\S+)", text)
    parent = re.search(r"Parent PID: (\d+)", text)
    logs[f.rsplit("/", 1)[1][:-4]] = (f, text, command and command.group(1), parent and parent.group(1))
for pid, (f, text, command, parent) in sorted(logs.items()):
    if not command or not command.endswith(want):
        continue
    if parent in logs and logs[parent][2] == command:
        continue                      # a fork that went on to exec a command (not traced)
    procs += 1
    m = re.search(r"ERROR SUMMARY: ([\d,]+) errors", text)
    if not m:
        # SIGKILLed (by its test, or a checker by its agent): no summary and no leak check,
        # but memcheck reports errors as they happen.
        n = len(error_kinds.findall(text))
        killed_errors += n
        if n:
            bad.append(f)
        continue
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
print(f"{label}: {procs} processes, {complete} exited with a summary; {procs - complete} SIGKILLed "
      f"(errors reported before the kill: {killed_errors}); "
      f"{errors} errors; definitely lost {lost['definitely'][0]} B in {lost['definitely'][1]} blocks, "
      f"indirectly {lost['indirectly'][0]} B in {lost['indirectly'][1]}, possibly {lost['possibly'][0]} B in {lost['possibly'][1]}")
for f in sorted(set(bad))[:10]:
    print("  see " + f)
PY
}
echo "valgrind memcheck, logs in $out"
cat "$out/results"
summarize "$out/daemon" "vacataire (daemon)" vacataire
summarize "$out/daemon" "vacataire-checker" vacataire-checker
summarize "$out/ctl" "vacataire-ctl" vacataire-ctl
