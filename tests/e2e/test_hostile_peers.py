#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: both daemons against peers that break their protocols on purpose (issue 9
review: cases the findings' own tests did not try).

Runs sendas-policyd and sendas-milter directly on unix sockets in a temporary directory:

  sendas-policyd
    1. a request of 100,000 attributes, one 1 MB line, a request without its empty line
       then EOF, a NUL byte: each connection is closed, the daemon still answers;
    2. a flood of such connections (FLOOD_S seconds of connect, half a request, close):
       the per-connection complaint is logged at most a few times (rate-limited), not once
       per connection (~7,000 lines a second before), and the daemon still answers;
       a Postfix whose smtpd_recipient_limit is above limit_recipients_per_message (its
       RCPT 501 reaches the policy service): 452, and one warning that names the setting;
  sendas-milter
    3. an oversized packet length, a zero length, a truncated command, an unknown command,
       a header without its NUL, a body chunk of 1 MB (over libmilter's packet cap), a
       negotiation of protocol version 2: the milter stays up and rewrites the next message;
    4. a SIGHUP with sendas.conf broken: both daemons keep running on the configuration they
       had and log the refusal; sendas-policyd then stops on SIGTERM, exit 0, socket removed;
    5. a peer that stops in the middle of DATA holds a SIGTERM for at most STOP_GRACE
       seconds (sendas-milter.c) plus slack: the milter then exits 0 and removes its socket.
Under the sanitizer build, both logs must be free of sanitizer reports.

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) without the binaries.  Run from the build directory (or set
BUILDDIR, SENDAS_MILTER, SENDAS_POLICYD).  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from daemonrun import sanitizer_lines, wait_unix  # noqa: E402
from miltertalk import MilterSession, connect_spec  # noqa: E402
from stack import SKIP, find_milter, find_policyd, report, stop_process, tail  # noqa: E402

CONF = """\
# sendas.conf written by tests/e2e/test_hostile_peers.py
mailbox relay@contoso.com
route * relay@contoso.com
milter_socket unix:{tmp}/milter.sock
policy_socket unix:{tmp}/policy.sock
socket_group root
state_dir {tmp}/state
limit_messages_per_minute 0
"""

REQ = (b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
       b"client_address=127.0.0.1\nsender=a@corp.local\nrecipient=x@contoso.com\ninstance=1\n\n")
FLOOD_S = 2.0
FLOOD_MAX_LINES = 5   # one line, then one per 10 s with the count left out
STOP_GRACE = 30       # sendas-milter.c
RCPT_LIMIT = 500      # limit_recipients_per_message's default
STOP_SLACK = 5


def pk(cmd, data=b""):
    """pk - one milter packet: length, command byte, data."""
    return struct.pack(">I", len(data) + 1) + cmd + data


NEG = pk(b"O", struct.pack(">III", 6, 0x1FF, 0x3FF))
CONN = pk(b"C", b"app\x004\x00\x19127.0.0.1\x00")


def start(argv, log_path):
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS",
                                                       "detect_leaks=1:abort_on_error=1"))
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    finally:
        log.close()


def policy_ask(path, data, shut=False, timeout=5):
    """policy_ask - send data on a new connection; the reply up to its empty line, or what
    happened ("closed", "send: ...", "timeout")."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        # right after a flood the listen queue may still be full: a unix socket with a
        # timeout answers EAGAIN then instead of waiting, so wait here, up to the timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                s.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return "connect: listen queue full"
                time.sleep(0.05)
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            return f"send: {e.strerror}"
        out = b""
        while not out.endswith(b"\n\n"):
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                return "timeout"
            except OSError as e:
                return f"recv: {e.strerror}"
            if not chunk:
                return "closed" if not out else out.decode(errors="replace")
            out += chunk
        return out.decode(errors="replace")


def milter_raw(spec, packets, wait=2.0):
    """milter_raw - send raw packets on a new connection; what came back (bytes, or the error)."""
    s = connect_spec(spec, 5)
    try:
        for p in packets:
            s.sendall(p)
        s.settimeout(wait)
        return s.recv(4096)
    except OSError as e:
        return repr(e)
    finally:
        s.close()


def milter_headers_done(spec):
    """milter_headers_done - a session with one message up to the end of its headers."""
    s = MilterSession(spec)
    s.negotiate()
    s.macro("C", ["j", "relay.test"])
    s.connect_cmd("app.corp.local", "127.0.0.1", 40000)
    s.mail(["<nagios@mon01.corp.local>"])
    s.send("R", b"<oncall@contoso.com>\0")
    s.recv()
    s.header("From", "nagios@mon01.corp.local")
    s.end_of_headers()
    return s


def milter_message(spec):
    """milter_message - one ordinary message; the commands of the end-of-message replies."""
    s = milter_headers_done(spec)
    try:
        return [c for c, _ in s.end_of_message()]
    finally:
        s.close()


def main():
    milter_bin = find_milter()
    policyd_bin = find_policyd(milter_bin)
    for b in (milter_bin, policyd_bin):
        if not os.access(b, os.X_OK):
            print(f"SKIP: {b} not built")
            return SKIP

    tmp = tempfile.mkdtemp(prefix="sendas-hostile-")
    os.chmod(tmp, 0o755)
    conf = os.path.join(tmp, "sendas.conf")
    with open(conf, "w", encoding="ascii") as f:
        f.write(CONF.format(tmp=tmp))
    plog, mlog = os.path.join(tmp, "policyd.log"), os.path.join(tmp, "milter.log")
    psock, msock = os.path.join(tmp, "policy.sock"), os.path.join(tmp, "milter.sock")
    mspec = "unix:" + msock
    results = []

    def check(ok, label, detail=""):
        results.append((bool(ok), label, detail))

    policyd = start([policyd_bin, "-f", "-c", conf], plog)
    milter = start([milter_bin, "-f", "-c", conf], mlog)
    try:
        if not wait_unix(psock, policyd) or not wait_unix(msock, milter):
            check(False, "both daemons start", tail(plog) + tail(mlog))
            return report(results, tmp)

        # 1: oversize and unterminated policy requests
        hostile = [
            ("100,000 attributes",
             b"request=smtpd_access_policy\n" + b"".join(b"a%d=x\n" % i for i in range(100000))
             + b"\n", False),
            ("a 1 MB line", b"request=smtpd_access_policy\nsender=" + b"a" * (1 << 20) + b"\n\n",
             False),
            ("no empty line, then EOF", REQ[:-1], True),
            ("a NUL byte", b"request=smtpd_access_policy\nsender=a\x00b@c\n\n", False),
        ]
        for label, data, shut in hostile:
            got = policy_ask(psock, data, shut)
            check("action=" not in got and policyd.poll() is None,
                  f"sendas-policyd closes on {label}, stays up", got[:60])
        got = policy_ask(psock, REQ)
        check(got.startswith("action="), "sendas-policyd answers after them", got.strip())

        # 2: a flood of half requests is not a flood of log lines
        before = len(tail(plog, 1 << 26).splitlines())
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < FLOOD_S:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(psock)
                try:
                    s.sendall(b"request=smtpd_acc" if n % 2 else b"request=x\n\x00\n\n")
                except OSError:
                    pass
            n += 1
        got = policy_ask(psock, REQ)
        lines = len(tail(plog, 1 << 26).splitlines()) - before
        check(lines <= FLOOD_MAX_LINES and got.startswith("action="),
              f"{n} broken policy connections in {FLOOD_S:.0f} s: at most {FLOOD_MAX_LINES} "
              "log lines, still answering", f"{lines} lines, then {got.strip()!r}")

        # 2b: Postfix passing more recipients than limit_recipients_per_message (its
        # smtpd_recipient_limit set higher): the 452s end the session at its error limit, so
        # the policy service says what to change, once
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(psock)
            replies = []
            for i in range(RCPT_LIMIT + 3):
                s.sendall(REQ.replace(b"recipient=x@", b"recipient=r%d@" % i)
                          .replace(b"instance=1", b"instance=many"))
                out = b""
                while not out.endswith(b"\n\n"):
                    out += s.recv(4096)
                replies.append(out.decode())
        text = tail(plog, 1 << 26)
        warned = [ln for ln in text.splitlines() if "smtpd_recipient_limit" in ln]
        check(all(r.startswith("action=DUNNO") for r in replies[:RCPT_LIMIT]) and
              all("452 4.5.3" in r for r in replies[RCPT_LIMIT:]) and len(warned) == 1,
              f"recipient {RCPT_LIMIT + 1} passed by Postfix: 452 and one warning naming "
              "smtpd_recipient_limit", f"{replies[RCPT_LIMIT].strip()!r}; {warned}")

        # 3: malformed milter packets
        attacks = [
            ("a length of 4 GB", [struct.pack(">I", 0xFFFFFFFF) + b"O"]),
            ("a length of 100 MB after negotiation",
             [NEG, struct.pack(">I", 100 << 20) + b"B" + b"x" * 1000]),
            ("a zero length", [NEG, struct.pack(">I", 0)]),
            ("a truncated command", [NEG, struct.pack(">I", 100) + b"C" + b"abc"]),
            ("an unknown command", [NEG, pk(b"Z", b"hello")]),
            ("a header without NUL", [NEG, CONN, pk(b"M", b"<a@b>\x00"), pk(b"L", b"From")]),
            ("a MAIL without NUL", [NEG, CONN, pk(b"M", b"<a@b>")]),
            ("a body chunk of 1 MB",
             [NEG, CONN, pk(b"M", b"<a@b>\x00"), pk(b"L", b"From\x00a@b\x00"), pk(b"N"),
              pk(b"B", b"x" * (1 << 20)), pk(b"E")]),
            ("body and end of message before MAIL", [NEG, pk(b"B", b"x" * 100), pk(b"E")]),
            ("protocol version 2", [pk(b"O", struct.pack(">III", 2, 0x1FF, 0x3FF))]),
        ]
        for label, packets in attacks:
            milter_raw(mspec, packets)
            check(milter.poll() is None, f"sendas-milter survives {label}")
        try:
            cmds = milter_message(mspec)
        except Exception as e:  # noqa: BLE001 - reported
            cmds = [repr(e)]
        check("e" in cmds and cmds[-1] == "c", "sendas-milter rewrites the next message",
              f"replies {cmds}")

        # 4: a reload that fails (the file broken), then SIGTERM: each daemon keeps the
        # configuration it runs on, then stops cleanly (its socket removed)
        with open(conf, "w", encoding="ascii") as f:
            f.write("this is not sendas.conf\nmailbox\n")
        mark_p, mark_m = len(tail(plog, 1 << 26)), len(tail(mlog, 1 << 26))
        policyd.send_signal(signal.SIGHUP)
        milter.send_signal(signal.SIGHUP)
        time.sleep(1)
        got = policy_ask(psock, REQ)
        try:
            cmds = milter_message(mspec)
        except Exception as e:  # noqa: BLE001 - reported
            cmds = [repr(e)]
        refused = ("reload refused" in tail(plog, 1 << 26)[mark_p:] and
                   "reload refused" in tail(mlog, 1 << 26)[mark_m:])
        check(got.startswith("action=") and "e" in cmds and refused,
              "a broken sendas.conf on SIGHUP: both keep running on the old one, say so",
              f"policyd {got.strip()!r}, milter {cmds}, logged {refused}")
        t0 = time.monotonic()
        rc = stop_process(policyd)
        check(rc == 0 and not os.path.exists(psock),
              "sendas-policyd after the refused reload: SIGTERM, exit 0, socket removed",
              f"exit {rc} in {time.monotonic() - t0:.2f} s")

        # 5: SIGTERM while a peer sits in the middle of DATA
        s = milter_headers_done(mspec)
        s.send("B", b"half a body\r\n")
        s.recv()
        t0 = time.monotonic()
        milter.send_signal(signal.SIGTERM)
        try:
            rc = milter.wait(STOP_GRACE + STOP_SLACK)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        s.sock.close()
        check(rc == 0 and not os.path.exists(msock),
              f"sendas-milter with a peer stalled mid-DATA stops within {STOP_GRACE + STOP_SLACK} s "
              "of SIGTERM, exit 0, socket removed", f"{took:.1f} s, exit {rc}")
    finally:
        stop_process(milter)
        stop_process(policyd)
    bad = sanitizer_lines(plog, mlog)
    check(not bad, "no sanitizer report in either log", "; ".join(bad[:3]))
    return report(results, tmp, lambda failed: print(tail(plog, 3000) + tail(mlog, 3000)))


if __name__ == "__main__":
    sys.exit(main())
