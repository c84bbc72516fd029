#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: the audit log and `sendasctl audit` against a real Postfix and the emulator.

The private relay (tests/lib/stack.py: emulator, sendas-milter, sendas-policyd, Postfix) gets a
sendas.conf with `audit_log` and with SendAs grants for billing@ and hr@contoso.com that the
emulator's relay@contoso.com does NOT have: the milter keeps those From addresses and Exchange
Online (the emulator) answers 550 5.7.60 at the end of DATA.  A mix of messages is sent:
rewritten senders, kept-and-permitted, kept-and-refused upstream, one refused by a reject
route.  Then `sendasctl audit --log AUDIT --maillog MAILLOG` must name every refused sender
with Exchange Online's code and the advice, and every rewritten sender (table, JSON, CSV).
The HTML page is rendered in headless Chromium (412x915, a phone): the screenshot is kept in
BUILDDIR/tests/artifacts/audit.png, --dump-dom must show the sender rows, and the browser log
must show no console error.  Exit 77 (SKIP) without Postfix/root, or without chromium (after
the report checks).
"""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import (SENDAS_CONF, SKIP, Stack, e2e_tmpdir, find_milter, prerequisites,  # noqa: E402
                   skip, tail)

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# (envelope sender, From, expectation)
MIX = [
    ("nagios@mon01.corp.local", "Nagios <nagios@mon01.corp.local>", "rewritten"),
    ("cron@erp.corp.local", "cron@erp.corp.local", "rewritten"),
    ("scan@printers.corp.local", "Scanner <scan@printers.corp.local>", "rewritten"),
    ("alerts@contoso.com", "Alerts <alerts@contoso.com>", "kept"),
    ("billing@contoso.com", "Billing <billing@contoso.com>", "refused-upstream"),
    ("hr@contoso.com", "HR <hr@contoso.com>", "refused-upstream"),
    ("blocked@legacy.local", "blocked@legacy.local", "refused-here"),
]


def message(sender, frm, i):
    return (f"From: {frm}\r\nTo: ops@contoso.com\r\nSubject: audit test {i}\r\n"
            f"Message-ID: <audit-{i}@test.invalid>\r\nDate: Sat, 28 Nov 2026 05:00:00 +0000\r\n"
            f"\r\nbody {i}\r\n").encode()


def main():
    milter = find_milter()
    builddir = os.environ.get("BUILDDIR") or os.getcwd()
    ctl = os.environ.get("SENDASCTL") or os.path.join(builddir, "ctl", "sendasctl")
    why = prerequisites(milter)
    if why:
        skip(why)
    if not os.access(ctl, os.X_OK):
        skip(f"sendasctl not found: {ctl} (set BUILDDIR)")

    tmp = e2e_tmpdir("audit-e2e")
    audit_log = os.path.join(tmp, "audit.log")
    conf = SENDAS_CONF.replace(
        "mailbox relay@contoso.com sendas ",
        "mailbox relay@contoso.com sendas billing@contoso.com hr@contoso.com ")
    conf += f"audit_log {audit_log}\n"
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + ("" if ok else f": {detail}"))

    stack = Stack(tmp, milter, sendas_conf=conf)
    report = {}
    try:
        stack.start()
        n = 0
        for rep in range(2):
            for sender, frm, _ in MIX:
                n += 1
                stack.submit_smtp(message(sender, frm, n), sender, ["ops@contoso.com"])
        stack.pf.wait_queue_empty(90)
        time.sleep(1)

        # logrotate: rename, SIGHUP both daemons, the next records go to a new file
        rotated = audit_log + ".1"
        os.rename(audit_log, rotated)
        for proc in (stack.milter, stack.policyd):
            proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        n += 1
        sender, frm, _ = MIX[0]
        stack.submit_smtp(message(sender, frm, n), sender, ["ops@contoso.com"])
        stack.pf.wait_queue_empty(90)
        time.sleep(1)
        try:
            with open(audit_log, encoding="utf-8") as f:
                fresh = [json.loads(ln) for ln in f]
        except OSError as e:
            fresh = [repr(e)]
        check("SIGHUP reopens the audit log: the message after rotation is in the new file",
              {r.get("component") for r in fresh if isinstance(r, dict)}
              == {"sendas-milter", "sendas-policyd"}
              and all(r.get("message_id") in (None, f"<audit-{n}@test.invalid>")
                      for r in fresh), fresh)
        maillog = stack.pf.maillog_path

        def audit(fmt):
            # the rotated file is given last: files are read oldest first whatever the order
            # -c: the advice quotes the sendas.conf entry that permitted the From
            p = subprocess.run([ctl, "-c", stack.conf_path, "audit", "--log", audit_log,
                                "--log", rotated, "--maillog", maillog, "--format", fmt],
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                raise RuntimeError(f"sendasctl audit --format {fmt}: {p.returncode} {p.stderr}")
            return p.stdout

        # every audit line is whole JSON (milter and policyd wrote the same file)
        with open(rotated, encoding="utf-8") as f:
            lines = f.read().splitlines()
        bad = [ln for ln in lines if not ln.startswith("{") or not json.loads(ln)]
        comps = {json.loads(ln).get("component") for ln in lines}
        check("audit log: whole JSON lines from sendas-milter and sendas-policyd",
              lines and not bad and comps >= {"sendas-milter", "sendas-policyd"},
              f"{len(lines)} lines, components {comps}, bad {bad[:2]}")

        table = audit("table")
        print(table)
        report = json.loads(audit("json"))
        senders = {s["sender"]: s for s in report["senders"]}
        for sender, frm, want in MIX:
            s = senders.get(sender)
            if s is None:
                check(f"{sender} in the report", False, list(senders))
                continue
            if want == "rewritten":
                extra = 1 if sender == MIX[0][0] else 0  # the message after rotation
                check(f"{sender}: rewritten {2 + extra}, delivered",
                      s["rewritten"] == 2 + extra and any(u["status"] == "sent" for u in s["upstream"]),
                      s)
            elif want == "kept":
                # From kept; the envelope still moves to the mailbox, so the engine calls it
                # "rewritten" unless nothing changed at all
                check(f"{sender}: From kept (2 messages), delivered",
                      s["messages"] == 2 and s["kept"] + s["rewritten"] == 2
                      and any(u["status"] == "sent" for u in s["upstream"]), s)
            elif want == "refused-upstream":
                ups = [u for u in s["upstream"] if u["dsn"] == "5.7.60"]
                adv = (f"Add-RecipientPermission -Identity '{sender}' "
                       "-Trustee 'relay@contoso.com'")
                entry = f'remove "{sender}" from the sendas list of mailbox relay@contoso.com ' \
                        "(sendas.conf line "
                check(f"{sender}: passed here, Exchange Online answered 550 5.7.60 twice, advice",
                      s["messages"] == 2 and ups and ups[0]["status"] == "bounced"
                      and ups[0]["count"] == 2 and ups[0]["code"] == "550"
                      and adv in ups[0].get("advice", "")
                      and entry in ups[0]["advice"]
                      and "continuous error throttling" in ups[0]["advice"], s)
                check(f"{sender}: the table names it with 5.7.60 and the advice",
                      any(sender in ln and "5.7.60" in ln for ln in table.splitlines())
                      and adv in table, "")
            elif want == "refused-here":
                check(f"{sender}: refused here with the reason",
                      s["refused_here"] == 2 and any("rejected" in r["reason"]
                                                     for r in s["refusals"]), s)
        rows = list(csv.DictReader(io.StringIO(audit("csv"))))
        check("CSV: a row per sender and answer, 5.7.60 rows carry the advice",
              {r["sender"] for r in rows} >= {m[0] for m in MIX}
              and all("Add-RecipientPermission" in r["advice"] for r in rows
                      if r["exo_dsn"] == "5.7.60"), rows[:3])

        html = audit("html")
        artifacts = os.path.join(builddir, "tests", "artifacts")
        os.makedirs(artifacts, exist_ok=True)
        page = os.path.join(artifacts, "audit.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write(html)
        check("HTML: self-contained (no external assets, inline SVG)",
              "<svg" in html and "http://" not in html and "https://" not in html
              and "<script" not in html, "")
        if not os.access(CHROMIUM, os.X_OK):
            print(f"SKIP: chromium not installed ({CHROMIUM}): the page was not rendered")
            return 1 if not all(results) else SKIP
        profile = tempfile.mkdtemp(prefix="sendas-chromium-")
        flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 "--window-size=412,915"]
        shot = os.path.join(artifacts, "audit.png")
        if os.path.exists(shot):
            os.unlink(shot)
        p = subprocess.run(flags + ["--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                                    "file://" + page], capture_output=True, text=True,
                           timeout=120)
        console = [ln for ln in p.stderr.splitlines() if "CONSOLE" in ln]
        check("Chromium: screenshot written, no console errors",
              p.returncode == 0 and os.path.getsize(shot) > 1000 and not console,
              f"rc {p.returncode} console {console} {p.stderr[-1500:]}")
        print(f"screenshot: {shot}")
        p = subprocess.run(flags + ["--dump-dom", "file://" + page], capture_output=True,
                           text=True, timeout=120)
        dom = p.stdout
        check("Chromium: the rendered DOM has a row for every sender, and the advice",
              all(f"<td>{m[0]}</td>" in dom for m in MIX)
              # + 1: Postfix's notices of the 5.7.60 refusals (sender <>) pass the milter too
              and dom.count('class="sender"') == len(MIX) + 1 and "Add-RecipientPermission" in dom,
              dom[-800:])
        shutil.rmtree(profile, ignore_errors=True)
    except Exception as e:  # noqa: BLE001
        check("run", False, repr(e))
    finally:
        stack.stop()
    ok = results and all(results)
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}\nmilter log:\n{tail(stack.milter_log)}\nmaillog tail:\n"
              f"{tail(os.path.join(tmp, 'postfix', 'maillog'))}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
