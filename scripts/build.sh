#!/bin/sh
# SPDX-License-Identifier: MIT
# Configure and build sendas in a build directory: scripts/build.sh DIR [configure args]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
[ -x "$top/configure" ] || (cd "$top" && ./bootstrap >/dev/null 2>&1)
mkdir -p "$dir"
cd "$dir"
[ -f Makefile ] || "$top/configure" -q "$@"
make -j"$(nproc)" >/dev/null
