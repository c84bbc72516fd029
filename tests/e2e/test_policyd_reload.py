#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: SIGHUP while sendas-policyd is answering (issue 10 review).

A reload replaces the configuration; requests already gathered for the store's batch point
into the configuration they were decided with (the mailbox and its address).  This test
keeps 12 clients asking (RCPT and END-OF-MESSAGE, so that batches fill) while SIGHUP arrives
every 2 ms for 3 seconds, and checks that the daemon is still running, answered every client
all along, and (in the sanitizer build) that AddressSanitizer reported nothing.  No Postfix:
the clients speak the policy protocol themselves.

Prints one PASS/FAIL line per check, then "N passed, M failed"; exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when the binary is missing.  Run from the build directory (or
set BUILDDIR).
"""

import os
import shutil
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import e2e_tmpdir, free_port, skip, start_daemon, stop_process  # noqa: E402

SENDAS_CONF = """\
# sendas.conf written by tests/e2e/test_policyd_reload.py
mailbox relay@contoso.com
mailbox scanner@contoso.com limit_messages_per_minute 100000
route sender:@printers.corp.local scanner@contoso.com
route sender:@corp.local relay@contoso.com
policy_socket inet:{port}@127.0.0.1
state_dir {state}
limit_messages_per_minute 1000000
limit_recipients_per_day 100000000
"""


def request(stage, sender, instance):
    """request - one policy request"""
    return (f"request=smtpd_access_policy\nprotocol_state={stage}\nprotocol_name=ESMTP\n"
            f"client_address=127.0.0.1\nsender={sender}\nrecipient=ops@example.net\n"
            f"recipient_count=1\ninstance={instance}\nsize=100\n\n").encode()


def client(port, idx, stop, answers, errors):
    """client - ask until stop is set; count the answers"""
    sender = "scan@printers.corp.local" if idx % 2 else "app@corp.local"
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        n = 0
        while not stop.is_set():
            n += 1
            for stage in ("RCPT", "END-OF-MESSAGE"):
                s.sendall(request(stage, sender, f"{idx}.{n}"))
                line = f.readline()
                if not line.startswith(b"action="):
                    errors.append(f"client {idx}: {line!r}")
                    return
                f.readline()  # the empty line
                answers[idx] += 1
        s.close()
    except OSError as e:
        errors.append(f"client {idx}: {e}")


def main():
    builddir = os.environ.get("BUILDDIR") or os.getcwd()
    policyd = os.environ.get("SENDAS_POLICYD") or os.path.join(builddir, "policyd",
                                                                 "sendas-policyd")
    if not os.access(policyd, os.X_OK):
        skip(f"binary not found: {policyd} (set BUILDDIR)")
    tmp = e2e_tmpdir("policyd-reload")
    port = free_port()
    conf, log = os.path.join(tmp, "sendas.conf"), os.path.join(tmp, "policyd.log")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(SENDAS_CONF.format(port=port, state=os.path.join(tmp, "state")))
    os.makedirs(os.path.join(tmp, "state"))
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + ("" if ok else f": {detail}"))

    proc = start_daemon([os.path.abspath(policyd), "-f", "-c", conf], log, port)
    stop, answers, errors = threading.Event(), [0] * 12, []
    threads = [threading.Thread(target=client, args=(port, i, stop, answers, errors))
               for i in range(12)]
    for t in threads:
        t.start()
    hups, end = 0, time.monotonic() + 3
    while time.monotonic() < end and proc.poll() is None:
        proc.send_signal(signal.SIGHUP)
        hups += 1
        time.sleep(0.002)
    before = sum(answers)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(15)
    alive = proc.poll() is None
    rc = stop_process(proc)
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    check(f"sendas-policyd still runs after {hups} SIGHUPs under load", alive, f"exit {rc}")
    check("no AddressSanitizer report", "AddressSanitizer" not in text,
          text[text.find("AddressSanitizer") - 200:][:3000])
    check("every client answered all along", not errors and all(answers) and sum(answers) > before,
          f"{errors[:3]} answers {answers}")
    check("the reloads were applied", text.count("configuration reloaded") > 10,
          f"{text.count('configuration reloaded')} reloads logged")
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    if all(results):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
