#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: legacy-application mail through a real Sendmail + sendas-milter to the Exchange
Online emulator, with the shipped deploy/sendmail files.

Debian's sendmail packages conflict with postfix, so they are not installed: `apt-get
download sendmail-bin sendmail-cf` fetches them into a cache directory ($SENDAS_DEB_CACHE,
default /var/cache/sendas-test/debs) and `dpkg-deb -x` unpacks them into the test directory.
deploy/sendmail/sendas.mc becomes a .cf with that m4 tree; the access and authinfo maps are
the shipped ones.  Only the port (587 -> the emulator's), the milter socket, the listening
port, the password and paths are substituted.  The unpacked sendmail then runs as a daemon
on a loopback port with its own configuration and queue (sendmail -bD -C FILE), sendas-milter
attached, in namespaces of its own (unshare --uts --mount) where a bind-mounted /etc/hosts
says smtp.office365.com is 127.0.0.1: the emulator's certificate names smtp.office365.com,
so the shipped "TLS_Srv:smtp.office365.com VERIFY:128+CN" and AuthInfo entries apply as
they are (Sendmail qualifies a dotless name like "localhost" with its own domain, which
would miss both).  It relays to the emulator over verified STARTTLS with AUTH as
relay@contoso.com.

Running an unpacked sendmail as root needs: DontBlameSendmail=MapInUnsafeDirPath, because
the test directory is under the world-writable /tmp, where sendmail silently refuses to open
the access and authinfo maps (and a milter's unix socket: the milter listens on inet here);
the test directory 0755 (mkdtemp gives 0700); a host name with a dot, or sendmail sleeps 60 s ("My unqualified host
name unknown") and looks it up in DNS, which does not answer here: sendmail runs in a UTS
namespace of its own (unshare --uts) named sm-test.sendas.invalid; a service switch file that
says "hosts files" and a PidFile.  All of these are command-line options: the .cf is built
from the shipped .mc unchanged.

Sends the corpus messages that go over SMTP as relay@contoso.com (and the one a reject route
refuses), then checks each delivered copy as test_milter_e2e does (delivered once, AUTH and
envelope = the mailbox, From permitted, display name kept, original sender recoverable,
body unchanged).  Sendmail itself changes some headers the Postfix corpus expects byte for
byte (it qualifies unqualified addresses in To/Cc, adds missing Date/Message-Id): those
header checks are not repeated here.  Also: a client from 127.0.0.2 cannot relay ("Relaying
denied").

One PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1 otherwise,
77 (automake SKIP) when the packages cannot be downloaded, or m4, root, the milter binary or
python3-aiosmtpd is missing.  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
DEPLOY = os.path.join(SRCDIR, "deploy", "sendmail")
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
sys.path.insert(0, HERE)

from emulator import Emulator  # noqa: E402
from stack import (MAILBOXES, e2e_tmpdir, find_milter, free_port, report, skip,  # noqa: E402
                   smtp_send, stop_process, tail, wait_port)
import test_milter_e2e as e2e  # noqa: E402

PACKAGES = ("sendmail-bin", "sendmail-cf")
HOSTNAME = "sm-test.sendas.invalid"
MAILBOX = "relay@contoso.com"
SENDAS_CONF = """\
# sendas.conf for a Sendmail relay: one mailbox (authinfo is per server, not per sender)
mailbox relay@contoso.com sendas alerts@contoso.com noreply@contoso.com @shared.contoso.com
route sender:blocked@legacy.local reject
route * relay@contoso.com
milter_socket inet:{port}@127.0.0.1
"""
# Messages Sendmail itself refuses before the milter sees them: bare LF line ends ("421 4.5.0
# Bare linefeed (LF) not allowed") and an unqualified MAIL FROM ("553 5.5.4 Domain name
# required").  Postfix takes both; a Sendmail relay's clients already cannot send them.
SENDMAIL_REFUSES = {"46-lf-only-smtp.eml", "49-smtp-unqualified-root.eml"}
# Header checks the Postfix corpus makes that Sendmail's own header processing defeats.
SENDMAIL_CHANGES = {"to", "cc", "date", "message-id"}


def fetch_debs(cache):
    """fetch_debs - the sendmail .debs in cache (downloaded once); [] when impossible."""
    os.makedirs(cache, exist_ok=True)
    have = {p: glob.glob(os.path.join(cache, f"{p}_*.deb")) for p in PACKAGES}
    missing = [p for p, files in have.items() if not files]
    if missing:
        proc = subprocess.run(["apt-get", "download", *missing], cwd=cache,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return [], proc.stderr.strip()[-500:]
    debs = [sorted(glob.glob(os.path.join(cache, f"{p}_*.deb")))[-1:] for p in PACKAGES]
    return [d for ds in debs for d in ds], ""


def substitute(text, subs):
    for key in sorted(subs, key=len, reverse=True):
        text = text.replace(key, subs[key])
    return text


class Sendmail:
    """An unpacked Sendmail running as a daemon under one directory."""

    def __init__(self, base, root, port, subs):
        self.base, self.root, self.port, self.subs = base, root, port, subs
        self.etc = os.path.join(base, "etc", "mail")
        self.queue = os.path.join(base, "mqueue")
        self.cf = os.path.join(self.etc, "sendas.cf")
        self.log = os.path.join(base, "sendmail.log")
        self.bin = os.path.join(root, "usr", "libexec", "sendmail", "sendmail")
        self.hosts = os.path.join(base, "hosts")
        self.proc = None

    def build(self):
        for d in (self.etc, self.queue):
            os.makedirs(d, mode=0o755, exist_ok=True)
        os.chmod(self.queue, 0o700)
        cfdir = os.path.join(self.root, "usr", "share", "sendmail", "cf") + "/"
        with open(os.path.join(DEPLOY, "sendas.mc"), encoding="utf-8") as f:
            mc = substitute(f.read(), self.subs)
        with open(os.path.join(self.etc, "sendas.mc"), "w", encoding="utf-8") as f:
            f.write(mc)
        with open(self.cf, "w", encoding="utf-8") as out:
            subprocess.run(["m4", f"-D_CF_DIR_={cfdir}", cfdir + "m4/cf.m4",
                            os.path.join(self.etc, "sendas.mc")], stdout=out, check=True)
        makemap = os.path.join(self.root, "usr", "libexec", "sendmail", "makemap")
        for name in ("access", "authinfo"):
            with open(os.path.join(DEPLOY, name), encoding="utf-8") as f:
                text = substitute(f.read(), self.subs)
            path = os.path.join(self.etc, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            with open(path, "rb") as f:
                subprocess.run([makemap, "-C", self.cf, "hash", path], stdin=f, check=True,
                               capture_output=True)
        with open(os.path.join(self.etc, "aliases"), "w", encoding="utf-8") as f:
            f.write("postmaster: root\n")
        with open(os.path.join(self.etc, "service.switch"), "w", encoding="utf-8") as f:
            f.write("hosts files\naliases files\n")
        with open(self.hosts, "w", encoding="utf-8") as f:
            f.write(f"127.0.0.1 localhost\n127.0.0.1 smtp.office365.com\n127.0.0.1 {HOSTNAME}\n")
        subprocess.run(self.command("-bi"), capture_output=True, timeout=60)

    def start(self):
        log = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(self.command("-bD", "-q10s"), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        finally:
            log.close()
        if not wait_port(self.port, self.proc, 30):
            raise RuntimeError("sendmail did not listen:\n" + tail(self.log))

    def command(self, *args):
        """command - sendmail with this configuration, in its own UTS namespace."""
        return ["unshare", "--uts", "--mount", "sh", "-c",
                'mount --bind "$0" /etc/hosts && hostname "$1" && shift && exec "$@"',
                self.hosts, HOSTNAME, self.bin, "-C", self.cf, f"-OServiceSwitchFile={self.etc}/service.switch",
                "-ODontBlameSendmail=MapInUnsafeDirPath",
                f"-OPidFile={self.base}/sendmail.pid", *args]

    def stop(self):
        stop_process(self.proc)

    def queued(self):
        return [f for f in os.listdir(self.queue) if f.startswith("qf")]

    def send_verbose(self, raw, sender, rcpt, *options):
        """send_verbose - deliver one message from the command line at once (-odi -v) and
        return sendmail's SMTP transcript."""
        proc = subprocess.run(self.command("-v", "-odi", *options, "-f", sender, rcpt),
                              input=raw, capture_output=True, timeout=120)
        return (proc.stdout + proc.stderr).decode(errors="replace")

    def flush(self):
        subprocess.run(self.command("-q"), capture_output=True, timeout=120)


def other_ca(directory):
    """other_ca - a self-signed certificate for smtp.office365.com that did not sign the
    emulator's."""
    os.makedirs(os.path.join(directory, "empty"), exist_ok=True)
    cert, key = os.path.join(directory, "other-ca.pem"), os.path.join(directory, "other-ca.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=smtp.office365.com", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert


def submit(port, raw, sender, rcpts, source="127.0.0.1"):
    """submit - smtp_send from the loopback address source (default: this host)."""
    return smtp_send(port, raw, sender, rcpts, source=source)


def main():
    milter_bin = find_milter()
    if os.geteuid() != 0:
        skip("sendmail as a daemon needs root")
    if not shutil.which("m4"):
        skip("m4 is not installed")
    if not os.access(milter_bin, os.X_OK):
        skip(f"milter binary not found: {milter_bin} (set SENDAS_MILTER or BUILDDIR)")
    debs, why = fetch_debs(os.environ.get("SENDAS_DEB_CACHE", "/var/cache/sendas-test/debs"))
    if not debs:
        skip(f"cannot download {' '.join(PACKAGES)}: {why}")

    with open(os.path.join(e2e.CORPUS, "MANIFEST.json"), encoding="utf-8") as f:
        manifest = [m for m in json.load(f)["messages"] if m["via"] == "smtp" and
                    m.get("mta", "any") == "any" and
                    (m["expect_mailbox"] == MAILBOX or m.get("expect_reject")) and
                    m["file"] not in SENDMAIL_REFUSES]

    tmp = e2e_tmpdir("sendmail")
    results = []
    emu = sm = milter = None
    try:
        root = os.path.join(tmp, "root")
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
        emu = Emulator(os.path.join(tmp, "emulator"), MAILBOXES, max_connections=3)
        emu.start()
        # inet: sendmail refuses a unix socket under /tmp ("unsafe: World writable directory")
        mport = free_port()
        conf = os.path.join(tmp, "sendas.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(SENDAS_CONF.format(port=mport))
        mlog = open(os.path.join(tmp, "milter.log"), "ab")
        milter = subprocess.Popen([milter_bin, "-f", "-c", conf], stdin=subprocess.DEVNULL,
                                  stdout=mlog, stderr=mlog)
        mlog.close()
        if not wait_port(mport, milter):
            raise RuntimeError("sendas-milter did not listen:\n" + tail(mlog.name))

        port = free_port()
        certdir = os.path.dirname(emu.cert_path) + "/"
        sm = Sendmail(os.path.join(tmp, "sendmail"), root, port, {
            "TCP $h 587": f"TCP $h {emu.port}",
            "unix:/run/sendas/milter.sock": f"inet:{mport}@127.0.0.1",
            "Port=smtp, Addr=127.0.0.1": f"Port={port}, Addr=127.0.0.1",
            "/etc/mail/": os.path.join(tmp, "sendmail", "etc", "mail") + "/",
            "/var/spool/mqueue": os.path.join(tmp, "sendmail", "mqueue"),
            "/etc/ssl/certs/ca-certificates.crt": emu.cert_path,
            "/etc/ssl/certs/": certdir,
            '"P:PASSWORD"': f'"P:{MAILBOXES[MAILBOX]["password"]}"',
        })
        sm.build()
        sm.start()

        submitted = {}
        for entry in manifest:
            with open(os.path.join(e2e.CORPUS, entry["file"]), "rb") as f:
                raw = f.read()
            submitted[entry["file"]] = submit(port, raw, entry["envelope_sender"],
                                              entry["recipients"])
        outsider = submit(port, b"From: <x@corp.local>\r\nSubject: relay\r\n\r\nrelay\r\n",
                          "x@corp.local", ["someone@outside.example"], source="127.0.0.2")

        expected = sum(1 for m in manifest if not m.get("expect_reject"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(emu.messages()) >= expected and not sm.queued():
                break
            time.sleep(0.5)

        delivered = {}
        for rec in emu.messages():
            delivered.setdefault(e2e.message_id_of(rec["raw"]), []).append(rec)
        for entry in manifest:
            label = entry["file"][:-4]
            state, detail = submitted[entry["file"]]
            copies = delivered.get(entry["message_id"], [])
            reasons = []
            if entry.get("expect_reject"):
                if state != "refused" or entry["expect_reject"] not in (detail or ""):
                    reasons.append(f"{state} {detail}, expected refusal {entry['expect_reject']}")
                if copies:
                    reasons.append(f"{len(copies)} copies reached the emulator")
                results.append((not reasons, label, reasons))
                continue
            if state != "accepted":
                reasons.append(f"submission refused: {detail}")
            elif len(copies) != 1:
                reasons.append(f"{len(copies)} copies delivered")
            if copies:
                with open(os.path.join(e2e.CORPUS, entry["file"]), "rb") as f:
                    original = f.read()
                entry = dict(entry, expect_headers_kept=[
                    h for h in entry.get("expect_headers_kept", [])
                    if h.lower() not in SENDMAIL_CHANGES])
                reasons += e2e.check_delivered(entry, copies[0], original)
            results.append((not reasons, label, reasons))

        results.append((outsider[0] == "refused" and "Relaying denied" in (outsider[1] or ""),
                        "[sendmail] client 127.0.0.2 cannot relay",
                        [] if outsider[0] == "refused" and "Relaying denied" in outsider[1]
                        else [f"{outsider}"]))
        left = sm.queued()
        results.append((not left, "[sendmail] queue drained",
                        [f"still queued: {left}"] if left else []))

        # Sendmail logs only to syslog, absent here: show the verification by its effect.
        probe = b"From: <relay@contoso.com>\nSubject: tls probe\n\nprobe\n"
        good = sm.send_verbose(probe, MAILBOX, "user@contoso.com")
        bad = sm.send_verbose(probe, MAILBOX, "user@contoso.com",
                              f"-OCACertFile={other_ca(tmp)}", f"-OCACertPath={tmp}/empty")
        ok = ">>> AUTH" in good and "235 " in good and " 2.6.0 " in good
        results.append((ok, "[sendmail] AUTH as the mailbox after STARTTLS, with the shipped "
                        "CA settings", [] if ok else [good[-1500:]]))
        ok = ">>> AUTH" not in bad and ">>> MAIL" not in bad and "STARTTLS" in bad
        results.append((ok, "[sendmail] a certificate it cannot verify: no AUTH, no mail "
                        "(TLS_Srv VERIFY)", [] if ok else [bad[-1500:]]))
        refused = emu.refused()
        results.append((not refused, "[emulator] refused nothing",
                        [f"{len(refused)}: {refused[:3]}"] if refused else []))
        alive = milter.poll() is None
        results.append((alive, "[milter] still running",
                        [] if alive else [f"exit {milter.returncode}"]))
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        results.append((False, "[setup]", [f"{type(e).__name__}: {e}"]))
    finally:
        if sm:
            sm.stop()
        if milter and milter.poll() is None:
            milter.terminate()
            milter.wait(15)
        if emu:
            emu.stop()

    return report(results, tmp, note="sendmail/sendmail.log, milter.log, emulator/",
                  line=lambda r: f"PASS {r[1]}" if r[0] else f"FAIL {r[1]}: " + "; ".join(r[2]))


if __name__ == "__main__":
    sys.exit(main())
