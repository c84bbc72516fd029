#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo: install what is missing (Debian 12, as root), build sendas in build-demo, then
# relay sample legacy-application mail through a private Postfix + sendas-milter to the
# Exchange Online emulator on 127.0.0.1, and the same mail through Postfix without sendas
# for contrast (tests/demo.py; extra arguments are passed on, e.g. --keep).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/prepare.sh"   # dependencies, a freshly bootstrapped tree
cd "$top"
dir="$top/build-demo"
rm -rf "$dir"
echo "== building sendas in $dir"
"$top/scripts/build.sh" "$dir"
echo "== running the demo"
exec /usr/bin/python3 "$top/tests/demo.py" --milter "$dir/milter/sendas-milter" "$@"
