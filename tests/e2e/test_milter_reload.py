#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: SIGHUP reloads sendas.conf safely, SIGTERM lets a message in progress finish.

Brings up the relay of tests/lib/stack.py (emulator, sendas-milter, sendas-policyd, a private
Postfix with the shipped deploy/postfix snippets) and, with a message from
nagios@mon01.corp.local (which every mailbox has to rewrite) before and after each step:

  1. the first message goes out as relay@contoso.com with an X-Original-From trace;
  2. sendas.conf is replaced by a broken file (a route to an undeclared mailbox) and both
     daemons get SIGHUP: they keep running, log "reload refused", and the next message still
     goes out on the old configuration;
  3. a good, changed file (route * -> scanner@contoso.com, trace_header
     X-Sendas-Original-From) + SIGHUP: "configuration reloaded", and the next message uses it;
  4. a message in progress (MAIL and RCPT done, DATA not yet) when the configuration is
     swapped back finishes on the configuration it started with;
  5. a message in progress when the milter gets SIGTERM is finished (accepted, rewritten,
     delivered) before the milter stops, and the milter exits 0;
  6. sendas-policyd, reloaded three times, exits 0 at SIGTERM, and neither daemon's output
     has a sanitizer report.

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when Postfix, the binaries, root or python3-aiosmtpd is
missing.  Run as root with /usr/bin/python3 from the build directory (or set BUILDDIR, or
SENDAS_MILTER and SENDAS_POLICYD).  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import email.parser
import email.policy
import os
import signal
import smtplib
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from daemonrun import sanitizer_lines, wait_delivered, wait_log  # noqa: E402
from stack import (SENDAS_CONF, Stack, checks, e2e_tmpdir, report,  # noqa: E402
                   require_stack, tail)

SENDER = "nagios@mon01.corp.local"
RECIPIENT = "user@contoso.com"

# an undeclared mailbox: conf_load refuses the file
BROKEN_CONF = SENDAS_CONF.replace("route * relay@contoso.com", "route * nobody@contoso.com")
CHANGED_CONF = SENDAS_CONF.replace("route * relay@contoso.com", "route * scanner@contoso.com") \
    + "trace_header X-Sendas-Original-From\n"


def message(tag):
    return (f"From: Nagios <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: reload {tag}\r\n"
            f"Message-ID: <{tag}@reload-test>\r\n\r\nreload test {tag}\r\n").encode()


def delivered(stack, tag, timeout=30):
    """delivered - the emulator's record of message tag, or None."""
    return wait_delivered(stack.emu, f"<{tag}@reload-test>".encode(), timeout)


def describe(rec):
    """describe - (mailbox it went out as, From, trace header name or None)."""
    if rec is None:
        return None
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(rec["raw"])
    trace = next((n for n in ("X-Original-From", "X-Sendas-Original-From") if msg[n]), None)
    return (rec.get("auth_user"), rec.get("mail_from"), msg["From"], trace)


def log_size(path):
    return len(tail(path, 1 << 24))


def main():
    milter_bin = require_stack()

    tmp = e2e_tmpdir("reload")
    stack = Stack(tmp, milter_bin)
    results, check = checks()

    def send(tag):
        state, detail = stack.submit_smtp(message(tag), SENDER, [RECIPIENT])
        return describe(delivered(stack, tag)) if state == "accepted" else detail

    def in_flight(tag, during):
        """in_flight - MAIL and RCPT, then during() (a reload, a SIGTERM), then DATA of message
        tag; returns during()'s result and DATA's (code, text)."""
        with smtplib.SMTP("127.0.0.1", stack.pf.smtp_port, local_hostname="app.corp.local",
                          timeout=60) as s:
            s.mail(SENDER)
            s.rcpt(RECIPIENT)
            result = during()
            return result, s.data(message(tag))

    def hup(expect):
        """hup - SIGHUP both daemons; True when both logged expect afterwards."""
        marks = (log_size(stack.milter_log), log_size(stack.policyd_log))
        stack.milter.send_signal(signal.SIGHUP)
        stack.policyd.send_signal(signal.SIGHUP)
        return (wait_log(stack.milter_log, expect, marks[0]),
                wait_log(stack.policyd_log, expect, marks[1]))

    old = ("relay@contoso.com", "relay@contoso.com", "Nagios <relay@contoso.com>",
           "X-Original-From")
    new = ("scanner@contoso.com", "scanner@contoso.com", "Nagios <scanner@contoso.com>",
           "X-Sendas-Original-From")
    try:
        stack.start()
        got = send("first")
        check(got == old, "first message on the starting configuration", f"{got}")

        stack.write_conf(BROKEN_CONF)
        m_log, p_log = hup("reload refused")
        alive = stack.milter_running() and stack.policyd.poll() is None
        check(alive and m_log and p_log, "broken sendas.conf + SIGHUP: refused, daemons alive",
              f"milter logged refusal: {m_log}, policyd logged refusal: {p_log}, alive: {alive}")
        got = send("after-broken")
        check(got == old, "next message still on the old configuration", f"{got}")

        stack.write_conf(CHANGED_CONF)
        m_log, p_log = hup("configuration reloaded")
        check(m_log and p_log, "good sendas.conf + SIGHUP: reloaded",
              f"milter: {m_log}, policyd: {p_log}")
        got = send("after-good")
        check(got == new, "next message uses the new configuration", f"{got}")

        # a message in progress keeps the snapshot it took at MAIL FROM
        def swap_back():
            stack.write_conf(SENDAS_CONF)
            return hup("configuration reloaded")[0]
        m_log, (code, text) = in_flight("in-flight", swap_back)
        got = describe(delivered(stack, "in-flight"))
        check(m_log and code == 250 and got == new,
              "a message in progress during the reload finishes on its own configuration",
              f"reloaded: {m_log}; DATA {code}; {got}")
        got = send("after-swap-back")
        check(got == old, "the message after it uses the reloaded one", f"{got}")

        # SIGTERM while a message is in progress
        def sigterm():
            mark = log_size(stack.milter_log)
            stack.milter.send_signal(signal.SIGTERM)
            wait_log(stack.milter_log, "stopping", mark)
        _, (code, text) = in_flight("at-sigterm", sigterm)
        rc = stack.milter.wait(15)
        got = describe(delivered(stack, "at-sigterm", 10 if code == 250 else 2))
        check(code == 250 and got == old and rc == 0,
              "SIGTERM: the message in progress is finished, then a clean exit",
              f"DATA {code} {text.decode(errors='replace')}; delivered {got}; exit {rc}")
        refused = stack.emu.refused()
        check(not refused, "the emulator refused nothing", f"{refused[:3]}")

        # sendas-policyd was reloaded three times: it must stop cleanly too (the reload used
        # to free the socket path it unlinks at exit); a sanitizer build reports here
        rc = stack.stop_policyd()
        san = sanitizer_lines(stack.milter_log, stack.policyd_log)
        check(rc == 0 and not san, "after the reloads sendas-policyd stops cleanly; no sanitizer "
              "report from either daemon", f"exit {rc}; {san[:1]}")
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        stack.stop()


    return report(results, tmp, tails=[("milter log tail", stack.milter_log, 3000)])


if __name__ == "__main__":
    sys.exit(main())
