#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite: unit tests, the Exchange Online emulator's self-test and the
# end-to-end tests with a private Postfix, first in a normal build, then again
# in an ASan+UBSan build.  Run as root on Debian 12 (it installs what is missing).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
cd "$top"
# a fresh tree: no in-tree configure results to confuse the build directories
[ ! -f config.status ] || make distclean >/dev/null 2>&1 || true
./bootstrap >/dev/null 2>&1
status=0
for variant in plain sanitizers; do
    dir="$top/build-$variant"
    rm -rf "$dir"
    if [ "$variant" = sanitizers ]; then
        "$top/scripts/build.sh" "$dir" --enable-sanitizers
    else
        "$top/scripts/build.sh" "$dir"
    fi
    echo "== $variant build: make check"
    if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 make -j2 check); then
        status=1
        for f in "$dir"/tests/*/*.log; do
            [ -f "$f" ] || continue
            grep -q -E '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null && { echo "---- $f"; tail -50 "$f"; }
        done
    fi
done
# one closing line over both builds, counted from automake's test-suite.log files
pass=0; fail=0
for v in plain sanitizers; do
    log="$top/build-$v/test-suite.log"
    [ -f "$log" ] || continue
    p=$(sed -n 's/^# PASS: *//p' "$log"); f=$(sed -n 's/^# FAIL: *//p' "$log"); e=$(sed -n 's/^# ERROR: *//p' "$log")
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0} + ${e:-0}))
done
[ $status -eq 0 ] || [ $fail -gt 0 ] || fail=1
echo "$pass passed, $fail failed"
exit $status
