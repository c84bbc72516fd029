#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: sendas-tokend against a hostile token endpoint (issue 12, findings 1-4, 9).

The emulator's token endpoint gives, per tenant "hostile-NAME-CASE", one of its
HOSTILE_ANSWERS (tests/emulator/exo_emulator.py).  One sendas-tokend per case runs at the
same time for WINDOW seconds with token_retry_min 1 and token_retry_max 4; then, per case:

  - request rate: the requests the endpoint saw are at most what the backoff schedule allows
    (delays from token_retry_min doubling to token_retry_max, jitter down to half a delay)
    in WINDOW seconds, plus one for timing;
  - no invalid token is ever written: a token file, when there is one, is
    "expires N\\ntoken B64TOKEN\\n" with a bearer token of RFC 6750's b64token characters,
    at most 8192 of them;
  - a token that is not a token, or that cannot be written (token file size above the
    process's RLIMIT_FSIZE, a directory where the token file goes), is a failure: the state
    file counts failures, `sendasctl token` exits non-zero, and the endpoint is asked again
    with backoff;
  - no control character in tokend's log or in any state file; the state file has each of
    its keys once (a forged error text cannot add lines), and `sendasctl token` reports a
    state file with a forged line malformed;
  - `sendas-tokend --fetch` reports "failed:" (exit 1) for every answer that is not a
    token; an answer over the cap says so ("larger than"); the AADSTS code is shown once;
  - a token that lives 2 seconds (below token_refresh_margin) is not re-requested at once;
    one said to live 6 days is taken to live 1 day (Entra's longest);
  - a token_type other than Bearer, and an expires_in of true or "3599abc", are not tokens;
  - a 429 with Retry-After: 6 is not asked again for 6 seconds;
  - a restart keeps the previous run's token and writes it for a mailbox added meanwhile;
  - as root, `sendasctl token` run by nobody says it may not read token_dir (exit 1);
  - a kept token that expires while the endpoint fails is logged once, AADSTS code once.

As root, also: `sendas-tokend -u USER` creates its token directory for that user and
writes tokens, and reloads as that user (finding 4).  USER is the package's system user
sendas when it exists (not in the token group), else nobody: the test adds no user to the
system.  Configuration warnings are
logged at start and again at each SIGHUP.  Prints one PASS/FAIL line per check, then "N passed, M failed";
exit 0 when all pass, 1 otherwise, 77 when the binaries or python3-aiosmtpd are missing.
"""

import grp
import importlib.util
import os
import pwd
import re
import resource
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from emulator import Emulator  # noqa: E402
from stack import checks, e2e_tmpdir, report, skip, stop_process, tail  # noqa: E402

APP = "6d1f1f5e-1c2b-4a57-9a53-0f4f0f6a1a01"
SECRET = "Qx~8Q~sendas-test-secret-Yh2bC0d3"
WINDOW = float(os.environ.get("HOSTILE_WINDOW", "8"))
RETRY_MIN, RETRY_MAX, MARGIN = 1, 4, 8
MAX_TOKEN = 8192
TOKEN_FILE = re.compile(r"expires (\d+)\ntoken ([A-Za-z0-9\-._~+/]+=*)\n")
STATE_KEYS = {"mailbox", "expires", "last_refresh", "last_attempt", "failures", "last_error"}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAILBOXES = ("relay@contoso.com", "scanner@contoso.com")

# case: (hostile answer, what is wrong, the token may be written)
CASES = {
    "short": ("short", "a token that lives 2 s, below token_refresh_margin", True),
    "ctrl": ("ctrl", "a token with escape codes", False),
    "nul": ("nul", "a token with a NUL", False),
    "space": ("space", "a token with a space", False),
    "number": ("number", "a number as token", False),
    "array": ("array", "an array as token", False),
    "huge": ("huge", "a 20 KB token", False),
    "longlife": ("longlife", "a token said to live 6 days", True),
    "pop": ("pop", "a token whose token_type is not Bearer", False),
    "boollife": ("boollife", "expires_in true (not a number)", False),
    "strlife": ("strlife", "expires_in \"3599abc\"", False),
    "forged": ("forged", "an error text with newlines and escape codes", False),
    "big": ("big", "a 1 MB answer", False),
    "throttled": ("throttled", "429 with Retry-After: 6 (Entra's throttling)", False),
    "fsize": ("long", "a token file that cannot be written (RLIMIT_FSIZE)", False),
    "isdir": ("valid", "a directory where the token file goes", False),
    "expiring": ("expiring", "a 3 s token, then errors: the kept token expires", False),
}


def build_dir():
    return os.environ.get("BUILDDIR") or os.getcwd()


def binary(env, *rel):
    return os.environ.get(env) or os.path.join(build_dir(), *rel)


def schedule_max(window, lo=RETRY_MIN, hi=RETRY_MAX):
    """The most requests the backoff schedule allows in window seconds: the first at once,
    then delays min, 2 min, ... up to max, each shortened by jitter to half."""
    n, t, d = 1, 0.0, lo
    while t + d / 2 <= window:
        t += d / 2
        n += 1
        d = min(d * 2, hi)
    return n


def conf_text(emu, tenant, secret, tokdir, group, extra=""):
    return (f"mailbox {MAILBOXES[0]}\nmailbox {MAILBOXES[1]}\nroute * {MAILBOXES[0]}\n"
            f"oauth_tenant {tenant}\noauth_client_id {APP}\n"
            f"oauth_client_secret_file {secret}\n"
            f"oauth_token_endpoint {emu.token_endpoint(tenant)}\n"
            f"oauth_ca_file {emu.cert_path}\n"
            f"token_dir {tokdir}\ntoken_group {group}\n"
            f"token_refresh_margin {MARGIN}\ntoken_retry_min {RETRY_MIN}\n"
            f"token_retry_max {RETRY_MAX}\n" + extra)


def write_secret(path, owner=None):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(SECRET + "\n")
    if owner is not None:
        os.chown(path, owner, -1)


def service_user():
    """The package's system user sendas when this machine has it (like it: not in the postfix
    group, no home, no shell), else None (then nobody serves); never a user of its own."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("sendas")
    except KeyError:
        return None
    return "sendas"


def requests_for(emu, tenant):
    return [ln for ln in emu.token_requests() if f"result=hostile:{tenant} " in ln]


def state_problems(text):
    """What is wrong with a state file's text ([] when nothing)."""
    problems = []
    if CONTROL.search(text):
        problems.append("control character")
    keys = [ln.split("=", 1)[0] for ln in text.splitlines()]
    if sorted(keys) != sorted(STATE_KEYS):
        problems.append(f"keys {keys}")
    return problems


class Case:
    def __init__(self, name, tmp, emu, tokend, ctl, group):
        self.name = name
        self.answer, self.what, self.token_ok = CASES[name]
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.tenant = f"hostile-{self.answer}-{name}"
        self.tokdir = os.path.join(self.dir, "tokens")
        self.secret = os.path.join(self.dir, "secret")
        self.conf = os.path.join(self.dir, "sendas.conf")
        self.log = os.path.join(self.dir, "tokend.log")
        self.tokend, self.ctl, self.emu = tokend, ctl, emu
        write_secret(self.secret)
        with open(self.conf, "w") as f:
            f.write(conf_text(emu, self.tenant, self.secret, self.tokdir, group))
        if name == "isdir":   # rename(2) onto a directory fails, even for root
            os.makedirs(os.path.join(self.tokdir, MAILBOXES[0]))
            os.chmod(self.tokdir, 0o750)
        self.proc = None

    def start(self):
        def limits():
            if self.name == "fsize":   # the 3000-byte token file does not fit, the state does
                resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
        log = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen([self.tokend, "-f", "-c", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=limits)
        finally:
            log.close()

    def stop(self):
        stop_process(self.proc)

    def files(self, suffix=""):
        """{mailbox: text} of the token files (suffix ".state": state files) there are."""
        out = {}
        for mb in MAILBOXES:
            p = os.path.join(self.tokdir, mb + suffix)
            if os.path.isfile(p):
                with open(p, encoding="latin-1") as f:
                    out[mb] = f.read()
        return out

    def sendasctl_token(self):
        return subprocess.run([self.ctl, "-c", self.conf, "token"], capture_output=True,
                              timeout=30, env=dict(os.environ, SENDAS_TOKEND=self.tokend))

    def fetch(self):
        return subprocess.run([self.tokend, "-c", self.conf, "--fetch"], capture_output=True,
                              timeout=60)


def main():
    tokend = binary("SENDAS_TOKEND", "tokend", "sendas-tokend")
    ctl = binary("SENDASCTL", "ctl", "sendasctl")
    for prog in (tokend, ctl):
        if not os.access(prog, os.X_OK):
            skip(f"{prog} not built (set BUILDDIR)")
    if importlib.util.find_spec("aiosmtpd") is None:
        skip("python3-aiosmtpd is missing (run with /usr/bin/python3)")

    tmp = e2e_tmpdir("hostile")
    results, check = checks()

    group = grp.getgrgid(os.getgid()).gr_name
    emu = Emulator(os.path.join(tmp, "emu"), {"relay@contoso.com": {"password": "x"}},
                   apps={APP: {"secret": SECRET, "mailboxes": list(MAILBOXES)}})
    cases = []
    service = None
    try:
        emu.start()
        cases = [Case(n, tmp, emu, tokend, ctl, group) for n in CASES]
        for c in cases:
            c.start()
        time.sleep(WINDOW)
        allowed = schedule_max(WINDOW) + 1
        for c in cases:
            asked = len(requests_for(emu, c.tenant))
            ctl_run = c.sendasctl_token()
            alive = c.proc.poll() is None
            c.stop()
            tlog = tail(c.log, 1 << 20)
            states = c.files(".state")
            files = c.files()
            bad_files = [mb for mb, text in files.items()
                         if not (m := TOKEN_FILE.fullmatch(text)) or len(m.group(2)) > MAX_TOKEN]
            bad_states = {mb: state_problems(s) for mb, s in states.items() if state_problems(s)}
            failures = [int(m.group(1)) for s in states.values()
                        for m in [re.search(r"^failures=(\d+)$", s, re.M)] if m]
            if c.name == "throttled":   # the first, then none for 6 s: 2 in 8 s at most
                check(alive and asked <= 2, f"{c.name}: Retry-After is honoured",
                      f"{asked} requests in {WINDOW:.0f} s")
            check(alive and asked <= allowed,
                  f"{c.name}: {c.what}: requests follow the backoff schedule",
                  f"{asked} requests in {WINDOW:.0f} s, schedule allows {allowed}; "
                  f"tokend {'running' if alive else 'exited'}")
            check(not CONTROL.search(tlog) and not bad_states and len(states) == 2,
                  f"{c.name}: no control character in the log, state files well-formed",
                  f"state: {bad_states or len(states)}; log: "
                  f"{(tlog.strip().splitlines() or ['-'])[-1][:160]!r}")
            if c.token_ok:
                check(len(files) == 2 and not bad_files, f"{c.name}: the token files are valid",
                      f"{len(files)} files, bad {bad_files}")
                if c.name == "longlife":   # believed for at most a day: refreshed within one
                    lives = [int(TOKEN_FILE.fullmatch(t).group(1)) - int(time.time())
                             for t in files.values() if TOKEN_FILE.fullmatch(t)]
                    check(lives and max(lives) <= 86400,
                          f"{c.name}: the token is taken to live at most 1 day", f"{lives} s")
                continue
            if c.name == "expiring":
                expired = [ln for ln in tlog.splitlines() if "the token expired" in ln]
                check(len(expired) == 1 and "AADSTS90033" in expired[0]
                      and expired[0].count("AADSTS90033") == 1,
                      f"{c.name}: the kept token's expiry during the outage is logged once",
                      f"{len(expired)} lines: {expired[:1]}")
            check(not bad_files and (not files or c.name in ("isdir", "expiring"))
                  and failures and min(failures) >= 1 and asked >= 2,
                  f"{c.name}: nothing invalid written; a failure, retried",
                  f"token files {sorted(files)} (bad {bad_files}); failures {failures}; "
                  f"{asked} requests")
            ctl_out = ctl_run.stdout.decode("latin-1")
            check(ctl_run.returncode != 0 and not CONTROL.search(ctl_out.replace("\n", "")),
                  f"{c.name}: sendasctl token exits non-zero, prints no control character",
                  f"exit {ctl_run.returncode}: "
                  f"{(ctl_out.strip().splitlines() or ['-'])[-1][:160]!r}")

        # --- a state file with a forged line (an older tokend's) is not believed ----------
        c = next(c for c in cases if c.name == "forged")
        forged = os.path.join(c.tokdir, MAILBOXES[0] + ".state")
        with open(forged, "w") as f:
            f.write(f"mailbox={MAILBOXES[0]}\nexpires=0\nlast_refresh=0\nlast_attempt=0\n"
                    "failures=3\nlast_error=invalid_client\nexpires=99999999999\n")
        r = c.sendasctl_token()
        row = [ln for ln in r.stdout.decode("latin-1").splitlines()
               if ln.startswith(MAILBOXES[0])]
        check(r.returncode == 3 and row and "malformed state file" in row[0],
              "a state file with a forged second expires= line is reported malformed",
              f"exit {r.returncode}: {row[:1]}")

        # --- sendasctl token as a user who may not read token_dir: says so ------------
        if os.geteuid() == 0:
            c = next(c for c in cases if c.name == "short")
            nob = pwd.getpwnam("nobody")

            def as_nobody():
                os.setgid(nob.pw_gid)
                os.setgroups([])
                os.setuid(nob.pw_uid)
            r = subprocess.run([ctl, "-c", c.conf, "token"], capture_output=True, timeout=30,
                               preexec_fn=as_nobody)
            out = (r.stdout + r.stderr).decode("latin-1")
            check(r.returncode == 1 and "Permission denied" in out
                  and "is sendas-tokend running" not in out,
                  "sendasctl token by a user who cannot read token_dir says so (exit 1), "
                  "not that tokend may not run", f"exit {r.returncode}: {out.strip()[-200:]!r}")

        # --- a restart keeps the previous run's token, and gives it to every mailbox ----
        # (a mailbox added while tokend was stopped had no token file until the next
        # refresh, up to 45 minutes later)
        d = os.path.join(tmp, "restart")
        os.makedirs(d)
        rsecret, rconf, rlog = (os.path.join(d, n) for n in ("secret", "sendas.conf", "log"))
        rtok = os.path.join(d, "tokens")
        write_secret(rsecret)
        one = conf_text(emu, "hostile-valid-restart", rsecret, rtok, group).replace(
            f"mailbox {MAILBOXES[1]}\n", "")
        for text in (one, conf_text(emu, "hostile-valid-restart", rsecret, rtok, group)):
            with open(rconf, "w") as f:
                f.write(text)
            with open(rlog, "ab") as log:
                proc = subprocess.Popen([tokend, "-f", "-c", rconf], stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not os.path.exists(
                    os.path.join(rtok, MAILBOXES[0])):
                time.sleep(0.2)
            time.sleep(1.5)
            stop_process(proc)
        rtext = tail(rlog, 1 << 16)
        with open(os.path.join(rtok, MAILBOXES[0])) as f0:
            first = f0.read()
        second = os.path.join(rtok, MAILBOXES[1])
        same = os.path.isfile(second) and open(second).read() == first
        check("keeping the token from the previous run" in rtext and same
              and len(requests_for(emu, "hostile-valid-restart")) == 1,
              "a restart keeps the previous token and writes it for a mailbox added meanwhile",
              f"second mailbox's file {'same' if same else 'missing or other'}; "
              f"{len(requests_for(emu, 'hostile-valid-restart'))} requests")

        # --- configuration warnings are logged at start and again at each reload -------
        d = os.path.join(tmp, "warn")
        os.makedirs(d)
        wsecret, wconf, wlog = (os.path.join(d, n) for n in ("secret", "sendas.conf", "log"))
        write_secret(wsecret)
        with open(wconf, "w") as f:   # line 4 can never match: a warning, not an error
            f.write(conf_text(emu, "hostile-valid-warn", wsecret, os.path.join(d, "tokens"),
                              group).replace("route * relay@contoso.com\n",
                                             "route * relay@contoso.com\n"
                                             "route sender:@x.example relay@contoso.com\n"))
        with open(wlog, "ab") as log:
            proc = subprocess.Popen([tokend, "-f", "-c", wconf], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log)
        warning = "warning: configuration: " + wconf + ":4: route sender:@x.example"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "new token" not in tail(wlog, 1 << 16):
            time.sleep(0.2)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "reloaded" not in tail(wlog, 1 << 16):
            time.sleep(0.2)
        time.sleep(0.3)
        stop_process(proc)
        wtext = tail(wlog, 1 << 16)
        seen = [ln for ln in wtext.splitlines() if warning in ln]
        check(len(seen) == 2 and "reloaded" in wtext,
              "configuration warnings are logged at start and again after SIGHUP",
              f"{len(seen)} warning lines: {seen[:1]}; "
              f"{[ln for ln in wtext.splitlines() if 'reload' in ln][-1:]}")

        # --- --fetch: every answer that is not a token is a failure --------------------
        for c in cases:
            if c.token_ok or c.name in ("fsize", "isdir", "expiring"):
                continue
            r = c.fetch()
            out = (r.stdout + r.stderr).decode("latin-1")
            extra = True
            if c.name == "big":
                extra = "larger than" in out
            if c.name == "forged":
                extra = out.count("AADSTS7000215") == 1
            check(r.returncode == 1 and out.startswith("failed:") and extra
                  and not CONTROL.search(out.replace("\n", "")),
                  f"{c.name}: --fetch reports a failure, clean and plain",
                  f"exit {r.returncode}: {out.strip()[:160]!r}")

        # --- as root: -u USER creates the token directory for that user -----------------
        if os.geteuid() == 0:
            service = service_user()
            uname = service or "nobody"
            user = pwd.getpwnam(uname)
            ugroup = "postfix" if any(g.gr_name == "postfix" for g in grp.getgrall()) \
                else grp.getgrgid(user.pw_gid).gr_name
            d = os.path.join(tmp, "as-user")
            os.makedirs(d)
            os.chmod(d, 0o755)
            tokdir = os.path.join(d, "tokens")
            secret = os.path.join(d, "secret")
            write_secret(secret, owner=user.pw_uid)
            conf = os.path.join(d, "sendas.conf")
            tenant = "hostile-valid-asuser"
            with open(conf, "w") as f:
                f.write(conf_text(emu, tenant, secret, tokdir, ugroup))
            os.chmod(conf, 0o644)
            log = open(os.path.join(d, "tokend.log"), "ab")
            proc = subprocess.Popen([tokend, "-f", "-u", uname, "-c", conf],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not os.path.exists(
                    os.path.join(tokdir, MAILBOXES[1])):
                time.sleep(0.2)
            time.sleep(0.5)
            # SIGHUP: as nobody now, it re-reads sendas.conf and the secret, keeps its dir
            n_before = len(requests_for(emu, tenant))
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(requests_for(emu, tenant)) <= n_before:
                time.sleep(0.2)
            ulog = tail(os.path.join(d, "tokend.log"), 1 << 20)
            check("reloaded" in ulog and "reload failed" not in ulog
                  and len(requests_for(emu, tenant)) > n_before,
                  f"-u {uname}: SIGHUP reloads as that user (secret, token_dir) and fetches",
                  [ln for ln in ulog.splitlines() if "reload" in ln][-1:])
            stop_process(proc)
            st = os.stat(tokdir) if os.path.isdir(tokdir) else None
            written = [mb for mb in MAILBOXES if os.path.isfile(os.path.join(tokdir, mb))]
            check(st and st.st_uid == user.pw_uid and st.st_gid == grp.getgrnam(ugroup).gr_gid
                  and st.st_mode & 0o7777 == 0o2750 and len(written) == 2,
                  f"-u {uname} as root: token_dir belongs to {uname}, both tokens written",
                  f"dir {st.st_uid if st else '-'}:{st.st_gid if st else '-'} "
                  f"{oct(st.st_mode & 0o7777) if st else '-'}; written {written}; "
                  + tail(os.path.join(d, "tokend.log"), 300).strip().replace("\n", " | "))
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        for c in cases:
            c.stop()
        emu.stop()

    def diagnostics(failed):
        for c in cases:
            print(f"--- {c.name}/tokend.log\n" + tail(c.log, 600))
    return report(results, tmp, diagnostics)


if __name__ == "__main__":
    sys.exit(main())
