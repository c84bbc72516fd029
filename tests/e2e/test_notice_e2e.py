#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: Postfix's own notices (bounce, delay) reach the mailbox through Exchange Online.

When Exchange Online refuses a message, Postfix sends a non-delivery notice (null sender,
From: MAILER-DAEMON@relay) to the envelope sender, which sendas-milter made the mailbox.  That
notice goes back through the same relay to Exchange Online, which refuses a From the mailbox
may not send as like any other.  The shipped deploy/postfix/main.cf must make such notices
acceptable, and must not let a notice that fails start a bounce loop.

Brings up the relay of tests/lib/stack.py (emulator, sendas-milter, sendas-policyd, a private
Postfix with the shipped main.cf and master.cf, only addresses and paths substituted, and a
sasl_passwd with one entry per mailbox plus the next-hop entry main.cf asks for).  sendas.conf
says relay@contoso.com may send as billing@contoso.com; the emulator (Exchange Online) does
not grant it.  Checks:

  - a message From: billing@contoso.com is kept by the milter and refused by the emulator with
    550 5.7.60; Postfix's non-delivery notice then arrives in relay@contoso.com's inbox (an
    accepted message addressed to it): "Undelivered Mail Returned to Sender", naming the
    refused message, From the mailbox (display name "Mail Delivery System"), with the null
    envelope sender kept; no notice is refused;
  - a delay notice ("Delayed Mail (still being retried)") for a message whose recipient is
    deferred (a test transport to a loopback port nobody listens on) reaches the same inbox;
  - a mailbox Exchange Online refuses everything from (550 5.1.8 Bad outbound sender): the
    message and its notice are refused once each and nothing more (the notice keeps the null
    sender, so its failure is not bounced again: no loop).

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when Postfix, the binaries, root or python3-aiosmtpd is
missing.  Run as root with /usr/bin/python3 from the build directory (or set BUILDDIR, or
SENDAS_MILTER and SENDAS_POLICYD).  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import copy
import email.parser
import email.policy
import email.utils
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import (MAILBOXES, SENDAS_CONF, Stack, checks, e2e_tmpdir, free_port,  # noqa: E402
                   report, require_stack)

MAILBOX = "relay@contoso.com"
SENDER = "nagios@mon01.corp.local"
# sendas.conf grants billing@contoso.com to the mailbox; Exchange Online does not
CONF = SENDAS_CONF.replace("mailbox relay@contoso.com sendas ",
                           "mailbox relay@contoso.com sendas billing@contoso.com ")


def message(from_hdr, to, msgid):
    return (f"From: {from_hdr}\r\nTo: {', '.join(to)}\r\nSubject: notice test\r\n"
            f"Message-ID: <{msgid}>\r\n\r\nnotice test\r\n").encode()


def parse(raw):
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def wait_for(pred, timeout, pf=None):
    """wait_for - pred()'s first true value within timeout (flushing pf's queue), else None."""
    deadline = time.monotonic() + timeout
    last_flush = time.monotonic()
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        if pf and time.monotonic() - last_flush > 3:
            pf.flush()
            last_flush = time.monotonic()
        time.sleep(0.25)
    return None


def notices(stack, subject, msgid):
    """notices - the inbox messages with this Subject that name the message msgid."""
    return [m for m in stack.emu.inbox(MAILBOX)
            if parse(m["raw"])["Subject"] == subject and msgid.encode() in m["raw"]]


def describe(rec):
    msg = parse(rec["raw"])
    return (f"MAIL FROM:<{rec['mail_from']}> as {rec['auth_user']}, From: {msg['From']}, "
            f"Subject: {msg['Subject']}")


def check_notice(check, rec, label):
    """check_notice - the notice is From the mailbox and kept the null envelope sender."""
    msg = parse(rec["raw"])
    name, addr = email.utils.parseaddr(str(msg["From"]))
    check(addr.lower() == MAILBOX and rec["mail_from"] == "" and rec["auth_user"] == MAILBOX,
          f"{label}: From the mailbox, null envelope sender kept, signed in as the mailbox",
          describe(rec))


def bounce_and_delay(milter_bin, tmp, check):
    stack = Stack(os.path.join(tmp, "notices"), milter_bin, sendas_conf=CONF,
                  default_mailbox=MAILBOX)
    os.makedirs(stack.tmp)
    try:
        stack.start()
        pf = stack.pf
        classes = pf.postconf("-h", "internal_mail_filter_classes").strip()
        check("bounce" in classes, "shipped main.cf passes Postfix's notices to the milter",
              f"internal_mail_filter_classes = {classes}")

        # 1. a From the milter keeps (sendas.conf grants it) but Exchange Online refuses
        msgid = "refused-5760@notice-test"
        state, detail = stack.submit_smtp(
            message("Billing <billing@contoso.com>", ["customer@outside.example"], msgid),
            SENDER, ["customer@outside.example"])
        refused = wait_for(lambda: [r for r in stack.emu.refused()
                                    if "billing@contoso.com" in (r.get("from_header") or "")],
                           30)
        check(state == "accepted" and refused and refused[0]["code"] == 550
              and "5.7.60" in refused[0]["text"],
              "Exchange Online refuses the kept From billing@contoso.com with 550 5.7.60",
              f"{state} {detail or ''}; " + (f"{refused[0]['code']} {refused[0]['text']}"
                                             if refused else "no refusal recorded"))
        got = wait_for(lambda: notices(stack, "Undelivered Mail Returned to Sender", msgid),
                       60, pf)
        check(got, "the non-delivery notice reached the mailbox's inbox",
              describe(got[0]) if got else
              f"inbox has {len(stack.emu.inbox(MAILBOX))} messages; refusals: "
              + "; ".join(f"{r['code']} {r['text']} (From {r.get('from_header')})"
                          for r in stack.emu.refused()))
        if got:
            check_notice(check, got[0], "non-delivery notice")
            name = email.utils.parseaddr(str(parse(got[0]["raw"])["From"]))[0]
            check(name == "Mail Delivery System", "the notice keeps its display name",
                  f"display name {name!r}")

        # 2. a delay notice: the message's recipient is deferred by a test transport
        # (smtpd refuses a recipient of the error and retry transports at RCPT; a next hop
        # that nobody listens on defers it after it is queued)
        tmap = pf.write_map("transport", {"slow.example": f"smtp:[127.0.0.1]:{free_port()}"})
        pf.set_main({"transport_maps": f"hash:{tmap}", "delay_warning_time": "1s"})
        msgid = "delayed@notice-test"
        state, detail = stack.submit_smtp(
            message("Alerts <alerts@contoso.com>", ["someone@slow.example"], msgid),
            SENDER, ["someone@slow.example"])
        got = wait_for(lambda: notices(stack, "Delayed Mail (still being retried)", msgid),
                       60, pf)
        check(state == "accepted" and got, "the delay notice reached the mailbox's inbox",
              describe(got[0]) if got else f"{state} {detail or ''}; no delay notice")
        if got:
            check_notice(check, got[0], "delay notice")
        subprocess.run(["/usr/sbin/postsuper", "-c", pf.config_dir, "-d", "ALL", "deferred"],
                       capture_output=True)

        log = pf.maillog()
        notice_ids = re.findall(r"(?:sender non-delivery|sender delay) notification: (\w+)", log)
        failed = [q for q in notice_ids if re.search(rf" {q}: .*status=(bounced|deferred)", log)]
        check(len(notice_ids) >= 2 and not failed, "no notice was refused or deferred",
              f"notices {notice_ids}; failed {failed}")
        milter_lines = [ln for ln in stack.milter_log_text().splitlines()
                        if "env_from=<>" in ln and "source=local" in ln]
        check(milter_lines and all(f"mailbox={MAILBOX}" in ln and "action=rewritten" in ln
                                   for ln in milter_lines),
              "sendas-milter rewrote the notices' From for the mailbox",
              milter_lines[0].split(": ", 1)[-1] if milter_lines else "no notice in the log")
    finally:
        stack.stop()


def no_loop(milter_bin, tmp, check):
    """A mailbox Exchange Online refuses everything from: the notice fails too, once."""
    boxes = copy.deepcopy(MAILBOXES)
    boxes[MAILBOX]["blocked"] = True
    stack = Stack(os.path.join(tmp, "blocked"), milter_bin, sendas_conf=CONF, mailboxes=boxes,
                  default_mailbox=MAILBOX)
    os.makedirs(stack.tmp)
    try:
        stack.start()
        pf = stack.pf
        state, detail = stack.submit_smtp(
            message(f"Nagios <{SENDER}>", ["user@contoso.com"], "blocked@notice-test"),
            SENDER, ["user@contoso.com"])
        wait_for(lambda: len(stack.emu.refused()) >= 2, 30, pf)
        time.sleep(12)   # a loop would make a new notice every few seconds
        pf.flush()
        time.sleep(4)
        refused = stack.emu.refused()
        codes = [f"{r['code']} {r['text']} (MAIL FROM:<{r['mail_from']}>)" for r in refused]
        check(state == "accepted" and len(refused) == 2
              and all("5.1.8" in r["text"] for r in refused),
              "a blocked mailbox: the message and its notice are refused once each, no loop",
              f"{len(refused)} refusals: " + "; ".join(codes[:4]))
        check(len(refused) == 2 and refused[1]["mail_from"] == "",
              "the refused notice had the null envelope sender",
              "; ".join(codes[:2]))
    finally:
        stack.stop()


def main():
    milter_bin = require_stack()

    tmp = e2e_tmpdir("notice")
    results, check = checks()

    for part in (bounce_and_delay, no_loop):
        try:
            part(milter_bin, tmp, check)
        except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
            check(False, f"[{part.__name__}]", f"{type(e).__name__}: {e}")
    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
