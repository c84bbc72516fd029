#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/audit-bench.sh BUILDDIR [LINES]: time `sendasctl audit` over a generated audit log
# of LINES records (default 1,000,000) and its mail log (half rotated and gzipped), with
# /usr/bin/time -v for the peak memory.  Acceptance: under 10 s, under 50 MB.
set -eu
build=$1
lines=${2:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/sendas-audit-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 "$here/audit-gen.py" "$dir" "$lines"
ls -l "$dir"
wc -l "$dir/audit.log" "$dir/mail.log"
echo "mail.log.1.gz: $(zcat "$dir/mail.log.1.gz" | wc -l) lines"
for fmt in table html; do
    /usr/bin/time -v "$build/ctl/sendasctl" audit --log "$dir/audit.log" \
        --maillog "$dir/mail.log" --maillog "$dir/mail.log.1.gz" --format $fmt \
        > "$dir/report.$fmt" 2> "$dir/time.$fmt"
    echo "--format $fmt: $(grep -E 'Elapsed \(wall' "$dir/time.$fmt" | sed 's/.*: //') wall," \
        "$(grep 'Maximum resident' "$dir/time.$fmt" | sed 's/.*: //') KB peak RSS," \
        "$(wc -c < "$dir/report.$fmt") bytes of report"
done
head -5 "$dir/report.table"
grep -A3 "Exchange Online's answers" "$dir/report.table" | head -4
