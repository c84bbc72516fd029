#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The sendas demo: legacy-application mail relayed to Exchange Online, with and without sendas.

Brings up the relay of tests/lib/stack.py on loopback (the Exchange Online emulator, which
enforces send-as like Exchange Online; sendas-milter; a private Postfix with the shipped
deploy/postfix settings) and sends ten typical legacy messages from tests/e2e/corpus through
it, by SMTP and by sendmail(1).  For each it prints what was sent (envelope sender, From),
what Exchange Online received (envelope sender, login, From, Reply-To, X-Original-From),
sendas-milter's decision and Exchange Online's answer as Postfix logged it.

Then, for contrast, the same messages go through a second private Postfix with the same
relay settings but without the milter, signing in as relay@contoso.com for every sender (the
usual single-account relay): Exchange Online refuses every sender the mailbox may not send as
with 550 5.7.60 (read from that instance's maillog).

Exit 0 when everything came out as described, 1 otherwise (what differed is printed), 77 when
a prerequisite is missing.  Run as root with /usr/bin/python3:
    /usr/bin/python3 tests/demo.py [--milter PATH] [--keep]
(scripts/demo.sh installs the packages, builds and runs this.)
"""

import argparse
import email.parser
import email.policy
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from stack import MAILBOXES, SENDAS_CONF, SKIP, Stack, find_ctl, find_milter, prerequisites  # noqa: E402

CORPUS = os.path.join(HERE, "e2e", "corpus")

# The relay paces each mailbox (sendasctl postfix-config with "pacing yes"): the scanner
# mailbox at 60 messages a minute, one a second, so the demo's burst stays short.
DEMO_CONF = SENDAS_CONF + """\
pacing yes
limits scanner@contoso.com limit_messages_per_minute 60 limit_headroom 100
"""
BURST = 10

# (corpus file prefix, what it stands for)
SAMPLES = [
    ("01", "Nagios host alert"),
    ("06", "cron job of root (sendmail, From: root)"),
    ("33", "scan-to-email from a printer"),
    ("18", "ERP user with a UTF-8 display name"),
    ("21", "Japanese display name (encoded word)"),
    ("24", "SAP job that sets its own Reply-To"),
    ("09", "batch export without a From header"),
    ("52", "PHP web shop (sendmail as www-data)"),
    ("28", "monitoring as alerts@contoso.com (permitted)"),
    ("48", "sender blocked by a sendas route"),
]

WIDTH = 100


def load_samples():
    with open(os.path.join(CORPUS, "MANIFEST.json"), encoding="utf-8") as f:
        manifest = json.load(f)["messages"]
    out = []
    for prefix, label in SAMPLES:
        entry = next(e for e in manifest if e["file"].startswith(prefix + "-"))
        with open(os.path.join(CORPUS, entry["file"]), "rb") as f:
            raw = f.read()
        out.append(dict(entry, label=label, raw=raw))
    return out


def parse(raw):
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def header_values(msg, name):
    """header_values - the decoded values of a header, folding undone."""
    return [" ".join(str(v).split()) for v in msg.get_all(name) or []]


def raw_from(raw):
    """raw_from - the From field as it travelled (undecoded, unfolded), or None."""
    block = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^from:[ \t]*((?:.*)(?:\n[ \t].*)*)", block)
    return " ".join(m.group(1).decode("utf-8", "replace").split()) if m else None


def exo_answer(pf, message_id):
    """exo_answer - (status, Exchange Online's reply) from the instance's maillog."""
    qid = pf.queue_id_for(message_id)
    if not qid:
        return None, "not queued"
    status = reply = None
    for line in pf.maillog().splitlines():
        m = re.search(rf" {qid}: .*status=(\w+) \((.*)\)$", line)
        if m:
            status, reply = m.groups()
    if status is None:
        return None, f"queue id {qid}: no delivery logged"
    reply = reply.split(" said: ", 1)[-1]
    reply = re.sub(r" \(in reply to [^)]*\)$", "", reply)
    reply = re.sub(r"^(\d{3} \d\.\d+\.\d+) <[^>]*> \[[^]]*\] ", r"\1 ", reply)  # id, InternalId
    return status, reply


def code_of(reply):
    """code_of - "550 5.7.60" from an SMTP reply text."""
    m = re.match(r"\d{3}(?: \d\.\d{1,3}\.\d{1,3})?", reply or "")
    return m.group(0) if m else (reply or "")[:12]


def milter_line(stack, pf, message_id):
    """milter_line - (action, reason) sendas-milter logged for the message."""
    qid = pf.queue_id_for(message_id)
    if not qid:
        return None, None
    for line in stack.milter_log_text().splitlines():
        if f"]: {qid}: " in line:
            m = re.search(r' action=(\w+) .*reason="(.*)"$', line)
            if m:
                return m.groups()
    return None, None


def wrap(prefix, text, indent):
    """wrap - prefix + text, long text continued on indented lines."""
    return textwrap.fill(text, WIDTH, initial_indent=prefix, subsequent_indent=" " * indent,
                         break_on_hyphens=False) or prefix


def show_sent(s):
    env = s["envelope_sender"] or ""
    how = "sendmail -f " + env if s["via"] == "sendmail" else f"SMTP MAIL FROM:<{env}>"
    frm = raw_from(s["raw"])
    lines = [wrap("    sent       ", how, 15),
             wrap("               From: ", frm if frm is not None else "(none)", 21)]
    return lines


def show_delivered(rec):
    msg = parse(rec["raw"])
    lines = [wrap("    received   ", f"MAIL FROM:<{rec['mail_from']}>, signed in as "
                  f"{rec['auth_user']}", 15)]
    decoded = header_values(msg, "From")
    travelled = raw_from(rec["raw"])
    for v in decoded:
        lines.append(wrap("               From: ", v, 21))
    if decoded and travelled and "=?" in travelled:
        lines.append(wrap("                     (as sent: ", travelled + ")", 21))
    for name in ("Reply-To", "X-Original-From", "Sender"):
        for v in header_values(msg, name):
            lines.append(wrap(f"               {name}: ", v, 17 + len(name)))
    return lines


def pacing_demo(stack, transports, problems):
    """pacing_demo - a burst from one client to the scanner mailbox: accepted at once,
    delivered at its pace, nothing refused by the relay or Exchange Online"""
    print("\n" + "=" * WIDTH)
    print(f"3. Pacing: a burst of {BURST} scans for scanner@contoso.com (60 a minute) from one client")
    print("=" * WIDTH)
    print(f"  sendasctl postfix-config: {transports['scanner@contoso.com']}, one delivery at a "
          "time, 1 s apart (main.cf); Exchange Online (emulated) allows 60 a minute")
    before = {m["message_id"] for m in stack.emu.messages()}
    t0 = time.monotonic()
    refused = []
    with smtplib.SMTP("127.0.0.1", stack.pf.smtp_port, timeout=60) as smtp:
        for i in range(BURST):
            try:
                smtp.sendmail(f"mfp{i}@printers.corp.local", ["archive@contoso.com"],
                              f"From: mfp{i}@printers.corp.local\r\nSubject: scan {i}\r\n"
                              f"Message-ID: <burst-{i}@demo>\r\n\r\nscan {i}\r\n".encode())
            except smtplib.SMTPException as e:
                refused.append(str(e))
    accepted = time.monotonic() - t0
    stack.pf.wait_queue_empty(timeout=BURST * 2 + 20)
    new = sorted(m["received_at"] for m in stack.emu.messages() if m["message_id"] not in before)
    took = time.monotonic() - t0
    throttled = [r for r in stack.emu.refused() if r["code"] in (432, 452)]
    print(f"  accepted by the relay in {accepted:.1f} s, {len(refused)} refused at intake")
    print(f"  delivered {len(new)} in {took:.1f} s (first {new[0][11:19] if new else '-'}, "
          f"last {new[-1][11:19] if new else '-'}), {len(throttled)} throttling replies "
          "(432/452) from Exchange Online")
    if refused or throttled or len(new) != BURST:
        problems.append(f"pacing: {len(refused)} refused, {len(throttled)} throttled, "
                        f"{len(new)} of {BURST} delivered")


def run_doctor(stack, problems):
    """run_doctor - `sendasctl doctor` against the relay with sendas; the one finding expected
    is the relayhost (the emulator on [localhost]:PORT, not smtp.office365.com)."""
    print("\n" + "=" * WIDTH)
    print("4. sendasctl doctor: every part of the relay checked, a fix per problem")
    print("=" * WIDTH)
    argv = [find_ctl(stack.milter_bin), "-c", stack.conf_path, "doctor", "--postfix-dir",
            stack.pf.config_dir]
    print("$ " + " ".join(argv) + "\n")
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    print(p.stdout.rstrip())
    heads = [ln for ln in p.stdout.splitlines() if ln[:4] in ("WARN", "FAIL")]
    if p.returncode != 1 or heads != ["WARN  postfix: relayhost"]:
        problems.append(f"doctor: exit {p.returncode}, expected 1 with only the relayhost "
                        f"warning; got {heads}")
    else:
        print("\n(The one WARN is expected here: this relay's next hop is the Exchange Online "
              "emulator\n on [localhost]:PORT; on a real relay it is [smtp.office365.com]:587.)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--milter", default=find_milter(), help="sendas-milter binary")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    sys.stdout.reconfigure(errors="replace")

    why = prerequisites(args.milter)
    if why:
        print(f"demo: cannot run: {why}", file=sys.stderr)
        return SKIP

    samples = load_samples()
    tmp = tempfile.mkdtemp(prefix="sendas-demo-")
    os.chmod(tmp, 0o755)
    # default_mailbox: the next hop's sasl_passwd entry, which Postfix's own notices (the
    # null sender) sign in with, as deploy/postfix/main.cf asks and sendasctl doctor checks
    stack = Stack(tmp, args.milter, default_mailbox="relay@contoso.com", sendas_conf=DEMO_CONF,
                  emulator_options={"rate_limit": 60})
    problems = []
    try:
        stack.start()
        transports = stack.configure_pacing()
        plain = stack.add_postfix("postfix-without-sendas", milter=False,
                                  default_mailbox="relay@contoso.com")

        print("sendas demo: legacy application mail -> Postfix -> Exchange Online "
              "(emulated on 127.0.0.1)")
        print("\nExchange Online mailboxes Postfix signs in as (sasl_passwd, one per mailbox):")
        for mb, spec in MAILBOXES.items():
            grants = ", ".join(spec["sendas"]) or "nothing else"
            print(f"  {mb:22} may send as itself and {grants}")
        print(f"\nsendas.conf ({stack.conf_path}):")
        with open(stack.conf_path, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("#"):
                    print("  " + line.rstrip())

        # --- 1: with sendas -----------------------------------------------------------
        print("\n" + "=" * WIDTH)
        print("1. Through Postfix WITH sendas-milter (deploy/postfix settings)")
        print("=" * WIDTH)
        with_results = []
        for s in samples:
            with_results.append(stack.submit(s["raw"], s["envelope_sender"],
                                             s["recipients"], s["via"]))
        if not stack.pf.wait_queue_empty(timeout=90):
            problems.append("with sendas: mail still queued after 90 s")
        delivered = {}
        for rec in stack.emu.messages():
            delivered.setdefault(rec["message_id"], rec)
        summary = []
        for i, (s, (state, detail)) in enumerate(zip(samples, with_results), 1):
            print(f"\n[{i}] {s['label']}")
            for line in show_sent(s):
                print(line)
            action, reason = milter_line(stack, stack.pf, s["message_id"])
            if state != "accepted":
                print(wrap("    refused    ", f"by Postfix+sendas while the client was "
                           f"connected: {detail}", 15))
                print("    Exchange Online: never saw it")
                summary.append([s["label"], f"{code_of(detail.split(': ', 1)[-1])} refused at SMTP"])
                if not s.get("expect_reject"):
                    problems.append(f"with sendas: [{i}] refused: {detail}")
                continue
            rec = delivered.get(s["message_id"])
            if rec:
                for line in show_delivered(rec):
                    print(line)
            if action:
                print(wrap("    sendas     ", f"{action}: {reason}", 15))
            status, reply = exo_answer(stack.pf, s["message_id"])
            print(wrap("    Exchange Online: ", f"{reply}", 21))
            summary.append([s["label"], f"{code_of(reply)} {status}"])
            if s.get("expect_reject"):
                problems.append(f"with sendas: [{i}] accepted, expected a refusal")
            elif status != "sent" or not rec:
                problems.append(f"with sendas: [{i}] {status}: {reply}")

        # --- 2: without sendas --------------------------------------------------------
        print("\n" + "=" * WIDTH)
        print("2. The same messages through Postfix WITHOUT sendas (same relay settings, one")
        print("   account: signs in as relay@contoso.com whatever the sender)")
        print("=" * WIDTH)
        plain_results = [stack.submit(s["raw"], s["envelope_sender"], s["recipients"],
                                      s["via"], pf=plain) for s in samples]
        plain.wait_queue_empty(timeout=90)
        print(f"\n {'#':>2}  {'sample':46} Exchange Online (from that instance's maillog)")
        replies = {}
        for i, (s, (state, detail)) in enumerate(zip(samples, plain_results), 1):
            if state != "accepted":
                status, reply = "refused", f"refused by Postfix: {detail}"
            else:
                status, reply = exo_answer(plain, s["message_id"])
            replies.setdefault(code_of(reply), reply)
            print(f" {i:>2}  {s['label'][:46]:46} {code_of(reply)} {status}")
            summary[i - 1].append(f"{code_of(reply)} {status}")
            from_ok = s.get("expect_from_kept")
            if from_ok and status != "sent":
                problems.append(f"without sendas: [{i}] permitted sender not sent: {reply}")
            if not from_ok and not reply.startswith("550 5.7.60"):
                problems.append(f"without sendas: [{i}] expected 550 5.7.60, got {reply}")
        print()
        for code, reply in replies.items():
            print(wrap(f" {code:>10} = ", reply, 14))

        # --- 3: pacing -----------------------------------------------------------------
        pacing_demo(stack, transports, problems)

        # --- summary ------------------------------------------------------------------
        print("\n" + "=" * WIDTH)
        print("Exchange Online's answer")
        print("=" * WIDTH)
        print(f" {'#':>2}  {'sample':46} {'with sendas':26} without sendas")
        for i, (label, with_s, without_s) in enumerate(summary, 1):
            print(f" {i:>2}  {label[:46]:46} {with_s:26} {without_s}")

        # --- doctor -------------------------------------------------------------------
        run_doctor(stack, problems)
    except Exception as e:  # noqa: BLE001 - the demo says what went wrong
        problems.append(f"{type(e).__name__}: {e}")
    finally:
        stack.stop()

    if problems:
        print("\nDEMO FAILED:")
        for p in problems:
            print("  " + p)
    else:
        print("\nDemo OK: with sendas every message Postfix accepted reached Exchange Online "
              "under a permitted sender;\nwithout it, every sender the mailbox may not send "
              "as was refused with 550 5.7.60; a burst left at the mailbox's pace, refused "
              "by nobody.")
    if problems or args.keep:
        print(f"\nKept {tmp}: postfix/maillog, milter.log, postfix-without-sendas/maillog, "
              "emulator/ (what Exchange Online received)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
