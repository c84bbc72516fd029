#!/bin/sh
# SPDX-License-Identifier: MIT
# run-brief.sh - every libFuzzer harness of tests/fuzz, briefly: its seed corpus, then
# FUZZ_SECONDS (default 10) of fuzzing into a temporary corpus, FUZZ_JOBS harnesses at a
# time (default: the number of CPUs, at most 4).  Fails when a harness crashes, leaks,
# hangs (-timeout), or when a tests/fuzz/fuzz_*.c has no binary or no corpus/<name>/
# (a new harness must be added to Makefile.am's fuzzer block).  A crashing input is
# copied to tests/artifacts/fuzz/ of the build tree, which CI keeps.
# Run by `make check` in a tree configured with CC=clang --enable-fuzzers; by hand:
#   BUILDDIR=build-fuzz SRCDIR=. tests/fuzz/run-brief.sh [fuzz_addr ...]
set -u
src=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${BUILDDIR:-.}
secs=${FUZZ_SECONDS:-10}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -le 4 ] || jobs=4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sendas-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ $# -gt 0 ]; then
    names=$*
else
    names=$(for c in "$src"/tests/fuzz/fuzz_*.c; do basename "$c" .c; done)
fi

# one_harness NAME - run it, leave "ok" or "FAIL" and its summary in $tmp/NAME.result
one_harness() {
    name=$1
    bin=$build/tests/fuzz/$name
    seeds=$src/tests/fuzz/corpus/${name#fuzz_}
    out=$tmp/$name
    if [ ! -x "$bin" ]; then
        echo "FAIL $name: $bin not built (is it in Makefile.am's fuzzer block?)" >"$out.result"
        return
    fi
    if [ ! -d "$seeds" ]; then
        echo "FAIL $name: no seed corpus $seeds" >"$out.result"
        return
    fi
    mkdir -p "$out.corpus" "$out.crash"
    nseeds=$(find "$seeds" -type f | wc -l)
    # new inputs go to the first directory, so the committed seeds stay as they are;
    # libFuzzer runs every seed before it starts mutating
    if "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out.crash/" "$out.corpus" "$seeds" >"$out.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out.log")
        new=$(find "$out.corpus" -type f | wc -l)
        echo "ok   $name: $nseeds seeds, ${runs:-?} runs in $secs s, $new new inputs" >"$out.result"
    else
        {
            echo "FAIL $name (seeds $seeds):"
            grep -E 'ERROR|SUMMARY|Test unit written|abort' "$out.log" | head -20
            tail -25 "$out.log"
        } >"$out.result"
        mkdir -p "$build/tests/artifacts/fuzz"
        for f in "$out.crash"/*; do
            [ -f "$f" ] && cp "$f" "$build/tests/artifacts/fuzz/$name-$(basename "$f")" &&
                echo "  input kept: $build/tests/artifacts/fuzz/$name-$(basename "$f")" >>"$out.result"
        done
    fi
}

start=$(date +%s)
set -- $names
while [ $# -gt 0 ]; do
    n=0
    while [ $# -gt 0 ] && [ $n -lt "$jobs" ]; do
        one_harness "$1" &
        shift
        n=$((n + 1))
    done
    wait
done

status=0
for name in $names; do
    cat "$tmp/$name.result"
    grep -q '^FAIL' "$tmp/$name.result" && status=1
done
echo "fuzzers: $(echo $names | wc -w) harnesses, ${secs} s each, $jobs at a time, $(( $(date +%s) - start )) s"
exit $status
