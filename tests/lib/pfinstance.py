# SPDX-License-Identifier: MIT
"""Test helper: a private Postfix instance that lives entirely under one directory.

    from pfinstance import PostfixInstance
    with PostfixInstance("/tmp/pf", smtp_port=10025,
                         main_cf={"relayhost": "[127.0.0.1]:2587"}) as pf:
        pf.sendmail(b"From: a@b\\r\\n\\r\\nhi\\r\\n", "a@b", ["c@d"])
        pf.wait_queue_empty(30)
        print(pf.maillog())

Layout under basedir: etc/ (main.cf, master.cf, maps), spool/ (queue_directory, owned by
root with postfix-owned subdirectories made by `postfix start`), data/ (data_directory,
owned by postfix), maillog (written by postlogd).  Every Postfix command gets `-c basedir/etc`,
so the system's /etc/postfix configuration and /var/spool/postfix queue are never read or
written.  Needs root (postfix start, chown to the postfix user); run with /usr/bin/python3.
"""

import atexit
import json
import os
import pwd
import re
import signal
import subprocess
import time

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTQUEUE = "/usr/sbin/postqueue"
POSTMAP = "/usr/sbin/postmap"
SENDMAIL = "/usr/sbin/sendmail"

# Services a relay-only instance needs.  chroot is "n" everywhere: a chroot jail would need
# copies of CA files, maps and /etc files under the queue directory.
_MASTER_SERVICES = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{port} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _parse_main_cf(text):
    """_parse_main_cf - [(name, value)] from main.cf syntax (comments, continuation lines)."""
    params = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if not params:
                raise ValueError(f"continuation line without a parameter: {line!r}")
            name, value = params[-1]
            params[-1] = (name, (value + " " + line.strip()).strip())
            continue
        name, eq, value = line.partition("=")
        if not eq:
            raise ValueError(f"not a main.cf parameter line: {line!r}")
        params.append((name.strip(), value.strip()))
    return params


def _parse_master_cf(text):
    """_parse_master_cf - service entries (first line plus its continuation lines) as strings."""
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if not entries:
                raise ValueError(f"continuation line without a service: {line!r}")
            entries[-1] += "\n" + line.rstrip()
        else:
            entries.append(line.rstrip())
    return entries


def _service_key(entry):
    fields = entry.split()
    return (fields[0], fields[1])


class PostfixError(RuntimeError):
    pass


class PostfixInstance:
    def __init__(self, basedir, smtp_port, main_cf=None, master_extra="", milter=None,
                 myhostname="pf-test.sendas.invalid"):
        """basedir: directory to build the instance in (created if missing; the caller owns
        it and removes it).  smtp_port: loopback port for the smtpd inet service.
        main_cf: extra main.cf parameters {name: value}, applied last.  master_extra: text
        appended to master.cf.  milter: a Postfix milter address ("inet:127.0.0.1:PORT",
        "unix:/path") used for both smtpd_milters and non_smtpd_milters."""
        self.basedir = os.path.abspath(basedir)
        self.smtp_port = int(smtp_port)
        self.config_dir = os.path.join(self.basedir, "etc")
        self.queue_dir = os.path.join(self.basedir, "spool")
        self.data_dir = os.path.join(self.basedir, "data")
        self.maillog_path = os.path.join(self.basedir, "maillog")
        self.main_path = os.path.join(self.config_dir, "main.cf")
        self.master_path = os.path.join(self.config_dir, "master.cf")
        self.myhostname = myhostname
        self.extra_main = dict(main_cf or {})
        self.master_extra = master_extra
        self.milter = milter
        self.started = False
        self._atexit = False
        self._build()

    # --- configuration ------------------------------------------------------------------

    def _base_params(self):
        return [
            ("compatibility_level", "3.6"),
            ("queue_directory", self.queue_dir),
            ("data_directory", self.data_dir),
            ("mail_owner", "postfix"),
            ("setgid_group", "postdrop"),
            ("myhostname", self.myhostname),
            ("mydomain", self.myhostname.partition(".")[2] or self.myhostname),
            ("myorigin", "$myhostname"),
            ("inet_interfaces", "127.0.0.1"),
            ("inet_protocols", "ipv4"),
            ("smtp_bind_address", "127.0.0.1"),
            ("mydestination", ""),
            ("relay_domains", ""),
            ("mynetworks", "127.0.0.0/8"),
            ("local_transport", "error:local delivery is disabled in this test instance"),
            ("alias_maps", ""),
            ("alias_database", ""),
            ("local_recipient_maps", ""),
            ("biff", "no"),
            ("maillog_file", self.maillog_path),
            ("maillog_file_prefixes", self.basedir),
            # no DNS at all: only loopback literals ([127.0.0.1]:port) are used as next hops
            ("smtp_dns_support_level", "disabled"),
            ("smtp_host_lookup", "native"),
            ("smtp_connect_timeout", "5s"),
            # a test that starts the upstream late must not wait minutes for a retry
            ("queue_run_delay", "2s"),
            ("minimal_backoff_time", "2s"),
            ("maximal_backoff_time", "4s"),
            ("delay_warning_time", "0"),
            ("smtpd_banner", "$myhostname ESMTP test instance"),
        ]

    def _build(self):
        for d in (self.basedir, self.config_dir, self.queue_dir, self.data_dir):
            os.makedirs(d, exist_ok=True)
        # The whole path must be traversable by the postfix user (mktemp -d makes 0700).
        path = self.basedir
        while True:
            st = os.stat(path)
            if not st.st_mode & 0o001:
                os.chmod(path, (st.st_mode & 0o7777) | 0o755)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        for d in (self.config_dir, self.queue_dir, self.data_dir):
            os.chmod(d, 0o755)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        os.chown(self.queue_dir, 0, 0)

        params = self._base_params()
        if self.milter:
            params += [("smtpd_milters", self.milter), ("non_smtpd_milters", self.milter)]
        self._write_main(params)
        master = _MASTER_SERVICES.format(port=f"127.0.0.1:{self.smtp_port}".ljust(9))
        if self.master_extra:
            master += "\n" + self.master_extra.rstrip("\n") + "\n"
        with open(self.master_path, "w", encoding="utf-8") as f:
            f.write(master)
        if self.extra_main:
            self.set_main(self.extra_main)

    def _write_main(self, params):
        lines = ["# Private test instance written by tests/lib/pfinstance.py",
                 f"# (started with: postfix -c {self.config_dir} start)"]
        lines += [f"{name} = {value}" for name, value in params]
        with open(self.main_path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def main_params(self):
        """main_params - the instance's main.cf parameters as an ordered dict."""
        with open(self.main_path, encoding="utf-8") as f:
            return dict(_parse_main_cf(f.read()))

    def set_main(self, params):
        """set_main - set main.cf parameters {name: value}, replacing earlier definitions
        (a later duplicate would win anyway, but postconf warns about it)."""
        current = self.main_params()
        current.update({k: str(v) for k, v in params.items()})
        self._write_main(list(current.items()))
        if self.started:
            self.reload()

    def add_master(self, text):
        """add_master - add master.cf service entries; an entry with the same service name
        and type as an existing one replaces it."""
        with open(self.master_path, encoding="utf-8") as f:
            existing = f.read()
        new = _parse_master_cf(text)
        keys = {_service_key(e) for e in new}
        kept = [e for e in _parse_master_cf(existing) if _service_key(e) not in keys]
        with open(self.master_path, "w", encoding="utf-8") as f:
            f.write("\n".join(kept + new) + "\n")
        if self.started:
            self.reload()

    def apply_snippet(self, path, substitutions=None):
        """apply_snippet - apply a shipped deploy snippet (deploy/postfix/main.cf or
        master.cf) to this instance.  Each key of `substitutions` is replaced literally by its
        value (longest keys first) before parsing, so the snippet is used verbatim except for
        the addresses and paths the test names.  Files called master.cf (or *.master.cf) are
        service entries; anything else is main.cf parameters.  Returns what was applied:
        {name: value} for main.cf, [entries] for master.cf."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for key in sorted(substitutions or {}, key=len, reverse=True):
            text = text.replace(key, substitutions[key])
        if os.path.basename(path).endswith("master.cf"):
            entries = _parse_master_cf(text)
            self.add_master("\n".join(entries))
            return entries
        params = dict(_parse_main_cf(text))
        self.set_main(params)
        return params

    def postconf(self, *args):
        """postconf - run postconf -c DIR with args and return its stdout."""
        return self._run([POSTCONF, "-c", self.config_dir, *args]).stdout

    def postmap(self, map_path, map_type="hash"):
        """postmap - build an indexed map (maps live under the config dir by convention)."""
        self._run([POSTMAP, "-c", self.config_dir, f"{map_type}:{map_path}"])

    def write_map(self, name, entries, map_type="hash", mode=0o600):
        """write_map - write config_dir/name from {key: value}, postmap it, return its path."""
        path = os.path.join(self.config_dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for key, value in entries.items():
                f.write(f"{key} {value}\n")
        os.chmod(path, mode)
        self.postmap(path, map_type)
        return path

    # --- lifecycle ----------------------------------------------------------------------

    def _run(self, cmd, check=True, **kw):
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        if check and proc.returncode != 0:
            raise PostfixError(
                f"{' '.join(cmd)} exited {proc.returncode}\nstdout: "
                f"{proc.stdout.decode(errors='replace')}\nstderr: "
                f"{proc.stderr.decode(errors='replace')}\nmaillog tail:\n{self.maillog()[-3000:]}")
        proc.stdout = proc.stdout.decode(errors="replace")
        proc.stderr = proc.stderr.decode(errors="replace")
        return proc

    def _master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None
        if pid <= 0:
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start(self, timeout=20):
        """start - postfix check + postfix start; waits until smtpd accepts connections."""
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        self._run([POSTFIX, "-c", self.config_dir, "check"])
        self._run([POSTFIX, "-c", self.config_dir, "start"])
        self.started = True
        deadline = time.monotonic() + timeout
        import socket
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(512).startswith(b"220"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PostfixError(f"postfix did not answer on 127.0.0.1:{self.smtp_port}\n"
                                   f"maillog tail:\n{self.maillog()[-3000:]}")
            time.sleep(0.2)

    def reload(self):
        self._run([POSTFIX, "-c", self.config_dir, "reload"])

    def stop(self, timeout=15):
        """stop - postfix stop; SIGKILL the master if it does not exit.  Safe to call twice
        and when start failed half-way."""
        pid = self._master_pid()
        if pid is None:
            self.started = False
            return
        self._run([POSTFIX, "-c", self.config_dir, "stop"], check=False)
        deadline = time.monotonic() + timeout
        while self._master_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._master_pid() == pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.started = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- mail ---------------------------------------------------------------------------

    def sendmail(self, raw, sender, rcpts, extra_args=()):
        """sendmail - submit raw bytes through this instance's sendmail(1) (postdrop →
        pickup: the non-SMTP path, where non_smtpd_milters apply)."""
        cmd = [SENDMAIL, "-C", self.config_dir, "-i", "-f", sender, *extra_args, "--", *rcpts]
        return self._run(cmd, input=raw)

    def flush(self):
        """flush - postqueue -f: retry deferred mail now."""
        self._run([POSTQUEUE, "-c", self.config_dir, "-f"])

    def queue(self):
        """queue - postqueue -j records (one dict per queued message)."""
        out = self._run([POSTQUEUE, "-c", self.config_dir, "-j"]).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def queue_ids(self):
        return [rec["queue_id"] for rec in self.queue()]

    def wait_queue_empty(self, timeout=60, flush_every=5.0):
        """wait_queue_empty - wait until the queue (incoming, active, deferred, maildrop) is
        empty, flushing every flush_every seconds.  Returns True, or False on timeout.  Mail
        still in maildrop (not picked up yet) counts as queued."""
        deadline = time.monotonic() + timeout
        last_flush = time.monotonic()
        while True:
            if not self.queue_ids() and not self._maildrop_files():
                return True
            now = time.monotonic()
            if now > deadline:
                return False
            if now - last_flush >= flush_every:
                self.flush()
                last_flush = now
            time.sleep(0.25)

    def _maildrop_files(self):
        try:
            return os.listdir(os.path.join(self.queue_dir, "maildrop"))
        except FileNotFoundError:
            return []

    def maillog(self):
        """maillog - the instance's log text ("" before the first line is written)."""
        try:
            with open(self.maillog_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def queue_id_for(self, message_id):
        """queue_id_for - the queue id cleanup logged for a Message-ID, or None."""
        m = re.search(r"([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}): "
                      r"message-id=<?" + re.escape(message_id.strip("<>")) + r">?",
                      self.maillog())
        return m.group(1) if m else None
