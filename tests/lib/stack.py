# SPDX-License-Identifier: MIT
"""Test helper: the whole sendas relay on loopback, for the end-to-end tests and the demo.

    from stack import Stack, find_milter, prerequisites
    stack = Stack(tmpdir, find_milter())
    try:
        stack.start()
        state, detail = stack.submit_smtp(raw, "nagios@mon01.corp.local", ["user@contoso.com"])
        stack.pf.wait_queue_empty(60)
        stack.emu.messages()
    finally:
        stack.stop()

Brings up, under one temporary directory:
  emulator/  the Exchange Online emulator (tests/emulator) with the given mailboxes
  sendas/    sendas.conf (the template with {port} = the milter's loopback port, and
             {policy_port} / {state_dir} for sendas-policyd)
  milter.log sendas-milter -f's log (appended across restarts)
  policyd.log, state/  sendas-policyd -f's log and counters, when the template has a
             policy_socket with {policy_port} (else Postfix's policy lines are left out)
  postfix/   a private Postfix instance configured with the shipped deploy/postfix/main.cf and
             master.cf (only the endpoint, the milter and policy sockets and paths
             substituted) and a sasl_passwd map with one entry per mailbox, keyed by the
             mailbox address.  The endpoint becomes [localhost]:PORT, a name the emulator's
             certificate carries, so "smtp_tls_security_level = secure" verifies it.
Further instances of the same relay, with or without the milter, can be added with
add_postfix() (the demo's "without sendas" contrast).  Needs root and /usr/bin/python3.
"""

import importlib.util
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
DEPLOY = os.path.join(SRCDIR, "deploy", "postfix")
sys.path.insert(0, HERE)

from emulator import Emulator  # noqa: E402
from pfinstance import PostfixInstance  # noqa: E402

SKIP = 77  # automake's exit status for a skipped test

# The test tenant: two mailboxes, as the emulator knows them (passwords, send-as grants) ...
MAILBOXES = {
    "relay@contoso.com": {"password": "relay-secret-1",
                          "sendas": ["alerts@contoso.com", "noreply@contoso.com",
                                     "@shared.contoso.com"]},
    "scanner@contoso.com": {"password": "scanner-secret-2", "sendas": []},
}

# ... and as sendas.conf declares them.  {port} is the milter's loopback port, {policy_port}
# sendas-policyd's, {state_dir} its counters.  The tests send far more than 30 messages a
# minute through one mailbox, so that limit is off here.
SENDAS_CONF = """\
# sendas.conf written by tests/lib/stack.py
mailbox relay@contoso.com sendas alerts@contoso.com noreply@contoso.com @shared.contoso.com
mailbox scanner@contoso.com
route sender:@printers.corp.local scanner@contoso.com
route from:@printers.corp.local scanner@contoso.com
route sender:blocked@legacy.local reject
route * relay@contoso.com
milter_socket inet:{port}@127.0.0.1
policy_socket inet:{policy_port}@127.0.0.1
state_dir {state_dir}
limit_messages_per_minute 0
"""


def free_port():
    """free_port - a loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daemon(argv, log_path, port, timeout=15):
    """start_daemon - run a sendas daemon in the foreground, its output appended to log_path,
    and wait until it listens on 127.0.0.1:port (port None: do not wait, e.g. for a unix
    socket); raises with the log tail if it does not."""
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    finally:
        log.close()
    if port is not None and not wait_port(port, proc, timeout):
        raise RuntimeError(f"{os.path.basename(argv[0])} did not listen on 127.0.0.1:{port}:\n"
                           + tail(log_path))
    return proc


def stop_process(proc, timeout=10, sig=signal.SIGTERM):
    """stop_process - sig (SIGTERM), SIGKILL after timeout; the exit status, or None without
    one."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def report(results, tmp, extra=None, note=None, line=None, tails=()):
    """report - print one PASS/FAIL line per (ok, label, detail) check and the closing
    "N passed, M failed" line; keep tmp after a failure or with SENDAS_E2E_KEEP (saying
    "# kept TMP (note)"; then extra(failed), if given, prints diagnostics, and after a
    failure print_tail(*t) for each t in tails), else remove it.  line(result), if given,
    formats a result of another shape.  Returns the exit status."""
    passed = sum(1 for ok, *_ in results if ok)
    failed = len(results) - passed
    for r in results:
        if line:
            print(line(r))
        else:
            ok, label, detail = r
            print(("PASS " if ok else "FAIL ") + label + (f" ({detail})" if detail else ""))
    if failed or os.environ.get("SENDAS_E2E_KEEP"):
        print(f"# kept {tmp}" + (f" ({note})" if note else ""))
        if extra:
            extra(failed)
        for t in tails if failed else ():
            print_tail(*t)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def wait_port(port, proc, timeout=15):
    """wait_port - True once 127.0.0.1:port accepts; False if proc exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def tail(path, n=4000):
    """tail - the last n characters of a text file ("" when it cannot be read)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def smtp_send(port, raw, sender, rcpts, helo="legacy-app.corp.local", source=None):
    """smtp_send - one message over SMTP to 127.0.0.1:port, from the loopback address source
    when given (127.0.0.2: a client that is not this host, whose headers Postfix does not
    rewrite).  Returns ("accepted", None) or ("refused", "STAGE: code text")."""
    # smtplib appends CRLF to bytes that do not end with one: a final bare LF would
    # become an extra empty line.  Only the last line end is fixed; bare LFs inside stay
    # (Postfix's smtpd takes them as line ends, as legacy clients rely on).
    if raw.endswith(b"\n") and not raw.endswith(b"\r\n"):
        raw = raw[:-1] + b"\r\n"
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=60,
                          source_address=(source, 0) if source else None) as s:
            s.sendmail(sender, rcpts, raw)
        return ("accepted", None)
    except smtplib.SMTPSenderRefused as e:
        return ("refused", f"MAIL: {e.smtp_code} {e.smtp_error.decode(errors='replace')}")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = next(iter(e.recipients.values()))
        return ("refused", f"RCPT: {code} {text.decode(errors='replace')}")
    except smtplib.SMTPDataError as e:
        return ("refused", f"DATA: {e.smtp_code} {e.smtp_error.decode(errors='replace')}")
    except (smtplib.SMTPException, OSError) as e:
        return ("refused", f"SMTP: {e}")


def skip(why):
    """skip - print automake's SKIP line with the reason and exit with its status (77)."""
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def e2e_tmpdir(name):
    """e2e_tmpdir - a new temporary directory /tmp/sendas-NAME-*, mode 0755 so that
    Postfix's unprivileged daemons reach what a test puts there; report() removes it."""
    tmp = tempfile.mkdtemp(prefix=f"sendas-{name}-")
    os.chmod(tmp, 0o755)
    return tmp


def checks():
    """checks - (results, check): the list report() prints, and check(ok, label, detail="")
    that adds one (ok, label, detail) line to it."""
    results = []

    def check(ok, label, detail=""):
        results.append((bool(ok), label, detail))
    return results, check


def print_tail(title, path, n=3000, width=None):
    """print_tail - the last n characters of the log at path as "# TITLE:" and indented
    comment lines, each cut to width characters when width is given."""
    print(f"# {title}:\n" + "\n".join(
        "#    " + ln[:width] for ln in tail(path, n).splitlines()))


def find_milter():
    """find_milter - the sendas-milter binary: $SENDAS_MILTER, else BUILDDIR (or the current
    directory)/milter/sendas-milter."""
    return os.environ.get("SENDAS_MILTER") or os.path.join(
        os.environ.get("BUILDDIR") or os.getcwd(), "milter", "sendas-milter")


def find_policyd(milter_bin=None):
    """find_policyd - the sendas-policyd binary: $SENDAS_POLICYD, else BUILDDIR/policyd/ (or
    the build tree the milter binary is in), else beside the milter (an installed /usr/sbin)."""
    if os.environ.get("SENDAS_POLICYD"):
        return os.environ["SENDAS_POLICYD"]
    milter_bin = os.path.abspath(milter_bin or find_milter())
    candidates = [os.path.join(os.path.dirname(os.path.dirname(milter_bin)), "policyd",
                               "sendas-policyd"),
                  os.path.join(os.path.dirname(milter_bin), "sendas-policyd")]
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return candidates[0]


def find_ctl(milter_bin=None):
    """find_ctl - sendasctl: $SENDAS_CTL, else ctl/ of the milter's build tree, else /usr/bin."""
    if os.environ.get("SENDAS_CTL"):
        return os.environ["SENDAS_CTL"]
    built = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        milter_bin or find_milter()))), "ctl", "sendasctl")
    return built if os.access(built, os.X_OK) else "/usr/bin/sendasctl"


def prerequisites(milter_bin, extra_programs=()):
    """prerequisites - why the stack cannot run here, or None when it can."""
    for prog in ("/usr/sbin/postfix", *extra_programs):
        if not (os.path.isfile(prog) and os.access(prog, os.X_OK)):
            return f"{os.path.basename(prog)} is not installed ({prog})"
    if not (os.path.isfile(milter_bin) and os.access(milter_bin, os.X_OK)):
        return f"milter binary not found: {milter_bin} (set SENDAS_MILTER or BUILDDIR)"
    policyd = find_policyd(milter_bin)
    if not (os.path.isfile(policyd) and os.access(policyd, os.X_OK)):
        return f"sendas-policyd binary not found: {policyd} (set SENDAS_POLICYD or BUILDDIR)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    if importlib.util.find_spec("aiosmtpd") is None:
        return "python3-aiosmtpd is missing (run with /usr/bin/python3)"
    return None


def require_stack(extra_programs=()):
    """require_stack - the sendas-milter binary (find_milter) once prerequisites() holds for
    it and extra_programs; else print the reason and exit with SKIP."""
    milter_bin = find_milter()
    why = prerequisites(milter_bin, extra_programs)
    if why:
        skip(why)
    return milter_bin


class Stack:
    def __init__(self, tmpdir, milter_bin, sendas_conf=SENDAS_CONF, mailboxes=MAILBOXES,
                 emulator_options=None, policyd_bin=None, default_mailbox=None):
        """tmpdir: an existing directory the stack lives in (the caller removes it).
        milter_bin: path of sendas-milter.  sendas_conf: sendas.conf text with {port} where
        the milter's port goes, and {policy_port} and {state_dir} when sendas-policyd is to
        run too (policyd_bin, default find_policyd()).  mailboxes: the emulator's mailboxes (and the sasl_passwd
        entries).  emulator_options: extra keyword arguments for Emulator (default
        max_connections=3, as Exchange Online).  default_mailbox: give the relay's sasl_passwd
        a next-hop entry with that mailbox's login (see add_postfix), the credentials of mail
        with the null sender, such as Postfix's own notices."""
        self.tmp = os.path.abspath(tmpdir)
        self.milter_bin = os.path.abspath(milter_bin)
        self.sendas_conf = sendas_conf
        self.mailboxes = mailboxes
        self.emulator_options = dict({"max_connections": 3}, **(emulator_options or {}))
        self.milter_log = os.path.join(self.tmp, "milter.log")
        self.conf_path = os.path.join(self.tmp, "sendas", "sendas.conf")
        self.milter = None       # the running sendas-milter (subprocess.Popen)
        self.milter_port = None
        self.use_policyd = "{policy_port}" in sendas_conf
        self.policyd_bin = os.path.abspath(policyd_bin or find_policyd(milter_bin))
        self.policyd_log = os.path.join(self.tmp, "policyd.log")
        self.policyd = None      # the running sendas-policyd, when use_policyd
        self.policy_port = None
        self.emu = None
        self.pf = None           # the relay with the milter
        self.extra = []          # instances made by add_postfix()
        self.default_mailbox = default_mailbox

    # --- lifecycle ----------------------------------------------------------------------

    def start(self):
        """start - emulator, sendas.conf, sendas-milter, Postfix; returns self."""
        self.emu = Emulator(os.path.join(self.tmp, "emulator"), self.mailboxes,
                            **self.emulator_options)
        self.emu.start()

        self.milter_port = free_port()
        self.policy_port = free_port()
        os.makedirs(os.path.dirname(self.conf_path), exist_ok=True)
        self.write_conf(self.sendas_conf)
        self.start_milter()
        if self.use_policyd:
            self.start_policyd()

        self.pf = self.add_postfix("postfix", milter=True,
                                   default_mailbox=self.default_mailbox)
        return self

    def stop(self):
        """stop - everything that was started, in reverse order; safe after a failed start."""
        for pf in reversed(self.extra):
            pf.stop()
        self.stop_milter()
        self.stop_policyd()
        if self.emu:
            self.emu.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def write_conf(self, template):
        """write_conf - (re)write sendas.conf from a template with {port}, {policy_port} and
        {state_dir}, atomically; a running daemon reads it at SIGHUP."""
        with open(self.conf_path + ".new", "w", encoding="utf-8") as f:
            f.write(template.format(port=self.milter_port, policy_port=self.policy_port,
                                    state_dir=os.path.join(self.tmp, "state")))
        os.replace(self.conf_path + ".new", self.conf_path)

    # --- the milter ---------------------------------------------------------------------

    @property
    def milter_address(self):
        """milter_address - the milter's socket as Postfix writes it."""
        return f"inet:127.0.0.1:{self.milter_port}"

    def start_milter(self, timeout=15):
        """start_milter - run sendas-milter -f on the configured socket and wait until it
        listens (its log is appended to milter.log)."""
        if self.milter and self.milter.poll() is None:
            raise RuntimeError("sendas-milter is already running")
        self.milter = start_daemon([self.milter_bin, "-f", "-c", self.conf_path],
                                   self.milter_log, self.milter_port, timeout)
        return self.milter

    def stop_milter(self, timeout=10):
        """stop_milter - SIGTERM (graceful stop), SIGKILL after timeout; returns the exit
        status, or None when it was not running."""
        return stop_process(self.milter, timeout)

    def kill_milter(self, sig=signal.SIGKILL):
        """kill_milter - send sig (default SIGKILL, no chance to clean up) and reap it;
        returns the exit status (-9 for SIGKILL)."""
        proc = self.milter
        if proc is None or proc.poll() is not None:
            raise RuntimeError("sendas-milter is not running")
        proc.send_signal(sig)
        proc.wait()
        return proc.returncode

    def restart_milter(self):
        """restart_milter - start the milter again on the same socket after it stopped or was
        killed (stops it gracefully first if it is still running)."""
        self.stop_milter()
        return self.start_milter()

    def milter_running(self):
        return self.milter is not None and self.milter.poll() is None

    def milter_log_text(self):
        return tail(self.milter_log, 1 << 30)

    # --- sendas-policyd -----------------------------------------------------------------

    @property
    def policy_address(self):
        """policy_address - sendas-policyd's socket as Postfix writes it."""
        return f"inet:127.0.0.1:{self.policy_port}"

    def start_policyd(self, timeout=15):
        """start_policyd - run sendas-policyd -f with the same sendas.conf and wait until it
        listens (its log is appended to policyd.log)."""
        self.policyd = start_daemon([self.policyd_bin, "-f", "-c", self.conf_path],
                                    self.policyd_log, self.policy_port, timeout)
        return self.policyd

    def stop_policyd(self, timeout=10):
        """stop_policyd - SIGTERM, SIGKILL after timeout; the exit status or None."""
        return stop_process(self.policyd, timeout)

    # --- Postfix instances --------------------------------------------------------------

    def add_postfix(self, name, milter=True, default_mailbox=None):
        """add_postfix - configure and start a Postfix instance under tmpdir/name from the
        shipped deploy/postfix snippets, relaying to this stack's emulator.  milter=False
        leaves sendas out (smtpd_milters and non_smtpd_milters empty, no policy service).  default_mailbox: also
        give the next hop an entry in sasl_passwd with that mailbox's login, the credentials
        Postfix uses for an envelope sender without an entry of its own (the usual
        single-account relay).  Returns the started PostfixInstance."""
        pf = PostfixInstance(os.path.join(self.tmp, name), free_port())
        self.extra.append(pf)
        nexthop = f"[localhost]:{self.emu.port}"
        subs = {
            "[smtp.office365.com]:587": nexthop,
            "unix:/run/sendas/milter.sock": self.milter_address,
            "unix:/run/sendas/policy.sock": self.policy_address,
            "/etc/postfix/": pf.config_dir + "/",
            "/etc/ssl/certs/ca-certificates.crt": self.emu.cert_path,
        }
        applied = pf.apply_snippet(os.path.join(DEPLOY, "main.cf"), subs)
        pf.apply_snippet(os.path.join(DEPLOY, "master.cf"), subs)
        leftovers = [f"{k} = {v}" for k, v in applied.items()
                     if any(s in v for s in ("office365", "/run/sendas", "/etc/postfix",
                                             "/etc/ssl"))]
        if leftovers:
            raise RuntimeError("placeholders not substituted: " + "; ".join(leftovers))
        if not milter:
            pf.set_main({"smtpd_milters": "", "non_smtpd_milters": ""})
        if not milter or not self.use_policyd:
            pf.set_main({"smtpd_recipient_restrictions": "",
                         "smtpd_end_of_data_restrictions": ""})
        credentials = {mb: f"{mb}:{v['password']}" for mb, v in self.mailboxes.items()}
        if default_mailbox:
            credentials[nexthop] = f"{default_mailbox}:{self.mailboxes[default_mailbox]['password']}"
        pf.write_map("sasl_passwd", credentials)
        pf.start()
        return pf

    def postfix_config(self, what, pf=None):
        """postfix_config - `sendasctl postfix-config WHAT` for this stack's sendas.conf, on
        the shipped snippets, with the stack's next hop, paths and CA in place of the
        production ones (as add_postfix does); returns the path of the file written."""
        pf = pf or self.pf
        out = subprocess.run([find_ctl(self.milter_bin), "-c", self.conf_path, "postfix-config",
                              "--snippets", os.path.dirname(DEPLOY), what],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        subs = {"[smtp.office365.com]:587": f"[localhost]:{self.emu.port}",
                "/etc/postfix/": pf.config_dir + "/",
                "/etc/ssl/certs/ca-certificates.crt": self.emu.cert_path}
        for key, value in subs.items():
            out = out.replace(key, value)
        path = os.path.join(pf.basedir, "generated-" + what)
        with open(path, "w", encoding="utf-8") as f:
            f.write(out)
        return path

    def configure_pacing(self, pf=None):
        """configure_pacing - apply postfix-config's main.cf, master.cf and sendas_transport
        table (sendas.conf "pacing yes": one transport per mailbox) to the relay; returns the
        table as {mailbox: transport}."""
        pf = pf or self.pf
        with open(self.postfix_config("sendas_transport", pf), encoding="utf-8") as f:
            rows = dict(ln.split() for ln in f if ln.strip() and not ln.startswith("#"))
        pf.write_map("sendas_transport", rows, mode=0o644)
        pf.apply_snippet(self.postfix_config("master.cf", pf))
        pf.apply_snippet(self.postfix_config("main.cf", pf))  # reloads
        return rows

    # --- mail ---------------------------------------------------------------------------

    def submit_smtp(self, raw, sender, rcpts, pf=None, helo="legacy-app.corp.local", source=None):
        """submit_smtp - one message over SMTP to the relay (or to pf), from the loopback
        address source when given (see smtp_send)."""
        return smtp_send((pf or self.pf).smtp_port, raw, sender, rcpts, helo, source)

    def sendmail(self, raw, sender, rcpts, pf=None):
        """sendmail - one message through the instance's sendmail(1) (the non-SMTP path).
        Returns ("accepted", None) or ("refused", "sendmail: why")."""
        try:
            (pf or self.pf).sendmail(raw, sender, rcpts)
            return ("accepted", None)
        except Exception as e:  # noqa: BLE001 - reported per message
            return ("refused", f"sendmail: {e}")

    def submit(self, raw, sender, rcpts, via="smtp", pf=None, source=None):
        """submit - submit_smtp (from source, if given) or sendmail, by via ("smtp" or
        "sendmail")."""
        if via == "sendmail":
            return self.sendmail(raw, sender, rcpts, pf)
        if via != "smtp":
            return ("refused", f"unknown via {via!r}")
        return self.submit_smtp(raw, sender, rcpts, pf, source=source)

    def delivery_status(self, message_id, pf=None):
        """delivery_status - the last status= (or milter/reject) line Postfix logged for the
        message with this Message-ID, as "queue id Q: text"."""
        pf = pf or self.pf
        qid = pf.queue_id_for(message_id)
        if not qid:
            return "no queue id logged for this Message-ID"
        lines = [ln for ln in pf.maillog().splitlines()
                 if f" {qid}: " in ln and ("status=" in ln or "milter" in ln or "reject" in ln)]
        return f"queue id {qid}: " + (lines[-1].split(f"{qid}: ", 1)[1] if lines
                                      else "no delivery attempt logged")
