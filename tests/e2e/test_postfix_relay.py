#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: the shipped Postfix configuration is no open relay, and it verifies TLS.

Brings up the relay of tests/lib/stack.py (emulator, sendas-milter, sendas-policyd, a private
Postfix configured with the shipped deploy/postfix/main.cf and master.cf, only addresses and
paths substituted) and narrows mynetworks to 127.0.0.1/32.  On Linux the whole of 127/8 is
local, so a client bound to 127.0.0.2 is a second host that is neither in mynetworks nor
authenticated.  Checks:

  - the shipped restrictions: reject_unauth_destination ends smtpd_relay_restrictions, and the
    policy service is in smtpd_recipient_restrictions (evaluated after it), not before;
  - a client without a name (127.0.0.3) is logged by the milter as client=unknown[127.0.0.3],
    the way Postfix logs it, not [127.0.0.3][127.0.0.3];
  - `sendasctl postfix-config main.cf` for this stack's sendas.conf prints exactly the
    parameters applied here (the shipped main.cf with the configured sockets);
  - from 127.0.0.2, RCPT TO an outside domain gets 554 5.7.1 "Relay access denied", and that
    client is not offered AUTH; nothing reaches the emulator;
  - from 127.0.0.1 (in mynetworks) the same message is accepted and delivered, over TLS that
    Postfix verified (the maillog says "Verified TLS connection established");
  - a second instance of the same relay that does not trust the emulator's certificate
    (another CA in smtp_tls_CAfile) defers the message and sends nothing, no password either.

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when Postfix, the binaries, root, openssl or python3-aiosmtpd
is missing.  Run as root with /usr/bin/python3 from the build directory (or set BUILDDIR,
or SENDAS_MILTER and SENDAS_POLICYD).  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import os
import re
import smtplib
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from pfinstance import _parse_main_cf  # noqa: E402
from stack import (DEPLOY, Stack, checks, e2e_tmpdir, find_ctl, report, require_stack,  # noqa: E402
                   tail)

OPENSSL = "/usr/bin/openssl"
OUTSIDER = "127.0.0.2"
UNNAMED = "127.0.0.3"
RECIPIENT = "someone@outside.example"
SENDER = "nagios@mon01.corp.local"


def message(msgid):
    return (f"From: Nagios <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: relay test\r\n"
            f"Message-ID: <{msgid}>\r\n\r\nrelay test\r\n").encode()


def try_relay(port, source, msgid):
    """try_relay - one SMTP transaction from source; returns (ehlo text, stage, code, text)
    where stage is "accepted" or the step that failed."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="app.corp.local", timeout=30,
                      source_address=(source, 0)) as s:
        code, ehlo = s.ehlo()
        ehlo = ehlo.decode(errors="replace")
        code, text = s.mail(SENDER)
        if code >= 400:
            return ehlo, "MAIL", code, text.decode(errors="replace")
        code, text = s.rcpt(RECIPIENT)
        if code >= 400:
            s.rset()
            return ehlo, "RCPT", code, text.decode(errors="replace")
        code, text = s.data(message(msgid))
        if code >= 400:
            return ehlo, "DATA", code, text.decode(errors="replace")
        return ehlo, "accepted", code, text.decode(errors="replace")


def postfix_config_matches(stack, ctl):
    """postfix_config_matches - (ok, detail): sendasctl postfix-config main.cf equals the
    shipped main.cf with this stack's sockets."""
    proc = subprocess.run([ctl, "-c", stack.conf_path, "postfix-config", "--snippets",
                           os.path.dirname(DEPLOY), "main.cf"], capture_output=True, text=True)
    if proc.returncode != 0:
        return False, f"{ctl} exited {proc.returncode}: {proc.stderr.strip()}"
    with open(os.path.join(DEPLOY, "main.cf"), encoding="utf-8") as f:
        shipped = f.read().replace("unix:/run/sendas/milter.sock", stack.milter_address) \
            .replace("unix:/run/sendas/policy.sock", stack.policy_address)
    got, want = dict(_parse_main_cf(proc.stdout)), dict(_parse_main_cf(shipped))
    diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    return not diff, (f"{len(got)} parameters, sockets {got.get('smtpd_milters')} and "
                      f"{got.get('smtpd_recipient_restrictions')}" if not diff
                      else "differ: " + "; ".join(f"{k}: {got.get(k)!r} != {want.get(k)!r}"
                                                  for k in diff[:5]))


def other_ca(directory):
    """other_ca - a self-signed certificate for localhost that did not sign the emulator's."""
    cert, key = os.path.join(directory, "other-ca.pem"), os.path.join(directory, "other-ca.key")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(cert, 0o644)
    return cert


def auth_lines(stack):
    """auth_lines - the emulator's log lines about AUTH attempts, in order."""
    return [ln for ln in tail(stack.emu.log_path, 1 << 24).splitlines() if " auth " in ln]


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.25)
    return False


def main():
    milter_bin = require_stack((OPENSSL,))

    tmp = e2e_tmpdir("relay")
    stack = Stack(tmp, milter_bin)
    results, check = checks()

    try:
        stack.start()
        pf = stack.pf

        # a client without a name (127.0.0.3 is in the shipped mynetworks and in no hosts
        # file): Postfix hands the milter "[127.0.0.3]"; the log says it as Postfix does
        _, stage, code, text = try_relay(pf.smtp_port, UNNAMED, "unnamed@relay-test")
        line = wait_for(lambda: [ln for ln in stack.milter_log_text().splitlines()
                                 if f"[{UNNAMED}]" in ln and "action=" in ln], 15)
        check(stage == "accepted" and line and f" client=unknown[{UNNAMED}] " in line[0],
              f"an unnamed client is logged Postfix-style, client=unknown[{UNNAMED}]",
              line[0].split(": ", 1)[-1][:120] if line else f"{stage}: {code} {text}")

        pf.set_main({"mynetworks": "127.0.0.1/32"})

        relay = pf.postconf("-h", "smtpd_relay_restrictions").strip()
        rcpt = pf.postconf("-h", "smtpd_recipient_restrictions").strip()
        check(relay.replace(" ", "").endswith(",reject_unauth_destination")
              and "check_policy_service" in rcpt and "permit" not in rcpt,
              "shipped restrictions: reject_unauth_destination last, policy service after it",
              f"smtpd_relay_restrictions = {relay}; smtpd_recipient_restrictions = {rcpt}")

        ok, detail = postfix_config_matches(stack, find_ctl(milter_bin))
        check(ok, "sendasctl postfix-config prints the lines this test applied", detail)

        ehlo, stage, code, text = try_relay(pf.smtp_port, OUTSIDER, "outsider@relay-test")
        check(stage == "RCPT" and code == 554 and "5.7.1" in text
              and "Relay access denied" in text,
              f"client {OUTSIDER} (not in mynetworks, not authenticated) cannot relay",
              f"{stage}: {code} {text}")
        check(not re.search(r"^AUTH\b", ehlo, re.M), f"client {OUTSIDER} is offered no AUTH",
              ehlo.replace("\n", " | "))
        logged = wait_for(lambda: f"[{OUTSIDER}]: 554 5.7.1" in pf.maillog(), 5)
        check(logged, "Postfix logged the refusal",
              "" if logged else "no reject line for the outsider in the maillog")

        ehlo, stage, code, text = try_relay(pf.smtp_port, "127.0.0.1", "insider@relay-test")
        check(stage == "accepted", "client 127.0.0.1 (in mynetworks) may relay",
              f"{stage}: {code} {text}")
        drained = pf.wait_queue_empty(60)
        ids = [m.get("raw", b"") for m in stack.emu.messages()
               if b"unnamed@relay-test" not in m.get("raw", b"")]
        got_in = sum(1 for raw in ids if b"insider@relay-test" in raw)
        got_out = sum(1 for raw in ids if b"outsider@relay-test" in raw)
        check(drained and got_in == 1 and got_out == 0,
              "only the insider's message reached Exchange Online",
              f"queue drained: {drained}; insider copies {got_in}, outsider copies {got_out}")
        log = pf.maillog()
        check("Verified TLS connection established to localhost" in log,
              "Postfix verified the server certificate (smtp_tls_security_level = secure)",
              "" if "Verified TLS" in log else "no 'Verified TLS connection' line in the maillog")

        # the same shipped relay, but its CA file did not sign the emulator's certificate
        untrusting = stack.add_postfix("postfix-other-ca")
        untrusting.set_main({"smtp_tls_CAfile": other_ca(tmp), "mynetworks": "127.0.0.1/32"})
        before = len(stack.emu.messages())
        auth_before = auth_lines(stack)
        _, stage, code, text = try_relay(untrusting.smtp_port, "127.0.0.1", "untrusted@relay-test")
        deferred = wait_for(lambda: "status=deferred" in untrusting.maillog(), 30)
        ulog = untrusting.maillog()
        verify_failed = re.search(r"certificate verification failed|untrusted issuer|"
                                  r"Server certificate not verified", ulog)
        check(stage == "accepted" and deferred and verify_failed
              and len(stack.emu.messages()) == before,
              "an unverifiable certificate defers the mail and sends nothing",
              f"{stage}; deferred: {deferred}; "
              + (verify_failed.group(0) if verify_failed else "no verification failure logged"))
        auth_seen = auth_lines(stack)[len(auth_before):]
        check(not auth_seen, "no credentials went to the untrusted server", "; ".join(auth_seen))
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        check(False, "[setup]", f"{type(e).__name__}: {e}")
    finally:
        stack.stop()

    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
