#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite: unit tests, the Exchange Online emulator's self-test and the
# end-to-end tests with a private Postfix (and an unpacked Sendmail), first in a normal
# build, then again in an ASan+UBSan build; the libFuzzer harnesses briefly in a clang
# build (where clang is installed); a scratch `make install` must stay in its --prefix
# (tests/pkg/test-prefix.sh); then the Debian package is built, installed,
# tested and purged (tests/pkg/test-deb.sh).  Run as root on Debian 12 (it installs what
# is missing).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/prepare.sh"   # dependencies, a freshly bootstrapped tree
cd "$top"
status=0
# the third build, with clang: the libFuzzer harnesses, each briefly (tests/fuzz/run-brief.sh)
variants="plain sanitizers"
if command -v clang >/dev/null; then variants="$variants fuzz"; else echo "== no clang: fuzzers not run"; fi
for variant in $variants; do
    dir="$top/build-$variant"
    rm -rf "$dir"
    tests=""
    case $variant in
    sanitizers) "$top/scripts/build.sh" "$dir" --enable-sanitizers ;;
    fuzz) CC=clang "$top/scripts/build.sh" "$dir" --enable-fuzzers
        tests="TESTS=tests/fuzz/run-brief.sh" ;;
    *) "$top/scripts/build.sh" "$dir" ;;
    esac
    echo "== $variant build: make check $tests"
    # SENDAS_TEST_VARIANT: a long e2e test may do less in the sanitizer build (test_pacing.py)
    if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 SENDAS_TEST_VARIANT=$variant \
          make -j2 check $tests); then
        status=1
        for f in "$dir"/tests/*/*.log; do
            [ -f "$f" ] || continue
            grep -q -E '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null && { echo "---- $f"; tail -50 "$f"; }
        done
    fi
done
# `./configure --prefix=P && make install` writes nothing outside P (a scratch build, ~30 s)
echo "== make install stays in --prefix: tests/pkg/test-prefix.sh"
prefix_out="$top/build-plain/test-prefix.out"
"$top/tests/pkg/test-prefix.sh" >"$prefix_out" 2>&1 || status=1
sed 's/^/    /' "$prefix_out"
# the Debian package: build, install, e2e against the installed binaries, purge
echo "== Debian package: tests/pkg/test-deb.sh"
pkg_out="$top/build-plain/test-deb.out"
pkg_rc=0
"$top/tests/pkg/test-deb.sh" >"$pkg_out" 2>&1 || pkg_rc=$?
sed 's/^/    /' "$pkg_out"   # indented: its closing line is not the suite's
[ $pkg_rc -eq 0 ] || [ $pkg_rc -eq 77 ] || status=1
# one closing line over the builds, the install check and the package, counted from automake's
# test-suite.log files and the closing lines of test-prefix.sh and test-deb.sh
pass=0; fail=0
# add_closing FILE - add a script's closing "N passed, M failed" line to the totals
add_closing() {
    pp=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$1")
    pf=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$1")
    pass=$((pass + ${pp:-0})); fail=$((fail + ${pf:-0}))
}
add_closing "$pkg_out"
add_closing "$prefix_out"
for v in $variants; do
    log="$top/build-$v/test-suite.log"
    [ -f "$log" ] || continue
    p=$(sed -n 's/^# PASS: *//p' "$log"); f=$(sed -n 's/^# FAIL: *//p' "$log"); e=$(sed -n 's/^# ERROR: *//p' "$log")
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0} + ${e:-0}))
done
[ $status -eq 0 ] || [ $fail -gt 0 ] || fail=1
echo "$pass passed, $fail failed"
exit $status
