#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sendasctl quota on the Redis store with a mailbox declared in mixed case (issue 10 review).

The counters are keyed by the mailbox in lower case (two relays whose sendas.conf spell it
differently share one counter), so sendasctl quota must find the declared mailbox whatever
its spelling: its own limits, not "no longer declared" with the global ones.  A private
redis-server on a unix socket holds one mailbox's hash as sendas-policyd writes it.

Prints one PASS/FAIL line per check, then "N passed, M failed"; exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when redis-server or sendasctl is missing.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("BUILDDIR") or os.getcwd()
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import report, stop_process  # noqa: E402

SENDASCTL = os.path.join(BUILDDIR, "ctl", "sendasctl")
REDIS = "/usr/bin/redis-server"


def resp(sock, *args):
    """resp - one command over RESP; the first line of the reply"""
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return sock.recv(65536).split(b"\r\n")[0].decode()


def main():
    if not os.access(SENDASCTL, os.X_OK) or not os.access(REDIS, os.X_OK):
        print("SKIP: sendasctl or redis-server missing")
        return 77
    tmp = tempfile.mkdtemp(prefix="sendasctl-quota-case-")
    results = []

    def check(label, ok, detail=""):
        results.append((bool(ok), label, "" if ok else detail))

    sock_path = os.path.join(tmp, "redis.sock")
    with open(os.path.join(tmp, "redis.log"), "ab") as log:
        redis = subprocess.Popen([REDIS, "--port", "0", "--unixsocket", sock_path, "--dir", tmp,
                                  "--save", "", "--appendonly", "no"],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        for _ in range(100):
            if os.path.exists(sock_path):
                break
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock_path)
        now = int(time.time() * 1000)
        m, r = now // 1000, now // 60000
        # one message and 3 recipients now, as sendas-policyd's script leaves them
        resp(s, "HSET", "sendas:{scanner@contoso.com}", f"m{m}", 1, f"r{r}", 3, "mh", m,
             "mt", 1, "rh", r, "rt", 3)
        s.close()
        conf = os.path.join(tmp, "t.conf")
        with open(conf, "w", encoding="ascii") as f:
            f.write("mailbox Scanner@contoso.com limit_messages_per_minute 60\n"
                    "route * Scanner@contoso.com\nstore redis\n"
                    f"redis_address unix:{sock_path}\nstate_dir {tmp}/state\n"
                    "limit_headroom 100\n")
        os.makedirs(os.path.join(tmp, "state"))
        p = subprocess.run([SENDASCTL, "-c", conf, "quota"], capture_output=True, text=True,
                           timeout=30)
        out = p.stdout + p.stderr
        check("quota finds Scanner@contoso.com's counters under their lower-case key",
              p.returncode == 0 and "no longer declared" not in out, out)
        check("with its own limit (1/60, own) and the recipients counted (3/10000)",
              "1/60 (100% of 60, own)" in out and "3/10000" in out, out)
        check("one block for the mailbox, not a second empty one for the declared spelling",
              out.lower().count("scanner@contoso.com\n") == 1, out)
    finally:
        stop_process(redis)
    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
