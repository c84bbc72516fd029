#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: a message to 1,000 recipients through the real relay (Postfix, sendas-milter,
sendas-policyd with its default 500 recipients per message, the emulator).

RFC 5321 (4.5.3.1.10): a server over its recipient limit answers 452 to the extra RCPT
commands and the client sends those recipients again in another transaction.  Postfix's own
smtpd_recipient_limit does exactly that without counting the 452s as errors (up to
smtpd_recipient_overshoot_limit); a 452 from the policy service for each extra recipient
counts as an error each, and at the 21st (smtpd_hard_error_limit) Postfix ends the session
with "421 4.7.0 too many errors": nothing was queued.

Checks, with smtplib in one SMTP session, for the test tenant's routes (a from: route first:
the mailbox is known only at the end of the message) and for a single route * (known at RCPT):
  1. the first transaction to 1,000 recipients: the first 500 are accepted, the other 500
     answered 452 4.5.3, the message is queued (DATA 250) and the session is still alive
     (NOOP 250);
  2. the same session sends the 500 deferred recipients in a second transaction: accepted;
  3. the emulator received the message for exactly the first 500 recipients, and the second
     one for the other 500: nobody twice, nobody missing;
  4. 10,000 recipients in one transaction (single route): the first 500 are queued and
     delivered, the other 9,500 answered 452, the session still alive (Postfix's default
     smtpd_recipient_overshoot_limit counted errors past 1,500 and ended the session).

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when Postfix, root, python3-aiosmtpd or the binaries are
missing.  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import os
import signal
import smtplib
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import (SENDAS_CONF, Stack, checks, e2e_tmpdir, report,  # noqa: E402
                   require_stack, tail)

SENDER = "nagios@mon01.corp.local"
RCPTS = [f"user{i:04d}@contoso.com" for i in range(1000)]
PER_MESSAGE = 500  # sendas.conf's default limit_recipients_per_message
BULK = 10000
SIMPLE_CONF = "\n".join(ln for ln in SENDAS_CONF.splitlines()
                        if not ln.startswith(("route sender:@printers", "route from:"))) + "\n"


def message(tag):
    return (f"From: Nagios <{SENDER}>\r\nTo: undisclosed-recipients:;\r\nSubject: {tag}\r\n"
            f"Message-ID: <{tag}@many-rcpts>\r\n\r\nlarge batch\r\n").encode()


def delivered_to(stack, tag, want, timeout=120):
    """delivered_to - every recipient the emulator received message tag for (waits for want)."""
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        got = [r for rec in stack.emu.messages() if f"<{tag}@many-rcpts>".encode() in rec["raw"]
               for r in rec["rcpt_tos"]]
        if len(got) >= want:
            break
        time.sleep(0.5)
    return got


def main():
    milter_bin = require_stack()
    tmp = e2e_tmpdir("rcpts")
    stack = Stack(tmp, milter_bin)
    results, check = checks()

    def batch(label):
        """batch - the three checks for one configuration; label goes into tags and lines."""
        refused, data_ok, noop, second, err = None, False, None, None, ""
        t1, t2 = f"{label}-1", f"{label}-2"
        try:
            with smtplib.SMTP("127.0.0.1", stack.pf.smtp_port, local_hostname="app.corp.local",
                              timeout=120) as s:
                refused = s.sendmail(SENDER, RCPTS, message(t1))
                data_ok = True
                noop = s.noop()[0]
                deferred = [r for r in RCPTS if r in refused]
                second = s.sendmail(SENDER, deferred, message(t2))
        except (smtplib.SMTPException, OSError) as e:
            err = f"{type(e).__name__}: {e}"[:300]
        refused = refused or {}
        codes = {f"{c} {t.decode(errors='replace')[:5]}" for c, t in refused.values()}
        first = [r for r in RCPTS if r not in refused]
        check(data_ok and first == RCPTS[:PER_MESSAGE] and len(refused) == 1000 - PER_MESSAGE
              and codes == {"452 4.5.3"} and noop == 250,
              f"{label}: 1,000 recipients: the first 500 accepted, the rest 452 4.5.3, message "
              "queued, session alive",
              f"accepted {len(first)}, refused {len(refused)} with {codes}, NOOP {noop} {err}")
        check(second == {}, f"{label}: the same session sends the deferred 500 in a second "
              "transaction", f"refused {len(second) if second is not None else '-'} {err}")
        got1 = delivered_to(stack, t1, PER_MESSAGE, 120 if data_ok else 3)
        got2 = delivered_to(stack, t2, 1000 - PER_MESSAGE, 120 if second == {} else 3)
        check(sorted(got1) == RCPTS[:PER_MESSAGE] and sorted(got2) == RCPTS[PER_MESSAGE:],
              f"{label}: the emulator has each recipient exactly once",
              f"first message to {len(got1)}, second to {len(got2)}")

    def bulk():
        """bulk - 10,000 recipients in one transaction (issue 9 review): past Postfix's
        smtpd_recipient_overshoot_limit (default 1,000 extra) each 452 counted as an error and
        at the 21st the session ended with nothing queued, as finding 12 had it at 21."""
        rcpts = [f"bulk{i:05d}@contoso.com" for i in range(BULK)]
        refused, noop, err = None, None, ""
        try:
            with smtplib.SMTP("127.0.0.1", stack.pf.smtp_port, local_hostname="app.corp.local",
                              timeout=300) as s:
                refused = s.sendmail(SENDER, rcpts, message("bulk"))
                noop = s.noop()[0]
        except (smtplib.SMTPException, OSError) as e:
            err = f"{type(e).__name__}: {e}"[:300]
        got = delivered_to(stack, "bulk", PER_MESSAGE, 120 if refused is not None else 3)
        check(refused is not None and len(refused) == BULK - PER_MESSAGE and noop == 250 and
              sorted(got) == rcpts[:PER_MESSAGE],
              f"{BULK:,} recipients in one transaction: the first 500 queued and delivered, the "
              "rest 452, session alive",
              f"refused {len(refused) if refused is not None else '-'}, NOOP {noop}, delivered "
              f"to {len(got)} {err}")

    try:
        stack.start()
        # the test tenant's routes: a from: route first, so the route is chosen at the end
        batch("from-routes")
        # the usual single route: the mailbox is known at RCPT
        stack.write_conf(SIMPLE_CONF)
        mark = len(tail(stack.policyd_log, 1 << 24))
        stack.policyd.send_signal(signal.SIGHUP)
        stack.milter.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in tail(stack.policyd_log, 1 << 24)[mark:]:
            if time.monotonic() > deadline:
                raise RuntimeError("sendas-policyd did not reload")
            time.sleep(0.1)
        batch("one-route")
        bulk()
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        stack.stop()

    return report(results, tmp, tails=[("policyd log tail", stack.policyd_log, 1500)])


if __name__ == "__main__":
    sys.exit(main())
