#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: Postfix signs in to Exchange Online with XOAUTH2 (sendas-tokend + the plugin).

The relay of tests/lib/stack.py (emulator, sendas-milter, sendas-policyd, a private Postfix
with the shipped main.cf) with Basic authentication disabled at the emulator.  sendas-tokend
runs with the oauth_* lines of the same sendas.conf against the emulator's token endpoint
(HTTPS on loopback).  Postfix's smtp (not chrooted: the shipped master.cf's exo service)
loads the built XOAUTH2 plugin from a directory in the test's temporary directory, named by
`import_environment = ... SASL_PATH=DIR` (the master imports it when it starts, so Postfix is
restarted; libsasl2 reads SASL_PATH in a process whose real and effective ids agree);
nothing is written to the system's SASL plugin directories.
smtp_sasl_mechanism_filter = xoauth2 and sasl_passwd entries
"MAILBOX MAILBOX:token:TOKEN_DIR/MAILBOX".  Checks:

  - a secret file with mode 0644 is refused with a clear message, before any request;
  - client secret: a message is delivered, signed in with XOAUTH2 (LOGIN would get 535 5.7.139);
  - certificate: after SIGHUP tokend signs an RS256 assertion (test certificate made with
    openssl), the emulator verifies it, a message is delivered with the new token;
  - load: LOAD_MESSAGES (200) messages through 10 parallel smtp processes while tokens of
    TOKEN_LIFETIME seconds (24; the acceptance run uses 120) are refreshed TOKEN_MARGIN
    seconds (8; 30) before they expire: every message delivered, no SASL failure, and the
    token endpoint asked at most once per refresh period (duration / (lifetime - margin) + 1);
  - outage: the token endpoint drops connections until the token expired: mail is deferred
    (4.7.0, the plugin refuses the expired token), nothing bounces; when the endpoint is back
    tokend gets a token within its backoff and every message is delivered;
  - no secret, private key or token appears in any log;
  - Postfix's smtp mapped the plugin from the test's directory (/proc/PID/maps), and the
    test writes nothing to the system's SASL plugin directories (/usr/lib/*/sasl2).

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when Postfix, the binaries, root, openssl or python3-aiosmtpd
is missing.  Environment: BUILDDIR (or SENDAS_TOKEND and SENDAS_SASL_PLUGIN),
TOKEN_LIFETIME, TOKEN_MARGIN, LOAD_MESSAGES, LOAD_SECONDS; SENDAS_E2E_KEEP=1 keeps the
temporary directory.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import (MAILBOXES, SENDAS_CONF, Stack, checks, e2e_tmpdir, find_milter,  # noqa: E402
                   prerequisites, report, skip, start_daemon, stop_process, tail)

OPENSSL = "/usr/bin/openssl"
TENANT = "contoso.onmicrosoft.com"
SECRET = "Qx~8Q~sendas-test-secret-Yh2bC0d3"   # the Entra client secret value
SECRET_APP = "6d1f1f5e-1c2b-4a57-9a53-0f4f0f6a1a01"
CERT_APP = "0b8a2d7c-5e3f-4c1a-8b9d-2e6f7a8b9c02"
LIFETIME = int(os.environ.get("TOKEN_LIFETIME", "24"))
MARGIN = int(os.environ.get("TOKEN_MARGIN", "8"))
LOAD_MESSAGES = int(os.environ.get("LOAD_MESSAGES", "200"))
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "40"))
SENDER = "nagios@mon01.corp.local"
RCPT = "ops@contoso.com"


def find_tokend(milter_bin):
    if os.environ.get("SENDAS_TOKEND"):
        return os.environ["SENDAS_TOKEND"]
    built = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(milter_bin))),
                         "tokend", "sendas-tokend")
    return built if os.access(built, os.X_OK) else "/usr/sbin/sendas-tokend"


def find_plugin(milter_bin):
    if os.environ.get("SENDAS_SASL_PLUGIN"):
        return os.environ["SENDAS_SASL_PLUGIN"]
    built = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(milter_bin))),
                         "sasl", "libxoauth2.so")
    if os.path.exists(built):
        return built
    found = glob.glob("/usr/lib/*/sasl2/libxoauth2.so")
    return found[0] if found else built


def message(msgid, n=0):
    return (f"From: Nagios <{SENDER}>\r\nTo: <{RCPT}>\r\nSubject: oauth test {n}\r\n"
            f"Message-ID: <{msgid}>\r\n\r\nbody {n}\r\n").encode()


def wait_for(pred, timeout, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class Tokend:
    """sendas-tokend -f with the stack's sendas.conf, its log in tmp/tokend.log."""

    def __init__(self, binary, conf_path, log_path):
        self.binary, self.conf_path, self.log_path = binary, conf_path, log_path
        self.proc = None

    def start(self):
        self.proc = start_daemon([self.binary, "-f", "-c", self.conf_path], self.log_path, None)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        stop_process(self.proc)

    def log(self):
        return tail(self.log_path, 1 << 24)


def token_file(tokdir, mailbox="relay@contoso.com"):
    """(expires, token) of a mailbox's token file, or (0, None)."""
    try:
        with open(os.path.join(tokdir, mailbox), encoding="ascii") as f:
            text = f.read()
    except OSError:
        return 0, None
    m = re.fullmatch(r"expires (\d+)\ntoken (\S+)\n", text)
    return (int(m.group(1)), m.group(2)) if m else (0, None)


def make_cert(directory):
    cert, key = os.path.join(directory, "app-cert.pem"), os.path.join(directory, "app-key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=sendas-tokend test app", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key


def plugins_mapped(config_dir):
    """The XOAUTH2 plugin files mapped into this Postfix instance's running processes (its
    smtp processes, found by MAIL_CONFIG in their environment)."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"MAIL_CONFIG={config_dir}".encode() not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
                found.update(ln.split()[-1] for ln in f if ln.rstrip().endswith("libxoauth2.so"))
        except OSError:
            continue
    return found


def private_plugin_dir(tmp, plugin):
    """A directory in tmp with just the plugin, readable by Postfix's smtp (user postfix)."""
    d = os.path.join(tmp, "sasl2")
    os.makedirs(d)
    os.chmod(d, 0o755)
    shutil.copy(plugin, os.path.join(d, "libxoauth2.so"))
    os.chmod(os.path.join(d, "libxoauth2.so"), 0o644)
    return d


def main():
    milter_bin = find_milter()
    tokend_bin, plugin = find_tokend(milter_bin), find_plugin(milter_bin)
    why = prerequisites(milter_bin, (OPENSSL, tokend_bin))
    if not why and not os.path.exists(plugin):
        why = f"XOAUTH2 plugin not found: {plugin} (set SENDAS_SASL_PLUGIN or BUILDDIR)"
    if why:
        skip(why)

    tmp = e2e_tmpdir("oauth")
    results, check = checks()

    tokdir = os.path.join(tmp, "tokens")
    sasl_dir = private_plugin_dir(tmp, plugin)
    secret_path = os.path.join(tmp, "client-secret")
    cert, key = make_cert(tmp)
    apps = {SECRET_APP: {"secret": SECRET, "mailboxes": list(MAILBOXES)},
            CERT_APP: {"certificate": cert, "mailboxes": list(MAILBOXES)}}
    stack = Stack(tmp, milter_bin, emulator_options={
        "basic_auth_disabled": True, "apps": apps, "tenant": TENANT,
        "token_lifetime": LIFETIME, "max_connections": 0})
    tokend = Tokend(tokend_bin, stack.conf_path, os.path.join(tmp, "tokend.log"))
    tokens_seen = set()
    watching = threading.Event()

    def watch_tokens():
        while not watching.is_set():
            tok = token_file(tokdir)[1]
            if tok:
                tokens_seen.add(tok)
            time.sleep(0.5)

    def oauth_conf(credentials):
        return (SENDAS_CONF + f"oauth_tenant {TENANT}\n"
                f"oauth_token_endpoint {stack.emu.token_endpoint(TENANT)}\n"
                f"oauth_ca_file {stack.emu.cert_path}\n" + credentials +
                f"token_dir {tokdir}\ntoken_refresh_margin {MARGIN}\n"
                "token_retry_min 1\ntoken_retry_max 3\n")

    watcher = threading.Thread(target=watch_tokens, daemon=True)
    try:
        stack.start()
        pf = stack.pf
        emu = stack.emu

        # --- a secret others can read is refused ------------------------------------------
        fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(secret_path, 0o644)
        stack.write_conf(oauth_conf(f"oauth_client_id {SECRET_APP}\n"
                                    f"oauth_client_secret_file {secret_path}\n"))
        proc = subprocess.run([tokend_bin, "-f", "-c", stack.conf_path], capture_output=True,
                              text=True, timeout=30)
        msg = (proc.stdout + proc.stderr).strip().splitlines()
        check(proc.returncode != 0 and any("mode 0644" in ln and "chmod 600" in ln for ln in msg)
              and not emu.token_requests(),
              "a client secret file with mode 0644 is refused before any request",
              f"exit {proc.returncode}: {msg[-1] if msg else ''}")
        os.chmod(secret_path, 0o600)

        # --- --fetch: Microsoft's error for a wrong secret, then success -----------------
        with open(secret_path, "w") as f:
            f.write("not-the-secret\n")
        proc = subprocess.run([tokend_bin, "-c", stack.conf_path, "--fetch"],
                              capture_output=True, text=True, timeout=30)
        check(proc.returncode == 1 and "invalid_client AADSTS7000215" in proc.stdout,
              "--fetch with a wrong secret reports invalid_client AADSTS7000215",
              proc.stdout.strip()[:160])
        with open(secret_path, "w") as f:
            f.write(SECRET + "\n")

        # --- client secret: delivered over XOAUTH2 with Basic disabled --------------------
        import_env = subprocess.run(["/usr/sbin/postconf", "-dh", "import_environment"],
                                    capture_output=True, text=True, check=True).stdout.strip()
        pf.set_main({"smtp_sasl_mechanism_filter": "xoauth2",
                     "exo_destination_concurrency_limit": "10",
                     "import_environment": f"{import_env} SASL_PATH={sasl_dir}"})
        pf.write_map("sasl_passwd", {mb: f"{mb}:token:{tokdir}/{mb}" for mb in MAILBOXES})
        # 10 parallel smtp processes for the load check (the shipped exo service has 3)
        with open(pf.master_path, encoding="utf-8") as f:
            exo = re.search(r"^exo\s.*(?:\n[ \t].*)*", f.read(), re.M).group(0)
        pf.add_master(re.sub(r"^(exo(?:\s+\S+){5}\s+)3(\s)", r"\g<1>10\2", exo))
        # a restart, not a reload: the master process imports the environment at start only
        pf.stop()
        pf.start()
        tokend.start()
        got = wait_for(lambda: token_file(tokdir)[1] is not None, 20)
        st = os.stat(tokdir) if got else None
        fst = os.stat(os.path.join(tokdir, "relay@contoso.com")) if got else None
        check(got and st.st_mode & 0o777 == 0o750 and fst.st_mode & 0o777 == 0o640
              and fst.st_gid == st.st_gid,
              "tokend wrote the token files (dir 0750, files 0640, group postfix)",
              f"{tokdir}: {oct(st.st_mode & 0o777) if st else '-'}, "
              f"file {oct(fst.st_mode & 0o777) if fst else '-'}")
        watcher.start()
        before = len(emu.messages())
        state, detail = stack.submit_smtp(message("secret@oauth-test"), SENDER, [RCPT])
        delivered = wait_for(lambda: len(emu.messages()) > before, 30)
        mapped = plugins_mapped(pf.config_dir)
        auth = [ln for ln in emu.log_text().splitlines() if " auth " in ln]
        check(state == "accepted" and delivered
              and any("auth XOAUTH2 ok user=relay@contoso.com" in ln for ln in auth)
              and not any(" auth LOGIN" in ln or " auth PLAIN" in ln for ln in auth),
              "client secret: delivered through the emulator with Basic disabled (XOAUTH2)",
              f"{state} {detail or ''}; {stack.delivery_status('secret@oauth-test')}")

        # --- sendasctl token: the state tokend keeps, and one request through tokend ------
        ctl = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(tokend_bin))),
                           "ctl", "sendasctl")
        ctl = ctl if os.access(ctl, os.X_OK) else "/usr/bin/sendasctl"
        env = dict(os.environ, SENDAS_TOKEND=tokend_bin)
        show = subprocess.run([ctl, "-c", stack.conf_path, "token"], capture_output=True,
                              text=True, env=env, timeout=30)
        fetched = subprocess.run([ctl, "-c", stack.conf_path, "token", "--fetch"],
                                 capture_output=True, text=True, env=env, timeout=30)
        rows = [ln for ln in show.stdout.splitlines() if ln.startswith(("relay@", "scanner@"))]
        check(show.returncode == 0 and len(rows) == 2 and all(" s ago" in r for r in rows)
              and fetched.returncode == 0 and fetched.stdout.startswith("ok:"),
              "sendasctl token shows both mailboxes' tokens; token --fetch succeeds",
              (rows[0] if rows else show.stderr.strip()) + " | " + fetched.stdout.strip()[:60])

        # --- certificate: SIGHUP switches tokend to an RS256 client assertion -------------
        stack.write_conf(oauth_conf(f"oauth_client_id {CERT_APP}\noauth_certificate {cert}\n"
                                    f"oauth_private_key {key}\n"))
        n_before = len(emu.token_requests())
        tokend.signal(signal.SIGHUP)
        got = wait_for(lambda: any("auth=assertion result=ok" in ln
                                   for ln in emu.token_requests()[n_before:]), 20)
        time.sleep(1)
        before = len(emu.messages())
        state, detail = stack.submit_smtp(message("cert@oauth-test"), SENDER, [RCPT])
        delivered = wait_for(lambda: len(emu.messages()) > before, 30)
        check(got and state == "accepted" and delivered,
              "certificate: the emulator verified the RS256 assertion; delivered with its token",
              f"assertion accepted: {got}; {stack.delivery_status('cert@oauth-test')}")
        bad = subprocess.run([tokend_bin, "-c", stack.conf_path, "--fetch"],
                             capture_output=True, text=True, timeout=30)
        check(bad.returncode == 0 and bad.stdout.startswith("ok:"),
              "--fetch with the certificate reports success", bad.stdout.strip()[:160])

        # --- load: 200 messages, 10 smtp processes, short tokens refreshed ----------------
        sasl_fail_before = pf.maillog().count("SASL authentication failed")
        ok_before = sum(1 for ln in emu.token_requests() if "result=ok" in ln)
        before = len(emu.messages())
        start = time.monotonic()
        submitted, refused = 0, []
        lock = threading.Lock()

        def submitter(idx):
            nonlocal submitted
            for i in range(idx, LOAD_MESSAGES, 10):
                # bursts of 20, so that the 10 smtp processes all have work
                due = start + LOAD_SECONDS * (i // 20) * 20 / LOAD_MESSAGES
                time.sleep(max(0, due - time.monotonic()))
                st, det = stack.submit_smtp(message(f"load{i}@oauth-test", i), SENDER, [RCPT])
                with lock:
                    if st == "accepted":
                        submitted += 1
                    else:
                        refused.append(det)
        workers = [threading.Thread(target=submitter, args=(k,)) for k in range(10)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        delivered = wait_for(lambda: len(emu.messages()) - before >= LOAD_MESSAGES, 120, 0.5)
        duration = time.monotonic() - start
        got = len(emu.messages()) - before
        asked = sum(1 for ln in emu.token_requests() if "result=ok" in ln) - ok_before
        allowed = int(duration / max(1, LIFETIME - MARGIN)) + 1
        sasl_fail = pf.maillog().count("SASL authentication failed") - sasl_fail_before
        smtp_pids = set(re.findall(r"postfix/exo/smtp\[(\d+)\]", pf.maillog()))
        check(delivered and submitted == LOAD_MESSAGES and sasl_fail == 0,
              f"load: {LOAD_MESSAGES} messages delivered with {LIFETIME} s tokens, no failed "
              "sign-in", f"{got} delivered in {duration:.0f} s by {len(smtp_pids)} smtp "
              f"processes; {sasl_fail} SASL failures; refused at submission: {refused[:2]}")
        check(asked <= allowed,
              "load: the token endpoint was asked at most once per refresh period",
              f"{asked} token requests in {duration:.0f} s, lifetime {LIFETIME} s, refresh "
              f"{MARGIN} s before expiry (at most {allowed})")

        # --- outage: mail waits while the token endpoint is down, none bounces ------------
        emu.token_endpoint_down(True)
        expires = token_file(tokdir)[0]
        time.sleep(max(0, expires - time.time()) + 1)
        before = len(emu.messages())
        deferred_before = pf.maillog().count("status=deferred")
        outage = [f"outage{i}@oauth-test" for i in range(5)]
        states = [stack.submit_smtp(message(m, i), SENDER, [RCPT])[0]
                  for i, m in enumerate(outage)]
        waited = wait_for(lambda: pf.maillog().count("status=deferred") - deferred_before >= 5,
                          30)
        log = pf.maillog()
        deferred_lines = [ln for ln in log.splitlines() if "status=deferred" in ln][-5:]
        check(all(s == "accepted" for s in states) and waited
              and len(emu.messages()) == before
              and all("SASL authentication failed" in ln and "dsn=4.7.0" in ln
                      for ln in deferred_lines),
              "outage: with the token expired, mail is deferred (4.7.0), nothing sent",
              deferred_lines[-1].split(": ", 2)[-1][:200] if deferred_lines else "no deferral")
        down_for = 12
        time.sleep(down_for)
        emu.token_endpoint_down(False)
        renewed = wait_for(lambda: token_file(tokdir)[0] > time.time() + 2, 20)
        pf.flush()
        delivered = wait_for(lambda: len(emu.messages()) - before >= len(outage), 60, 0.5)
        drained = pf.wait_queue_empty(30)
        log = pf.maillog()
        bounced = log.count("status=bounced")
        tlog = tokend.log()
        errs = [ln for ln in tlog.splitlines() if "token request" in ln and "failed" in ln]
        check(renewed and delivered and drained and bounced == 0,
              "outage: after recovery all delivered, 0 bounced, 0 lost",
              f"{len(emu.messages()) - before}/{len(outage)} delivered, {bounced} bounced, queue "
              f"empty: {drained}")
        check(len(errs) == 1 and "retrying with backoff" in errs[0]
              and "works again" in tlog,
              "outage: tokend logged the failure once, and the recovery",
              errs[0].split("failed: ", 1)[-1][:160] if errs else f"{len(errs)} error lines")

        # --- nothing secret in any log --------------------------------------------------
        watching.set()
        with open(key, encoding="ascii") as f:
            key_body = "".join(f.read().splitlines()[1:4])
        secrets_ = [SECRET, key_body] + sorted(tokens_seen)
        logs = {p: tail(p, 1 << 26) for p in
                [pf.maillog_path, stack.milter_log, stack.policyd_log, tokend.log_path,
                 emu.log_path, emu.stderr_path] + glob.glob(os.path.join(tokdir, "*.state"))}
        leaks = [f"{os.path.basename(p)}" for p, text in logs.items()
                 if any(s and s in text for s in secrets_)]
        check(tokens_seen and not leaks,
              "no secret, private key or token appears in any log",
              f"{len(tokens_seen)} tokens, {len(logs)} logs checked"
              + (f"; leaked into {leaks}" if leaks else ""))
        check(mapped == {os.path.join(sasl_dir, "libxoauth2.so")},
              "smtp loaded the plugin from the test's SASL_PATH directory, not the system's",
              ", ".join(sorted(mapped)) or "no smtp process had it mapped")
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        watching.set()
        tokend.stop()
        stack.stop()

    return report(results, tmp, lambda failed: print(
        "--- tokend.log\n" + tail(os.path.join(tmp, "tokend.log"), 3000)))


if __name__ == "__main__":
    sys.exit(main())
