#!/bin/sh
# SPDX-License-Identifier: MIT
# test-prefix.sh - `./configure --prefix=P && make install` writes nothing outside P.
# A scratch build under a temporary directory (extra configure arguments are passed on),
# then two installs:
#   1. make install DESTDIR=D: every file under D must lie under D/P;
#   2. the literal make install, traced by strace (skipped without strace): every file or
#      directory it creates, writes, renames, links, removes or changes the mode, owner
#      or times of must lie under P or the build (a rule that forgets DESTDIR shows here;
#      not run when 1 failed, as it would write there for real).
# and the files that must be there: the three daemons, sendasctl, the SASL plugin in
# P/lib/sasl2, the systemd units and sysusers file in P/lib, logrotate and sendas.conf in
# P/etc.  Prints one PASS/FAIL line per check and "N passed, M failed"; exit 0 when all
# pass.  Run by scripts/test.sh (it builds the tree once more: about 20 s).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $*"; }
ko() { fail=$((fail + 1)); echo "FAIL $*"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sendas-prefix.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
p=$tmp/p
b=$tmp/build
mkdir "$b"
[ -x "$top/configure" ] || (cd "$top" && ./bootstrap >/dev/null 2>&1)
if ! (cd "$b" && "$top/configure" -q --prefix="$p" "$@" && make -j2 >/dev/null 2>&1); then
    ko "configure --prefix=$p && make"
    echo "$pass passed, $fail failed"
    exit 1
fi

# 1. staged: the paths make install chose
d=$tmp/d
if (cd "$b" && make install DESTDIR="$d" >"$tmp/destdir.log" 2>&1); then
    out=$(cd "$d" && find . \( -type f -o -type l \) | sed 's|^\.||' | grep -v "^$p/" || true)
    n=$(cd "$d$p" && find . \( -type f -o -type l \) | wc -l)
    if [ -z "$out" ]; then ok "make install DESTDIR: $n files, all under the prefix"
    else ko "make install DESTDIR: outside the prefix:"; echo "$out" | sed 's/^/    /'; fi
else
    ko "make install DESTDIR (see below)"; tail -20 "$tmp/destdir.log"
fi

# 2. literal, traced; not after a failed staged install, which it would repeat on the system
if [ $fail -gt 0 ]; then
    echo "SKIP make install (traced): the staged install already left the prefix"
elif command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null; then
    if (cd "$b" && strace -f -qq -y -o "$tmp/trace" -e status=successful \
        -e trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,rmdir,chmod,fchmodat,chown,fchownat,lchown,utimensat,truncate,chdir,fchdir,clone,clone3,fork,vfork \
        make install >"$tmp/install.log" 2>&1); then
        out=$(python3 "$top/tests/pkg/trace_writes.py" "$tmp/trace" "$b" "$p" "$b")
        if [ -z "$out" ]; then ok "make install (traced): nothing written outside the prefix and the build"
        else ko "make install (traced) wrote outside the prefix:"; echo "$out" | sed 's/^/    /'; fi
    else
        ko "make install (see below)"; tail -20 "$tmp/install.log"
    fi
else
    echo "SKIP make install (traced): no usable strace (scripts/deps.sh installs it)"
    (cd "$b" && make install >"$tmp/install.log" 2>&1) || { ko "make install"; tail -20 "$tmp/install.log"; }
fi

# what must be there, inside the prefix (as staged: the literal install may not have run)
for f in sbin/sendas-milter sbin/sendas-policyd sbin/sendas-tokend bin/sendasctl \
    lib/sasl2/libxoauth2.so lib/systemd/system/sendas-milter.service \
    lib/systemd/system/sendas-policyd.service lib/systemd/system/sendas-tokend.service \
    lib/sysusers.d/sendas.conf etc/logrotate.d/sendas etc/sendas/sendas.conf \
    share/sendas/sendas.conf share/man/man8/sendas-milter.8; do
    [ -e "$d$p/$f" ] || missing="${missing:-} $f"
done
if [ -z "${missing:-}" ]; then ok "installed: daemons, sendasctl, SASL plugin, units, sysusers, logrotate, sendas.conf, man pages"
else ko "not installed under the prefix:$missing"; fi
# the units name the installed daemons, under the prefix
unit=$d$p/lib/systemd/system/sendas-milter.service
if grep -q "^ExecStart=$p/sbin/sendas-milter" "$unit" 2>/dev/null; then
    ok "sendas-milter.service starts $p/sbin/sendas-milter"
else ko "sendas-milter.service: $(grep ^ExecStart "$unit" 2>&1)"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
