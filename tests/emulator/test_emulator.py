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


def main():
    with tempfile.TemporaryDirectory(prefix="exo-emu-test-") as tmp:
        for test in (test_main, test_options):
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
