#!/usr/bin/python3
"""Self-test of the EXO emulator over real SMTP + STARTTLS (smtplib), via tests/lib/emulator.py.

Run: /usr/bin/python3 tests/emulator/test_emulator.py
Prints one line per check and ends with "N passed, 0 failed"; exits 1 on any failure.
"""

import base64
import os
import smtplib
import ssl
import sys
import tempfile
import time
import urllib.parse
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from emulator import Emulator  # noqa: E402

MAILBOXES = {
    "relay@contoso.com": {"password": "secret1",
                          "sendas": ["alerts@contoso.com", "@shared.contoso.com"]},
    "busy@contoso.com": {"password": "secret2", "sendas": []},
    "rate@contoso.com": {"password": "secret3", "sendas": []},
}
SECRETS = ["secret1", "secret2", "secret3", "wrong-password"]

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}")
    else:
        failed += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))


def reply(code_resp):
    code, resp = code_resp
    return f"{code} {resp.decode('utf-8', 'replace')}"


def message(from_, to="bob@example.org", extra="", body="Hello.\r\n"):
    return (f"From: {from_}\r\nTo: {to}\r\n{extra}Subject: test\r\n"
            f"Message-ID: <{time.monotonic_ns()}@test.invalid>\r\n\r\n{body}").encode()


class Session:
    """One SMTP connection; tls=True does EHLO + STARTTLS + EHLO."""

    def __init__(self, emu, tls=True):
        self.s = smtplib.SMTP(emu.host, emu.port, timeout=10)
        self.s.ehlo("client.test")
        if tls:
            self.s.starttls(context=emu.client_tls_context())
            self.s.ehlo("client.test")

    def auth(self, user, password, mech="PLAIN"):
        """Returns the reply line; never raises on an auth refusal."""
        self.s.user, self.s.password = user, password
        try:
            return reply(self.s.auth(mech, getattr(self.s, "auth_" + mech.lower())))
        except smtplib.SMTPAuthenticationError as e:
            return f"{e.smtp_code} {e.smtp_error.decode('utf-8', 'replace')}"

    def send(self, mail_from, rcpts, data):
        """MAIL/RCPT/DATA step by step; returns the first non-2xx/3xx reply or DATA's reply."""
        r = self.s.mail(mail_from)
        if r[0] != 250:
            return reply(r)
        for rcpt in rcpts:
            r = self.s.rcpt(rcpt)
            if r[0] != 250:
                return reply(r)
        return reply(self.s.data(data))

    def close(self):
        try:
            self.s.quit()
        except (smtplib.SMTPException, OSError):
            self.s.close()


def test_main(tmp):
    emu = Emulator(os.path.join(tmp, "main"), MAILBOXES)
    with emu:
        check("READY line gives a port", isinstance(emu.port, int) and emu.port > 0)

        # --- before TLS
        plain = Session(emu, tls=False)
        feats = plain.s.esmtp_features
        check("EHLO before TLS advertises STARTTLS, SIZE 157286400, 8BITMIME, PIPELINING, "
              "ENHANCEDSTATUSCODES, SMTPUTF8",
              "starttls" in feats and feats.get("size") == "157286400"
              and all(k in feats for k in ("8bitmime", "pipelining", "enhancedstatuscodes",
                                           "smtputf8")), repr(feats))
        check("no AUTH before TLS", "auth" not in feats, repr(feats))
        r = reply(plain.s.mail("relay@contoso.com"))
        check("MAIL before TLS -> 451 5.7.3", r == "451 5.7.3 STARTTLS is required to send mail", r)
        plain.close()

        # --- after TLS, before AUTH
        s = Session(emu)
        feats = s.s.esmtp_features
        check("EHLO after TLS advertises AUTH LOGIN PLAIN XOAUTH2, no STARTTLS",
              feats.get("auth", "").split() == ["LOGIN", "PLAIN", "XOAUTH2"]
              and "starttls" not in feats, repr(feats))
        tls_version = s.s.sock.version()
        check("TLS 1.2 or newer negotiated", tls_version in ("TLSv1.2", "TLSv1.3"), tls_version)
        r = reply(s.s.mail("relay@contoso.com"))
        check("MAIL without AUTH -> 530 5.7.57",
              r == "530 5.7.57 Client not authenticated to send mail", r)
        s.s.rset()
        r = s.auth("relay@contoso.com", "wrong-password")
        check("bad password -> 535 5.7.3", r == "535 5.7.3 Authentication unsuccessful", r)
        r = s.auth("nobody@contoso.com", "secret1")
        check("unknown user -> 535 5.7.3", r == "535 5.7.3 Authentication unsuccessful", r)
        r = s.auth("relay@contoso.com", "secret1", "LOGIN")
        check("AUTH LOGIN good password -> 235 2.7.0",
              r == "235 2.7.0 Authentication successful", r)
        s.close()

        s = Session(emu)
        r = s.auth("relay@contoso.com", "secret1")
        check("AUTH PLAIN good password -> 235 2.7.0",
              r == "235 2.7.0 Authentication successful", r)

        # --- send-as: accepted
        data1 = message("Alerts <alerts@contoso.com>", body="Line one.\r\n.dot line\r\n")
        r = s.send("relay@contoso.com", ["bob@example.org", "carol@example.org"], data1)
        check("permitted From accepted with 250 2.6.0",
              r.startswith("250 2.6.0 <") and r.endswith("Queued mail for delivery"), r)
        msgs = emu.messages()
        m = msgs[-1] if msgs else {}
        check("accepted message stored with envelope and auth user",
              len(msgs) == 1 and m.get("mail_from") == "relay@contoso.com"
              and m.get("rcpt_tos") == ["bob@example.org", "carol@example.org"]
              and m.get("auth_user") == "relay@contoso.com" and m.get("eml") == "000001.eml",
              repr({k: v for k, v in m.items() if k != "raw"}))
        check("stored raw bytes equal the message sent (CRLF, dot-unstuffed)",
              m.get("raw") == data1, repr(m.get("raw")))
        check("reply carries the Message-ID",
              m.get("message_id", "?") in r, f"{m.get('message_id')} / {r}")

        r = s.send("relay@contoso.com", ["bob@example.org"], message("x@Shared.Contoso.com"))
        check("@domain grant accepted", r.startswith("250 2.6.0"), r)
        r = s.send("ALERTS@contoso.com", ["bob@example.org"], message("Relay <RELAY@Contoso.COM>"))
        check("own address, case-insensitive, accepted", r.startswith("250 2.6.0"), r)
        r = s.send("<>", ["bob@example.org"], message("alerts@contoso.com"))
        msgs = emu.messages()
        check("null envelope sender accepted and stored as \"\"",
              r.startswith("250 2.6.0") and msgs[-1]["mail_from"] == "", r)
        r = s.send("relay@contoso.com", ["bob@example.org"],
                   message("alerts@contoso.com", extra="Sender: relay@contoso.com\r\n"))
        check("permitted Sender accepted", r.startswith("250 2.6.0"), r)

        # --- send-as: refused
        sendas = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
        cases = [
            ("non-permitted From", "relay@contoso.com", message("ceo@contoso.com")),
            ("From with extra non-permitted address", "relay@contoso.com",
             message("alerts@contoso.com, ceo@contoso.com")),
            ("two From headers", "relay@contoso.com",
             message("alerts@contoso.com", extra="From: alerts@contoso.com\r\n")),
            ("missing From", "relay@contoso.com", b"To: bob@example.org\r\nSubject: x\r\n\r\nhi\r\n"),
            ("non-permitted Sender", "relay@contoso.com",
             message("alerts@contoso.com", extra="Sender: ceo@contoso.com\r\n")),
            ("non-permitted envelope (strict)", "ceo@contoso.com", message("alerts@contoso.com")),
            ("unparseable From", "relay@contoso.com", message("<<<@@>>> \"unterminated")),
            ("From without domain", "relay@contoso.com", message("alerts")),
            ("group From", "relay@contoso.com", message("undisclosed-recipients:;")),
            ("display-name spoof", "relay@contoso.com",
             message("\"alerts@contoso.com\" <ceo@contoso.com>")),
            ("encoded-word spoof", "relay@contoso.com",
             message("=?utf-8?q?alerts=40contoso=2Ecom?= <ceo@contoso.com>")),
            ("binary junk in From", "relay@contoso.com",
             b"From: \xff\xfe\x00<\xc3(@\r\n\r\nbody\r\n"),
        ]
        before = len(emu.messages())
        for name, env, data in cases:
            r = s.send(env, ["bob@example.org"], data)
            check(f"{name} -> 550 5.7.60", r == sendas, r)
        check("refused messages not stored", len(emu.messages()) == before)
        refused = emu.refused()
        first = refused[0] if refused else {}
        check("refusals recorded in refused.jsonl",
              len(refused) == len(cases) and first.get("code") == 550
              and first.get("text") == sendas[4:] and first.get("auth_user") == "relay@contoso.com"
              and first.get("mail_from") == "relay@contoso.com"
              and first.get("from_header") == "ceo@contoso.com" and "time" in first,
              repr(refused[:1]))
        check("server still answers after hostile input", s.s.noop()[0] == 250)

        r = s.auth("relay@contoso.com", "secret1")
        check("second AUTH in a session refused with 503", r.startswith("503"), r)
        s.close()

        # --- XOAUTH2 (token checking not implemented yet: always 535 5.7.3)
        s = Session(emu)
        blob = base64.b64encode(b"user=relay@contoso.com\x01auth=Bearer abc.def\x01\x01").decode()
        r = reply(s.s.docmd("AUTH", "XOAUTH2 " + blob))
        check("XOAUTH2 -> 535 5.7.3", r == "535 5.7.3 Authentication unsuccessful", r)
        s.close()

        # --- concurrency: 3 authenticated sessions per mailbox
        busy = [Session(emu) for _ in range(3)]
        rs = [b.auth("busy@contoso.com", "secret2") for b in busy]
        check("3 concurrent sessions authenticate", all(r.startswith("235") for r in rs), repr(rs))
        fourth = Session(emu)
        r = fourth.auth("busy@contoso.com", "secret2")
        check("4th concurrent session -> 432 4.3.2",
              r == "432 4.3.2 Concurrent connections limit exceeded. Visit "
                   "https://aka.ms/concurrent_sending for more information.", r)
        r = fourth.auth("relay@contoso.com", "secret1")
        check("other mailbox unaffected by the limit", r.startswith("235"), r)
        peaks, total = emu.session_peaks()
        check("log: sessions per mailbox and in total (active=/total=)",
              peaks.get("busy@contoso.com") == 3 and total >= 4 and
              "sessions peak mailbox=busy@contoso.com active=3" in emu.log_text(),
              f"{peaks} total={total}")
        fourth.close()
        busy.pop().s.close()    # drop the TCP connection without QUIT
        r = ""
        for _ in range(50):     # the server releases the slot when it sees the close
            again = Session(emu)
            r = again.auth("busy@contoso.com", "secret2")
            again.close()
            if r.startswith("235"):
                break
            time.sleep(0.1)
        check("slot freed after a session closes", r.startswith("235"), r)
        for b in busy:
            b.close()

        # --- TLS below 1.2 refused
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with warnings.catch_warnings():     # TLSv1_1 itself is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        s = smtplib.SMTP(emu.host, emu.port, timeout=10)
        try:
            s.starttls(context=ctx)
            ok = False
        except (ssl.SSLError, OSError, smtplib.SMTPException):
            ok = True
        s.close()
        check("TLS 1.1 handshake refused", ok)

        log = emu.log_text()
        check("log has auth events but no passwords",
              "auth PLAIN ok user=relay@contoso.com" in log
              and "auth PLAIN fail user=relay@contoso.com" in log
              and not any(p in log for p in SECRETS), log[-500:])
        proc = emu.proc
    check("SIGTERM exits cleanly (code 0)", proc.returncode == 0, str(proc.returncode))
    stderr = open(emu.stderr_path, encoding="utf-8", errors="replace").read()
    check("nothing on stderr", stderr == "", stderr[-1000:])


def test_options(tmp):
    with Emulator(os.path.join(tmp, "basic-off"), MAILBOXES, basic_auth_disabled=True) as emu:
        s = Session(emu)
        want = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
        r1 = s.auth("relay@contoso.com", "secret1", "PLAIN")
        r2 = s.auth("relay@contoso.com", "secret1", "LOGIN")
        check("--basic-auth-disabled: PLAIN and LOGIN -> 535 5.7.139",
              r1 == want and r2 == want, f"{r1} / {r2}")
        s.close()

    with Emulator(os.path.join(tmp, "loose"), MAILBOXES, strict_envelope=False) as emu:
        s = Session(emu)
        s.auth("relay@contoso.com", "secret1")
        r = s.send("someone@elsewhere.example", ["bob@example.org"], message("alerts@contoso.com"))
        check("--no-strict-envelope: foreign envelope accepted", r.startswith("250 2.6.0"), r)
        r = s.send("relay@contoso.com", ["bob@example.org"], message("ceo@contoso.com"))
        check("--no-strict-envelope: From still enforced", r.startswith("550 5.7.60"), r)
        s.close()

    store = os.path.join(tmp, "rate")
    with Emulator(store, MAILBOXES, rate_limit=2) as emu:
        s = Session(emu)
        s.auth("rate@contoso.com", "secret3")
        rs = [s.send("rate@contoso.com", ["bob@example.org"], message("rate@contoso.com"))
              for _ in range(3)]
        check("--rate-limit 2: third message -> 452 4.3.2",
              rs[0].startswith("250") and rs[1].startswith("250")
              and rs[2] == "452 4.3.2 Message rate limit exceeded", repr(rs))
        check("rate refusal recorded", [r["code"] for r in emu.refused()] == [452])
        s.close()

    with Emulator(os.path.join(tmp, "slow"), MAILBOXES, data_delay=0.5) as emu:
        s = Session(emu)
        s.auth("relay@contoso.com", "secret1")
        t0 = time.monotonic()
        r = s.send("relay@contoso.com", ["bob@example.org"], message("relay@contoso.com"))
        took = time.monotonic() - t0
        check("--data-delay 0.5: the 250 comes after half a second", r.startswith("250")
              and 0.5 <= took < 5, f"{r} after {took:.2f}s")
        s.close()

    # an exception inside a handler: block the .eml temp file name with a directory
    store_err = os.path.join(tmp, "internal-error")
    os.makedirs(os.path.join(store_err, ".000001.eml.tmp"))
    with Emulator(store_err, MAILBOXES) as emu:
        s = Session(emu)
        s.auth("relay@contoso.com", "secret1")
        r = s.send("relay@contoso.com", ["bob@example.org"], message("alerts@contoso.com"))
        check("handler exception -> 451 4.3.0", r == "451 4.3.0 emulator internal error", r)
        check("handler exception logged", "internal error in handle_DATA" in emu.log_text())
        os.rmdir(os.path.join(store_err, ".000001.eml.tmp"))
        r = s.send("relay@contoso.com", ["bob@example.org"], message("alerts@contoso.com"))
        check("server keeps working after an internal error",
              r.startswith("250 2.6.0") and len(emu.messages()) == 1, r)
        s.close()

    # a restart on the same store keeps numbering and reuses the generated certificate
    with open(os.path.join(store, "emulator-cert.pem"), "rb") as f:
        cert_before = f.read()
    with Emulator(store, MAILBOXES) as emu:
        s = Session(emu)
        s.auth("rate@contoso.com", "secret3")
        r = s.send("rate@contoso.com", ["bob@example.org"], message("rate@contoso.com"))
        s.close()
        msgs = emu.messages()
        check("restart continues numbering",
              r.startswith("250") and [m["seq"] for m in msgs] == [1, 2, 3], r)
    with open(os.path.join(store, "emulator-cert.pem"), "rb") as f:
        check("restart reuses the generated certificate", f.read() == cert_before)


# --- tenant and mailbox states `sendasctl doctor --remote` must tell apart (issue 11) ------

R_TENANT_OFF = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                "for the Tenant.")
R_MAILBOX_OFF = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                 "for the Mailbox.")
R_BASIC_OFF = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
R_BASIC_530 = "550 5.7.30 Basic authentication is not supported for Client Submission"
R_BAD = "535 5.7.3 Authentication unsuccessful"
R_OK = "235 2.7.0 Authentication successful"
TENANT = "contoso.onmicrosoft.com"
APPS = {"app-1": {"secret": "app-secret", "mailboxes": ["relay@contoso.com", "off@contoso.com",
                                                        "on@contoso.com", "basic@contoso.com"]}}


def get_token(emu, tenant=TENANT):
    """A token from the emulator's endpoint (client secret grant) for app-1."""
    import json
    import urllib.request
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "app-1", "client_secret": "app-secret",
        "scope": "https://outlook.office365.com/.default"}).encode()
    with urllib.request.urlopen(emu.token_endpoint(tenant), data=form, timeout=10,
                                context=emu.client_tls_context()) as r:
        return json.load(r)["access_token"]


def xoauth2(emu, user, token):
    s = Session(emu)
    blob = base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    r = reply(s.s.docmd("AUTH", "XOAUTH2 " + blob))
    s.close()
    return r


def basic(emu, user, password, mech="PLAIN"):
    s = Session(emu)
    r = s.auth(user, password, mech)
    s.close()
    return r


def both(emu, user, password, mech="PLAIN"):
    """The answers to a basic AUTH and to XOAUTH2 with a fresh token, for one mailbox."""
    return basic(emu, user, password, mech), xoauth2(emu, user, get_token(emu))


def test_states(tmp):
    boxes = dict(MAILBOXES)
    boxes["off@contoso.com"] = {"password": "pw-off", "smtp_auth_disabled": True}
    boxes["on@contoso.com"] = {"password": "pw-on", "smtp_auth_disabled": False}
    boxes["basic@contoso.com"] = {"password": "pw-basic", "basic_auth_disabled": "5.7.30"}

    # one tenant, SMTP AUTH on: one mailbox has it off, one has basic off (5.7.30 form)
    with Emulator(os.path.join(tmp, "mailbox-states"), boxes, apps=APPS, tenant=TENANT) as emu:
        token = get_token(emu)
        r1, r2 = basic(emu, "off@contoso.com", "pw-off"), basic(emu, "off@contoso.com", "pw-off",
                                                                  "LOGIN")
        check("mailbox smtp_auth_disabled: PLAIN and LOGIN -> 535 5.7.139 ... for the Mailbox.",
              r1 == R_MAILBOX_OFF and r2 == R_MAILBOX_OFF, f"{r1} / {r2}")
        r = xoauth2(emu, "off@contoso.com", token)
        check("mailbox smtp_auth_disabled: XOAUTH2 -> 535 5.7.139 (OAuth too)",
              r == R_MAILBOX_OFF, r)
        r = basic(emu, "off@contoso.com", "wrong-password")
        check("mailbox smtp_auth_disabled: wrong password still -> 535 5.7.3", r == R_BAD, r)
        r = basic(emu, "relay@contoso.com", "secret1")
        check("other mailboxes of the tenant unaffected", r == R_OK, r)
        r1, r2 = (basic(emu, "basic@contoso.com", "pw-basic"),
                  basic(emu, "basic@contoso.com", "pw-basic", "LOGIN"))
        check("mailbox basic_auth_disabled 5.7.30: PLAIN and LOGIN -> 550 5.7.30",
              r1 == R_BASIC_530 and r2 == R_BASIC_530, f"{r1} / {r2}")
        r = xoauth2(emu, "basic@contoso.com", get_token(emu))
        check("mailbox basic_auth_disabled: XOAUTH2 still works", r == R_OK, r)
        check("states log no secret", not any(p in emu.log_text()
                                              for p in ("pw-off", "pw-basic", token)))

    # SMTP AUTH off for the tenant; a mailbox setting $false overrides it (as in EXO)
    with Emulator(os.path.join(tmp, "tenant-off"), boxes, apps=APPS, tenant=TENANT,
                  smtp_auth_disabled=True) as emu:
        r1, r2 = both(emu, "relay@contoso.com", "secret1")
        check("tenant smtp_auth_disabled: PLAIN and XOAUTH2 -> 535 5.7.139 ... for the Tenant.",
              r1 == R_TENANT_OFF and r2 == R_TENANT_OFF, f"{r1} / {r2}")
        r = basic(emu, "relay@contoso.com", "wrong-password")
        check("tenant smtp_auth_disabled: wrong password still -> 535 5.7.3", r == R_BAD, r)
        r = basic(emu, "off@contoso.com", "pw-off")
        check("tenant and mailbox disabled: the mailbox form", r == R_MAILBOX_OFF, r)
        r1, r2 = both(emu, "on@contoso.com", "pw-on")
        check("mailbox smtp_auth_disabled false overrides the tenant",
              r1 == R_OK and r2 == R_OK, f"{r1} / {r2}")

    # Basic off for the tenant (mailboxes file), 5.7.139 form; then the 5.7.30 form by flag
    with Emulator(os.path.join(tmp, "tenant-basic-off"),
                  {"mailboxes": boxes, "basic_auth_disabled": True},
                  apps=APPS, tenant=TENANT) as emu:
        r1, r2 = both(emu, "relay@contoso.com", "secret1")
        check("tenant basic_auth_disabled: PLAIN -> 535 5.7.139 basic, XOAUTH2 -> 235",
              r1 == R_BASIC_OFF and r2 == R_OK, f"{r1} / {r2}")
        r = basic(emu, "basic@contoso.com", "pw-basic")
        check("mailbox basic_auth_disabled form wins over the tenant's", r == R_BASIC_530, r)
    with Emulator(os.path.join(tmp, "flag-530"), boxes, basic_auth_disabled="5.7.30",
                  apps=APPS, tenant=TENANT) as emu:
        r1, r2 = both(emu, "relay@contoso.com", "secret1", "LOGIN")
        check("--basic-auth-disabled 5.7.30: LOGIN -> 550 5.7.30, XOAUTH2 -> 235",
              r1 == R_BASIC_530 and r2 == R_OK, f"{r1} / {r2}")

    # a misspelt state is a startup error, not silently "enabled"
    for name, conf in (("bad-tenant", {"mailboxes": MAILBOXES, "smtp_auth_disabled": "yes"}),
                       ("bad-box", {"x@contoso.com": {"password": "p",
                                                      "basic_auth_disabled": "5.7.31"}})):
        try:
            Emulator(os.path.join(tmp, name), conf, startup_timeout=10).start().stop()
            got = "started"
        except RuntimeError as exc:
            got = str(exc)
        check(f"bad state value ({name}) refused at startup",
              "did not start" in got and ("must be true or false" in got
                                          or "basic_auth_disabled must be" in got), got[-300:])

    # counting accepted messages: auth-only sessions, refusals and RSET leave it unchanged
    with Emulator(os.path.join(tmp, "count"), boxes) as emu:
        check("accepted_count() starts at 0", emu.accepted_count() == 0, str(emu.accepted_count()))
        s = Session(emu)
        s.auth("relay@contoso.com", "secret1")
        s.s.mail("relay@contoso.com")
        s.s.rset()
        r = s.send("relay@contoso.com", ["bob@example.org"], message("ceo@contoso.com"))
        check("auth, MAIL+RSET and a refused message: count 0, two MAIL transactions seen",
              r.startswith("550") and emu.accepted_count() == 0
              and emu.transactions() == 2, f"{r} {emu.accepted_count()} {emu.transactions()}")
        r = s.send("relay@contoso.com", ["bob@example.org"], message("alerts@contoso.com"))
        s.close()
        check("an accepted message: count 1", r.startswith("250 2.6.0")
              and emu.accepted_count() == 1 and emu.transactions() == 3,
              f"{r} {emu.accepted_count()} {emu.transactions()}")


def main():
    with tempfile.TemporaryDirectory(prefix="exo-emu-test-") as tmp:
        for test in (test_main, test_options, test_states):
            try:
                test(tmp)
            except Exception as exc:    # a crash is a failure, and must not hide the count
                import traceback
                traceback.print_exc()
                check(f"{test.__name__} ran to completion", False, repr(exc))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
