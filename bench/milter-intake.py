#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""milter-intake - Postfix intake throughput with and without milters, side by side.

    sudo /usr/bin/python3 bench/milter-intake.py --build-dir BUILD [--rounds 5]
         [--messages 2000] [--sessions 20] [--size 2048] [--milter-socket unix|inet]
         [--settle SECONDS] [--tmpdir DIR] [--keep]

A benchmark, not a test: it prints figures and fails only when the measured path is broken.

Four private Postfix instances (tests/lib/pfinstance.py), each with its own port, queue and
configuration, differ only in smtpd_milters:

    none         no milter
    null         bench/null-milter.c: libmilter, changes nothing
    min-rewrite  bench/min-rewrite-milter.c: libmilter, no parsing; at end of message
                 CHGFROM <relay@contoso.com>, CHGHEADER From, ADDHEADER Reply-To
    sendas       BUILD/milter/sendas-milter -f with "route * relay@contoso.com": every
                 message is rewritten (envelope, From, Reply-To added, X-Original-From
                 added: four edits to min-rewrite's three) and logged in one line

null and min-rewrite ask Postfix for exactly the events sendas-milter asks for (connect,
MAIL FROM, headers with SMFIP_NR_HDR, end of message), so min-rewrite vs sendas measures
sendas-milter's own work, not protocol chatter.  min-rewrite, not null, is the floor for a
rewriting milter: the edits themselves cost Postfix work (and, over TCP, a delayed ACK).

Intake is what is measured: the wall time of one `smtp-source -s SESSIONS -m MESSAGES
-l SIZE` run (one message per connection: no -d), from the first connection until the last
message got its 250.  Every instance puts accepted mail on hold (smtpd_data_restrictions =
static:HOLD), so no delivery runs during a measurement; the hold queue is emptied between
runs.  in_flow_delay is 0: held mail never reaches qmgr, which would otherwise stop handing
out the flow-control tokens and make cleanup sleep a second per message.

Postfix reaches the milters over unix sockets by default, as deploy/postfix/main.cf does.
With --milter-socket inet (TCP on 127.0.0.1) the runs are bound by latency, not CPU: neither
Postfix nor libmilter sets TCP_NODELAY, and small milter packets that get no immediate
answer (headers under SMFIP_NR_HDR; the second and later edit replies at end of message)
wait for a delayed ACK.  The table's "host CPU busy" column shows which case a run is in.

The milters' output (sendas-milter's log line per message, which -f copies to stderr) goes
to a pipe that a thread of this script drains, as journald would drain a service's stream.
A file on the queue's file system would be appended to between Postfix's fsyncs, which
share its ext4 journal: that cost sendas a few percent more in paired runs here.

Before timing, one untimed pass per configuration checks the path: every message was
queued, and on a sample of queued files the envelope sender and From header are rewritten
for min-rewrite and sendas (with X-Original-From for sendas) and untouched for none and
null.  Then ROUNDS rounds run the four configurations in a rotated order (round r starts
with configuration r mod 4), and the table gives per configuration the median wall time,
msgs/s, wall-time ratios to none and to min-rewrite, the milter's CPU time per message
and how busy the host's CPUs were (anything else running on the host shows up here).

The two bench milters are compiled into the temporary directory with
    cc -O2 -Wall bench/X.c $(pkg-config --cflags --libs milter) -pthread
(they are not part of the autotools build).  Needs root (Postfix instances), smtp-source
(package postfix), libmilter-dev and a built sendas-milter.  Only 127.0.0.1 is used.
Everything (instances, milters, temporary directory) is removed at exit unless --keep.
"""

import argparse
import atexit
import collections
import grp
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from pfinstance import PostfixInstance  # noqa: E402

SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTCAT = "/usr/sbin/postcat"
POSTSUPER = "/usr/sbin/postsuper"

SENDER = "nagios@mon01.corp.local"   # not a permitted mailbox: sendas-milter rewrites it
RECIPIENT = "ops@example.com"
MAILBOX = "relay@contoso.com"
CONFIGS = ["none", "null", "min-rewrite", "sendas"]
SAMPLE = 20                          # queued files inspected per configuration
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    """free_port - a loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(addr, proc, what, timeout=15):
    """wait_listening - wait until something accepts connections on addr: a port on
    127.0.0.1 or a unix socket path."""
    family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    target = addr if family == socket.AF_UNIX else ("127.0.0.1", addr)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with status {proc.returncode} before listening")
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(target)
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} does not listen on {addr}")


def host_cpu():
    """host_cpu - (busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v) - idle, sum(v)


def cpu_seconds(pid):
    """cpu_seconds - user+system CPU of a process (all threads), or 0 without one."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu(master):
    """tree_cpu - CPU seconds of a Postfix master and its children, living (utime+stime) and
    reaped (cutime+cstime of the master).  A child that exits during the scan may be counted
    twice or not at all: a few milliseconds at most."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(name) == master or int(fields[1]) == master:
            total += sum(int(x) for x in fields[11:15])
    return total / CLK_TCK


class MilterLog:
    """MilterLog - drain a milter's output in a thread; count sendas-milter's rewrites."""

    def __init__(self, stream):
        self.rewritten = 0
        self.lines = collections.deque(maxlen=20)
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            with self.cond:
                self.lines.append(line.decode(errors="replace").rstrip())
                if b" action=rewritten " in line:
                    self.rewritten += 1
                    self.cond.notify_all()

    def wait_rewritten(self, n, timeout=10):
        """wait_rewritten - the count once it reaches n (lines may lag the 250 replies)."""
        with self.cond:
            self.cond.wait_for(lambda: self.rewritten >= n, timeout)
            return self.rewritten

    def tail(self):
        with self.cond:
            return "\n".join(self.lines)


class Bench:
    def __init__(self, args):
        self.args = args
        self.procs = {}       # config name -> milter Popen
        self.logs = {}        # config name -> MilterLog
        self.instances = {}   # config name -> PostfixInstance
        self.base = tempfile.mkdtemp(prefix="sendas-bench-", dir=args.tmpdir)
        os.chmod(self.base, 0o755)
        self.bin = os.path.join(self.base, "bin")
        os.makedirs(self.bin)
        atexit.register(self.cleanup)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: sys.exit(130))

    # --- set-up -------------------------------------------------------------------------

    def compile_milters(self):
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "milter"], check=True,
                               stdout=subprocess.PIPE, text=True).stdout.split()
        for name in ("null-milter", "min-rewrite-milter"):
            cmd = ["cc", "-O2", "-Wall", "-o", os.path.join(self.bin, name),
                   os.path.join(BENCH_DIR, name + ".c"), *flags, "-pthread"]
            subprocess.run(cmd, check=True)

    def start_milters(self):
        sendas = os.path.join(self.args.build_dir, "milter", "sendas-milter")
        if not os.access(sendas, os.X_OK):
            sys.exit(f"{sendas}: not found; build with ./bootstrap && ./configure && make")
        postfix_gid = grp.getgrnam("postfix").gr_gid
        self.milter_addrs = {}   # config name -> Postfix milter address
        for cfg in ("null", "min-rewrite", "sendas"):
            if self.args.milter_socket == "unix":
                addr = os.path.join(self.base, cfg + "-milter.sock")
                sock, pf_addr = f"unix:{addr}", f"unix:{addr}"
            else:
                addr = free_port()
                sock, pf_addr = f"inet:{addr}@127.0.0.1", f"inet:127.0.0.1:{addr}"
            if cfg == "sendas":
                conf = os.path.join(self.base, "sendas.conf")
                state = os.path.join(self.base, "sendas-state")
                os.makedirs(state)
                fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    # socket_mode 0660 and socket_group postfix are the defaults
                    f.write(f"mailbox {MAILBOX}\nroute * {MAILBOX}\nmilter_socket {sock}\n"
                            f"state_dir {state}\n")
                cmd = [sendas, "-f", "-c", conf]
            else:
                cmd = [os.path.join(self.bin, cfg + "-milter"), "-p", sock]
            # Output goes to a pipe that a thread drains, as journald would: a log file
            # appended per message on the queue's file system slows Postfix's fsyncs.
            self.procs[cfg] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.logs[cfg] = MilterLog(self.procs[cfg].stdout)
            if isinstance(addr, str):
                deadline = time.monotonic() + 15
                while not os.path.exists(addr) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if cfg != "sendas" and os.path.exists(addr):
                    # what sendas-milter does itself: root-owned, group postfix, 0660
                    os.chown(addr, 0, postfix_gid)
                    os.chmod(addr, 0o660)
            wait_listening(addr, self.procs[cfg], cfg + " milter")
            self.milter_addrs[cfg] = pf_addr

    def start_instances(self):
        for cfg in CONFIGS:
            milter = self.milter_addrs.get(cfg)
            main_cf = {
                # intake only: accepted mail goes on hold, nothing is delivered
                "smtpd_data_restrictions": "check_client_access static:HOLD",
                "in_flow_delay": "0",
                "milter_protocol": "6",
                "milter_default_action": "tempfail",
            }
            pf = PostfixInstance(os.path.join(self.base, "pf-" + cfg), free_port(),
                                 main_cf=main_cf, milter=milter,
                                 myhostname=f"{cfg}.bench.sendas.invalid")
            pf.start()
            self.instances[cfg] = pf

    # --- one run ------------------------------------------------------------------------

    def hold_files(self, cfg):
        return os.listdir(os.path.join(self.instances[cfg].queue_dir, "hold"))

    def empty_hold(self, cfg):
        pf = self.instances[cfg]
        subprocess.run([POSTSUPER, "-c", pf.config_dir, "-d", "ALL", "hold"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.hold_files(cfg):
            sys.exit(f"{cfg}: postsuper left files on hold")

    def run_once(self, cfg, messages):
        """run_once - one smtp-source run against cfg's instance: (seconds, milter CPU
        seconds, Postfix CPU seconds, fraction of the host's CPU time that was busy)."""
        pf = self.instances[cfg]
        self.empty_hold(cfg)
        os.sync()
        time.sleep(self.args.settle)
        cmd = [SMTP_SOURCE, "-4", "-s", str(self.args.sessions), "-m", str(messages),
               "-l", str(self.args.size), "-f", SENDER, "-t", RECIPIENT,
               "-M", "client.bench.sendas.invalid", f"127.0.0.1:{pf.smtp_port}"]
        pid = self.procs[cfg].pid if cfg in self.procs else None
        master = pf._master_pid()
        cpu0, pcpu0, (busy0, total0) = cpu_seconds(pid), tree_cpu(master), host_cpu()
        t0 = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        elapsed = time.monotonic() - t0
        cpu, pcpu, (busy1, total1) = cpu_seconds(pid) - cpu0, tree_cpu(master) - pcpu0, host_cpu()
        busy = (busy1 - busy0) / max(1, total1 - total0)
        if proc.returncode != 0:
            sys.exit(f"{cfg}: smtp-source exited {proc.returncode}: {proc.stdout[-2000:]}\n"
                     f"maillog tail:\n{pf.maillog()[-2000:]}")
        queued = len(self.hold_files(cfg))
        if queued != messages:
            sys.exit(f"{cfg}: {queued} of {messages} messages queued\n"
                     f"maillog tail:\n{pf.maillog()[-2000:]}")
        return elapsed, cpu, pcpu, busy

    # --- correctness --------------------------------------------------------------------

    def postcat(self, cfg, qid):
        pf = self.instances[cfg]
        return subprocess.run([POSTCAT, "-c", pf.config_dir, "-eh",
                               os.path.join(pf.queue_dir, "hold", qid)], check=True,
                              stdout=subprocess.PIPE, text=True).stdout

    def verify(self, cfg, messages):
        """verify - all messages queued (run_once checks) and rewritten exactly when expected."""
        lines0 = self.logs[cfg].rewritten if cfg == "sendas" else 0
        self.run_once(cfg, messages)
        files = self.hold_files(cfg)
        rewrites = cfg in ("min-rewrite", "sendas")
        for qid in random.sample(files, min(SAMPLE, len(files))):
            text = self.postcat(cfg, qid)
            env = re.search(r"^sender: (.*)$", text, re.M)
            frm = re.findall(r"^From: (.*)$", text, re.M)
            rto = re.findall(r"^Reply-To: (.*)$", text, re.M)
            orig = re.findall(r"^X-Original-From: (.*)$", text, re.M)
            problems = []
            if env is None or len(frm) != 1:
                problems.append("no envelope sender or not exactly one From header")
            elif rewrites:
                if env.group(1) != MAILBOX:
                    problems.append(f"envelope sender {env.group(1)!r}, expected {MAILBOX}")
                if MAILBOX not in frm[0]:
                    problems.append(f"From {frm[0]!r} does not name {MAILBOX}")
                if len(rto) != 1:
                    problems.append(f"{len(rto)} Reply-To headers, expected 1")
                if cfg == "sendas" and not any(SENDER in o for o in orig):
                    problems.append("no X-Original-From naming the original sender")
            else:
                if env.group(1) != SENDER or SENDER not in frm[0] or rto or orig:
                    problems.append("message was changed without a rewriting milter")
            if problems:
                sys.exit(f"{cfg}: queue file {qid} is wrong: {'; '.join(problems)}\n{text}")
        if cfg == "sendas":
            n = self.logs[cfg].wait_rewritten(lines0 + messages) - lines0
            if n != messages:
                sys.exit(f"sendas: sendas-milter logged {n} rewrites for {messages} messages; "
                         f"last lines:\n{self.logs[cfg].tail()}")
        return len(files)

    # --- the benchmark ------------------------------------------------------------------

    def run(self):
        a = self.args
        self.compile_milters()
        self.start_milters()
        self.start_instances()
        print(f"# {a.sessions} sessions, {a.messages} messages of {a.size} bytes, one per "
              f"connection; {a.rounds} rounds; milters on {a.milter_socket} sockets; queues "
              f"under {self.base}", flush=True)
        for cfg in CONFIGS:
            n = self.verify(cfg, a.messages)
            print(f"# verified {cfg}: {n} messages queued, sample of {min(SAMPLE, n)} "
                  f"{'rewritten' if cfg in ('min-rewrite', 'sendas') else 'unchanged'}",
                  flush=True)
        times = {cfg: [] for cfg in CONFIGS}
        cpus = {cfg: [] for cfg in CONFIGS}
        busy = {cfg: [] for cfg in CONFIGS}
        pcpus = {cfg: [] for cfg in CONFIGS}
        for r in range(a.rounds):
            order = CONFIGS[r % len(CONFIGS):] + CONFIGS[:r % len(CONFIGS)]
            cells = []
            for cfg in order:
                elapsed, cpu, pcpu, load = self.run_once(cfg, a.messages)
                pcpus[cfg].append(pcpu)
                times[cfg].append(elapsed)
                cpus[cfg].append(cpu)
                busy[cfg].append(load)
                cells.append(f"{cfg} {elapsed:.2f}s")
            print(f"# round {r + 1}: " + ", ".join(cells), flush=True)
        self.report(times, cpus, pcpus, busy)

    def report(self, times, cpus, pcpus, busy):
        a = self.args
        med = {cfg: statistics.median(times[cfg]) for cfg in CONFIGS}
        ms = {cfg: 1000 * statistics.median(cpus[cfg]) / a.messages for cfg in CONFIGS}
        pms = {cfg: 1000 * statistics.median(pcpus[cfg]) / a.messages for cfg in CONFIGS}
        print()
        print(f"{'config':<12} {'median s':>9} {'msgs/s':>8} {'time/none':>10} "
              f"{'time/min-rw':>12} {'CPU ms/msg: milter':>19} {'Postfix':>8} "
              f"{'host busy':>10}  runs (s)")
        for cfg in CONFIGS:
            cpu = f"{ms[cfg]:.3f}" if cfg in self.procs else "-"
            runs = " ".join(f"{t:.2f}" for t in times[cfg])
            print(f"{cfg:<12} {med[cfg]:>9.2f} {a.messages / med[cfg]:>8.0f} "
                  f"{med[cfg] / med['none']:>10.2f} {med[cfg] / med['min-rewrite']:>12.2f} "
                  f"{cpu:>19} {pms[cfg]:>8.3f} "
                  f"{100 * statistics.median(busy[cfg]):>9.0f}%  {runs}")
        print()
        print("sendas / min-rewrite CPU per message (Postfix + milter, medians): "
              f"{(pms['sendas'] + ms['sendas']) / (pms['min-rewrite'] + ms['min-rewrite']):.2f}")
        # the same ratio per round: the two runs of a round are close in time, so a load
        # that comes and goes on the host moves both
        paired = [m / t for m, t in zip(times["min-rewrite"], times["sendas"])]
        print()
        print("per-round sendas/min-rewrite throughput ratios: "
              + " ".join(f"{x:.2f}" for x in paired)
              + f" (median {statistics.median(paired):.2f})")
        print(f"sendas-milter / min-rewrite throughput ratio: "
              f"{med['min-rewrite'] / med['sendas']:.2f}")

    # --- tear-down ----------------------------------------------------------------------

    def cleanup(self):
        for pf in self.instances.values():
            pf.stop()
        # libmilter notices SIGTERM only at its next poll timeout (seconds): stop all at once
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        self.instances.clear()
        if self.args.keep:
            print(f"# kept {self.base}", file=sys.stderr)
        elif os.path.isdir(self.base):
            shutil.rmtree(self.base, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=REPO,
                   help="build tree holding milter/sendas-milter (default: the source tree)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    p.add_argument("--messages", type=int, default=2000, help="messages per run (default 2000)")
    p.add_argument("--sessions", type=int, default=20, help="parallel sessions (default 20)")
    p.add_argument("--size", type=int, default=2048, help="body bytes per message (default 2048)")
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds of quiet before each run (default 1)")
    p.add_argument("--milter-socket", choices=("unix", "inet"), default="unix",
                   help="how Postfix reaches the milters: unix sockets (default, as in "
                        "deploy/postfix/main.cf) or TCP on 127.0.0.1")
    p.add_argument("--tmpdir", default=None,
                   help="where the instances' queues go (default: the system's temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: private Postfix instances are started with postfix start")
    if args.rounds < 1 or args.messages < 1 or args.sessions < 1:
        sys.exit("--rounds, --messages and --sessions must be positive")
    for tool in (SMTP_SOURCE, POSTCAT, POSTSUPER):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} not found (Debian: apt-get install postfix)")
    args.build_dir = os.path.abspath(args.build_dir)
    Bench(args).run()


if __name__ == "__main__":
    main()
