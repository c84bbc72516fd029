#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: kill -9 of sendas-milter under load loses nothing and lets nothing out unrewritten.

Brings up the relay of tests/lib/stack.py (emulator, sendas-milter, a private Postfix with the
shipped deploy/postfix snippets, so milter_default_action = tempfail) and runs Postfix's
smtp-source against it: 300 messages in 5 parallel sessions, paced with a random pause of up
to a second between messages, each with envelope sender and From nagios@mon01.corp.local
(smtp-source writes "From: <SENDER>"), which the mailbox may not send as, so every message
needs rewriting.  After a third of the messages the milter gets SIGKILL; two seconds later it
is started again on the same socket.  smtp-source (-A) carries on through the outage, which
answers 4xx.  Then the queue is flushed and drained, and the test checks:

  - smtp-source sent every message; each was either accepted or refused with 4xx (never 5xx),
    and Postfix's maillog agrees on the number of refusals (milter-reject ... 4.x.x);
  - the outage was seen (some 4xx), and the restarted milter processed mail (its log);
  - every message Postfix queued already had the mailbox as envelope sender (qmgr from=),
    and the milter logged a rewrite for it;
  - every queued message reached the emulator exactly once, none bounced, the emulator
    refused nothing, the queue is empty;
  - every delivered message has From = the mailbox, envelope sender and login = the mailbox,
    and X-Original-From and Reply-To naming nagios@mon01.corp.local (unrewritten = 0).

Prints the figures, one PASS/FAIL line per check and "N passed, M failed".  Exit 0 when all
pass, 1 otherwise, 77 (automake SKIP) when Postfix, smtp-source, the milter binary, root or
Debian's python3-aiosmtpd is missing.  Run as root with /usr/bin/python3, from the build
directory or with BUILDDIR or SENDAS_MILTER set.  SENDAS_E2E_KEEP=1 keeps the temporary
directory; it is always kept after a failure.
"""

import email.parser
import email.policy
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import Stack, checks, e2e_tmpdir, report, require_stack, tail  # noqa: E402

SMTP_SOURCE = "/usr/sbin/smtp-source"
MESSAGES = 300
SESSIONS = 5
SENDER = "nagios@mon01.corp.local"
RECIPIENT = "user@contoso.com"
MAILBOX = "relay@contoso.com"
OUTAGE = 2.0  # seconds between kill -9 and the restart

QID = r"[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}"


def count_rewritten(text):
    return text.count(" action=rewritten ")


def run_load(stack):
    """run_load - smtp-source against the relay, kill -9 of the milter after a third of the
    messages, restart after OUTAGE seconds.  Returns a dict of what happened."""
    cmd = [SMTP_SOURCE, "-A", "-s", str(SESSIONS), "-m", str(MESSAGES), "-R", "1",
           "-f", SENDER, "-t", RECIPIENT, "-S", "sendas kill test", "-M", "app01.corp.local",
           f"127.0.0.1:{stack.pf.smtp_port}"]
    out_path = os.path.join(stack.tmp, "smtp-source.out")
    with open(out_path, "wb") as out:
        src = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    info = {"cmd": " ".join(cmd)}
    deadline = time.monotonic() + 300
    while count_rewritten(stack.milter_log_text()) < MESSAGES // 3:
        if src.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    info["before_kill"] = count_rewritten(stack.milter_log_text())
    info["source_running_at_kill"] = src.poll() is None
    info["kill_status"] = stack.kill_milter()
    time.sleep(OUTAGE)
    info["source_running_at_restart"] = src.poll() is None
    stack.start_milter()
    try:
        src.wait(timeout=max(10, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        src.kill()
        src.wait()
    info["source_status"] = src.returncode
    info["source_output"] = tail(out_path, 1 << 24)
    return info


def parse_maillog(text):
    """parse_maillog - what Postfix logged: per queue id the qmgr envelope sender, the message
    id, delivery statuses; and the milter-reject lines."""
    queued, msgid, status, rejects = {}, {}, {}, []
    for line in text.splitlines():
        if "milter-reject:" in line:
            rejects.append(line)
            continue
        m = re.search(rf" postfix/\S+\[\d+\]: ({QID}): (.*)$", line)
        if not m:
            continue
        qid, rest = m.groups()
        if "/qmgr[" in line and rest.startswith("from=<"):
            queued.setdefault(qid, rest[6:rest.index(">")])
        elif "/cleanup[" in line and rest.startswith("message-id="):
            msgid[qid] = rest[len("message-id="):].strip()
        elif "status=" in rest:
            status.setdefault(qid, []).append(re.search(r"status=(\w+)", rest).group(1))
    return queued, msgid, status, rejects


def check_message(rec):
    """check_message - why one delivered message is not a correct rewrite ([] if it is)."""
    why = []
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(rec["raw"])
    if (rec.get("auth_user") or "").lower() != MAILBOX:
        why.append(f"login {rec.get('auth_user')!r}")
    if (rec.get("mail_from") or "").lower() != MAILBOX:
        why.append(f"MAIL FROM <{rec.get('mail_from')}>")
    froms = msg.get_all("From") or []
    addrs = [a.addr_spec.lower() for h in froms for a in getattr(h, "addresses", ())]
    if addrs != [MAILBOX]:
        why.append(f"From {[str(h) for h in froms]!r}")
    for name in ("X-Original-From", "Reply-To"):
        values = " ".join(str(v) for v in msg.get_all(name) or []).lower()
        if SENDER not in values:
            why.append(f"{name} {values!r} does not name {SENDER}")
    return why


def main():
    milter_bin = require_stack((SMTP_SOURCE,))

    tmp = e2e_tmpdir("kill")
    stack = Stack(tmp, milter_bin)
    results, check = checks()

    figures = []
    try:
        stack.start()
        action = stack.pf.postconf("-h", "milter_default_action").strip()
        check(action == "tempfail", "shipped milter_default_action is tempfail", action)

        info = run_load(stack)
        stack.pf.flush()
        drained = stack.pf.wait_queue_empty(timeout=180)
        queued, msgid, status, rejects = parse_maillog(stack.pf.maillog())
        out = info["source_output"]
        # "sender rejected: 451 ...", "end of data rejected: 451 ...", one per message
        refusal = r"warning: ([a-z ]+?) rejected(?: at server banner)?: (\d{3})[ -]"
        src_refusals = [r for r in re.findall(refusal, out) if r[0] != "rset"]
        src_other = [ln for ln in out.splitlines() if ln.strip()
                     and (not re.search(refusal, ln) or "rset rejected" in ln)]
        tempfailed = [r for r in src_refusals if r[1].startswith("4")]
        permfailed = [r for r in src_refusals if not r[1].startswith("4")]
        # Per transaction Postfix logs one milter-reject at MAIL or END-OF-MESSAGE; CONNECT
        # and HELO lines of the same session come before it.
        pf_tempfails = [ln for ln in rejects
                        if not re.search(r"milter-reject: (CONNECT|HELO|EHLO) ", ln)]
        # smtpd logs "451 4.7.1 ...", cleanup (END-OF-MESSAGE) only "4.7.1 ..."
        pf_tempfails_4 = [ln for ln in pf_tempfails
                          if re.search(r"\]: (?:4\d\d )?4\.\d+\.\d+ ", ln)]
        ours = {q: s for q, s in queued.items() if msgid.get(q, "").endswith("@app01.corp.local>")}
        delivered = stack.emu.messages()
        refused = stack.emu.refused()
        by_id = {}
        for rec in delivered:
            by_id.setdefault(rec["message_id"], []).append(rec)
        unrewritten = [(rec["message_id"], w) for rec in delivered if (w := check_message(rec))]
        bounced = [q for q, st in status.items() if "bounced" in st]
        log = stack.milter_log_text()
        starts = [m.start() for m in re.finditer(r"\]: starting on ", log)]
        after_restart = count_rewritten(log[starts[-1]:]) if len(starts) >= 2 else 0
        milter_rewrote = set(re.findall(rf"\]: ({QID}): .* action=rewritten ", log))

        accepted = len(ours)
        figures = [
            ("sent by smtp-source", MESSAGES),
            ("rewritten before the kill", info["before_kill"]),
            ("accepted by Postfix", accepted),
            ("tempfailed during the outage (smtp-source)", len(tempfailed)),
            ("tempfailed (Postfix milter-reject 4xx)", len(pf_tempfails_4)),
            ("  of them in the middle of a message",
             sum(1 for ln in pf_tempfails_4 if "END-OF-MESSAGE" in ln)),
            ("delivered to Exchange Online", len(delivered)),
            ("rewritten by the restarted milter", after_restart),
            ("bounced", len(bounced)),
            ("unrewritten", len(unrewritten)),
        ]

        check(info["kill_status"] == -9, "milter killed with SIGKILL",
              f"exit status {info['kill_status']}")
        check(info["source_running_at_kill"] and info["source_running_at_restart"],
              "the outage fell inside the smtp-source run",
              f"running at kill: {info['source_running_at_kill']}, "
              f"at restart: {info['source_running_at_restart']}")
        check(info["source_status"] == 0 and not src_other, "smtp-source finished",
              f"exit {info['source_status']}; {src_other[:5]}")
        check(not permfailed, "no message refused with 5xx", f"{permfailed[:5]}")
        check(tempfailed, "the outage answered 4xx", f"{len(tempfailed)} tempfails")
        check(accepted + len(src_refusals) == MESSAGES, "every message accepted or tempfailed",
              f"{accepted} accepted + {len(src_refusals)} refused != {MESSAGES}")
        check(len(pf_tempfails) == len(pf_tempfails_4) == len(tempfailed),
              "Postfix logged the same number of tempfails",
              f"maillog {len(pf_tempfails_4)} 4xx of {len(pf_tempfails)}, smtp-source "
              f"{len(tempfailed)}: {pf_tempfails[:3]}")
        wrong_env = {q: s for q, s in ours.items() if s.lower() != MAILBOX}
        check(not wrong_env, "every queued message had the mailbox as envelope sender",
              f"{len(wrong_env)}: {list(wrong_env.items())[:5]}")
        not_logged = sorted(set(ours) - milter_rewrote)
        check(not not_logged, "the milter logged a rewrite for every queued message",
              f"{len(not_logged)} queue ids without one: {not_logged[:5]}")
        missing = [(q, msgid[q], status.get(q)) for q in ours if msgid[q] not in by_id]
        check(drained and not stack.pf.queue_ids() and not missing,
              "every accepted message delivered, queue empty",
              f"drained={drained}; {len(missing)} not delivered: {missing[:5]}")
        dupes = {k: len(v) for k, v in by_id.items() if len(v) > 1}
        check(not dupes and len(delivered) == accepted, "delivered exactly once",
              f"{len(delivered)} delivered for {accepted} accepted; duplicates {dupes}")
        check(not bounced and not refused, "nothing bounced, the emulator refused nothing",
              f"bounced {bounced[:5]}; refused {refused[:3]}")
        check(not unrewritten, "every delivered message rewritten (From, envelope, "
              "X-Original-From, Reply-To)", f"{len(unrewritten)}: {unrewritten[:3]}")
        check(len(starts) >= 2 and after_restart > 0 and stack.milter_running(),
              "the restarted milter processed mail and still runs",
              f"{len(starts)} starts, {after_restart} rewrites after the restart")
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        stack.stop()

    for label, value in figures:
        print(f"# {label + ':':45} {value}")

    return report(results, tmp, tails=[("milter log tail", stack.milter_log, 2000)])


if __name__ == "__main__":
    sys.exit(main())
