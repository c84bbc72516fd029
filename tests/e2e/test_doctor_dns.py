#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: `sendasctl doctor --dns` against a real DNS server on loopback.

A small authoritative server (tests/lib/dnszone.py, Debian's python3-dnslib) serves one zone
with a domain per case; sendas.conf names them all as a mailbox's domain or sendas domains,
and doctor asks it through c-ares (--dns-server 127.0.0.1:PORT).  A Postfix configuration
directory (main.cf only: myhostname, written as relay.$mydomain, and proxy_interfaces) says what this relay is called and
where it is reached.  Checks, each on the JSON report (and the table's width):

  - good.test (include:spf.protection.outlook.com -all, MX *.mail.protection.outlook.com): OK;
  - noinclude.test: FAIL, the fix is the record with the include added;
  - plusall.test (+all) and bareall.test (all): FAIL, the fix ends in -all; qall.test: WARN;
  - toomany.test (14 DNS-querying terms through nested includes): FAIL naming 14;
  - nospf.test (no SPF TXT) and twospf.test (two): FAIL;
  - brokeninclude.test (an include of a name that does not exist): FAIL naming it;
  - caps: loop.test includes itself (FAIL, more than 10 lookups, and the walk ends);
    huge.test has a 2.5 KB SPF record (FAIL: longer than the 2048 bytes doctor reads);
  - relayname.test (MX = Postfix's myhostname): FAIL; relayaddr.test (backup MX whose A
    record is proxy_interfaces): WARN; othermx.test: WARN (not Exchange Online's);
  - redirect=: the target's +all (redirplus.test) FAILs, its -all (redirgood.test) is OK;
    upper case and a final dot (upper.test) and a record split into two strings (split.test)
    are read as SPF means them; a null MX (nullmx.test, "MX 0 .") is a WARN saying so;
  - a server that never answers: FAIL "no answer ... within 2 s", in well under 15 s; nothing
    listening: FAIL, not a hang;
  - --format json parses, every table line fits 100 columns.

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0, 1, or 77 (SKIP)
without postconf, python3-dnslib or the built sendasctl.  BUILDDIR (or SENDAS_CTL) names the
build; SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import importlib.util
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from stack import checks, e2e_tmpdir, find_ctl, report, skip  # noqa: E402

POSTCONF = "/usr/sbin/postconf"
MYHOSTNAME = "relay.sendas.test"
PROXY_ADDR = "192.0.2.25"
EXO_INC = "include:spf.protection.outlook.com"

# ten strings of 250 bytes: one TXT record of about 2.5 KB, beyond what doctor reads (2048)
HUGE = " ".join('"' + " ip4:198.51.100.1" * 14 + '"' for _ in range(10))

ZONE = f"""
spf.protection.outlook.com. 300 IN TXT "v=spf1 ip4:40.92.0.0/15 include:spfd.protection.outlook.com -all"
spfd.protection.outlook.com. 300 IN TXT "v=spf1 ip4:52.100.0.0/15 -all"
good.test. 300 IN TXT "v=spf1 {EXO_INC} -all"
good.test. 300 IN TXT "MS=ms12345678"
good.test. 300 IN MX 0 good-test.mail.protection.outlook.com.
noinclude.test. 300 IN TXT "v=spf1 ip4:198.51.100.7 mx -all"
noinclude.test. 300 IN MX 0 noinclude-test.mail.protection.outlook.com.
plusall.test. 300 IN TXT "v=spf1 {EXO_INC} +all"
plusall.test. 300 IN MX 0 plusall-test.mail.protection.outlook.com.
bareall.test. 300 IN TXT "v=spf1 {EXO_INC} all"
bareall.test. 300 IN MX 0 bareall-test.mail.protection.outlook.com.
qall.test. 300 IN TXT "v=spf1 {EXO_INC} ?all"
qall.test. 300 IN MX 0 qall-test.mail.protection.outlook.com.
toomany.test. 300 IN TXT "v=spf1 include:a.toomany.test include:b.toomany.test {EXO_INC} -all"
a.toomany.test. 300 IN TXT "v=spf1 a mx include:c.toomany.test -all"
b.toomany.test. 300 IN TXT "v=spf1 a mx mx:other.toomany.test -all"
c.toomany.test. 300 IN TXT "v=spf1 a mx ptr exists:x.toomany.test -all"
toomany.test. 300 IN MX 0 toomany-test.mail.protection.outlook.com.
nospf.test. 300 IN TXT "google-site-verification=abc"
nospf.test. 300 IN MX 0 nospf-test.mail.protection.outlook.com.
twospf.test. 300 IN TXT "v=spf1 ip4:198.51.100.7 -all"
twospf.test. 300 IN TXT "v=spf1 {EXO_INC} -all"
twospf.test. 300 IN MX 0 twospf-test.mail.protection.outlook.com.
brokeninclude.test. 300 IN TXT "v=spf1 include:gone.example {EXO_INC} -all"
brokeninclude.test. 300 IN MX 0 brokeninclude-test.mail.protection.outlook.com.
relayname.test. 300 IN TXT "v=spf1 {EXO_INC} -all"
relayname.test. 300 IN MX 0 {MYHOSTNAME}.
relayaddr.test. 300 IN TXT "v=spf1 {EXO_INC} -all"
relayaddr.test. 300 IN MX 10 relayaddr-test.mail.protection.outlook.com.
relayaddr.test. 300 IN MX 20 backup.relayaddr.test.
backup.relayaddr.test. 300 IN A {PROXY_ADDR}
othermx.test. 300 IN TXT "v=spf1 {EXO_INC} -all"
othermx.test. 300 IN MX 10 mail.othermx.test.
mail.othermx.test. 300 IN A 198.51.100.9
loop.test. 300 IN TXT "v=spf1 include:loop.test {EXO_INC} -all"
loop.test. 300 IN MX 0 loop-test.mail.protection.outlook.com.
huge.test. 300 IN TXT "v=spf1 {EXO_INC}" {HUGE} " -all"
huge.test. 300 IN MX 0 huge-test.mail.protection.outlook.com.
redirplus.test. 300 IN TXT "v=spf1 redirect=_spf.redirplus.test"
_spf.redirplus.test. 300 IN TXT "v=spf1 {EXO_INC} +all"
redirplus.test. 300 IN MX 0 redirplus-test.mail.protection.outlook.com.
redirgood.test. 300 IN TXT "v=spf1 ip4:198.51.100.7 redirect=_spf.redirgood.test"
_spf.redirgood.test. 300 IN TXT "v=spf1 {EXO_INC} -all"
redirgood.test. 300 IN MX 0 redirgood-test.mail.protection.outlook.com.
upper.test. 300 IN TXT "V=SPF1 INCLUDE:SPF.Protection.Outlook.COM. -ALL"
upper.test. 300 IN MX 0 UPPER-TEST.MAIL.PROTECTION.OUTLOOK.COM.
split.test. 300 IN TXT "v=spf1 ip4:198.51.100.7 include:spf.protection." "outlook.com -all"
split.test. 300 IN MX 0 split-test.mail.protection.outlook.com.
nullmx.test. 300 IN TXT "v=spf1 {EXO_INC} -all"
nullmx.test. 300 IN MX 0 .
"""

DOMAINS = ["noinclude.test", "plusall.test", "bareall.test", "qall.test", "toomany.test",
           "nospf.test", "twospf.test", "brokeninclude.test", "relayname.test",
           "relayaddr.test", "othermx.test", "loop.test", "huge.test", "redirplus.test",
           "redirgood.test", "upper.test", "split.test", "nullmx.test"]

CRASHES = []  # sanitizer reports, exits beyond 0/1/2

SENDAS_CONF = ("mailbox relay@good.test sendas " + " ".join("@" + d for d in DOMAINS) +
               "\nroute * relay@good.test\n")


def doctor(ctl, conf, pfdir, server, fmt="json", timeout=None):
    """Run doctor --dns; (exit status, stdout, seconds)."""
    cmd = [ctl, "-c", conf, "doctor", "--dns", "--postfix-dir", pfdir, "--dns-server", server,
           "--format", fmt]
    if timeout:
        cmd += ["--timeout", str(timeout)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if "Sanitizer" in p.stderr or "runtime error" in p.stderr or p.returncode > 2:
        CRASHES.append(f"exit {p.returncode}: {p.stderr[-1500:]}")
    return p.returncode, p.stdout, time.monotonic() - t0


def find(report_, name):
    """The dns check of that name, or {}."""
    return next((c for c in report_["checks"] if c["area"] == "dns" and c["check"] == name), {})


def expect(check, report_, name, status, found=(), fix=()):
    """One PASS/FAIL line: the check has this status and its texts contain the strings."""
    c = find(report_, name)
    ok = c.get("status") == status and all(s in c.get("found", "") for s in found) and \
        all(s in (c.get("fix") or "") for s in fix)
    check(ok, f"{name}: {status}" + (f" ({', '.join(found + fix)})" if found or fix else ""),
          "" if ok else json.dumps(c))


def zone_cases(check, rep):
    """The verdict of every zone case."""
    for what in ("spf", "spf exchange online", "spf lookups", "spf all", "mx"):
        expect(check, rep, f"{what} good.test", "OK")
    expect(check, rep, "spf exchange online noinclude.test", "FAIL",
           ("does not include spf.protection.outlook.com",),
           ('"v=spf1 ip4:198.51.100.7 mx include:spf.protection.outlook.com -all"',))
    expect(check, rep, "spf all plusall.test", "FAIL", ("+all",),
           (f'"v=spf1 {EXO_INC} -all"',))
    expect(check, rep, "spf all bareall.test", "FAIL", ("+all (or all)",),
           (f'"v=spf1 {EXO_INC} -all"',))
    expect(check, rep, "spf all qall.test", "WARN", ("?all",), ("-all",))
    expect(check, rep, "spf lookups toomany.test", "FAIL", ("14 DNS-querying terms",
                                                           "RFC 7208 4.6.4"), ("ip4:",))
    expect(check, rep, "spf exchange online toomany.test", "OK")
    expect(check, rep, "spf nospf.test", "FAIL", ("no SPF record",),
           (f'"v=spf1 {EXO_INC} -all"',))
    expect(check, rep, "spf twospf.test", "FAIL", ("2 SPF records", "permerror"))
    expect(check, rep, "spf lookups brokeninclude.test", "FAIL", ("gone.example",))
    expect(check, rep, "mx relay relayname.test", "FAIL",
           (f"this relay ({MYHOSTNAME}) is the first MX",),
           (f'remove the record "relayname.test. MX 0 {MYHOSTNAME}."',
            "relayname-test.mail.protection.outlook.com"))
    expect(check, rep, "mx relay relayaddr.test", "WARN", ("backup MX", "preference 20"),
           ('"relayaddr.test. MX 20 backup.relayaddr.test."',))
    expect(check, rep, "mx othermx.test", "WARN", ("not Exchange Online's",),
           ("othermx-test.mail.protection.outlook.com",))
    expect(check, rep, "mx noinclude.test", "OK")
    expect(check, rep, "spf lookups loop.test", "FAIL", ("DNS-querying terms", "4.6.4"))
    expect(check, rep, "spf huge.test", "FAIL", ("longer than 2048 bytes",), ("v=spf1",))
    # redirect=: the record redirected to decides the result, its all included
    expect(check, rep, "spf all redirplus.test", "FAIL", ("+all",))
    expect(check, rep, "spf exchange online redirplus.test", "OK")
    expect(check, rep, "spf all redirgood.test", "OK", ("-all",))
    # case, a final dot, a record split into strings (joined without a space)
    for what in ("spf exchange online", "spf all", "mx"):
        for dom in ("upper.test", "split.test"):
            expect(check, rep, f"{what} {dom}", "OK")
    # a null MX (RFC 7505): the domain takes no mail, so nothing to look up for it
    expect(check, rep, "mx nullmx.test", "WARN", ("null MX",), ("MX 0",))
    check(not find(rep, "mx relay nullmx.test"), "null MX: no relay MX reported")
    check(not find(rep, "mx relay good.test") and not find(rep, "mx relay othermx.test"),
          "no relay MX reported where the relay is not an MX")


def dead_servers(check, ctl, conf, pfdir):
    """A server that never answers, and a port where nothing listens: FAIL, no hang."""
    from dnszone import silent_udp_port
    with silent_udp_port() as port:
        rc, out, secs = doctor(ctl, conf, pfdir, f"127.0.0.1:{port}", timeout=2)
    rep = json.loads(out)
    c = find(rep, "dns server")
    check(c.get("status") == "FAIL" and f"no answer from 127.0.0.1:{port} within 2 s" in
          c.get("found", "") and secs < 15 and rc == 2,
          "silent server: FAIL dns server, no answer within 2 s, not a hang",
          f"{secs:.1f} s, exit {rc}: {json.dumps(c)}")
    check(len([k for k in rep["checks"] if k["area"] == "dns"]) <= 2,
          "silent server: the other domains are not asked", str(len(rep["checks"])))
    rc, out, secs = doctor(ctl, conf, pfdir, f"127.0.0.1:{port}", timeout=2)
    c = find(json.loads(out), "dns server")
    check(c.get("status") == "FAIL" and secs < 15, "nothing listening: FAIL dns server, no hang",
          f"{secs:.1f} s: {json.dumps(c)}")


def main():
    ctl = find_ctl()
    if not os.access(ctl, os.X_OK):
        skip(f"sendasctl not built: {ctl}")
    if not os.access(POSTCONF, os.X_OK):
        skip("postconf is not installed")
    if importlib.util.find_spec("dnslib") is None:
        skip("python3-dnslib is missing (apt-get install python3-dnslib)")
    from dnszone import ZoneServer

    tmp = e2e_tmpdir("doctor-dns")
    results, check = checks()
    pfdir = os.path.join(tmp, "postfix")
    os.makedirs(pfdir)
    with open(os.path.join(pfdir, "main.cf"), "w", encoding="utf-8") as f:
        # myhostname through $mydomain: doctor must read main.cf expanded (postconf -x)
        host, domain = MYHOSTNAME.split(".", 1)
        f.write(f"mydomain = {domain}\nmyhostname = {host}.$mydomain\n"
                f"proxy_interfaces = {PROXY_ADDR}\n")
    open(os.path.join(pfdir, "master.cf"), "w").close()
    conf = os.path.join(tmp, "sendas.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(SENDAS_CONF)

    with ZoneServer(ZONE) as dns:
        server = f"127.0.0.1:{dns.port}"
        rc, out, secs = doctor(ctl, conf, pfdir, server)
        try:
            rep = json.loads(out)
            check(True, "--format json parses", f"{len(rep['checks'])} checks, {secs:.1f} s")
        except ValueError as e:
            check(False, "--format json parses", f"{e}: {out[:300]}")
            return report(results, tmp)
        check(rc == 2 and rep["exit"] == 2, "exit status 2 (failures)", str(rc))
        zone_cases(check, rep)
        rc, table, _ = doctor(ctl, conf, pfdir, server, fmt="table")
        wide = [ln for ln in table.splitlines() if len(ln) > 100]
        check(not wide and "FAIL  dns: spf all plusall.test" in table,
              "table: every line fits 100 columns", wide[0] if wide else "")
    dead_servers(check, ctl, conf, pfdir)
    check(not CRASHES, "sendasctl exited 0, 1 or 2 every time, no sanitizer report",
          CRASHES[0] if CRASHES else "")
    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
