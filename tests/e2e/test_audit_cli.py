#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`sendasctl audit` as a user runs it, on constructed logs (no Postfix needed).

Issue 12.10: a 65,535-byte line followed by NUL (and lines around the cap) in the audit log
and in the mail log: no sanitizer report, the lines after it still count.
Issue 12.13: a missing file, a directory, garbage: exit 1 with a reason; unreadable lines are
counted in the report; --since takes 30s/5m/2h/1d/1w and a bad one names the formats.
Issue 12.11: CSV fields that start with = + - @ are neutralised (tab, CR and every other C0 or C1
control character from a log is shown as ? in every format, so no escape code reaches a terminal); the PowerShell advice
single-quotes its arguments; the advice quotes the sendas.conf entry that really permitted the
From (an @domain entry), never an invented line.
Issue 12.12: Postfix's 4.7.x sign-in deferrals and Exchange Online's codes get advice.
Issue 9.6 (journald-only Debian 12): --journal runs journalctl without a shell (a fake
journalctl on PATH records its argv and prints journalctl -o short-iso-precise lines); its
failure and its absence are errors; `journalctl -o json | sendasctl audit --maillog -` works.
With root and unshare(1), a real systemd-journald runs in a private mount namespace (tmpfs over
/run/systemd, /run/log and /var/log, nothing written outside it), Postfix-style lines go to it
with logger(1) on the mail facility, and `sendasctl audit` without --maillog must find them
through the journal, as on Debian 12.

SENDASCTL overrides the binary (to run the test against an older build).
"""

import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import report, skip  # noqa: E402

SAN_MARKS = ("runtime error", "AddressSanitizer", "UndefinedBehaviorSanitizer", "LeakSanitizer")


def iso(t):
    """iso - RFC 3339 UTC with microseconds, as the daemons write the audit log."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def journal_iso(t):
    """journal_iso - journalctl -o short-iso-precise's timestamp ("+0000", no colon)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d+0000" % int((t % 1) * 1e6)


def record(t, qid, env_from, header_from=None, action="kept", mailbox="relay@contoso.com"):
    return json.dumps({"time": iso(t), "component": "sendas-milter", "queue_id": qid,
                       "client_addr": "192.0.2.10", "env_from": env_from,
                       "header_from": header_from or env_from, "mailbox": mailbox,
                       "action": action, "rule": "*", "reason": "test"}) + "\n"


def status(qid, dsn, st, reply, to="ops@contoso.com"):
    """status - the message part of a postfix/smtp delivery line."""
    return (f"{qid}: to=<{to}>, relay=smtp.office365.com[52.97.1.2]:587, delay=1, "
            f"delays=0/0/0.5/0.5, dsn={dsn}, status={st} ({reply})")


def main():
    builddir = os.environ.get("BUILDDIR") or os.getcwd()
    ctl = os.environ.get("SENDASCTL") or os.path.join(builddir, "ctl", "sendasctl")
    if not os.access(ctl, os.X_OK):
        skip(f"sendasctl not found: {ctl} (set BUILDDIR)")
    tmp = tempfile.mkdtemp(prefix="sendas-audit-cli-")
    results = []

    def check(ok, label, detail=""):
        results.append((bool(ok), label, "" if ok else str(detail)[:1500]))

    def path(name, data):
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return p

    def run(*args, env=None, stdin=None, conf=None):
        argv = [ctl, "-c", conf or os.path.join(tmp, "none.conf"), "audit", *args]
        p = subprocess.run(argv, capture_output=True, env=env, input=stdin, timeout=60)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        return p.returncode, out, err

    def clean(err):
        return not any(m in err for m in SAN_MARKS)

    now = time.time() - 60
    good = record(now, "3CFD4A744D0", "billing@contoso.com")

    # --- 12.10: the line reader at and over its cap ------------------------------------------
    over = b"A" * 65535 + b"\0" + b"rest\n"
    for name, data, want in [
            ("65,535 bytes then NUL, then a record", over + good.encode(), 1),
            ("a record of exactly 65,536 bytes is read whole",
             (good[:-2] + " " * (65536 - len(good) + 1) + "}\n").encode(), 1),
            ("65,537 bytes: cut and counted, the next record read", b"{" + b"x" * 65536 + b"\n"
             + good.encode(), 1),
            ("NUL, CR, empty lines, no final newline", b"\0\n\r\n\n" + good.encode()[:-1], 1)]:
        f = path("cap.log", data)
        rc, out, err = run("--log", f, "--no-maillog", "--format", "json")
        try:
            rep = json.loads(out)
        except ValueError:
            rep = {}
        check(clean(err) and rc == 0 and rep.get("records") == want,
              f"12.10 audit log: {name}: exit 0, {want} record, no sanitizer report",
              f"rc {rc} records {rep.get('records')} {err[-600:]}")
    ml = path("cap-mail.log", over + ("Nov 28 05:12:01 relay01 postfix/qmgr[55]: 3CFD4A744D0: "
                                      "removed\n").encode())
    rc, out, err = run("--log", path("one.log", good), "--maillog", ml, "--format", "json")
    check(clean(err) and rc == 0 and json.loads(out or "{}").get("unreadable_maillog_lines") == 1,
          "12.10 mail log: 65,535 bytes then NUL: counted unreadable, no sanitizer report",
          f"rc {rc} {out[:300]} {err[-600:]}")

    # --- 12.13: inputs that are not there or not logs ----------------------------------------
    audit = path("audit.log", good)
    garbage = path("garbage", "this is\nnot a log\n\x00\x01\x02\n")
    for name, args, want in [
            ("missing audit log", ["--log", os.path.join(tmp, "nope.log"), "--no-maillog"],
             "No such file"),
            ("directory as audit log", ["--log", tmp, "--no-maillog"], "is a directory"),
            ("garbage as audit log", ["--log", garbage, "--no-maillog"], "none of its 3 lines"),
            ("missing mail log", ["--log", audit, "--maillog", os.path.join(tmp, "nope")],
             "No such file"),
            ("directory as mail log", ["--log", audit, "--maillog", tmp], "is a directory"),
            ("garbage as mail log", ["--log", audit, "--maillog", garbage], "none of its 3 lines"),
            ("stdin twice", ["--log", "-", "--maillog", "-"], "only once")]:
        rc, out, err = run(*args, stdin=b"")
        check(rc == 1 and want in err, f"12.13 {name}: exit 1, says why", f"rc {rc} {err}")
    gz = gzip.compress("".join("Nov 28 05:12:01 relay01 postfix/qmgr[55]: ABCDE%05d: removed\n"
                               % i for i in range(3000)).encode())
    rc, out, err = run("--log", audit, "--maillog", path("cut.gz", gz[:len(gz) // 2]))
    check(rc == 1 and err.count("truncated compressed file") == 1,
          "12.13 a .gz cut short: exit 1, said once", f"rc {rc} {err}")
    rc, out, err = run("--log", path("empty.log", ""), "--no-maillog")
    check(rc == 0 and "empty" in err, "12.13 an empty audit log: exit 0 with a warning",
          f"rc {rc} {err}")
    mixed = path("mixed.log", "garbage\n" + good + "{\"time\": 1}\n")
    rc, out, err = run("--log", mixed, "--no-maillog")
    check(rc == 0 and "2 audit log lines and 0 mail log lines unreadable" in out
          and "2 audit log lines unreadable" in err,
          "12.13 the count of unreadable lines is printed (report and stderr)", f"{out} {err}")
    for when in ("5m", "30s", "2h", "1d", "1w", "2026-11-28", "2026-11-28T05:00:00Z"):
        rc, out, err = run("--log", audit, "--no-maillog", "--since", when)
        check(rc == 0, f"12.13 --since {when} accepted", f"rc {rc} {err}")
    rc, out, err = run("--log", audit, "--no-maillog", "--since", "5x")
    check(rc == 2 and "5m" in err and "RFC 3339" in err,
          "12.13 --since 5x refused, naming the accepted formats", err)
    rc, out, err = run("--log", audit, "--no-maillog", "--since", "1m", "--format", "json")
    check(rc == 0 and json.loads(out)["records"] == 0 and "no audit record" in err,
          "12.13 --since 1m leaves out the record of 60 s ago (and says nothing was found)",
          f"{out[:200]} {err}")

    # --- 12.11: CSV injection, PowerShell quoting, the real sendas.conf entry -----------------
    evil = ["=HYPERLINK(\"http://x\")@corp.local", "+1@corp.local", "-2@corp.local",
            "@sum@corp.local", "\tx@corp.local", "\rx@corp.local"]
    lines = "".join(record(now + i, f"ABCDE1234{i}", e) for i, e in enumerate(evil))
    rc, out, err = run("--log", path("evil.log", lines), "--no-maillog", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    senders = {r["sender"] for r in rows}
    # a tab or CR never reaches a report (it is shown as ?): no formula either way
    check(rc == 0 and senders == {"'" + e for e in evil[:4]} | {"?x@corp.local"},
          "12.11 CSV: fields starting with = + - @ get a ' (and quotes); tab and CR become ?",
          senders)
    check(all(f'"\'{e}"' in out for e in evil[:4] if "\"" not in e),
          "12.11 CSV: a neutralised field is quoted", out[:400])
    conf = path("sendas.conf", "mailbox relay@contoso.com sendas @contoso.com\n"
                "route * relay@contoso.com\n")
    ps_from = "x$(Stop-Computer)@contoso.com"
    lines = record(now, "4A1B2C3D4E", ps_from)
    ml = path("ps-mail.log", "%s relay01 postfix/smtp[1]: %s\n" % (
        journal_iso(now + 1), status("4A1B2C3D4E", "5.7.60", "bounced",
                                     "host smtp.office365.com[52.97.1.2] said: 550 5.7.60 SMTP; "
                                     "Client does not have permissions to send as this sender")))
    rc, out, err = run("--log", path("ps.log", lines), "--maillog", ml, "--format", "json",
                       conf=conf)
    try:
        adv = json.loads(out)["senders"][0]["upstream"][0].get("advice", "")
    except (ValueError, IndexError, KeyError):
        adv = f"no advice: {out[:300]} {err}"
    check("-Identity 'x$(Stop-Computer)@contoso.com' -Trustee 'relay@contoso.com'" in adv,
          "12.11 PowerShell advice: arguments single-quoted", adv)
    check("\"@contoso.com\" from the sendas list of mailbox relay@contoso.com (sendas.conf line 1"
          in adv and f"sendas {ps_from}" not in adv,
          "12.11 the advice quotes the @domain entry that permitted the From", adv)
    # the sendas.conf read now has no entry that permits the From (changed since?): the advice
    # names none instead of one that does not exist
    rc, out, err = run("--log", path("ps.log", lines), "--maillog", ml, "--format", "json",
                       conf=path("nosendas.conf", "mailbox relay@contoso.com\n"
                                 "route * relay@contoso.com\n"))
    try:
        adv = json.loads(out)["senders"][0]["upstream"][0].get("advice", "")
    except (ValueError, IndexError, KeyError):
        adv = f"no advice: {out[:300]} {err}"
    check(f"remove {ps_from} from the sendas list" not in adv and "has none now" in adv,
          "12.11 with no entry in sendas.conf permitting the From, the advice invents none", adv)
    # no sendas.conf at all: the advice asks for the entry, whichever it is
    rc, out, err = run("--log", path("ps.log", lines), "--maillog", ml, "--format", "json",
                       conf=os.path.join(tmp, "missing.conf"))
    try:
        adv = json.loads(out)["senders"][0]["upstream"][0].get("advice", "")
    except (ValueError, IndexError, KeyError):
        adv = f"no advice: {out[:300]} {err}"
    check(f"remove the entry that permits {ps_from} (the address or its @domain) from the "
          "sendas list of mailbox relay@contoso.com in sendas.conf." in adv,
          "12.11 without a sendas.conf, the advice asks for the entry that permits the From", adv)


    # --- review of 12.3/12.11: no escape code from a log reaches the terminal or a CSV ----------
    # (the audit log keeps what a client sent, JSON-escaped; a mail log read from the journal
    # or a file may hold anything): C0 controls, DEL and C1 controls (UTF-8 C2 80-9F, CSI is
    # C2 9B) in the sender, the From, the mailbox, the client, the reason and the reply
    esc, csi = "\x1b]0;pwned\x07\x1b[31m", "\u009b31m\u0085"
    lines = json.dumps({"time": iso(now), "component": "sendas-milter", "queue_id": "5E5C0DE0A1",
                        "client_addr": "192.0.2.10" + esc, "env_from": "x" + esc + csi + "@corp.local",
                        "header_from": "y" + csi + "@corp.local", "mailbox": "relay@contoso.com",
                        "action": "kept", "rule": "*", "reason": "test"}) + "\n"
    lines += json.dumps({"time": iso(now), "component": "sendas-milter", "queue_id": "NOQUEUE",
                         "client_addr": "192.0.2.11", "env_from": "z@corp.local",
                         "header_from": "z@corp.local", "mailbox": "relay@contoso.com",
                         "action": "refused", "rule": "*", "reason": "r" + esc + csi}) + "\n"
    ml = path("esc-mail.log", ("%s relay01 postfix/smtp[1]: %s\n" % (
        journal_iso(now + 1), status("5E5C0DE0A1", "5.7.60", "bounced",
                                     "host x said: 550 5.7.60 SMTP; " + esc + csi + " denied")))
              .encode())
    for fmt in ("table", "csv"):
        rc, out, err = run("--log", path("esc.log", lines), "--maillog", ml, "--format", fmt)
        bad = [c for c in out if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f]
        check(rc == 0 and not bad and "x?" in out and "y?" in out,
              f"escape codes from the logs never reach the {fmt} output (C0, DEL, C1)",
              f"rc {rc} {sorted(set(map(hex, map(ord, bad))))} {out[-600:]!r}")

    # --- 12.12: deferrals and Exchange Online's codes get advice ------------------------------
    codes = [
        ("4.7.3", "deferred", "SASL authentication failed; server smtp.office365.com[52.97.1.2] "
         "said: 535 5.7.3 Authentication unsuccessful", "sasl_passwd"),
        ("4.7.0", "deferred", "SASL authentication failed; cannot authenticate to server "
         "smtp.office365.com[52.97.1.2]: generic failure", "sendasctl token"),
        ("4.7.139", "deferred", "SASL authentication failed; server smtp.office365.com[52.97.1.2] "
         "said: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
         "the Tenant.", "-SmtpClientAuthenticationDisabled $false"),
        ("5.2.252", "bounced", "host smtp.office365.com[52.97.1.2] said: 554 5.2.252 SendAsDenied; "
         "relay@contoso.com not allowed to send as x@contoso.com", "continuous error throttling"),
        ("4.7.66", "deferred", "host smtp.office365.com[52.97.1.2] said: 421 4.7.66 TLS 1.0 and "
         "1.1 are not supported.", "TLSv1.2"),
        ("5.7.233", "bounced", "host smtp.office365.com[52.97.1.2] said: 550 5.7.233 your tenant "
         "has exceeded its daily limit for sending email to external recipients",
         "external recipients"),
        # review: sign-in and TLS failures Postfix defers (smtp_sasl_auth_soft_bounce = yes;
        # a TLS failure is always a deferral)
        ("4.5.127", "deferred", "SASL authentication failed; server smtp.office365.com[52.97.1.2] "
         "said: 501 5.5.127 Invalid XOAUTH2 auth data - Token will expire soon",
         "token_refresh_margin"),
        ("4.7.5", "deferred", "Cannot start TLS: handshake failure", "smtp_tls_CAfile"),
        ("4.7.4", "deferred", "TLS is required, but was not offered by host "
         "smtp.office365.com[52.97.1.2]", "STARTTLS"),
    ]
    lines, mlines = "", ""
    for i, (dsn, st, reply, _) in enumerate(codes):
        qid = f"C0DE{i:06d}"
        lines += record(now + i, qid, f"s{i}@corp.local")
        mlines += "%s relay01 postfix/smtp[1]: %s\n" % (journal_iso(now + i + 0.5),
                                                       status(qid, dsn, st, reply))
    rc, out, err = run("--log", path("codes.log", lines), "--maillog", path("codes-mail", mlines),
                       "--format", "json")
    got = {}
    for s in json.loads(out or '{"senders": []}')["senders"]:
        for u in s["upstream"]:
            got[u["dsn"]] = u.get("advice", "")
    for dsn, _, _, want in codes:
        check(want in got.get(dsn, ""), f"12.12 advice for {dsn}", got.get(dsn, "none"))

    # --- 9.6: the journal -------------------------------------------------------------------
    fakebin = os.path.join(tmp, "bin")
    os.mkdir(fakebin)
    argv_file = os.path.join(tmp, "journalctl.argv")
    jlines = "%s relay01 postfix/smtp[123]: %s\n%s relay01 postfix/qmgr[55]: 3CFD4A744D0: " \
             "removed\n" % (journal_iso(now + 1), status(
                 "3CFD4A744D0", "5.7.60", "bounced", "host smtp.office365.com[52.97.1.2] said: "
                 "550 5.7.60 SMTP; Client does not have permissions to send as this sender"),
                 journal_iso(now + 2))
    path("journal.out", jlines)
    fake = path("bin/journalctl", "#!/bin/sh\n"
                f"for a in \"$@\"; do printf '%s\\n' \"$a\"; done > {argv_file}\n"
                f"[ -n \"$FAKE_EMPTY\" ] || cat {os.path.join(tmp, 'journal.out')}\n"
                "exit ${FAKE_RC:-0}\n")
    os.chmod(fake, 0o755)
    env = dict(os.environ, PATH=fakebin + ":/usr/bin:/bin")
    rc, out, err = run("--log", audit, "--journal", "--since", "1h", "--format", "json", env=env)
    try:
        rep = json.loads(out)
        ups = rep["senders"][0]["upstream"]
    except (ValueError, IndexError, KeyError):
        rep, ups = {}, []
    argv = []
    if os.path.exists(argv_file):
        with open(argv_file) as f:
            argv = f.read().splitlines()
    check(rc == 0 and rep.get("matched") == 1 and ups and ups[0]["dsn"] == "5.7.60",
          "9.6 --journal: journalctl's short-iso-precise lines matched to the audit record",
          f"rc {rc} {out[:300]} {err}")
    check("SYSLOG_FACILITY=2" in argv and "--output=short-iso-precise" in argv
          and any(a.startswith("--since=@") for a in argv) and "--no-pager" in argv,
          "9.6 --journal: journalctl run with the mail facility, short-iso-precise, --since", argv)
    rc, out, err = run("--log", audit, "--journal", env=dict(env, FAKE_RC="1"))
    check(rc == 1 and "journalctl failed" in err, "9.6 --journal: journalctl failing is an error",
          f"rc {rc} {err}")
    rc, out, err = run("--log", audit, "--journal", env=dict(env, FAKE_EMPTY="1"))
    check(rc == 0 and "has no mail log lines" in err,
          "9.6 --journal, nothing in the journal: exit 0, with a warning", f"rc {rc} {err}")
    rc, out, err = run("--log", audit, "--journal", "--maillog", audit, env=env)
    check(rc == 1 and "not both" in err, "9.6 --journal with --maillog: refused", f"rc {rc} {err}")
    nobin = os.path.join(tmp, "nobin")
    os.mkdir(nobin)
    rc, out, err = run("--log", audit, "--journal", env=dict(os.environ, PATH=nobin))
    check(rc == 1 and "journalctl is not installed" in err,
          "9.6 --journal without journalctl: exit 1, says what to do", f"rc {rc} {err}")
    jjson = "".join(json.dumps({
        "__REALTIME_TIMESTAMP": str(int((now + 1 + i) * 1e6)), "SYSLOG_IDENTIFIER": ident,
        "SYSLOG_FACILITY": "2", "_HOSTNAME": "relay01", "MESSAGE": msg}) + "\n"
        for i, (ident, msg) in enumerate([
            ("postfix/smtp", status("3CFD4A744D0", "5.7.60", "bounced",
                                    "host smtp.office365.com[52.97.1.2] said: 550 5.7.60 SMTP; "
                                    "Client does not have permissions to send as this sender")),
            ("postfix/qmgr", "3CFD4A744D0: removed")]))
    rc, out, err = run("--log", audit, "--maillog", "-", "--format", "json",
                       stdin=jjson.encode())
    check(rc == 0 and json.loads(out or "{}").get("matched") == 1,
          "9.6 journalctl -o json | sendasctl audit --maillog -", f"rc {rc} {out[:300]} {err}")

    real_journald(tmp, ctl, now, results, check, good, audit)
    return report(results, tmp)


JOURNALD_SCRIPT = r"""
set -e
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/systemd/journal
mkdir -p /run/log
mount -t tmpfs tmpfs /run/log
mount -t tmpfs tmpfs /var/log   # hides a /var/log/mail.log, as on a journald-only Debian 12
/lib/systemd/systemd-journald &
jpid=$!
i=0
while [ ! -S /run/systemd/journal/dev-log ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
logger --socket /run/systemd/journal/dev-log -p mail.info -t postfix/smtp --id=4242 "$LINE1"
logger --socket /run/systemd/journal/dev-log -p mail.info -t postfix/qmgr --id=4243 "$LINE2"
logger --socket /run/systemd/journal/dev-log -p user.info -t postfix/smtp --id=4244 "$LINE3"
sleep 1
set +e
journalctl --quiet --no-pager -o short-iso SYSLOG_FACILITY=2 > "$TMP/journal-short-iso.txt"
"$CTL" -c "$TMP/none.conf" audit --log "$AUDIT" --format json > "$TMP/journal-report.json" \
    2> "$TMP/journal-report.err"
echo $? > "$TMP/journal-report.rc"
kill $jpid
wait $jpid 2>/dev/null
exit 0
"""


def real_journald(tmp, ctl, now, results, check, good, audit):
    """real_journald - sendasctl audit without --maillog on a journald-only system (see above)."""
    journald = "/lib/systemd/systemd-journald"
    if os.geteuid() != 0 or not shutil.which("unshare") or not os.access(journald, os.X_OK) \
            or not shutil.which("logger") or not shutil.which("journalctl"):
        print("SKIP: no root, unshare, systemd-journald, logger or journalctl: the real "
              "journald case did not run")
        return
    t = time.time()
    qid = "5EA1A0B0C0D"
    with open(audit, "a") as f:
        f.write(record(t - 2, qid, "journal@contoso.com"))
    env = dict(os.environ, TMP=tmp, CTL=ctl, AUDIT=audit,
               LINE1=status(qid, "5.7.60", "bounced", "host smtp.office365.com[52.97.1.2] said: "
                            "550 5.7.60 SMTP; Client does not have permissions to send as this "
                            "sender (in reply to end of DATA command)"),
               LINE2=f"{qid}: removed",
               LINE3=status("BADFAC111", "5.7.60", "bounced", "not the mail facility"))
    script = os.path.join(tmp, "journald.sh")
    with open(script, "w") as f:
        f.write(JOURNALD_SCRIPT)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", script], env=env,
                       capture_output=True, text=True, timeout=60)
    rcfile = os.path.join(tmp, "journal-report.rc")
    if p.returncode != 0 or not os.path.exists(rcfile):
        print(f"SKIP: journald could not run in a private mount namespace: {p.stderr[-300:]}")
        return
    with open(rcfile) as f:
        rc = int(f.read().strip() or -1)
    with open(os.path.join(tmp, "journal-report.json")) as f:
        out = f.read()
    with open(os.path.join(tmp, "journal-report.err")) as f:
        err = f.read()
    with open(os.path.join(tmp, "journal-short-iso.txt")) as f:
        print("journalctl -o short-iso (real journald):\n" + f.read())
    try:
        rep = json.loads(out)
        s = [x for x in rep["senders"] if x["sender"] == "journal@contoso.com"][0]
    except (ValueError, IndexError, KeyError):
        rep, s = {}, {"upstream": []}
    check(rc == 0 and any(u["dsn"] == "5.7.60" and u["count"] == 1 and "Add-RecipientPermission"
                          in u.get("advice", "") for u in s["upstream"])
          and rep.get("unreadable_maillog_lines") == 0,
          "9.6 real journald, no /var/log/mail.log: sendasctl audit reads the journal by default "
          "(mail facility only) and matches Exchange Online's answer",
          f"rc {rc} {out[:600]} {err}")


if __name__ == "__main__":
    sys.exit(main())
