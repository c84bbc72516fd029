#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: the daemons' process life (reload then stop, a quick stop, the counters file).

Runs sendas-milter and sendas-policyd directly on unix sockets in a temporary directory, as
shipped (no Postfix needed), and checks:

  1. SIGHUP then SIGTERM, each daemon: exit status 0, the socket removed, no sanitizer report
     in its output (an ASan build reports a use of the configuration the reload freed);
     and, in a build without sanitizers, the same under valgrind (which sees the freed socket
     path that the kernel reads inside unlink(2), where ASan does not look);
  2. sendas-milter, idle, stops within 1 s of SIGTERM (libmilter looks at its stop flag only
     every 5 s unless woken); and a SIGHUP the main thread cannot take at once (sent while
     the process is stopped) reloads instead of reaching libmilter's signal thread, which
     would stop the filter;
  3. sendas-policyd under a file size limit (ulimit -f 64 KiB) keeps answering when the
     counters cannot be written: it logs the failure a bounded number of times instead of
     dying of SIGXFSZ;
  4. a counters.db that is not a database: sendas-policyd moves it aside
     (counters.db.corrupt-TIME), says so, starts with empty counters and answers;
  5. state_dir removed under the running sendas-policyd: it is created again with a
     counters.db holding the counts, and the log says so.

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) without the binaries.  Run from the build directory (or set
BUILDDIR, SENDAS_MILTER, SENDAS_POLICYD).  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from daemonrun import sanitizer_lines, wait_log, wait_unix  # noqa: E402
from stack import (checks, e2e_tmpdir, find_milter, find_policyd, print_tail, report,  # noqa: E402
                   skip, stop_process, tail)

CONF = """\
# sendas.conf written by tests/e2e/test_daemon_lifecycle.py
mailbox relay@contoso.com
route * relay@contoso.com
milter_socket unix:{tmp}/milter.sock
policy_socket unix:{tmp}/policy.sock
socket_group root
state_dir {tmp}/state
limit_messages_per_minute 0
"""

VALGRIND = "/usr/bin/valgrind"


def asan_build(binary):
    """asan_build - True when binary was built with AddressSanitizer (valgrind cannot run it)."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def start(argv, log, sock, fsize=None):
    """start - run a daemon in the foreground (output to log) and wait for its socket."""
    def limits():
        if fsize:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    with open(log, "ab") as f:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                preexec_fn=limits)
    if not (wait_unix(sock, proc) and wait_log(log, "starting on", 0, 15)):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{os.path.basename(argv[0])} did not listen on {sock}:\n"
                           + tail(log))
    return proc


def stop(proc, timeout=10):
    """stop - SIGTERM (SIGKILL after timeout); (exit status, seconds it took)."""
    t0 = time.monotonic()
    rc = stop_process(proc, timeout)
    return rc, time.monotonic() - t0


def policy_request(sock, sender="app@corp.local", stage="END-OF-MESSAGE", n=1, timeout=5):
    """policy_request - one request on a new connection; the action= line, or the error."""
    req = (f"request=smtpd_access_policy\nprotocol_state={stage}\nprotocol_name=ESMTP\n"
           f"client_address=127.0.0.1\nclient_name=localhost\nsender={sender}\n"
           f"recipient=user@contoso.com\nrecipient_count={n}\nsize=100\n"
           f"instance=i{time.monotonic_ns()}\nqueue_id=ABC123\n\n").encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(sock)
            s.sendall(req)
            got = b""
            while not got.endswith(b"\n\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        return got.decode(errors="replace").strip()
    except OSError as e:
        return f"error: {e}"


def main():
    milter_bin, policyd_bin = find_milter(), find_policyd()
    for b in (milter_bin, policyd_bin):
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            skip(f"{b} not built")
    tmp = e2e_tmpdir("life")
    conf = os.path.join(tmp, "sendas.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(CONF.format(tmp=tmp))
    msock, psock = os.path.join(tmp, "milter.sock"), os.path.join(tmp, "policy.sock")
    state = os.path.join(tmp, "state")
    results, check = checks()
    procs = []

    def run_policyd(log, fsize=None):
        p = start([policyd_bin, "-f", "-c", conf], os.path.join(tmp, log), psock, fsize)
        procs.append(p)
        return p

    try:
        # 1 + 2: reload then stop, each daemon
        mlog = os.path.join(tmp, "milter.log")
        m = start([milter_bin, "-f", "-c", conf], mlog, msock)
        procs.append(m)
        m.send_signal(signal.SIGHUP)
        reloaded = wait_log(mlog, "configuration reloaded")
        time.sleep(0.2)
        rc, took = stop(m)
        san = sanitizer_lines(mlog)
        check(reloaded and rc == 0 and not os.path.exists(msock) and not san,
              "sendas-milter: SIGHUP then SIGTERM: exit 0, socket removed, no sanitizer report",
              f"reloaded {reloaded}, exit {rc}, socket left {os.path.exists(msock)}, {san[:1]}")
        check(took < 1.0, "sendas-milter, idle, stops within 1 s of SIGTERM", f"{took:.2f} s")

        # 1b: a SIGHUP the main thread cannot take at once (the process is stopped) must
        # still reload: libmilter's own signal thread, waiting in sigwait(), stops the
        # filter on SIGHUP, and the kernel may hand it a signal the main thread is not
        # ready for (seen as a milter that quit at a logrotate)
        mlog = os.path.join(tmp, "milter-hup.log")
        m = start([milter_bin, "-f", "-c", conf], mlog, msock)
        procs.append(m)
        reloads = 0
        for _ in range(10):
            m.send_signal(signal.SIGSTOP)
            time.sleep(0.05)
            m.send_signal(signal.SIGHUP)
            time.sleep(0.05)
            m.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 10
            while (time.monotonic() < deadline and m.poll() is None and
                   tail(mlog, 1 << 24).count("configuration reloaded") <= reloads):
                time.sleep(0.02)
            reloads = tail(mlog, 1 << 24).count("configuration reloaded")
            if m.poll() is not None:
                break
        alive = m.poll() is None
        rc, _ = stop(m)
        check(alive and reloads == 10 and rc == 0,
              "sendas-milter: 10 SIGHUPs while stopped (SIGSTOP/SIGCONT): 10 reloads, never stops",
              f"reloads {reloads}, alive {alive}, exit {rc}")

        plog = os.path.join(tmp, "policyd-reload.log")
        p = run_policyd("policyd-reload.log")
        p.send_signal(signal.SIGHUP)
        reloaded = wait_log(plog, "configuration reloaded")
        rc, took = stop(p)
        san = sanitizer_lines(plog)
        check(reloaded and rc == 0 and not os.path.exists(psock) and not san,
              "sendas-policyd: SIGHUP then SIGTERM: exit 0, socket removed, no sanitizer report",
              f"reloaded {reloaded}, exit {rc}, socket left {os.path.exists(psock)}, {san[:1]}")

        # 1b: the same under valgrind (the plain build), which sees what ASan cannot: the
        # freed path read by the kernel inside unlink(2)
        for name, binary, sock in (("sendas-policyd", policyd_bin, psock),
                                   ("sendas-milter", milter_bin, msock)):
            if not os.path.exists(VALGRIND) or asan_build(binary):
                continue
            vlog = os.path.join(tmp, f"{name}-valgrind.log")
            p = start([VALGRIND, "-q", "--error-exitcode=99", binary, "-f", "-c", conf], vlog,
                      sock)
            procs.append(p)
            p.send_signal(signal.SIGHUP)
            reloaded = wait_log(vlog, "configuration reloaded", 0, 20)
            rc, _ = stop(p, 30)
            invalid = [ln for ln in tail(vlog, 1 << 24).splitlines()
                       if "Invalid" in ln or "unaddressable" in ln]
            check(reloaded and rc == 0 and not invalid and not os.path.exists(sock),
                  f"{name} under valgrind: SIGHUP then SIGTERM, no invalid access",
                  f"reloaded {reloaded}, exit {rc}, {invalid[:1]}")

        # 3: a file size limit
        log = os.path.join(tmp, "policyd-fsize.log")
        p = run_policyd("policyd-fsize.log", fsize=64 * 1024)
        answers = []
        for i in range(60):
            answers.append(policy_request(psock))
            time.sleep(0.1)
        alive = p.poll() is None
        last = policy_request(psock)
        wal = sum(os.path.getsize(os.path.join(state, f)) for f in os.listdir(state)
                  if f.startswith("counters.db"))
        text = tail(log, 1 << 24)
        complaints = text.count("counters not saved")
        rc, _ = stop(p)
        check(alive and last.startswith("action=") and rc == 0,
              "file size limit: sendas-policyd keeps answering and stops cleanly",
              f"alive {alive}, last answer {last!r}, exit {rc}, files {wal} bytes")
        check(1 <= complaints <= 3,
              "file size limit: the failed writes are logged, once a minute at most",
              f"{complaints} 'counters not saved' lines")
        for f in os.listdir(state):
            os.unlink(os.path.join(state, f))

        # 4: a damaged counters.db
        with open(os.path.join(state, "counters.db"), "wb") as f:
            f.write(b"this is not an SQLite database\n" * 200)
        log = os.path.join(tmp, "policyd-corrupt.log")
        try:
            p = run_policyd("policyd-corrupt.log")
            answer = policy_request(psock)
            aside = [f for f in os.listdir(state) if f.startswith("counters.db.corrupt-")]
            rc, _ = stop(p)
            loud = "moved aside" in tail(log, 1 << 24)
            check(answer.startswith("action=") and aside and loud and rc == 0,
                  "damaged counters.db: moved aside, logged, service starts and answers",
                  f"answer {answer!r}, moved to {aside}, logged {loud}, exit {rc}")
        except RuntimeError as e:
            check(False, "damaged counters.db: moved aside, logged, service starts and answers",
                  str(e).splitlines()[-1] if str(e) else "did not start")

        # 4b: counters.db that is no file at all (a directory, a symlink to /dev/null): the
        # same as a damaged one, not a restart loop with Postfix answering 451
        for kind in ("directory", "symlink to /dev/null"):
            for f in os.listdir(state):
                subprocess.run(["rm", "-rf", os.path.join(state, f)], check=True)
            db = os.path.join(state, "counters.db")
            if kind == "directory":
                os.mkdir(db)
            else:
                os.symlink("/dev/null", db)
            label = f"counters.db a {kind}: moved aside, logged, service starts and answers"
            try:
                p = run_policyd("policyd-notfile.log")
                answer = policy_request(psock)
                aside = [f for f in os.listdir(state) if f.startswith("counters.db.corrupt-")]
                rc, _ = stop(p)
                check(answer.startswith("action=") and aside and rc == 0 and
                      os.path.isfile(db) and not os.path.islink(db), label,
                      f"answer {answer!r}, moved to {aside}, exit {rc}")
            except RuntimeError as e:
                check(False, label, str(e).splitlines()[-1] if str(e) else "did not start")

        # 5: state_dir removed under the running daemon
        subprocess.run(["rm", "-rf", state], check=True)
        log = os.path.join(tmp, "policyd-rmdir.log")
        p = run_policyd("policyd-rmdir.log")
        policy_request(psock)
        time.sleep(1.5)
        subprocess.run(["rm", "-rf", state], check=True)
        policy_request(psock)
        time.sleep(2.5)
        db = os.path.join(state, "counters.db")
        rows = 0
        if os.path.exists(db):
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                rows = c.execute("SELECT count(*) FROM counters WHERE mailbox = "
                                 "'relay@contoso.com'").fetchone()[0]
        loud = "removed or replaced" in tail(log, 1 << 24)
        rc, _ = stop(p)
        check(rows > 0 and loud and rc == 0,
              "state_dir removed: recreated with the counts, logged",
              f"counters.db rows for the mailbox {rows}, logged {loud}, exit {rc}")

        for name in sorted(os.listdir(tmp)):
            if name.endswith(".log"):
                san = sanitizer_lines(os.path.join(tmp, name))
                check(not san, f"{name}: no sanitizer report", san[0] if san else "")
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def logs(failed):
        if failed:
            for name in sorted(os.listdir(tmp)):
                if name.endswith(".log"):
                    print_tail(name, os.path.join(tmp, name), 1500)

    return report(results, tmp, logs)


if __name__ == "__main__":
    sys.exit(main())
