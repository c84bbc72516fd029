#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: sendas-milter against a raw milter-protocol peer (tests/lib/miltertalk.py).

Runs sendas-milter directly on a unix socket in a temporary directory and checks:

  1. a malformed macro packet (SMFIC_MACRO for MAIL with an odd number of strings, which
     makes libmilter's smfi_getsymval() read past its array, doc/libmilter-macro-bug.md),
     sent in 40 sessions, neither crashes nor misleads the milter: each MAIL FROM is
     answered with a temporary failure, and the milter is alive afterwards;
  2. a normal message afterwards is still rewritten (SMFIR_CHGFROM to the mailbox);
  3. memory per session is bounded: 20 sessions held open at once, each with 64 From
     headers of 60 KB (up to 16 MB each before), raise the milter's VmRSS by less than
     MAX_GROWTH_MB, and after their messages end the RSS falls back within the bound.

Prints the figures, one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all
pass, 1 otherwise, 77 (automake SKIP) without the binary.  Run from the build directory (or
set BUILDDIR or SENDAS_MILTER).  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from daemonrun import sanitizer_lines, vm_rss_kb, wait_unix  # noqa: E402
from miltertalk import MilterError, MilterSession  # noqa: E402
from stack import checks, e2e_tmpdir, find_milter, report, skip, tail  # noqa: E402

CONF = """\
# sendas.conf written by tests/e2e/test_milter_raw.py
mailbox relay@contoso.com
route * relay@contoso.com
milter_socket unix:{tmp}/milter.sock
socket_group root
"""

SESSIONS_BAD = 40
SESSIONS_BIG = 20
HEADERS_BIG = 64
HEADER_BYTES = 60 * 1024
MAX_GROWTH_MB = 40


def start_session(spec, sender="<nagios@mon01.corp.local>"):
    s = MilterSession(spec)
    s.negotiate()
    s.macro("C", ["j", "relay.test", "{daemon_name}", "smtpd"])
    s.connect_cmd("app.corp.local", "127.0.0.1", 40000)
    return s


def main():
    milter_bin = find_milter()
    if not (os.path.isfile(milter_bin) and os.access(milter_bin, os.X_OK)):
        skip(f"{milter_bin} not built")
    tmp = e2e_tmpdir("raw")
    conf = os.path.join(tmp, "sendas.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(CONF.format(tmp=tmp))
    spec = f"unix:{tmp}/milter.sock"
    log = os.path.join(tmp, "milter.log")
    env = dict(os.environ)
    # ASan keeps freed memory in quarantine (256 MB): RSS would measure the quarantine
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1").lstrip(":")
    results, check = checks()

    proc = None
    try:
        with open(log, "ab") as f:
            proc = subprocess.Popen([milter_bin, "-f", "-c", conf], stdin=subprocess.DEVNULL,
                                    stdout=f, stderr=f, env=env)
        if not wait_unix(f"{tmp}/milter.sock", proc):
            raise RuntimeError("sendas-milter did not start:\n" + tail(log))

        # 1: the odd macro packet
        answers = {}
        for i in range(SESSIONS_BAD):
            try:
                s = start_session(spec)
                s.macro("M", ["{mail_addr}", "nagios@mon01.corp.local", "{auth_type}"])
                cmd, data = s.mail(["<nagios@mon01.corp.local>"])
                key = cmd + (":" + data[:3].decode(errors="replace") if cmd == "y" else "")
                answers[key] = answers.get(key, 0) + 1
                s.close()
            except (OSError, MilterError) as e:
                answers[type(e).__name__] = answers.get(type(e).__name__, 0) + 1
            if proc.poll() is not None:
                break
        time.sleep(0.3)
        alive = proc.poll() is None
        temp = answers.get("t", 0) + answers.get("y:451", 0)
        print(f"# odd macro packet, {SESSIONS_BAD} sessions: answers {answers}, milter alive {alive}"
              f" (exit {proc.returncode})")
        check(alive and temp == SESSIONS_BAD,
              "odd macro packet: every MAIL FROM tempfailed, the milter survives",
              f"answers {answers}, alive {alive}")

        # 2: a normal message afterwards
        s = start_session(spec)
        s.macro("M", ["{mail_addr}", "nagios@mon01.corp.local", "i", "4ABCDEF"])
        mail = s.mail(["<nagios@mon01.corp.local>"])
        s.header("From", "Nagios <nagios@mon01.corp.local>")
        s.header("Subject", "raw")
        s.end_of_headers()
        replies = s.end_of_message()
        s.close()
        chgfrom = [d for c, d in replies if c == "e"]
        check(mail[0] == "c" and chgfrom and b"relay@contoso.com" in chgfrom[0]
              and replies[-1][0] in "ac",
              "a normal message after them is rewritten", f"MAIL {mail[0]!r}, replies "
              f"{[(c, d[:40]) for c, d in replies]}")

        # 3: memory per session
        time.sleep(0.5)
        base = vm_rss_kb(proc.pid)
        value = "Nagios <nagios@mon01.corp.local> " + "x" * (HEADER_BYTES - 40)
        sessions = []
        for i in range(SESSIONS_BIG):
            s = start_session(spec)
            s.mail(["<nagios@mon01.corp.local>"])
            for _ in range(HEADERS_BIG):
                s.header("From", value)
            sessions.append(s)
        time.sleep(0.5)
        held = vm_rss_kb(proc.pid)
        finals = []
        for s in sessions:
            s.end_of_headers()
            finals.append(s.end_of_message()[-1][0])
        time.sleep(0.5)
        after = vm_rss_kb(proc.pid)
        for s in sessions:
            s.close()
        grow_held, grow_after = (held - base) / 1024, (after - base) / 1024
        print(f"# VmRSS: {base / 1024:.1f} MB at rest, {held / 1024:.1f} MB with {SESSIONS_BIG} "
              f"sessions of {HEADERS_BIG} x {HEADER_BYTES // 1024} KB From headers open, "
              f"{after / 1024:.1f} MB after their messages ended")
        check(grow_held < MAX_GROWTH_MB and all(f in "acty" for f in finals),
              f"{SESSIONS_BIG} open sessions with large headers: VmRSS grows less than "
              f"{MAX_GROWTH_MB} MB", f"+{grow_held:.1f} MB; final replies {set(finals)}")
        check(grow_after < MAX_GROWTH_MB,
              "after their messages: VmRSS within the bound", f"+{grow_after:.1f} MB")

        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        san = sanitizer_lines(log)
        check(rc == 0 and not san, "clean stop, no sanitizer report",
              f"exit {rc}; {san[:1]}")
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()

    return report(results, tmp, tails=[("milter log tail", log, 3000)])


if __name__ == "__main__":
    sys.exit(main())
