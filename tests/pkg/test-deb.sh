#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the Debian package from a copy of the source tree, install it on this machine,
# check what it installed, run the Postfix end-to-end tests against the installed
# binaries, then purge it.  Run as root on Debian 12 (scripts/deps.sh has the build
# dependencies).  Prints one PASS/FAIL line per check and "N passed, M failed"; exit 0
# when all pass, 1 otherwise, 77 when not root, dpkg-buildpackage is missing, or a sendas
# package is already on the machine (installed, or removed with its configuration kept):
# the purge at the end would take it and its /etc/sendas away, so the test refuses to run.
# SENDAS_PKG_KEEP=1 leaves the package installed and the build directory in place (the
# next run then refuses until `apt-get purge sendas`).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $*"; }
ko() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { label=$1; shift; if "$@" >/dev/null 2>&1; then ok "$label"; else ko "$label"; fi; }

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (it installs the package)"; exit 77; }
command -v dpkg-buildpackage >/dev/null || { echo "SKIP: dpkg-buildpackage missing (dpkg-dev)"; exit 77; }
command -v dh >/dev/null || { echo "SKIP: debhelper missing"; exit 77; }
# Never on a machine where sendas is in use: this test purges what it installed.
pkg_state=$(dpkg-query -W -f='${db:Status-Abbrev}' sendas 2>/dev/null)
case "$pkg_state" in
"" | un* | pn*) ;;   # unknown to dpkg, or purged
*)
    echo "SKIP: a sendas package is already on this machine (dpkg status '$pkg_state')."
    echo "      This test installs its own build and purges it at the end, which would remove"
    echo "      that package and its /etc/sendas.  Run it on a machine without sendas, or remove"
    echo "      it first (apt-get purge sendas), also after a run with SENDAS_PKG_KEEP=1."
    exit 77
    ;;
esac

work=$(mktemp -d /tmp/sendas-deb.XXXXXX)
chmod 755 "$work"
src="$work/sendas"
mkdir "$src"
# the tracked and new files of the tree, without build products of an in-tree build
(cd "$top" && git ls-files -co --exclude-standard) | grep -v -E '(^|/)build[^/]*/' |
    (cd "$top" && tar -cf - -T -) | tar -xf - -C "$src"

echo "== dpkg-buildpackage -b -us -uc (in $src)"
start=$(date +%s)
if (cd "$src" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
    ok "dpkg-buildpackage -b -us -uc ($(( $(date +%s) - start )) s)"
else
    ko "dpkg-buildpackage -b -us -uc (see $work/build.log)"
    tail -40 "$work/build.log"
    echo "$pass passed, $fail failed"
    exit 1
fi
deb=$(ls "$work"/sendas_*.deb | grep -v dbgsym | head -1)
ls -l "$work"/*.deb

# A main.cf to watch: a sentinel when Postfix has none (installed as "No configuration")
sentinel=""
if [ ! -e /etc/postfix/main.cf ] && [ -d /etc/postfix ]; then
    sentinel=/etc/postfix/main.cf
    printf '# sentinel written by sendas tests/pkg/test-deb.sh, removed at its end\n' >"$sentinel"
fi
user_before=$(getent passwd sendas >/dev/null && echo "already present before" || echo "created")
maincf_sum() { if [ -e /etc/postfix/main.cf ]; then sha256sum /etc/postfix/main.cf; else echo absent; fi; }
mastercf_sum() { if [ -e /etc/postfix/master.cf ]; then sha256sum /etc/postfix/master.cf; else echo absent; fi; }
before_main=$(maincf_sum); before_master=$(mastercf_sum)

echo "== apt-get install $deb"
if DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" >"$work/install.log" 2>&1; then
    ok "apt-get install ./$(basename "$deb")"
else
    ko "apt-get install ./$(basename "$deb")"
    tail -30 "$work/install.log"
fi

check "user sendas exists (sysusers.d; $user_before)" getent passwd sendas
for f in /usr/sbin/sendas-milter /usr/sbin/sendas-policyd /usr/sbin/sendas-tokend \
         /usr/bin/sendasctl; do
    check "installed: $f" test -x "$f"
done
plugin=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)/sasl2/libxoauth2.so
check "installed: $plugin (the XOAUTH2 plugin, where libsasl2 looks)" test -s "$plugin"
check "installed: /usr/share/man/man8/sendas-tokend.8.gz" test -s /usr/share/man/man8/sendas-tokend.8.gz
for f in /lib/systemd/system/sendas-milter.service /lib/systemd/system/sendas-policyd.service \
         /lib/systemd/system/sendas-tokend.service /usr/lib/sysusers.d/sendas.conf /etc/logrotate.d/sendas /etc/sendas/sendas.conf \
         /usr/share/sendas/sendas.conf /usr/share/sendas/postfix/main.cf \
         /usr/share/sendas/postfix/master.cf /usr/share/sendas/sendmail/sendas.mc \
         /usr/share/man/man8/sendas-milter.8.gz /usr/share/man/man8/sendas-policyd.8.gz \
         /usr/share/man/man8/sendasctl.8.gz /usr/share/man/man5/sendas.conf.5.gz; do
    check "installed: $f" test -s "$f"
done
check "/etc/sendas/sendas.conf is a conffile" sh -c \
    "dpkg-query -W -f='\${Conffiles}' sendas | grep -q ' /etc/sendas/sendas.conf '"
check "the units are not enabled (sendas.conf needs editing first)" sh -c \
    "! ls /etc/systemd/system/multi-user.target.wants/sendas-* 2>/dev/null | grep -q ."
check "sendasctl check accepts the example /etc/sendas/sendas.conf" sendasctl check
check "sendas-milter -n accepts it" /usr/sbin/sendas-milter -n
check "sendas-policyd -n accepts it" /usr/sbin/sendas-policyd -n
[ "$(maincf_sum)" = "$before_main" ] && ok "/etc/postfix/main.cf untouched ($before_main)" ||
    ko "/etc/postfix/main.cf changed by the install"
[ "$(mastercf_sum)" = "$before_master" ] && ok "/etc/postfix/master.cf untouched" ||
    ko "/etc/postfix/master.cf changed by the install"

if command -v systemd-analyze >/dev/null; then
    for u in sendas-milter sendas-policyd sendas-tokend; do
        unit=/lib/systemd/system/$u.service
        if systemd-analyze verify "$unit" >"$work/verify-$u.log" 2>&1 ||
           ! grep -v -E "man .*failed|Command 'man" "$work/verify-$u.log" | grep -q .; then
            ok "systemd-analyze verify $u.service"
        else
            ko "systemd-analyze verify $u.service: $(cat "$work/verify-$u.log")"
        fi
        score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null |
                sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
        if [ -n "$score" ] && awk "BEGIN { exit !($score <= 2.0) }"; then
            ok "$u.service exposure $score (at most 2.0)"
        else
            ko "$u.service exposure ${score:-unknown} (at most 2.0)"
        fi
    done
fi

echo "== end-to-end tests against /usr/sbin/sendas-milter and /usr/sbin/sendas-policyd"
for t in test_milter_e2e test_postfix_relay test_oauth_e2e test_notice_e2e; do
    if SENDAS_MILTER=/usr/sbin/sendas-milter SENDAS_POLICYD=/usr/sbin/sendas-policyd \
       SENDAS_TOKEND=/usr/sbin/sendas-tokend \
       /usr/bin/python3 "$top/tests/e2e/$t.py" >"$work/$t.log" 2>&1; then
        ok "$t.py with the installed binaries ($(tail -1 "$work/$t.log"))"
    else
        ko "$t.py with the installed binaries ($(tail -1 "$work/$t.log"))"
        grep -E '^FAIL' "$work/$t.log" | head -20
    fi
done

if [ -z "${SENDAS_PKG_KEEP:-}" ]; then
    echo "== apt-get purge sendas"
    # a token as sendas-tokend leaves it (a secret): the purge must not leave it behind
    tokdir=/var/spool/postfix/sendas/tokens
    install -d -m 0750 "$tokdir"
    printf 'expires 1900000000\ntoken test-deb.not.a.secret\n' >"$tokdir/test-deb@invalid.example"
    if DEBIAN_FRONTEND=noninteractive apt-get purge -y sendas >"$work/purge.log" 2>&1 &&
       [ ! -e /usr/sbin/sendas-milter ] && [ ! -e /etc/sendas/sendas.conf ]; then
        ok "apt-get purge sendas removes binaries and configuration"
    else
        ko "apt-get purge sendas"
        tail -20 "$work/purge.log"
    fi
    [ "$(maincf_sum)" = "$before_main" ] && ok "/etc/postfix/main.cf untouched after purge" ||
        ko "/etc/postfix/main.cf changed by the purge"
    [ ! -e "$tokdir/test-deb@invalid.example" ] && ok "apt-get purge sendas removes the tokens" ||
        ko "apt-get purge sendas left a token in $tokdir"
fi
[ -z "$sentinel" ] || rm -f "$sentinel"
if [ $fail -eq 0 ] && [ -z "${SENDAS_PKG_KEEP:-}" ]; then
    rm -rf "$work"
else
    echo "# kept $work (build.log, install.log, the .deb, test logs)"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
