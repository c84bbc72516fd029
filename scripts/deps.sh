#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages sendas needs to build, test and run its demo.
# Postfix is installed without touching the system's mail configuration:
# the tests and the demo run private instances under temporary directories.
set -eu
PKGS="build-essential autoconf automake libtool pkg-config libmilter-dev libssl-dev
libsasl2-dev libsasl2-modules check postfix swaks python3 python3-aiosmtpd
python3-cryptography clang libclang-rt-dev libsqlite3-dev sqlite3 postfwd valgrind
libcurl4-openssl-dev libjson-c-dev libc-ares-dev python3-dnslib
openssl m4 liblockfile1 libwrap0 debhelper dpkg-dev systemd zlib1g-dev chromium iproute2
strace redis-server libhiredis-dev"
# openssl: test certificates.  m4, liblockfile1, libwrap0: the Sendmail e2e test runs
# Debian's sendmail unpacked beside postfix (its packages conflict), and needs these.
# debhelper, dpkg-dev: tests/pkg/test-deb.sh builds the .deb.  systemd: systemd-analyze
# (the units' security score) and systemd-sysusers (the package's user).
# valgrind: tests/e2e/test_daemon_lifecycle.py runs the daemons of the plain build under it.
# zlib1g-dev: sendasctl audit reads .gz mail logs.  chromium: tests/e2e/test_audit_e2e.py
# renders the audit report's HTML page headless (about 30 s to install).
# iproute2: tests/e2e/test_fresh_main_cf.py puts a relay and a LAN neighbour in network
# namespaces of its own (ip netns).
# libc-ares-dev: sendasctl doctor --dns.  python3-dnslib: tests/e2e/test_doctor_dns.py serves
# its SPF and MX zones from a small DNS server on loopback.
# strace: tests/pkg/test-prefix.sh traces `make install` for writes outside the prefix.
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: run as root to install:$missing" >&2
        exit 1
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
