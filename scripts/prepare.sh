#!/bin/sh
# SPDX-License-Identifier: MIT
# What scripts/demo.sh and scripts/test.sh do first: install what is missing
# (scripts/deps.sh, Debian 12, as root) and bootstrap the source tree afresh, so that
# build directories made next (scripts/build.sh) configure from it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
cd "$top"
# a build directory needs a source tree without in-tree configure results
[ ! -f config.status ] || make distclean >/dev/null 2>&1 || true
./bootstrap >/dev/null 2>&1
