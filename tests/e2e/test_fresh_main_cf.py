#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: the README's steps on a Postfix without main.cf give no relay to the LAN.

Debian's "No configuration" Postfix has a master.cf but no main.cf.  The README appends the
shipped lines to it (`sendasctl postfix-config main.cf >> /etc/postfix/main.cf`); a main.cf
created that way must not leave who may relay to compatibility defaults: at level 0
mynetworks_style is "subnet", and every host on this machine's LAN could relay with the
tenant's credentials.

The "LAN" is two network namespaces this test creates and deletes (no address outside them
is touched): the relay's, with 192.0.2.1/24 on one end of a veth pair, and a neighbour's,
with 192.0.2.2/24 on the other.  Two private Postfix instances run in the relay's namespace
on port 25, one after the other, both from Debian's stock master.cf
(/usr/share/postfix/master.cf.dist) and a main.cf that did not exist:

  - "without": the README's steps (below) with the shipped lines that this is about left out
    (compatibility_level, mynetworks): level 0, mynetworks_style = subnet, and the
    neighbour 192.0.2.2 may relay (RCPT to an outside domain: 250).  This is what the
    shipped lines did before they set them;
  - "readme": the README's steps, run as written with `-c` for the private instance:
    `sendasctl postfix-config main.cf` appended to the missing main.cf, the private
    instance's paths (queue, data directory, log) appended, `postconf -F` for the chroot
    column, `sendasctl postfix-config master.cf` appended, a sasl_passwd map; sendas-milter
    and sendas-policyd listen on unix sockets.  mynetworks is the shipped value whatever the
    interfaces are, and the neighbour 192.0.2.2 gets 554 5.7.1 Relay access denied, while
    127.0.0.1 on the relay may relay.

No message is sent (each probe ends with RSET and QUIT after RCPT).  Prints one PASS/FAIL
line per check, then "N passed, M failed".  Exit 0 when all pass, 1 otherwise, 77 (automake
SKIP) when Postfix, Debian's master.cf, ip(8) with network namespaces, the binaries or root
are missing.  Run as root with /usr/bin/python3 from the build directory (or set BUILDDIR,
or SENDAS_MILTER, SENDAS_POLICYD and SENDAS_CTL).  SENDAS_E2E_KEEP=1 keeps the temporary
directory.
"""

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import (DEPLOY, checks, e2e_tmpdir, find_ctl, find_milter, find_policyd,  # noqa: E402
                   prerequisites, report, skip, start_daemon, stop_process, tail)

IP = "/usr/sbin/ip"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTMAP = "/usr/sbin/postmap"
DEBIAN_MASTER_CF = "/usr/share/postfix/master.cf.dist"
RELAY_ADDR, NEIGHBOUR_ADDR = "192.0.2.1", "192.0.2.2"
OUTSIDE = "someone@outside.example"
# the shipped lines that decide who may relay without depending on the compatibility level
RELAY_PARAMS = ("compatibility_level", "mynetworks", "mynetworks_style")

# The SMTP client run inside a namespace: EHLO, MAIL, RCPT to an outside domain, then RSET
# and QUIT; prints {"stage": ..., "code": ..., "text": ...} as JSON.
PROBE = r"""
import json, smtplib, sys, time
host, source = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 20
while True:
    try:
        s = smtplib.SMTP(host, 25, local_hostname="app.lan.example", timeout=20,
                         source_address=(source, 0))
        break
    except OSError as e:
        if time.monotonic() > deadline:
            print(json.dumps({"stage": "CONNECT", "code": 0, "text": str(e)}))
            sys.exit(0)
        time.sleep(0.3)
out = {"stage": "RCPT"}
with s:
    s.ehlo()
    code, text = s.mail("app@lan.example")
    if code >= 400:
        out = {"stage": "MAIL"}
    else:
        code, text = s.rcpt(sys.argv[3])
    out.update(code=code, text=text.decode(errors="replace"))
    s.rset()
print(json.dumps(out))
"""


def run(cmd, check=True, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


class Lan:
    """Two network namespaces joined by a veth pair: the relay's and a neighbour's."""

    def __init__(self):
        tag = f"{os.getpid()}"
        self.relay, self.neighbour = f"sendas-relay-{tag}", f"sendas-lan-{tag}"
        self.made = []

    def __enter__(self):
        for ns in (self.relay, self.neighbour):
            run([IP, "netns", "add", ns])
            self.made.append(ns)
            run([IP, "-n", ns, "link", "set", "lo", "up"])
        run([IP, "-n", self.relay, "link", "add", "sendas0", "type", "veth", "peer", "name",
             "sendas1", "netns", self.neighbour])
        run([IP, "-n", self.relay, "addr", "add", f"{RELAY_ADDR}/24", "dev", "sendas0"])
        run([IP, "-n", self.neighbour, "addr", "add", f"{NEIGHBOUR_ADDR}/24", "dev", "sendas1"])
        run([IP, "-n", self.relay, "link", "set", "sendas0", "up"])
        run([IP, "-n", self.neighbour, "link", "set", "sendas1", "up"])
        return self

    def __exit__(self, *exc):
        for ns in reversed(self.made):   # deleting a namespace deletes its end of the pair
            run([IP, "netns", "del", ns], check=False)

    def in_relay(self, cmd, **kw):
        return run([IP, "netns", "exec", self.relay, *cmd], **kw)

    def probe(self, ns, source, rcpt=OUTSIDE):
        """probe - one SMTP transaction to the relay's port 25 from source inside ns."""
        proc = run([IP, "netns", "exec", ns, "/usr/bin/python3", "-c", PROBE,
                    RELAY_ADDR if source != "127.0.0.1" else "127.0.0.1", source, rcpt],
                   check=False, timeout=60)
        try:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"stage": "probe", "code": 0, "text": proc.stderr.strip()[-300:]}


def netns_usable():
    """netns_usable - why network namespaces cannot be made here, or None."""
    if not os.access(IP, os.X_OK):
        return "ip(8) is not installed"
    name = f"sendas-probe-{os.getpid()}"
    proc = run([IP, "netns", "add", name], check=False)
    if proc.returncode != 0:
        return f"ip netns add failed: {proc.stderr.strip()}"
    run([IP, "netns", "del", name], check=False)
    return None


class Instance:
    """A private Postfix under base/ whose main.cf starts absent, run in the relay's namespace."""

    def __init__(self, base, lan):
        self.base, self.lan = base, lan
        self.etc = os.path.join(base, "etc")
        self.spool = os.path.join(base, "spool")
        self.data = os.path.join(base, "data")
        self.main_cf = os.path.join(self.etc, "main.cf")
        self.master_cf = os.path.join(self.etc, "master.cf")
        for d in (self.etc, self.spool, self.data):
            os.makedirs(d, mode=0o755)
            os.chmod(d, 0o755)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        # a fresh Debian install: the package's master.cf, no main.cf
        shutil.copyfile(DEBIAN_MASTER_CF, self.master_cf)

    def append(self, path, text):
        with open(path, "a", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def private_paths(self):
        """private_paths - what makes this a private instance (not the system's Postfix)."""
        self.append(self.main_cf, "\n".join([
            "# private test instance (tests/e2e/test_fresh_main_cf.py)",
            f"queue_directory = {self.spool}",
            f"data_directory = {self.data}",
            f"maillog_file = {os.path.join(self.base, 'maillog')}",
            f"maillog_file_prefixes = {self.base}"]))

    def postconf(self, *args):
        # inside the namespace: mynetworks_style = subnet reads that namespace's interfaces
        return self.lan.in_relay([POSTCONF, "-c", self.etc, *args]).stdout

    def start(self):
        self.lan.in_relay([POSTFIX, "-c", self.etc, "check"], check=False)
        self.lan.in_relay([POSTFIX, "-c", self.etc, "start"])

    def stop(self):
        self.lan.in_relay([POSTFIX, "-c", self.etc, "stop"], check=False)
        pidfile = os.path.join(self.spool, "pid", "master.pid")
        deadline = time.monotonic() + 15
        while os.path.exists(pidfile) and time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    os.kill(int(f.read().strip()), 0)
            except (OSError, ValueError):
                break
            time.sleep(0.1)

    def maillog(self):
        return tail(os.path.join(self.base, "maillog"), 1 << 20)


def wait_socket(path, proc, timeout=15):
    """wait_socket - True once the unix socket at path accepts; False if proc exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return True
        except OSError:
            time.sleep(0.1)
    return False


def sendas_daemons(tmp, milter_bin, policyd_bin):
    """sendas_daemons - sendas.conf with unix sockets in tmp, both daemons started; returns
    (conf path, [processes])."""
    sockdir = os.path.join(tmp, "run")
    os.makedirs(sockdir, mode=0o755)
    os.chmod(sockdir, 0o755)
    conf = os.path.join(tmp, "sendas.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("mailbox relay@contoso.com\nroute * relay@contoso.com\n"
                f"milter_socket unix:{sockdir}/milter.sock\n"
                f"policy_socket unix:{sockdir}/policy.sock\n"
                f"state_dir {os.path.join(tmp, 'state')}\n")
    procs = []
    for binary, sock in ((milter_bin, "milter.sock"), (policyd_bin, "policy.sock")):
        log = os.path.join(tmp, os.path.basename(binary) + ".log")
        proc = start_daemon([binary, "-f", "-c", conf], log, None)
        procs.append(proc)
        if not wait_socket(os.path.join(sockdir, sock), proc):
            raise RuntimeError(f"{binary} did not listen on {sock}:\n{tail(log)}")
    return conf, procs


def readme_instance(base, lan, ctl, conf, drop=()):
    """readme_instance - a private instance set up by the README's steps from a missing
    main.cf (with `-c` and the instance's paths); drop: shipped main.cf parameters left out."""
    pf = Instance(base, lan)
    if os.path.exists(pf.main_cf):
        raise RuntimeError("main.cf exists before the README's steps")
    snippets = os.path.dirname(DEPLOY)
    for name, path in (("main.cf", pf.main_cf), ("master.cf", pf.master_cf)):
        out = run([ctl, "-c", conf, "postfix-config", "--snippets", snippets, name]).stdout
        out = "\n".join(ln for ln in out.splitlines()
                        if ln.partition("=")[0].strip() not in drop)
        # the private instance's configuration directory instead of /etc/postfix
        pf.append(path, out.replace("/etc/postfix/", pf.etc + "/"))
    pf.private_paths()
    # README: "set the chroot column to n for smtpd, cleanup and pickup"
    run([POSTCONF, "-c", pf.etc, "-F", "smtp/inet/chroot = n", "cleanup/unix/chroot = n",
         "pickup/unix/chroot = n"])
    sasl = os.path.join(pf.etc, "sasl_passwd")
    out = run([ctl, "-c", conf, "postfix-config", "--snippets", snippets, "sasl_passwd"]).stdout
    fd = os.open(sasl, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(out.replace("PASSWORD", "test-password"))
    run([POSTMAP, "-c", pf.etc, f"hash:{sasl}"])
    return pf


def main():
    milter_bin = find_milter()
    ctl = find_ctl(milter_bin)
    why = prerequisites(milter_bin, (IP, ctl))
    if not why and not os.path.isfile(DEBIAN_MASTER_CF):
        why = f"Debian's stock master.cf is missing ({DEBIAN_MASTER_CF})"
    why = why or netns_usable()
    if why:
        skip(why)

    tmp = e2e_tmpdir("fresh")
    results, check = checks()
    procs = []

    def show(r):
        return f"{r.get('stage')}: {r.get('code')} {r.get('text')}"

    try:
        with Lan() as lan:
            conf, procs = sendas_daemons(tmp, milter_bin, find_policyd(milter_bin))

            # --- the shipped lines without the ones this test is about: the hole
            pf = readme_instance(os.path.join(tmp, "without"), lan, ctl, conf, RELAY_PARAMS)
            level = pf.postconf("-h", "compatibility_level").strip()
            nets = pf.postconf("-h", "mynetworks").strip()
            check(level == "0" and f"{RELAY_ADDR.rsplit('.', 1)[0]}.0/24" in nets,
                  "without mynetworks and compatibility_level: level 0, mynetworks covers "
                  "the LAN", f"compatibility_level = {level}; mynetworks = {nets}")
            try:
                pf.start()
                r = lan.probe(lan.neighbour, NEIGHBOUR_ADDR)
                check(r.get("stage") == "RCPT" and r.get("code") == 250,
                      f"without them, neighbour {NEIGHBOUR_ADDR} may relay (the hole)", show(r))
            finally:
                pf.stop()

            # --- the README's steps with the shipped lines as they are
            pf = readme_instance(os.path.join(tmp, "readme"), lan, ctl, conf)
            level = pf.postconf("-h", "compatibility_level").strip()
            nets = pf.postconf("-h", "mynetworks").strip()
            relay = pf.postconf("-h", "smtpd_relay_restrictions").strip()
            check(level == "3.6" and nets == "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"
                  and relay.replace(" ", "").endswith(",reject_unauth_destination"),
                  "with the shipped lines: level 3.6, mynetworks this host only, whatever "
                  "the interfaces", f"compatibility_level = {level}; mynetworks = {nets}; "
                  f"smtpd_relay_restrictions = {relay}")
            chk = lan.in_relay([POSTFIX, "-c", pf.etc, "check"], check=False)
            check(chk.returncode == 0 and not chk.stderr.strip(),
                  "postfix check accepts the result without a warning",
                  (chk.stderr.strip() or "no complaints")[-300:])
            try:
                pf.start()
                r = lan.probe(lan.neighbour, NEIGHBOUR_ADDR)
                check(r.get("stage") == "RCPT" and r.get("code") == 554
                      and "Relay access denied" in r.get("text", ""),
                      f"with them, neighbour {NEIGHBOUR_ADDR} gets Relay access denied",
                      show(r))
                r = lan.probe(lan.relay, "127.0.0.1")
                check(r.get("stage") == "RCPT" and r.get("code") == 250,
                      "with them, this host (127.0.0.1) may still relay", show(r))
                log = pf.maillog()
                check(f"[{NEIGHBOUR_ADDR}]: 554 5.7.1" in log, "Postfix logged the refusal",
                      "" if f"[{NEIGHBOUR_ADDR}]: 554 5.7.1" in log else log[-1500:])
            finally:
                pf.stop()
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        for proc in procs:
            stop_process(proc)

    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
