#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: `sendasctl doctor --remote` against the Exchange Online emulator in each state.

A private Postfix configuration directory (tests/lib/pfinstance.py, not started: doctor only
reads it through `postconf -c DIR` and `postmap -c DIR -q`) names the emulator as relayhost
([localhost]:PORT), its certificate as smtp_tls_CAfile and a sasl_passwd map keyed by mailbox
(built with `postmap -c DIR`).  The emulator is started once per state, always on the same
store, so that the messages it accepted can be counted over all runs.  Checks (on the JSON
report; the table's width once):

  - all good: connect, TLS (protocol and cipher shown, certificate verified), AUTH offered,
    each mailbox signs in (235);
  - SMTP AUTH off for the tenant: both mailboxes FAIL "... for the Tenant.", the fix
    Set-TransportConfig; for one mailbox: that one FAIL "... for the Mailbox.", the fix
    Set-CASMailbox -Identity 'scanner@contoso.com', the other OK;
  - Basic authentication off, 535 5.7.139 and 550 5.7.30: FAIL, the fix OAuth (sendas-tokend);
  - a wrong password: FAIL 535 5.7.3, the fix names sasl_passwd;
  - a certificate not trusted (no smtp_tls_CAfile, no --ca-file) and one for another name:
    FAIL with the reason, and no AUTH is sent;
  - XOAUTH2 with a token file from the emulator's token endpoint: OK; a mailbox without a
    token whose state file holds AADSTS7000215: FAIL, the fix names the client secret;
  - a server that never greets: FAIL within the timeout; a 432 4.3.2 and a 421 greeting: the
    concurrency and throttling advice; a server with STARTTLS but no AUTH after it (SMTP AUTH
    off for the tenant): FAIL; one with TLS 1.1 at most: FAIL naming TLS 1.2;
  - Postfix's syntax: a map named with $config_directory, an EHLO with AUTH= before AUTH (the
    last counts), a server offering only PLAIN to a filter of login (FAIL, no worthy mechs, not a
    PLAIN sign-in Postfix would never try), a relayhost whose port is a service name ([127.0.0.1]:tcpmux);
  - the reply reader's caps (65 lines, a 2000-byte line) and broken replies: FAIL saying so;
    control characters (C0 and C1) and bytes that are no UTF-8 character in a greeting reach
    the report as '?', so the JSON stays UTF-8;
  - the emulator accepted no message and saw no MAIL command over all runs.

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0, 1, or 77 (SKIP)
without root, Postfix, python3-aiosmtpd, openssl or the built sendasctl.  BUILDDIR (or
SENDAS_CTL) names the build; SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import contextlib
import importlib.util
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from emulator import Emulator  # noqa: E402
from pfinstance import PostfixInstance  # noqa: E402
from stack import checks, e2e_tmpdir, find_ctl, free_port, report, skip  # noqa: E402

OPENSSL = "/usr/bin/openssl"
RELAY, SCANNER = "relay@contoso.com", "scanner@contoso.com"
PASSWORDS = {RELAY: "relay-secret-1", SCANNER: "scanner-secret-2"}
TENANT = "contoso.onmicrosoft.com"
APP, APP_SECRET = "6d1f1f5e-1c2b-4a57-9a53-0f4f0f6a1a01", "doctor-test-secret"
SENDAS_CONF = f"mailbox {RELAY}\nmailbox {SCANNER}\nroute * {RELAY}\n"


class Case:
    """What every run shares: the binaries, the Postfix directory, the emulator's store."""

    def __init__(self, tmp, ctl):
        self.tmp, self.ctl = tmp, ctl
        self.store = os.path.join(tmp, "emulator")
        self.conf = os.path.join(tmp, "sendas.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(SENDAS_CONF)
        self.pf = PostfixInstance(os.path.join(tmp, "postfix"), free_port())
        self.tokens = os.path.join(tmp, "tokens")
        os.makedirs(self.tokens)
        self.crashes = []  # sanitizer reports, exits beyond 0/1/2

    def emulator(self, boxes=None, **options):
        boxes = boxes or {m: {"password": p, "sendas": []} for m, p in PASSWORDS.items()}
        return Emulator(self.store, boxes, max_connections=3, **options)

    def configure(self, emu, credentials=None, ca_file="emu"):
        """relayhost, smtp_tls_CAfile ("emu": the emulator's certificate) and the map."""
        self.pf.set_main({"relayhost": f"[localhost]:{emu.port}",
                          "smtp_tls_CAfile": emu.cert_path if ca_file == "emu" else ca_file,
                          "smtp_sasl_password_maps": f"hash:{self.pf.config_dir}/sasl_passwd"})
        self.pf.write_map("sasl_passwd", credentials or
                          {m: f"{m}:{p}" for m, p in PASSWORDS.items()})

    def doctor(self, *extra, fmt="json", timeout=None):
        """doctor --remote; (report or table text, seconds)."""
        cmd = [self.ctl, "-c", self.conf, "doctor", "--remote", "--postfix-dir",
               self.pf.config_dir, "--format", fmt, *extra]
        if timeout:
            cmd += ["--timeout", str(timeout)]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        secs = time.monotonic() - t0
        out = p.stdout
        if "Sanitizer" in p.stderr or "runtime error" in p.stderr or p.returncode > 2:
            self.crashes.append(f"exit {p.returncode}: {p.stderr[-1500:]}")
        return (json.loads(out) if fmt == "json" else out), secs


def remote(rep, name):
    """The remote check of that name, or {}."""
    return next((c for c in rep["checks"] if c["area"] == "remote" and c["check"] == name), {})


def expect(check, label, rep, name, status, found=(), fix=()):
    c = remote(rep, name)
    ok = c.get("status") == status and all(s in c.get("found", "") for s in found) and \
        all(s in (c.get("fix") or "") for s in fix)
    check(ok, f"{label}: {name} {status}", "" if ok else json.dumps(c))


def run_state(case, check, label, emu_options, expectations, credentials=None, ca_file="emu",
              boxes=None, extra=()):
    """Start the emulator in one state, run doctor, check each expectation
    (name, status, found, fix); returns the report."""
    with case.emulator(boxes, **emu_options) as emu:
        case.configure(emu, credentials, ca_file)
        rep, _ = case.doctor(*extra)
    for name, status, found, fix in expectations:
        expect(check, label, rep, name, status, found, fix)
    return rep


def good_state(case, check):
    """All good; also the table once (protocol and cipher, width)."""
    rep = run_state(case, check, "good", {}, [
        ("connect", "OK", ("220",), ()),
        ("tls", "OK", ("TLSv1.", "certificate of localhost verified"), ()),
        ("auth mechanisms", "OK", ("LOGIN",), ()),
        (f"sign-in {RELAY}", "OK", ("AUTH LOGIN as relay@contoso.com: 235 2.7.0",), ()),
        (f"sign-in {SCANNER}", "OK", ("235",), ())])
    tls = remote(rep, "tls").get("found", "")
    check("_" in tls.split(";")[0], "good: the cipher is shown", tls)
    with case.emulator() as emu:
        case.configure(emu)
        table, _ = case.doctor(fmt="table")
    wide = [ln for ln in table.splitlines() if len(ln) > 100]
    check(not wide and "OK    remote: tls" in table, "table: every line fits 100 columns",
          wide[0] if wide else ("" if "OK    remote: tls" in table else table[-300:]))
    leaked = [p for p in PASSWORDS.values() if p in table or p in json.dumps(rep)]
    check(not leaked, "no password appears in the report")


def auth_states(case, check):
    """The tenant and mailbox states of the emulator, and a wrong password."""
    boxes = {RELAY: {"password": PASSWORDS[RELAY]},
             SCANNER: {"password": PASSWORDS[SCANNER], "smtp_auth_disabled": True}}
    run_state(case, check, "SMTP AUTH off for the tenant", {"smtp_auth_disabled": True}, [
        (f"sign-in {RELAY}", "FAIL", ("535 5.7.139", "disabled for the Tenant."),
         ("whole tenant", "Set-TransportConfig -SmtpClientAuthenticationDisabled $false")),
        (f"sign-in {SCANNER}", "FAIL", ("disabled for the Tenant.",), ("Set-TransportConfig",))])
    run_state(case, check, "SMTP AUTH off for one mailbox", {}, [
        (f"sign-in {RELAY}", "OK", ("235",), ()),
        (f"sign-in {SCANNER}", "FAIL", ("535 5.7.139", "disabled for the Mailbox."),
         ("Set-CASMailbox -Identity 'scanner@contoso.com' -SmtpClientAuthenticationDisabled "
          "$false",))], boxes=boxes)
    run_state(case, check, "Basic off (5.7.139)", {"basic_auth_disabled": "5.7.139"}, [
        (f"sign-in {RELAY}", "FAIL", ("535 5.7.139", "basic authentication is disabled"),
         ("OAuth 2.0", "sendas-tokend"))])
    run_state(case, check, "Basic off (5.7.30)", {"basic_auth_disabled": "5.7.30"}, [
        (f"sign-in {RELAY}", "FAIL", ("550 5.7.30 Basic authentication is not supported",),
         ("OAuth 2.0", "sendas-tokend"))])
    wrong = {RELAY: f"{RELAY}:not-the-password", SCANNER: f"{SCANNER}:{PASSWORDS[SCANNER]}"}
    run_state(case, check, "wrong password", {}, [
        (f"sign-in {RELAY}", "FAIL", ("535 5.7.3 Authentication unsuccessful",),
         ("fix its password in sasl_passwd",)),
        (f"sign-in {SCANNER}", "OK", ("235",), ())], credentials=wrong)


def make_cert(directory, name):
    """A self-signed certificate for another name (the emulator presents it)."""
    cert, key = os.path.join(directory, "other-cert.pem"), os.path.join(directory, "other-key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def tls_states(case, check):
    """A certificate not trusted, one for another name: FAIL and no AUTH sent."""
    with case.emulator() as emu:
        case.configure(emu, ca_file="")
        before = emu.log_text().count(" auth ")  # the log goes on over all runs
        rep, _ = case.doctor()
        auths = emu.log_text().count(" auth ") - before
    expect(check, "untrusted certificate", rep, "tls certificate", "FAIL",
           ("does not verify", "no credentials were sent"), ("smtp_tls_CAfile",))
    check(not remote(rep, f"sign-in {RELAY}") and auths == 0,
          "untrusted certificate: no sign-in tried, the emulator saw no AUTH", str(auths))
    cert, key = make_cert(case.tmp, "other.example")
    with Emulator(os.path.join(case.tmp, "emulator-other"), {RELAY: {"password": "x"}},
                  cert=cert, key=key) as emu:
        case.configure(emu, ca_file=cert)
        rep, _ = case.doctor()
    expect(check, "certificate for another name", rep, "tls certificate", "FAIL",
           ("mismatch",), ("does not name the relayhost",))


def fetch_token(emu):
    """An access token from the emulator's token endpoint (client credentials)."""
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": APP,
                                   "client_secret": APP_SECRET,
                                   "scope": "https://outlook.office365.com/.default"}).encode()
    with urllib.request.urlopen(emu.token_endpoint(TENANT), body, timeout=20,
                                context=emu.client_tls_context()) as r:
        answer = json.load(r)
    return answer["access_token"], int(answer["expires_in"])


def oauth_state(case, check):
    """XOAUTH2: one mailbox with a fresh token, one with tokend's last error only."""
    boxes = {m: {"password": p, "sendas": []} for m, p in PASSWORDS.items()}
    now = int(time.time())
    with case.emulator(boxes, basic_auth_disabled=True, tenant=TENANT,
                       apps={APP: {"secret": APP_SECRET, "mailboxes": [RELAY]}}) as emu:
        token, life = fetch_token(emu)
        with open(os.path.join(case.tokens, RELAY), "w", encoding="ascii") as f:
            f.write(f"expires {now + life}\ntoken {token}\n")
        with open(os.path.join(case.tokens, SCANNER + ".state"), "w", encoding="ascii") as f:
            f.write(f"mailbox={SCANNER}\nexpires=0\nlast_refresh=0\nlast_attempt={now}\n"
                    "failures=3\nlast_error=invalid_client AADSTS7000215: Invalid client secret "
                    "provided. (HTTP 401)\n")
        case.configure(emu, {m: f"{m}:token:{case.tokens}/{m}" for m in PASSWORDS})
        rep, _ = case.doctor()
    expect(check, "OAuth", rep, f"sign-in {RELAY}", "OK", ("AUTH XOAUTH2 as", "235 2.7.0"))
    expect(check, "OAuth", rep, f"sign-in {SCANNER}", "FAIL", ("no token", "AADSTS7000215"),
           ("the client secret is wrong", "oauth_client_secret_file"))
    check(token not in json.dumps(rep), "OAuth: the token does not appear in the report")


@contextlib.contextmanager
def loopback_server(handle):
    """A TCP server on 127.0.0.1 that calls handle(conn) for each connection, one at a time,
    in a thread; a connection handle returns True for is kept open (silent) until the end.
    Yields the port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    kept, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            c.settimeout(10)
            try:
                keep = handle(c)
            except OSError:
                keep = False
            if keep:
                kept.append(c)
            else:
                c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        for c in kept:
            c.close()
        srv.close()


def fake_server(greeting):
    """A server that sends greeting (None: nothing) and then keeps silent."""
    def handle(c):
        if greeting:
            c.sendall((greeting if isinstance(greeting, bytes) else greeting.encode()) + b"\r\n")
        return True
    return loopback_server(handle)


def fake_starttls(cert, key, max_tls=None, auth=b""):
    """An SMTP server with STARTTLS (cert, key; TLS at most max_tls) that offers no AUTH
    after it, or the EHLO lines auth (each "250-...\r\n")."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if max_tls:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with warnings.catch_warnings():  # the point is an old protocol
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = max_tls

    def session(c):
        f, tls = c.makefile("rwb"), False
        f.write(b"220 fake ESMTP\r\n")
        f.flush()
        while True:
            line = f.readline()  # f is replaced after STARTTLS: no iterator bound to the old
            verb = line.strip().upper()[:8]
            if verb == b"QUIT":
                f.write(b"221 2.0.0 bye\r\n")
                f.flush()
            if not line or verb == b"QUIT":
                return False
            if verb.startswith(b"EHLO"):
                f.write(b"250-fake\r\n" + auth + b"250 SIZE 1000\r\n" if tls else
                        b"250-fake\r\n250 STARTTLS\r\n")
            elif verb == b"STARTTLS":
                f.write(b"220 2.0.0 go ahead\r\n")
                f.flush()
                try:
                    c = ctx.wrap_socket(c, server_side=True)
                except ssl.SSLError:
                    return False
                f, tls = c.makefile("rwb"), True
                continue
            else:
                f.write(b"502 5.5.2 not here\r\n")
            f.flush()
    return loopback_server(session)


def no_auth_and_old_tls(case, check):
    """A server that offers no AUTH after STARTTLS; one that speaks TLS 1.1 at most."""
    cert, key = (os.path.join(case.store, n) for n in ("emulator-cert.pem", "emulator-key.pem"))
    with fake_starttls(cert, key) as port:
        rep, _ = case.doctor("--relayhost", f"[localhost]:{port}", "--ca-file", cert,
                             timeout=5)
    expect(check, "no AUTH offered", rep, "auth mechanisms", "FAIL",
           ("offers no AUTH after STARTTLS",),
           ("Set-TransportConfig -SmtpClientAuthenticationDisabled $false",))
    check(not remote(rep, f"sign-in {RELAY}"), "no AUTH offered: no sign-in tried")
    with fake_starttls(cert, key, ssl.TLSVersion.TLSv1_1) as port:
        rep, _ = case.doctor("--relayhost", f"[localhost]:{port}", "--ca-file", cert,
                             timeout=5)
    expect(check, "TLS 1.1 only", rep, "tls", "FAIL", ("TLS handshake with localhost failed",),
           ("TLS 1.2",))


def postfix_variants(case, check):
    """What Postfix itself reads differently from a naive parser: a map named with a
    $parameter (postconf -x expands it, postconf -h does not), and an EHLO reply with the old
    AUTH= line before the standard one (Postfix's smtp keeps the last AUTH line it saw)."""
    with case.emulator() as emu:
        case.configure(emu)
        case.pf.set_main({"smtp_sasl_password_maps": "hash:$config_directory/sasl_passwd"})
        rep, _ = case.doctor()
    expect(check, "map named with $config_directory", rep, f"sign-in {RELAY}", "OK",
           ("AUTH LOGIN as relay@contoso.com: 235",))
    cert, key = (os.path.join(case.store, n) for n in ("emulator-cert.pem", "emulator-key.pem"))
    with fake_starttls(cert, key, auth=b"250-AUTH=LOGIN\r\n250-AUTH LOGIN XOAUTH2\r\n") as port:
        rep, _ = case.doctor("--relayhost", f"[localhost]:{port}", "--ca-file", cert,
                             timeout=5)
    expect(check, "AUTH= then AUTH", rep, "auth mechanisms", "OK",
           ("offered after STARTTLS: LOGIN XOAUTH2",))
    # the server offers only PLAIN, Postfix's filter lets only LOGIN through: no worthy mechs
    case.pf.set_main({"smtp_sasl_mechanism_filter": "login"})
    with fake_starttls(cert, key, auth=b"250-AUTH PLAIN\r\n") as port:
        rep, _ = case.doctor("--relayhost", f"[localhost]:{port}", "--ca-file", cert,
                             timeout=5)
    case.pf.set_main({"smtp_sasl_mechanism_filter": ""})
    expect(check, "PLAIN offered, filter login", rep, f"sign-in {RELAY}", "FAIL",
           ("smtp_sasl_mechanism_filter = login leaves Postfix none of the offered PLAIN",
            "no worthy mechs"), ("smtp_sasl_mechanism_filter = login, plain",))
    # a service name as the port: tcpmux (1), where nothing listens (another test may well
    # have a server on submission's 587): a refused connection shows the name was used
    rep, _ = case.doctor("--relayhost", "[127.0.0.1]:tcpmux", timeout=2)
    c = remote(rep, "connect") or remote(rep, "greeting")
    check(c.get("status") == "FAIL" and "port tcpmux" in c.get("found", "") and
          not remote(rep, "relayhost"), "relayhost with a service name as port: connected to",
          json.dumps(rep["checks"][-3:])[:400])


def hostile_greetings(case, check):
    """The reader's caps: a reply of too many lines, a line too long, codes that change, and
    control characters, which never reach the report."""
    cases = [("220-line\r\n" * 100 + "220 end", "a reply of more than 64 lines"),
             ("220 " + "x" * 2000, "a reply line longer than 1000 bytes"),
             ("220-first\r\n250 second", "a reply whose lines have different codes"),
             ("hello, not SMTP", "an answer that is not an SMTP reply")]
    for greeting, why in cases:
        with fake_server(greeting) as port:
            rep, secs = case.doctor("--relayhost", f"[127.0.0.1]:{port}", timeout=3)
        c = remote(rep, "greeting")
        check(c.get("status") == "FAIL" and why in c.get("found", "") and secs < 20,
              f"greeting: {why}: FAIL", json.dumps(c)[:300])
    with fake_server("220 evil\x1b[2J\x1b]0;pwned\x07 ESMTP") as port:
        rep, _ = case.doctor("--relayhost", f"[127.0.0.1]:{port}", timeout=2)
    text = json.dumps(rep)
    check("\\u001b" not in text and "\\u0007" not in text and
          "evil?[2J?]0;pwned? ESMTP" in remote(rep, "connect").get("found", ""),
          "greeting: control characters are shown as '?'", remote(rep, "connect").get("found"))
    # Latin-1 and a C1 control: the JSON stays UTF-8 (it would not decode otherwise)
    with fake_server(b"220 caf\xe9 \xc2\x9b[2J \xc3\xa9t\xc3\xa9 ESMTP") as port:
        rep, _ = case.doctor("--relayhost", f"[127.0.0.1]:{port}", timeout=2)
    check("caf? ?[2J \u00e9t\u00e9 ESMTP" in remote(rep, "connect").get("found", ""),
          "greeting: bytes of no UTF-8 character are shown as '?'", remote(rep, "connect"))


def broken_servers(case, check):
    """A server that never greets, and greetings that refuse."""
    with fake_server(None) as port:
        rep, secs = case.doctor("--relayhost", f"127.0.0.1:{port}", timeout=2)
    c = remote(rep, "greeting")
    check(c.get("status") == "FAIL" and "no greeting within 2 s" in c.get("found", "") and
          secs < 20, "silent server: FAIL greeting, no greeting within 2 s, not a hang",
          f"{secs:.1f} s: {json.dumps(c)}")
    with fake_server("432 4.3.2 Concurrent connections limit exceeded. Visit "
                     "https://aka.ms/concurrent_sending for more information.") as port:
        rep, _ = case.doctor("--relayhost", f"[127.0.0.1]:{port}", timeout=5)
    expect(check, "432 greeting", rep, "greeting", "FAIL", ("432 4.3.2",), ("maxproc 3",))
    with fake_server("421 4.7.0 Temporary server error. Please try again later.") as port:
        rep, _ = case.doctor("--relayhost", f"[127.0.0.1]:{port}", timeout=5)
    expect(check, "421 greeting", rep, "greeting", "FAIL", ("421 4.7.0",), ("throttling",))


def main():
    ctl = find_ctl()
    if not os.access(ctl, os.X_OK):
        skip(f"sendasctl not built: {ctl}")
    for prog in ("/usr/sbin/postconf", "/usr/sbin/postmap", OPENSSL):
        if not os.access(prog, os.X_OK):
            skip(f"{prog} is not installed")
    if os.geteuid() != 0:
        skip("the private Postfix directory needs root (chown to postfix)")
    if importlib.util.find_spec("aiosmtpd") is None:
        skip("python3-aiosmtpd is missing (run with /usr/bin/python3)")

    tmp = e2e_tmpdir("doctor-remote")
    results, check = checks()
    case = Case(tmp, ctl)
    good_state(case, check)
    auth_states(case, check)
    tls_states(case, check)
    oauth_state(case, check)
    broken_servers(case, check)
    no_auth_and_old_tls(case, check)
    postfix_variants(case, check)
    hostile_greetings(case, check)
    probe = case.emulator()
    accepted, mails = probe.accepted_count(), probe.transactions()
    auths = probe.log_text().count(" auth ")
    check(accepted == 0 and mails == 0 and auths > 0,
          "no mail sent: the emulator accepted nothing and saw no MAIL over all runs",
          f"accepted {accepted}, MAIL commands {mails}, AUTH attempts {auths}")
    check(not case.crashes, "sendasctl exited 0, 1 or 2 every time, no sanitizer report",
          case.crashes[0] if case.crashes else "")
    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
