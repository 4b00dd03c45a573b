#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The whole test suite, as CI runs it: installs what is missing, then
#   1. build/       -Werror build: every test (unit, integration, end-to-end, systemd, package)
#   2. build-asan/  ASan+UBSan build: unit and integration tests again
#   3. build-fuzz/  clang libFuzzer build: each fuzz target for a bounded time
# and prints one closing line with the totals.
set -u
cd "$(dirname "$0")/.."
top=$PWD
jobs=${VC_JOBS:-2}

tests/deps.sh test || exit 1

total_passed=0
total_failed=0
status=0

# run_ctest DIR ARGS...: runs ctest, adds its counts to the totals.
run_ctest() {
        local dir=$1 log
        shift
        log=$(mktemp)
        (cd "$dir" && ctest --output-on-failure --timeout 300 -j "$jobs" "$@") 2>&1 | tee "$log"
        local line
        line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
        if [ -z "$line" ]; then
                echo "ctest in $dir printed no summary" >&2
                status=1
        else
                local failed total
                failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
                total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
                total_passed=$((total_passed + total - failed))
                total_failed=$((total_failed + failed))
                [ "$failed" -eq 0 ] || status=1
        fi
        rm -f "$log"
}

build() { # build DIR CMAKE-ARGS...
        local dir=$1
        shift
        cmake -S "$top" -B "$dir" -DVACATAIRE_WERROR=ON "$@" >/dev/null &&
                cmake --build "$dir" -j "$jobs" >"$dir.build.log" 2>&1 || {
                cat "$dir.build.log" >&2
                echo "build in $dir failed" >&2
                exit 1
        }
}

echo "== build/ (-Werror)"
build build
run_ctest build

echo "== build-asan/ (ASan+UBSan)"
build build-asan -DVACATAIRE_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:handle_segv=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan -L 'unit|integration' -LE 'slow'

if [ -f tests/fuzz/CMakeLists.txt ]; then
        echo "== build-fuzz/ (libFuzzer)"
        CC=clang build build-fuzz -DVACATAIRE_FUZZ=ON -DVACATAIRE_SANITIZE=ON
        run_ctest build-fuzz -L fuzz
fi

echo
echo "all suites: $total_passed passed, $total_failed failed"
exit $status
