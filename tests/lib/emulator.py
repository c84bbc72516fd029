"""Test helper: run tests/emulator/exo_emulator.py as a subprocess and read what it stored.

    from emulator import Emulator
    with Emulator("/tmp/store", {"relay@contoso.com": {"password": "pw", "sendas": []}},
                  max_connections=3) as emu:
        ...connect to emu.host:emu.port (STARTTLS; trust emu.cert_path or emu.client_tls_context())...
        emu.wait_messages(1)
        msg = emu.messages()[0]        # the .json record plus msg["raw"] (bytes of the .eml)
        emu.refused()                  # records from refused.jsonl
        emu.inbox("relay@contoso.com") # accepted messages addressed to that mailbox
        emu.accepted_count()           # how many messages were accepted (stored)
        emu.transactions()             # how many MAIL commands were answered after AUTH

Options (keyword arguments, mapped to the emulator's flags): host ("127.0.0.1" or "::1"),
port (0 = free port), cert, key, log (default STORE/emulator.log), strict_envelope (bool),
rate_limit (int), max_connections (int), basic_auth_disabled (False, True or "5.7.139": AUTH
LOGIN/PLAIN get 535 5.7.139; "5.7.30": 550 5.7.30), token_lifetime (s), apps and tenant (the
token endpoint's applications, see exo_emulator.py), smtp_auth_disabled (bool: SMTP AUTH off
for the tenant, 535 5.7.139 ... for the Tenant.), python (interpreter,
default /usr/bin/python3 because the emulator needs Debian's aiosmtpd), startup_timeout (s).
Per mailbox, its entry may set "smtp_auth_disabled" (true/false, wins over the tenant's) and
"basic_auth_disabled" (true, "5.7.139" or "5.7.30"); see exo_emulator.py.
After start(), token_endpoint(tenant) is the token URL, token_requests() the log lines of the
requests it answered, and token_endpoint_down(True/False) starts and ends an outage.
"""

import json
import os
import queue
import re
import signal
import ssl
import subprocess
import threading
import time

EMULATOR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "emulator", "exo_emulator.py"))


class Emulator:
    def __init__(self, store_dir, mailboxes, *, host="127.0.0.1", port=0, cert=None, key=None,
                 log=None, strict_envelope=True, rate_limit=None, max_connections=None,
                 basic_auth_disabled=False, token_lifetime=None, apps=None, tenant=None,
                 smtp_auth_disabled=False, python="/usr/bin/python3", startup_timeout=20,
                 data_delay=None):
        self.store_dir = os.path.abspath(store_dir)
        # accept both the bare mapping and the file's {"mailboxes": {...}} shape
        self.mailboxes = dict(mailboxes if "mailboxes" in mailboxes else {"mailboxes": mailboxes})
        if apps:
            self.mailboxes["apps"] = apps
        if tenant:
            self.mailboxes["tenant"] = tenant
        if smtp_auth_disabled:
            self.mailboxes["smtp_auth_disabled"] = True
        self.token_lifetime = token_lifetime
        self.host, self.requested_port = host, port
        self.cert, self.key = cert, key
        self.log_path = log or os.path.join(self.store_dir, "emulator.log")
        self.strict_envelope = strict_envelope
        self.rate_limit = rate_limit
        self.max_connections = max_connections
        self.data_delay = data_delay
        self.basic_auth_disabled = basic_auth_disabled
        self.python = python
        self.startup_timeout = startup_timeout
        self.mailboxes_path = os.path.join(self.store_dir, "mailboxes.json")
        self.stderr_path = os.path.join(self.store_dir, "emulator.stderr")
        self.proc = None
        self.port = None

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def cert_path(self):
        """Certificate the emulator presents (generated into the store dir unless given)."""
        return self.cert or os.path.join(self.store_dir, "emulator-cert.pem")

    def command(self):
        cmd = [self.python, EMULATOR, "--listen", f"[{self.host}]:{self.requested_port}"
               if ":" in self.host else f"{self.host}:{self.requested_port}",
               "--mailboxes", self.mailboxes_path, "--store", self.store_dir,
               "--log", self.log_path,
               "--strict-envelope" if self.strict_envelope else "--no-strict-envelope"]
        if self.cert:
            cmd += ["--cert", self.cert, "--key", self.key]
        if self.rate_limit is not None:
            cmd += ["--rate-limit", str(self.rate_limit)]
        if self.max_connections is not None:
            cmd += ["--max-connections", str(self.max_connections)]
        if self.data_delay is not None:
            cmd += ["--data-delay", str(self.data_delay)]
        if self.basic_auth_disabled:
            cmd.append("--basic-auth-disabled")
            if self.basic_auth_disabled is not True:
                cmd.append(str(self.basic_auth_disabled))
        if self.token_lifetime is not None:
            cmd += ["--token-lifetime", str(self.token_lifetime)]
        return cmd

    def start(self):
        if self.proc:
            raise RuntimeError("emulator already started")
        os.makedirs(self.store_dir, exist_ok=True)
        fd = os.open(self.mailboxes_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.mailboxes, f, indent=1)
        stderr = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=stderr)
        finally:
            stderr.close()
        # a thread, because a blocking readline() cannot time out and select() does not
        # mix with the pipe's read buffer
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()),
                         daemon=True).start()
        try:
            line = lines.get(timeout=self.startup_timeout).decode("utf-8", "replace").strip()
        except queue.Empty:
            line = ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"emulator did not start (got {line!r}):\n" + self._diagnostics())
        self.port = int(line.rpartition(":")[2])
        return self

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code (None if not started)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        return proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _diagnostics(self):
        out = []
        for path in (self.stderr_path, self.log_path):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    out.append(f"--- {path}\n" + f.read()[-4000:])
            except OSError:
                pass
        return "\n".join(out)

    # --- results ------------------------------------------------------------------------

    def messages(self):
        """Accepted messages in order: the .json records, each with "raw" (bytes of the .eml)."""
        out = []
        names = sorted(n for n in os.listdir(self.store_dir)
                       if n.endswith(".json") and n[:-5].isdigit())
        for name in names:
            with open(os.path.join(self.store_dir, name), encoding="utf-8") as f:
                rec = json.load(f)
            with open(os.path.join(self.store_dir, rec["eml"]), "rb") as f:
                rec["raw"] = f.read()
            out.append(rec)
        return out

    def inbox(self, mailbox):
        """Accepted messages addressed to mailbox (what Exchange Online would deliver to its
        inbox), in order."""
        mailbox = mailbox.lower()
        return [m for m in self.messages()
                if any(r.lower() == mailbox for r in m.get("rcpt_tos", []))]

    def accepted_count(self):
        """How many messages were accepted (stored), e.g. to prove a check sent none."""
        return sum(1 for n in os.listdir(self.store_dir)
                   if n.endswith(".json") and n[:-5].isdigit())

    def transactions(self):
        """How many MAIL commands the emulator answered after AUTH (a check that sends no mail
        should start none; a refused or reset transaction counts too)."""
        return sum(1 for ln in self.log_text().splitlines() if " MAIL FROM:<" in ln)

    def session_peaks(self):
        """The most authenticated sessions at once: ({mailbox: peak}, peak over all
        mailboxes), from the log's "auth ... ok user=M active=N total=T" lines."""
        per, total = {}, 0
        for m in re.finditer(r" auth \S+ ok user=(\S+) active=(\d+) total=(\d+)",
                             self.log_text()):
            per[m.group(1)] = max(per.get(m.group(1), 0), int(m.group(2)))
            total = max(total, int(m.group(3)))
        return per, total

    def refused(self):
        """Refusals from refused.jsonl, oldest first."""
        try:
            with open(os.path.join(self.store_dir, "refused.jsonl"), encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_messages(self, count, timeout=30):
        """Wait until at least `count` messages are stored (for asynchronous senders like
        Postfix); returns messages().  Raises TimeoutError with what arrived otherwise."""
        return self._wait(self.messages, count, timeout, "messages")

    def wait_refused(self, count, timeout=30):
        return self._wait(self.refused, count, timeout, "refusals")

    def _wait(self, fetch, count, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            got = fetch()
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} {what}, have {len(got)}")
            time.sleep(0.1)

    # --- the token endpoint -------------------------------------------------------------

    def token_endpoint(self, tenant="contoso.onmicrosoft.com"):
        """The token URL for tenant (https://localhost:PORT/TENANT/oauth2/v2.0/token)."""
        with open(os.path.join(self.store_dir, "token-endpoint"), encoding="ascii") as f:
            return f.read().strip() + f"/{tenant}/oauth2/v2.0/token"

    def token_requests(self):
        """The log lines of the token requests, in order ("token request n=N ... result=...")."""
        return [ln for ln in self.log_text().splitlines() if " token request n=" in ln]

    def token_endpoint_down(self, down=True):
        """Start (True) or end (False) an outage: the endpoint drops every connection."""
        flag = os.path.join(self.store_dir, "token-endpoint-down")
        if down:
            open(flag, "w").close()
        elif os.path.exists(flag):
            os.unlink(flag)

    def client_tls_context(self):
        """SSL context for clients that trusts exactly the emulator's certificate."""
        ctx = ssl.create_default_context(cafile=self.cert_path)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx
