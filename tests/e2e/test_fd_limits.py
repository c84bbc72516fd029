#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: the daemons at their descriptor limit, and mail flowing after.

Brings up the relay of tests/lib/stack.py (emulator, Postfix with the shipped snippets,
sendas-milter and sendas-policyd) with both daemons started under `prlimit --nofile=64` and
idle_timeout 2, then holds, from this process, 200 idle connections to each daemon's socket
and 20 milter connections that stopped in the middle of a packet (two bytes of a length).

Checks:
  1. while they are held (4 s): each daemon uses less than 0.5 s of CPU (no accept loop
     spinning at EMFILE) and writes less than 20 KB of log (repeated errors are logged once
     per interval with a count);
  2. with the connections still held, a message submitted to Postfix is accepted and
     delivered rewritten (the policy service made room by closing the longest-idle
     connection; the milter ended the silent sessions after idle_timeout);
  3. both daemons are still running and stop cleanly (exit 0, no sanitizer report).

Prints the figures, one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all
pass, 1 otherwise, 77 (automake SKIP) when Postfix, prlimit, root, python3-aiosmtpd or the
binaries are missing.  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from daemonrun import cpu_seconds, sanitizer_lines, wait_delivered  # noqa: E402
from stack import (SENDAS_CONF, Stack, checks, e2e_tmpdir, report,  # noqa: E402
                   require_stack, start_daemon)

PRLIMIT = "/usr/bin/prlimit"
NOFILE = 64
IDLE = 200
STALLED = 20
HOLD = 4.0
SENDER = "nagios@mon01.corp.local"
RECIPIENT = "user@contoso.com"


class LimitedStack(Stack):
    """The stack with both daemons under a low descriptor limit."""

    def start_milter(self, timeout=15):
        self.milter = start_daemon([PRLIMIT, f"--nofile={NOFILE}:{NOFILE}", "--",
                                    self.milter_bin, "-f", "-c", self.conf_path],
                                   self.milter_log, self.milter_port, timeout)
        return self.milter

    def start_policyd(self, timeout=15):
        self.policyd = start_daemon([PRLIMIT, f"--nofile={NOFILE}:{NOFILE}", "--",
                                     self.policyd_bin, "-f", "-c", self.conf_path],
                                    self.policyd_log, self.policy_port, timeout)
        return self.policyd


def hold(port, n, stalled=b""):
    """hold - n connections to 127.0.0.1:port (each sends stalled, if any); the sockets."""
    out = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            if stalled:
                s.sendall(stalled)
            out.append(s)
        except OSError:
            break
    return out


def message(tag):
    return (f"From: Nagios <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: fd {tag}\r\n"
            f"Message-ID: <{tag}@fd-test>\r\n\r\nfd test\r\n").encode()


def main():
    milter_bin = require_stack((PRLIMIT,))
    tmp = e2e_tmpdir("fd")
    stack = LimitedStack(tmp, milter_bin, sendas_conf=SENDAS_CONF + "idle_timeout 2\n")
    results, check = checks()
    held = []

    try:
        stack.start()
        state, detail = stack.submit_smtp(message("before"), SENDER, [RECIPIENT])
        check(state == "accepted" and wait_delivered(stack.emu, b"<before@fd-test>"),
              "before: a message goes through", detail or "")

        procs = {"sendas-milter": (stack.milter, stack.milter_log, stack.milter_port),
                 "sendas-policyd": (stack.policyd, stack.policyd_log, stack.policy_port)}
        cpu0 = {n: cpu_seconds(p.pid) for n, (p, _, _) in procs.items()}
        log0 = {n: os.path.getsize(lg) for n, (_, lg, _) in procs.items()}
        t0 = time.monotonic()
        held += hold(stack.policy_port, IDLE)
        n_policy = len(held)
        held += hold(stack.milter_port, IDLE)
        held += hold(stack.milter_port, STALLED, stalled=b"\0\0")
        time.sleep(max(0.0, HOLD - (time.monotonic() - t0)))
        for name, (p, lg, _) in procs.items():
            cpu = cpu_seconds(p.pid) - cpu0[name]
            grew = os.path.getsize(lg) - log0[name]
            print(f"# {name}: {cpu:.2f} s CPU and {grew} bytes of log in "
                  f"{time.monotonic() - t0:.1f} s holding {len(held)} connections "
                  f"({n_policy} to sendas-policyd)")
            check(cpu < 0.5 and grew < 20000,
                  f"{name} at its descriptor limit: no spinning, no log flood",
                  f"{cpu:.2f} s CPU, {grew} bytes of log")

        state, detail = stack.submit_smtp(message("during"), SENDER, [RECIPIENT])
        rec = wait_delivered(stack.emu, b"<during@fd-test>") if state == "accepted" else None
        check(rec is not None and rec.get("mail_from") == "relay@contoso.com",
              "with the connections still held, a message is accepted and delivered rewritten",
              f"{state} {detail or ''}; delivered as {rec.get('mail_from') if rec else None}")

        alive = stack.milter_running() and stack.policyd.poll() is None
        rc_m, rc_p = stack.stop_milter(), stack.stop_policyd()
        san = sanitizer_lines(stack.milter_log, stack.policyd_log)
        check(alive and rc_m == 0 and rc_p == 0 and not san,
              "both daemons alive and stop cleanly, no sanitizer report",
              f"alive {alive}, exit milter {rc_m} policyd {rc_p}; {san[:1]}")
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        for s in held:
            s.close()
        stack.stop()

    return report(results, tmp, tails=[(f"{os.path.basename(lg)} tail", lg, 2000, 300)
                                       for lg in (stack.milter_log, stack.policyd_log)])


if __name__ == "__main__":
    sys.exit(main())
