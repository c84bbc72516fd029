#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/pacing-bench.sh BUILDDIR [MESSAGES [RATE]]: a burst of MESSAGES (default 120) from one
# SMTP client to one mailbox paced at RATE a minute (default 60, 60 / RATE whole seconds),
# through a private Postfix configured by `sendasctl postfix-config` (pacing yes) to the
# emulator enforcing RATE a minute; prints the delivery time against the physical minimum
# (MESSAGES / RATE), the pace, the most messages in any 60 s, the refusals at intake and the
# emulator's throttling replies.  It is tests/e2e/test_pacing.py with other figures; as root.
set -eu
build=$(cd "$1" && pwd)
export PACING_MESSAGES=${2:-120} PACING_RATE=${3:-60} BUILDDIR="$build"
here=$(cd "$(dirname "$0")" && pwd)
echo "pacing-bench: $PACING_MESSAGES messages at $PACING_RATE a minute, $(nproc) CPUs," \
    "$(date -u +%Y-%m-%dT%H:%MZ), Postfix $(postconf -d -h mail_version 2>/dev/null || echo ?)"
cd "$build"
/usr/bin/python3 "$here/../tests/e2e/test_pacing.py" | grep -E '^# (burst|two)|passed|^FAIL'
