#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""policy-bench - sendas-policyd against postfwd2 on the same policy-protocol load, in one run.

    sudo /usr/bin/python3 bench/policy-bench.py --build-dir BUILD [--seconds 10] [--rounds 3]
         [--conns 8] [--no-redis] [--keep]

A benchmark, not a test: it prints figures and fails only when a service is broken (a failed
request, or a service that does not start).

Both services get the same rules, written for each one's configuration language:
    sender blocked@legacy.local             -> 550 5.7.1 (a reject route)
    sender outside @corp.local              -> 550 5.7.1 (no route covers it)
    @corp.local, per mailbox: 27 messages per minute and 9000 recipients per 24 hours
    (Exchange Online's 30 and 10,000 at 90% headroom), 500 recipients per message, 35 MiB.
sendas-policyd: BUILD/policyd/sendas-policyd -f with that sendas.conf (its defaults are these
limits), once with the SQLite store (the default) and once with `store redis` on a private
redis-server (a unix socket in the temporary directory, no persistence; issue 10): every
routed request is then one EVALSHA round trip to Redis.  --no-redis leaves that one out
(also when redis-server is not installed).  postfwd2 (Debian package postfwd, pre-forking Perl, default 10 children): the same
as rules, rate()/rcpt() keyed by sender_domain (one domain, one mailbox here), counted at
END-OF-MESSAGE as postfwd's manual recommends, --perfmon (no logging: its fastest mode; sendas-
policyd logs its refusals).  postfwd2 cannot stay in the foreground in network mode: it is
started with a pid file in the temporary directory and stopped with `postfwd2 --kill`.

The load (bench/policy-load.c, compiled into the temporary directory with cc -O2): 8 persistent
TCP connections on 127.0.0.1, one RCPT-stage request in flight on each, every attribute Postfix
3.7 sends, a new recipient and instance each time, senders 90% routed / 5% unrouted / 5% rejected.
Each round runs the load against both services (order alternating between rounds), SECONDS
each after one second of warm-up.  The summary gives per service the median over rounds of
requests/s, p50 and p99 latency, and the failures and reconnections summed.

Needs root only for nothing in particular (runs as any user that can run both daemons);
loopback only.  Everything is removed at exit unless --keep.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SENDAS_CONF = """\
mailbox relay@contoso.com
route sender:blocked@legacy.local reject
route sender:@corp.local relay@contoso.com
policy_socket inet:{port}@127.0.0.1
state_dir {state}
limit_messages_per_minute 30
limit_recipients_per_day 10000
limit_recipients_per_message 500
limit_message_size 36700160
limit_headroom 90
"""

POSTFWD_RULES = """\
id=REJECT01; sender==blocked@legacy.local; action=550 5.7.1 Sender <$$sender> refused by rule sender:blocked@legacy.local
id=NOROUTE01; sender_domain!=corp.local; action=550 5.7.1 Sender <$$sender> refused: no route covers this sender
id=SIZE01; size>36700160; action=552 5.3.4 Message size exceeds the limit of mailbox relay@contoso.com
id=RCPTMSG01; protocol_state==END-OF-MESSAGE; recipient_count>500; action=552 5.5.3 Too many recipients for mailbox relay@contoso.com
id=RATE01; protocol_state==END-OF-MESSAGE; sender_domain==corp.local; action=rate(sender_domain/27/60/DEFER_IF_PERMIT 4.7.0 Mailbox relay@contoso.com has reached its limit of 27 messages per minute)
id=RCPT01; protocol_state==END-OF-MESSAGE; sender_domain==corp.local; action=rcpt(sender_domain/9000/86400/DEFER_IF_PERMIT 4.7.0 Mailbox relay@contoso.com has reached its limit of 9000 recipients per 24 hours)
"""

REDIS = "/usr/bin/redis-server"
REDIS_CONF = """\
store redis
redis_address unix:{sock}
relays 2
"""

LINE = re.compile(r"req/s=(\d+) p50_us=(\d+) p99_us=(\d+) max_us=(\d+) failures=(\d+) "
                  r"reconnects=(\d+) replies: dunno=(\d+) reject=(\d+) defer=(\d+) other=(\d+)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def stop(proc):
    """stop - SIGTERM, SIGKILL after 10 s (None is ignored)."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_redis_policyd(tmp, rsock, policyd, rconf, rport):
    """start_redis_policyd - a private redis-server on rsock and a sendas-policyd using it."""
    with open(os.path.join(tmp, "redis.log"), "ab") as log:
        redis = subprocess.Popen([REDIS, "--port", "0", "--unixsocket", rsock,
                                  "--unixsocketperm", "700", "--dir", tmp, "--save", "",
                                  "--appendonly", "no"],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while not os.path.exists(rsock) and time.monotonic() < deadline:
        time.sleep(0.1)
    with open(os.path.join(tmp, "sendas-policyd-redis.log"), "ab") as log:
        rp = subprocess.Popen([policyd, "-f", "-c", rconf], stdin=subprocess.DEVNULL,
                              stdout=log, stderr=log)
    if not wait_port(rport, proc=rp):
        sys.exit("policy-bench: sendas-policyd with the Redis store did not start")
    return redis, rp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--no-redis", action="store_true", help="leave out the Redis store")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    policyd = os.path.join(os.path.abspath(args.build_dir), "policyd", "sendas-policyd")
    if not os.access(policyd, os.X_OK):
        sys.exit(f"policy-bench: {policyd} not found (build first)")
    if shutil.which("postfwd2") is None and not os.access("/usr/sbin/postfwd2", os.X_OK):
        sys.exit("policy-bench: postfwd2 not found (Debian: apt-get install postfwd)")
    postfwd2 = shutil.which("postfwd2") or "/usr/sbin/postfwd2"

    tmp = tempfile.mkdtemp(prefix="sendas-policy-bench-")
    os.chmod(tmp, 0o755)
    load = os.path.join(tmp, "policy-load")
    subprocess.run(["cc", "-O2", "-Wall", "-o", load, os.path.join(HERE, "policy-load.c")],
                   check=True)

    sport, pport = free_port(), free_port()
    conf = os.path.join(tmp, "sendas.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(SENDAS_CONF.format(port=sport, state=os.path.join(tmp, "state")))
    rules = os.path.join(tmp, "postfwd.cf")
    with open(rules, "w", encoding="utf-8") as f:
        f.write(POSTFWD_RULES)
    pidfile = os.path.join(tmp, "postfwd2.pid")
    user = "root" if os.geteuid() == 0 else None

    use_redis = not args.no_redis and os.access(REDIS, os.X_OK)
    rport = free_port()
    rsock = os.path.join(tmp, "redis.sock")
    rconf = os.path.join(tmp, "sendas-redis.conf")
    with open(rconf, "w", encoding="utf-8") as f:
        f.write(SENDAS_CONF.format(port=rport, state=os.path.join(tmp, "state-redis")) +
                REDIS_CONF.format(sock=rsock))

    sp = rp = redis = None
    started_postfwd = False
    results = {"sendas-policyd": [], "postfwd2": []}
    if use_redis:
        results = {"sendas-policyd": [], "sendas-policyd-redis": [], "postfwd2": []}
    status = 0
    try:
        with open(os.path.join(tmp, "sendas-policyd.log"), "ab") as log:
            sp = subprocess.Popen([policyd, "-f", "-c", conf], stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=log)
        if not wait_port(sport, proc=sp):
            sys.exit("policy-bench: sendas-policyd did not start")
        if use_redis:
            redis, rp = start_redis_policyd(tmp, rsock, policyd, rconf, rport)
        cmd = [postfwd2, "--perfmon", "-f", rules, "-i", "127.0.0.1", "-p", str(pport),
               "--pidfile", pidfile, "--cache_socket", f"unix::{tmp}/postfwd2-cache.sock"]
        if user:
            cmd += ["-u", user, "-g", user]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started_postfwd = True
        if not wait_port(pport):
            sys.exit("policy-bench: postfwd2 did not start")

        targets = [("sendas-policyd", sport), ("postfwd2", pport)]
        if use_redis:
            targets.insert(1, ("sendas-policyd-redis", rport))
        print(f"# {args.rounds} rounds, {args.conns} persistent connections, RCPT-stage "
              f"requests, {args.seconds:g} s each after 1 s warm-up; {os.cpu_count()} CPUs")
        for r in range(args.rounds):
            order = targets if r % 2 == 0 else targets[::-1]
            for name, port in order:
                p = subprocess.run([load, "-c", str(args.conns), "-t", str(args.seconds),
                                    "-w", "1", "-l", name, f"127.0.0.1:{port}"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                print(p.stdout.rstrip())
                m = LINE.search(p.stdout)
                if not m:
                    status = 1
                    continue
                results[name].append([int(x) for x in m.groups()])

        print()
        print(f"{'service':<16}{'req/s':>10}{'p50 us':>9}{'p99 us':>9}{'failures':>10}"
              f"{'reconnects':>12}")
        med = {}
        for name, rows in results.items():
            if not rows:
                continue
            rps = statistics.median(x[0] for x in rows)
            p50 = statistics.median(x[1] for x in rows)
            p99 = statistics.median(x[2] for x in rows)
            fails = sum(x[4] for x in rows)
            recon = sum(x[5] for x in rows)
            med[name] = (rps, p99, fails)
            print(f"{name:<16}{rps:>10.0f}{p50:>9.0f}{p99:>9.0f}{fails:>10}{recon:>12}")
            if fails:
                status = 1
        for name in ("sendas-policyd", "sendas-policyd-redis"):
            if name in med and med.get("postfwd2", (0,))[0] > 0:
                print(f"\n{name} / postfwd2 requests per second: "
                      f"{med[name][0] / med['postfwd2'][0]:.1f}x; "
                      f"{name} p99 {med[name][1]:.0f} us")
    finally:
        for proc in (sp, rp, redis):
            stop(proc)
        if started_postfwd:
            subprocess.run([postfwd2, "--kill", "--pidfile", pidfile],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
