#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: sendas-policyd as the check_policy_service of a real, private Postfix.

A private Postfix instance (tests/lib/pfinstance.py) relays everything from 127.0.0.1 to a
discard transport and asks sendas-policyd at RCPT (smtpd_recipient_restrictions, which Postfix
evaluates after smtpd_relay_restrictions and so after reject_unauth_destination) and at the
end of DATA (smtpd_end_of_data_restrictions, where messages are counted).  The limits are made
small so the test is fast: 10 messages a minute, 30 recipients a day, headroom 50% (so 5 and
15), 4 recipients per message, 20,000 bytes.

Checks: an unrouted sender and a reject route are refused at RCPT with 550 5.7.1 naming the
sender; the first message past a mailbox's per-minute limit is deferred at RCPT with the
mailbox's name in the reply; recipients per message and per day; message size at RCPT (SIZE=)
and at the end of DATA; `sendasctl quota` shows the counts; the counters are the same after a
SIGTERM restart and after kill -9 (with a second for the flush); SIGHUP keeps the running
configuration when the file is broken and applies a good one; a malformed request closes the
connection; one log line per refusal with queue id, client, sender, mailbox and reason.

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when Postfix, root or the binaries are missing.  Run as root from
the build directory (or set BUILDDIR); SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from pfinstance import PostfixInstance  # noqa: E402
from stack import e2e_tmpdir, free_port, skip, start_daemon, stop_process  # noqa: E402

SENDAS_CONF = """\
# sendas.conf written by tests/e2e/test_policyd_e2e.py
mailbox relay@contoso.com
mailbox scanner@contoso.com
mailbox big@contoso.com
route sender:blocked@legacy.local reject
route sender:@printers.corp.local scanner@contoso.com
route sender:@big.corp.local big@contoso.com
route sender:@corp.local relay@contoso.com
policy_socket inet:{port}@127.0.0.1
state_dir {state}
limit_messages_per_minute 10
limit_recipients_per_day 30
limit_recipients_per_message 4
limit_message_size 20000
limit_headroom 50
"""


def message(sender, rcpts, body="test\r\n"):
    return (f"From: <{sender}>\r\nTo: {', '.join(rcpts)}\r\nSubject: policyd e2e\r\n\r\n"
            f"{body}").encode()


class Run:
    def __init__(self, tmp, policyd, ctl):
        self.tmp, self.policyd_bin, self.ctl = tmp, policyd, ctl
        self.port = free_port()
        self.conf = os.path.join(tmp, "sendas.conf")
        self.log = os.path.join(tmp, "policyd.log")
        self.proc = None
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(SENDAS_CONF.format(port=self.port, state=os.path.join(tmp, "state")))
        policy = f"check_policy_service inet:127.0.0.1:{self.port}"
        self.pf = PostfixInstance(os.path.join(tmp, "postfix"), free_port(), main_cf={
            "default_transport": "discard:policyd e2e",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": policy,
            "smtpd_end_of_data_restrictions": policy,
            "smtpd_policy_service_max_idle": "300s",
            "message_size_limit": "10240000",
        })

    def start_policyd(self):
        self.proc = start_daemon([self.policyd_bin, "-f", "-c", self.conf], self.log, self.port)

    def stop_policyd(self, sig=signal.SIGTERM):
        rc = stop_process(self.proc, sig=sig)
        self.proc = None
        return rc

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def quota(self, mailbox=None, settle=1.2):
        """quota - sendasctl quota output.  sendasctl reads what sendas-policyd flushed, at
        most a second ago: wait for one flush first (settle)."""
        time.sleep(settle)
        cmd = [self.ctl, "-c", self.conf, "quota"] + ([mailbox] if mailbox else [])
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return p.stdout

    def send(self, sender, rcpts, body="test\r\n"):
        """send - ("ok", {refused rcpt: (code, text)}) or ("refused", stage, code, text)."""
        try:
            with smtplib.SMTP("127.0.0.1", self.pf.smtp_port, timeout=30) as s:
                refused = s.sendmail(sender, rcpts, message(sender, rcpts, body))
            return ("ok", {r: (c, t.decode(errors="replace")) for r, (c, t) in refused.items()})
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            return ("refused", "RCPT", code, text.decode(errors="replace"))
        except smtplib.SMTPDataError as e:
            return ("refused", "DATA", e.smtp_code, e.smtp_error.decode(errors="replace"))
        except smtplib.SMTPSenderRefused as e:
            return ("refused", "MAIL", e.smtp_code, e.smtp_error.decode(errors="replace"))

    def send_no_size(self, sender, rcpt, body):
        """send_no_size - a transaction without SIZE=, so only the end of DATA knows the size."""
        with smtplib.SMTP("127.0.0.1", self.pf.smtp_port, timeout=30) as s:
            s.ehlo()
            code, text = s.mail(sender)
            if code != 250:
                return ("refused", "MAIL", code, text.decode(errors="replace"))
            code, text = s.rcpt(rcpt)
            if code != 250:
                return ("refused", "RCPT", code, text.decode(errors="replace"))
            code, text = s.data(message(sender, [rcpt], body))
            if code != 250:
                return ("refused", "DATA", code, text.decode(errors="replace"))
        return ("ok", {})


def usage_line(quota_text, mailbox, what):
    """usage_line - "5/5" for a mailbox's messages/minute or recipients/24h in sendasctl quota."""
    block = quota_text.split(mailbox, 1)[1] if mailbox in quota_text else ""
    m = re.search(re.escape(what) + r"\s+(\d+/\d+)", block)
    return m.group(1) if m else None


def main():
    builddir = os.environ.get("BUILDDIR") or os.getcwd()
    policyd = os.environ.get("SENDAS_POLICYD") or os.path.join(builddir, "policyd",
                                                                 "sendas-policyd")
    ctl = os.environ.get("SENDASCTL") or os.path.join(builddir, "ctl", "sendasctl")
    if not os.access("/usr/sbin/postfix", os.X_OK):
        skip("postfix is not installed (/usr/sbin/postfix)")
    for b in (policyd, ctl):
        if not os.access(b, os.X_OK):
            skip(f"binary not found: {b} (set BUILDDIR)")
    if os.geteuid() != 0:
        skip("a private Postfix instance needs root")

    tmp = e2e_tmpdir("policyd-e2e")
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + ("" if ok else f": {detail}"))

    run = Run(tmp, os.path.abspath(policyd), os.path.abspath(ctl))
    try:
        run.start_policyd()
        run.pf.start()

        r = run.send("someone@elsewhere.example", ["ops@example.net"])
        check("unrouted sender refused at RCPT with 550 5.7.1 naming it",
              r[0] == "refused" and r[1] == "RCPT" and r[2] == 550 and "5.7.1" in r[3]
              and "someone@elsewhere.example" in r[3], r)
        r = run.send("blocked@legacy.local", ["ops@example.net"])
        check("reject route refused at RCPT naming the rule",
              r[0] == "refused" and r[2] == 550 and "sender:blocked@legacy.local" in r[3], r)

        t0 = time.monotonic()
        sent = [run.send("app@corp.local", ["ops@example.net"]) for _ in range(5)]
        check("5 messages within the per-minute limit (10 at 50%) accepted",
              all(s == ("ok", {}) for s in sent), sent)
        r = run.send("app@corp.local", ["ops@example.net"])
        check("6th message deferred at RCPT naming the mailbox and the limit",
              r[0] == "refused" and r[1] == "RCPT" and r[2] == 450 and "4.7.0" in r[3]
              and "relay@contoso.com" in r[3] and "5 messages per minute" in r[3], r)
        q = run.quota("relay@contoso.com")
        check("sendasctl quota shows 5/5 messages for the mailbox",
              usage_line(q, "relay@contoso.com", "messages/minute") == "5/5"
              and usage_line(q, "relay@contoso.com", "recipients/24h") == "5/15", q)

        rcpts = [f"user{i}@example.net" for i in range(5)]
        r = run.send("scan@printers.corp.local", rcpts)
        check("5th recipient of one message gets 452 4.5.3, the other 4 are sent",
              r[0] == "ok" and list(r[1]) == ["user4@example.net"]
              and r[1]["user4@example.net"][0] == 452 and "4.5.3" in r[1]["user4@example.net"][1],
              r)
        for _ in range(2):
            run.send("scan@printers.corp.local", rcpts[:4])
        r = run.send("scan@printers.corp.local", rcpts[:4])
        check("recipients per day: the 16th recipient (30 at 50%) is deferred at RCPT",
              r[0] == "ok" and list(r[1]) == ["user3@example.net"]
              and r[1]["user3@example.net"][0] == 450
              and "recipients per 24 hours" in r[1]["user3@example.net"][1]
              and "scanner@contoso.com" in r[1]["user3@example.net"][1], r)
        q = run.quota("scanner@contoso.com")
        check("sendasctl quota shows 15/15 recipients and 4 messages for the scanner",
              usage_line(q, "scanner@contoso.com", "recipients/24h") == "15/15"
              and usage_line(q, "scanner@contoso.com", "messages/minute") == "4/5", q)

        big = "x" * 30000 + "\r\n"
        r = run.send("app@big.corp.local", ["ops@example.net"], big)
        check("declared SIZE over the limit refused at RCPT with 552 5.3.4",
              r[0] == "refused" and r[1] == "RCPT" and r[2] == 552 and "5.3.4" in r[3], r)
        r = run.send_no_size("app@big.corp.local", "ops@example.net", big)
        check("real size over the limit refused at the end of DATA with 552 5.3.4",
              r[0] == "refused" and r[1] == "DATA" and r[2] == 552 and "5.3.4" in r[3], r)

        before = run.quota()
        rc = run.stop_policyd(signal.SIGTERM)
        run.start_policyd()
        after = run.quota(settle=0)
        check("SIGTERM restart: sendasctl quota identical before and after",
              rc == 0 and before == after and "5/5" in after, f"rc={rc}\n{before}\n---\n{after}")
        r = run.send("app@corp.local", ["ops@example.net"])
        check("after the restart the full mailbox is still deferred",
              r[0] == "refused" and r[2] == 450 and "relay@contoso.com" in r[3], r)

        r = run.send("app@big.corp.local", ["a@example.net", "b@example.net"])
        time.sleep(1.3)  # one flush interval, and a margin
        run.stop_policyd(signal.SIGKILL)
        run.start_policyd()
        q = run.quota("big@contoso.com", settle=0)
        check("kill -9 a second after a message: its counts survive",
              r == ("ok", {}) and usage_line(q, "big@contoso.com", "messages/minute") == "1/5"
              and usage_line(q, "big@contoso.com", "recipients/24h") == "2/15", f"{r}\n{q}")
        check("the per-minute part of the test ran inside one minute",
              time.monotonic() - t0 < 55, f"{time.monotonic() - t0:.1f}s")

        # SIGHUP: a broken file keeps the running configuration; a good one applies
        with open(run.conf, encoding="utf-8") as f:
            good = f.read()
        with open(run.conf, "w", encoding="utf-8") as f:
            f.write(good + "limit_headroom 0\n")
        run.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        r = run.send("app@corp.local", ["ops@example.net"])
        check("SIGHUP with a broken file keeps the running configuration",
              run.proc.poll() is None and r[0] == "refused" and r[2] == 450
              and "reload refused" in run.log_text(), r)
        with open(run.conf, "w", encoding="utf-8") as f:
            f.write(good.replace("limit_messages_per_minute 10", "limit_messages_per_minute 100"))
        run.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        r = run.send("app@corp.local", ["ops@example.net"])
        check("SIGHUP with a good file applies it (limit raised: the mailbox sends again)",
              r == ("ok", {}) and "configuration reloaded" in run.log_text(), r)

        with socket.create_connection(("127.0.0.1", run.port), timeout=5) as s:
            s.sendall(b"request=smtpd_access_policy\nthis line is wrong\n\n")
            data = s.recv(100)
        check("a malformed request closes the connection without a reply", data == b"", data)

        log = run.log_text()
        defer = [ln for ln in log.splitlines() if "action=defer" in ln and "relay@contoso.com" in ln]
        check("a log line per refusal: queue id, client, sender, mailbox, reason",
              defer and re.search(r"(NOQUEUE|[0-9A-F]+): client=\S+\[127\.0\.0\.1\] "
                                  r"sender=<app@corp\.local> rcpt=<ops@example\.net> "
                                  r"mailbox=relay@contoso\.com stage=RCPT action=defer "
                                  r"reason=\"mailbox relay@contoso\.com reached 5 messages",
                                  defer[0]) is not None
              and "malformed policy request" in log, defer[:1])
        eom = [ln for ln in log.splitlines() if "stage=END-OF-MESSAGE" in ln and "5.3.4" not in ln
               and "action=reject" in ln]
        check("the end-of-DATA refusal is logged with its queue id",
              eom and re.match(r".*: [0-9A-F]{6,}: client=", eom[0]) is not None, eom[:1])
    except Exception as e:  # noqa: BLE001 - reported as a failure
        check("test run", False, repr(e) + "\n" + run.log_text()[-2000:])
    finally:
        run.pf.stop()
        run.stop_policyd()

    passed = sum(1 for ok in results if ok)
    failed = len(results) - passed
    if failed or os.environ.get("SENDAS_E2E_KEEP"):
        print(f"kept {tmp} (policyd.log, postfix/maillog)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
