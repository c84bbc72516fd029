#!/usr/bin/python3
"""Exchange Online (EXO) SMTP client-submission emulator for sendas tests and demos.

Emulates smtp.office365.com:587 closely enough that a relay which works against it should
work against EXO: EHLO capabilities, reply codes, send-as enforcement on From:/Sender: at end
of DATA, per-mailbox concurrency and rate limits.  Needs Debian's python3-aiosmtpd: run it
with /usr/bin/python3 (the pyenv python on PATH lacks Debian's modules).

Usage:
  exo_emulator.py --listen 127.0.0.1:PORT --mailboxes FILE --store DIR
                  [--cert FILE --key FILE] [--log FILE]
                  [--strict-envelope | --no-strict-envelope] [--rate-limit N]
                  [--data-delay SECONDS]
                  [--max-connections 3] [--basic-auth-disabled [5.7.139|5.7.30]]
                  [--token-lifetime SECONDS]

  PORT 0 picks a free port.  When listening, exactly one line "READY HOST:PORT" goes to stdout
  ("READY [::1]:PORT" for IPv6).  SIGTERM/SIGINT stop it cleanly (exit 0).  Only loopback
  addresses may be bound.  Without --cert/--key a self-signed certificate is generated (once)
  as DIR/emulator-cert.pem + DIR/emulator-key.pem (SAN: localhost, smtp.office365.com,
  127.0.0.1, ::1).

Mailboxes file: {"mailboxes": {"relay@contoso.com": {"password": "secret1",
                 "sendas": ["alerts@contoso.com", "@shared.contoso.com"]}},
                 "tenant": "contoso.onmicrosoft.com", "smtp_auth_disabled": false,
                 "basic_auth_disabled": false,
                 "apps": {"CLIENT-ID": {"secret": "s3cret", "certificate": "/path/cert.pem",
                                        "mailboxes": ["relay@contoso.com"]}}}
  A mailbox may always send as itself; "@domain" grants every address at that domain.
  "data_delay": SECONDS (optional) holds each of the mailbox's accepted messages that long
  (see --data-delay).  "blocked": true (optional) refuses every message the mailbox submits at end of DATA with
  "550 5.1.8 Bad outbound sender", as EXO does for a mailbox blocked as a spammer.
  All comparisons are case-insensitive.  "apps" (optional) are Entra applications for the
  token endpoint: a client secret and/or a certificate (PEM) whose key signs client
  assertions, and the mailboxes the app may sign in as (FullAccess granted).

Tenant and mailbox states (what `sendasctl doctor --remote` must tell apart; defaults: all off):
  * "smtp_auth_disabled": true at the top level is SMTP AUTH off for the tenant
    (Set-TransportConfig -SmtpClientAuthenticationDisabled $true): AUTH with good credentials,
    LOGIN, PLAIN and XOAUTH2 alike, gets "535 5.7.139 Authentication unsuccessful,
    SmtpClientAuthentication is disabled for the Tenant." (exo-facts.md's text; EXO may append
    "Visit https://aka.ms/smtp_auth_disabled for more information.").  In a mailbox entry it is
    Set-CASMailbox -SmtpClientAuthenticationDisabled: true gets the mailbox form "... disabled
    for the Mailbox." (worded after the tenant form; not recorded in exo-facts.md), false
    enables the mailbox even when the tenant is off, absent follows the tenant.  Checked after
    the credentials, so a wrong password or token still gets 535 5.7.3 (emulator choice).
  * "basic_auth_disabled" at the top level (or --basic-auth-disabled) or in a mailbox entry:
    AUTH LOGIN/PLAIN are refused before the password is looked at, XOAUTH2 still works.
    true or "5.7.139": "535 5.7.139 Authentication unsuccessful, basic authentication is
    disabled."; "5.7.30": "550 5.7.30 Basic authentication is not supported for Client
    Submission".  The mailbox's form wins over the tenant's, the tenant's over the flag's.
  * A wrong password (or unknown user, or refused token) gets "535 5.7.3 Authentication
    unsuccessful", as before.
  Any other value for these keys is a startup error (exit 2).
  Counting mail: each accepted message is logged "result 250 stored NNNNNN accepted=N" (N
  since start) and stored as DIR/NNNNNN.json; every MAIL command answered after AUTH is
  logged as "MAIL FROM:<...>" (tests/lib/emulator.py: accepted_count(), transactions()).

Token endpoint (Microsoft identity platform, client credentials grant): HTTPS on the same
  loopback address and certificate, a free port, its base URL written to
  DIR/token-endpoint before READY; POST /TENANT/oauth2/v2.0/token with grant_type=
  client_credentials, client_id, scope=https://outlook.office365.com/.default and either
  client_secret or client_assertion_type=urn:ietf:params:oauth:client-assertion-type:
  jwt-bearer + client_assertion (RS256, x5t = the certificate's SHA-1 thumbprint, aud = the
  endpoint URL, iss = sub = client_id, nbf/exp, verified with python3-cryptography).
  Errors are Microsoft's: 401 invalid_client AADSTS7000215 (bad secret), 401 invalid_client
  AADSTS700027 (assertion not signed by the registered certificate), 400 invalid_request
  AADSTS700024 (assertion outside its time range), 400 unauthorized_client AADSTS700016
  (unknown app), 400 invalid_scope AADSTS70011, 400 unsupported_grant_type AADSTS70003,
  400 invalid_request AADSTS90002 (unknown tenant).  Tokens are opaque, live
  --token-lifetime seconds (default 3599) and XOAUTH2 accepts only unexpired ones issued
  here, for a mailbox of the app.  Every request is logged as "token request n=N ...
  result=..." (N counts them); the secret, the assertion and tokens never are.  While the
  file DIR/token-endpoint-down exists, the endpoint drops every connection unanswered (an
  outage).  A request for the tenant "hostile-NAME" or "hostile-NAME-ANYTHING", NAME one of
  HOSTILE_ANSWERS, gets that hostile answer instead (logged as result=hostile:NAME): tokens
  that are not tokens, forged error texts, an answer too large to keep, a token that lives
  2 seconds.  Tests run one tokend per case at the same time, each with its own tenant.

Replies: the R_* constants below, EXO's exact texts (exo-facts.md) wherever they are known.
Emulator choices where EXO's behaviour is not documented:
  * --rate-limit N (messages/minute/mailbox, sliding 60 s window; default off) answers
    "452 4.3.2 Message rate limit exceeded", at MAIL and again at end of DATA (so parallel
    sessions cannot overshoot).  EXO delays or refuses with some 4xx; clients must treat any
    4xx as "retry later", which is all this code is meant to exercise.
  * Sessions: each successful AUTH is logged "auth MECH ok user=MAILBOX active=N total=M"
    (N: the mailbox's authenticated sessions now, M: all mailboxes'), and
    "sessions peak mailbox=MAILBOX active=N" whenever a mailbox reaches a new peak, so a
    test can read the most concurrent sessions per mailbox and in total from the log.
    --data-delay SECONDS holds each accepted message that long before the 250 (a slow
    server, so that parallel deliveries overlap); a mailbox's "data_delay" in the mailboxes
    file overrides it for that mailbox.
  * AUTH before STARTTLS answers "504 5.7.4 Unrecognized authentication type" (AUTH is not
    advertised yet).  TLS below 1.2 fails the handshake (no 421 4.7.66 text).
  * AUTH advertises "LOGIN PLAIN XOAUTH2" (EXO documents "LOGIN XOAUTH2").  A refused XOAUTH2
    token gets 535 5.7.3 directly (EXO sends no JSON error challenge).
  * DSN/CHUNKING/BINARYMIME are not advertised (aiosmtpd does not implement them).
  * --strict-envelope (default) also applies the send-as check to MAIL FROM (<> allowed);
    that EXO does this is UNCONFIRMED, so a relay must pass both ways.

Store (DIR): NNNNNN.eml (bytes as received, dot-unstuffed, CRLF) and NNNNNN.json {"mail_from"
  ("" for <>), "rcpt_tos", "auth_user", "mail_options", "received_at", "eml", "seq",
  "message_id", "size"}, each via temp file + rename, .eml first so a .json always points at a
  complete .eml; numbering continues after existing files.  Refusals at MAIL/DATA are appended to DIR/refused.jsonl
  {"time", "auth_user", "mail_from", "from_header", "code", "text", "reason"}.
Log (--log FILE, else stderr): one line per session event; passwords and tokens are never logged.
"""

import argparse
import asyncio
import base64
import collections
import datetime
import email.parser
import email.policy
import email.utils
import hashlib
import hmac
import http.server
import secrets
import threading
import urllib.parse
import ipaddress
import itertools
import json
import logging
import os
import re
import signal
import ssl
import sys
import time
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, TLSSetupException, syntax

HOSTNAME = "exo-emulator.localhost"
MAX_SIZE = 157286400

R_STARTTLS_REQUIRED = "451 5.7.3 STARTTLS is required to send mail"
R_NOT_AUTHENTICATED = "530 5.7.57 Client not authenticated to send mail"
R_AUTH_OK = "235 2.7.0 Authentication successful"
R_AUTH_FAILED = "535 5.7.3 Authentication unsuccessful"
R_BASIC_DISABLED = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
R_BASIC_NOT_SUPPORTED = "550 5.7.30 Basic authentication is not supported for Client Submission"
R_SMTP_AUTH_TENANT = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                      "disabled for the Tenant.")
R_SMTP_AUTH_MAILBOX = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                       "disabled for the Mailbox.")
# the basic_auth_disabled forms: true is EXO's usual 5.7.139, "5.7.30" the other seen reply
BASIC_REPLIES = {"5.7.139": R_BASIC_DISABLED, "5.7.30": R_BASIC_NOT_SUPPORTED}
R_AUTH_BEFORE_TLS = "504 5.7.4 Unrecognized authentication type"
R_CONCURRENCY = ("432 4.3.2 Concurrent connections limit exceeded. Visit "
                 "https://aka.ms/concurrent_sending for more information.")
R_RATE = "452 4.3.2 Message rate limit exceeded"
R_BLOCKED = "550 5.1.8 Bad outbound sender"
R_SENDAS = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
R_INTERNAL = "451 4.3.0 emulator internal error"
R_SENDER_OK = "250 2.1.0 Sender OK"
R_RCPT_OK = "250 2.1.5 Recipient OK"

log = logging.getLogger("exo-emulator")


def clean(value, limit=200):
    """Make client-supplied text safe for one log line (no CR/LF injection, bounded length)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


# ----------------------------------------------------------------------------- mailboxes

class Mailboxes:
    """Credentials and send-as grants, keyed by lower-cased mailbox address."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        boxes = data.get("mailboxes") if isinstance(data, dict) else None
        if not isinstance(boxes, dict):
            raise ValueError(f"{path}: expected {{\"mailboxes\": {{...}}}}")
        self.tenant = data.get("tenant")
        self.smtp_auth_disabled = flag(data, "smtp_auth_disabled", path, "tenant")
        self.basic_auth_disabled = basic_form(data, path, "tenant")
        self.apps = {}
        for cid, spec in (data.get("apps") or {}).items():
            if not isinstance(spec, dict):
                raise ValueError(f"{path}: bad app {cid!r}")
            app = {"secret": spec.get("secret"), "x5t": None, "public_key": None,
                   "mailboxes": {m.strip().lower() for m in spec.get("mailboxes", [])}}
            if spec.get("certificate"):
                from cryptography import x509
                from cryptography.hazmat.primitives import serialization
                with open(spec["certificate"], "rb") as f:
                    cert = x509.load_pem_x509_certificate(f.read())
                der = cert.public_bytes(serialization.Encoding.DER)
                app["x5t"] = b64url(hashlib.sha1(der).digest())
                app["public_key"] = cert.public_key()
            self.apps[cid] = app
        self.boxes = {}
        for addr, spec in boxes.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("password", ""), str):
                raise ValueError(f"{path}: bad entry for {addr!r}")
            grants = [g.strip().lower() for g in spec.get("sendas", []) or []]
            self.boxes[addr.strip().lower()] = {
                "password": spec.get("password", ""),
                "addresses": {g for g in grants if not g.startswith("@")} | {addr.strip().lower()},
                "domains": {g[1:] for g in grants if g.startswith("@")},
                "blocked": bool(spec.get("blocked")),
                # None: follow the tenant; True/False: the mailbox's own Set-CASMailbox value
                "smtp_auth_disabled": flag(spec, "smtp_auth_disabled", path, addr, None),
                "basic_auth_disabled": basic_form(spec, path, addr),
            }
            if spec.get("data_delay") is not None:   # seconds; overrides --data-delay
                if not isinstance(spec["data_delay"], (int, float)) or spec["data_delay"] < 0:
                    raise ValueError(f"{path}: bad data_delay for {addr!r}")
                self.boxes[addr.strip().lower()]["data_delay"] = float(spec["data_delay"])

    def check_password(self, user, password):
        box = self.boxes.get(user.lower())
        # compare_digest even for unknown users, so both failures cost the same
        expected = box["password"] if box else "\0unknown"
        return hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8")) and bool(box)

    def smtp_auth_refusal(self, mailbox):
        """EXO's 5.7.139 reply when SMTP AUTH is off for `mailbox` (its own setting wins over
        the tenant's, as Set-CASMailbox's does over Set-TransportConfig's), else None."""
        own = self.boxes[mailbox]["smtp_auth_disabled"]
        if own is True:
            return R_SMTP_AUTH_MAILBOX
        if own is None and self.smtp_auth_disabled:
            return R_SMTP_AUTH_TENANT
        return None

    def basic_refusal(self, user, default=None):
        """The reply refusing AUTH LOGIN/PLAIN for `user` when Basic is off (the mailbox's
        form, else the tenant's, else `default`, the --basic-auth-disabled flag), or None."""
        box = self.boxes.get(user.lower())
        form = (box and box["basic_auth_disabled"]) or self.basic_auth_disabled or default
        return BASIC_REPLIES[form] if form else None

    def canonical(self, user):
        return user.lower() if user.lower() in self.boxes else None

    def permits(self, mailbox, address):
        box = self.boxes.get(mailbox)
        if not box or not address:
            return False
        address = address.lower()
        local, at, domain = address.rpartition("@")
        return address in box["addresses"] or bool(at and local and domain in box["domains"])


def flag(spec, key, path, where, default=False):
    """An optional boolean setting; anything but true/false is a configuration error."""
    value = spec.get(key, default)
    if value is not default and not isinstance(value, bool):
        raise ValueError(f"{path}: {where}: {key} must be true or false")
    return value


def basic_form(spec, path, where):
    """basic_auth_disabled: false/absent (None), true ("5.7.139"), "5.7.139" or "5.7.30"."""
    value = spec.get("basic_auth_disabled", False)
    if value is True:
        return "5.7.139"
    if value is False:
        return None
    if value not in BASIC_REPLIES:
        raise ValueError(f"{path}: {where}: basic_auth_disabled must be true, false, "
                         + " or ".join(f'"{k}"' for k in BASIC_REPLIES))
    return value


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ----------------------------------------------------------------------------- token endpoint

SCOPE = "https://outlook.office365.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# Answers a broken or malicious token endpoint could give (tenant "hostile-NAME"): what a
# token service must survive without writing a bad token, logging control characters or
# asking again faster than its backoff allows.  Each is (HTTP status, JSON-able answer);
# "big" and "expiring" are built in do_POST: more than 64 KB of JSON; one good token per
# tenant, then only errors.
ESC = "\x1b[31m\x1b]0;pwned\x07"


def _token(value, lifetime=3599, token_type="Bearer"):
    return 200, {"token_type": token_type, "expires_in": lifetime, "access_token": value}


HOSTILE_ANSWERS = {
    "valid": _token("eyJ0eXAi.eyJ2YWxpZCI6MX0.c2ln-_~+/=="),
    "short": _token("eyJ0eXAiOiJKV1QifQ.eyJzaG9ydCI6MX0.c2ln", lifetime=2),
    "ctrl": _token("eyJ0" + ESC + "abc"),
    "nul": _token("eyJ0eXAi\u0000forged"),
    "space": _token("eyJ0eXAi OiJKV1Qi"),
    "number": _token(1234567890),
    "array": _token(["eyJ0eXAi"]),
    "huge": _token("A" * 20000),
    "long": _token("eyJ0" + "B" * 2996),
    # a valid-looking token of another type, and lifetimes json-c alone would coerce
    "pop": _token("eyJ0eXAi.cG9w.c2ln", token_type="pop"),
    "boollife": _token("eyJ0eXAi.Ym9vbA.c2ln", lifetime=True),
    "strlife": _token("eyJ0eXAi.c3Ry.c2ln", lifetime="3599abc"),
    # 6 days: more than Entra's longest access token (1 day, token lifetime policies)
    "longlife": _token("eyJ0eXAi.bG9uZw.c2ln", lifetime=6 * 86400),
    "forged": (400, {"error": "invalid_client\nexpires=99999999999" + ESC,
                     "error_description": "AADSTS7000215: forged" + ESC +
                     "\nexpires=99999999999\nfailures=0\nlast_error=\r\n"}),
    "big": (200, None),
    # Entra's throttling: 429 with Retry-After (seconds), which a client must honour
    "throttled": (429, {"error": "temporarily_unavailable",
                        "error_description": "AADSTS50196: The server terminated an operation "
                                             "because it encountered a client request loop."}),
    # a token that lives 3 s, then an outage of answers (503): the kept token expires
    "expiring": (200, None),
}


class TokenIssuer:
    """The Microsoft identity platform's token endpoint, client credentials only."""

    def __init__(self, mailboxes, store_dir, lifetime=3599):
        self.mailboxes = mailboxes
        self.store_dir = store_dir
        self.lifetime = lifetime
        self.tokens = {}            # token -> (client_id, expiry as time.time())
        self.count = 0
        self.hostile_seen = set()   # request paths that got their one "expiring" token
        self.lock = threading.Lock()
        self.base_url = None

    def down(self):
        return os.path.exists(os.path.join(self.store_dir, "token-endpoint-down"))

    @staticmethod
    def hostile(path):
        """The name of the hostile answer for a request path (/hostile-NAME[-x]/...), or None."""
        parts = path.split("/")
        name = parts[1].split("-") if len(parts) > 1 else []
        if len(name) >= 2 and name[0] == "hostile" and name[1] in HOSTILE_ANSWERS:
            return name[1]
        return None

    @staticmethod
    def error(status, code, aadsts, text):
        trace = uuid.uuid4()
        desc = (f"{aadsts}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {uuid.uuid4()}"
                f"\r\nTimestamp: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%SZ}")
        return status, {"error": code, "error_description": desc,
                        "error_codes": [int(aadsts[6:])], "trace_id": str(trace)}

    def check_assertion(self, app, cid, assertion, url):
        """None when the client assertion is good, else an error answer."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        try:
            h64, p64, s64 = assertion.split(".")
            header = json.loads(b64url_decode(h64))
            claims = json.loads(b64url_decode(p64))
            sig = b64url_decode(s64)
        except Exception:
            return self.error(400, "invalid_request", "AADSTS50027",
                              "JWT token is invalid or malformed.")
        if header.get("alg") != "RS256" or not app["x5t"] or header.get("x5t") != app["x5t"]:
            return self.error(401, "invalid_client", "AADSTS700027",
                              f"The certificate with identifier used to sign the client "
                              f"assertion is not registered on application. [Reason - The key "
                              f"was not found., Thumbprint of key used by client: "
                              f"'{clean(header.get('x5t'), 60)}']")
        try:
            app["public_key"].verify(sig, f"{h64}.{p64}".encode("ascii"), padding.PKCS1v15(),
                                     hashes.SHA256())
        except InvalidSignature:
            return self.error(401, "invalid_client", "AADSTS700027",
                              "Client assertion contains an invalid signature.")
        now = time.time()
        if claims.get("aud") != url or claims.get("iss") != cid or claims.get("sub") != cid:
            return self.error(400, "invalid_request", "AADSTS50027",
                              "JWT token is invalid or malformed (aud, iss or sub).")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now - 300 or \
                claims.get("nbf", 0) > now + 300:
            return self.error(400, "invalid_request", "AADSTS700024",
                              "Client assertion is not within its valid time range.")
        return None

    def handle(self, path, form):
        """Answer one token request: (HTTP status, JSON object, what to log)."""
        def one(name):
            v = form.get(name) or [None]
            return v[0]
        parts = path.split("/")
        tenant = parts[1] if len(parts) == 5 and parts[2:] == ["oauth2", "v2.0", "token"] else None
        cid = one("client_id") or ""
        if tenant is None or (self.mailboxes.tenant and tenant != self.mailboxes.tenant):
            return self.error(400, "invalid_request", "AADSTS90002",
                              f"Tenant '{clean(tenant, 60)}' not found.") + ("none",)
        if one("grant_type") != "client_credentials":
            return self.error(400, "unsupported_grant_type", "AADSTS70003",
                              "The app requested an unsupported grant type.") + ("none",)
        app = self.mailboxes.apps.get(cid)
        if not app:
            return self.error(400, "unauthorized_client", "AADSTS700016",
                              f"Application with identifier '{clean(cid, 60)}' was not found in "
                              f"the directory '{clean(tenant, 60)}'.") + ("none",)
        if one("scope") != SCOPE:
            return self.error(400, "invalid_scope", "AADSTS70011",
                              f"The provided value for the input parameter 'scope' is not "
                              f"valid. The scope {clean(one('scope'), 80)} is not valid.") + ("none",)
        if one("client_secret") is not None:
            method = "secret"
            good = app["secret"] and hmac.compare_digest(app["secret"].encode(),
                                                         one("client_secret").encode())
            if not good:
                return self.error(401, "invalid_client", "AADSTS7000215",
                                  "Invalid client secret provided. Ensure the secret being sent "
                                  "in the request is the client secret value, not the client "
                                  f"secret ID, for a secret added to app '{cid}'.") + (method,)
        elif one("client_assertion_type") == ASSERTION_TYPE and one("client_assertion"):
            method = "assertion"
            bad = self.check_assertion(app, cid, one("client_assertion"), self.base_url + path)
            if bad:
                return bad + (method,)
        else:
            return self.error(401, "invalid_client", "AADSTS7000216",
                              "'client_assertion', 'client_secret' or 'request' is required "
                              "for the 'client_credentials' grant type.") + ("none",)
        token = "EwBIA8l6BAAU" + secrets.token_urlsafe(96)
        with self.lock:
            now = time.time()
            for t in [t for t, (_, exp) in self.tokens.items() if exp < now - 3600]:
                del self.tokens[t]
            self.tokens[token] = (cid, now + self.lifetime)
        return 200, {"token_type": "Bearer", "expires_in": self.lifetime,
                     "ext_expires_in": self.lifetime, "access_token": token}, method

    def valid(self, user, token):
        """True when token was issued here, is unexpired, and its app may use mailbox user."""
        with self.lock:
            entry = self.tokens.get(token)
        if not entry or entry[1] <= time.time():
            return False
        app = self.mailboxes.apps.get(entry[0])
        return bool(app) and user.lower() in app["mailboxes"]


class TokenHTTPHandler(http.server.BaseHTTPRequestHandler):
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):   # the request line would do no harm, but stay quiet
        pass

    def do_POST(self):
        issuer = self.server.issuer
        with issuer.lock:
            issuer.count += 1
            n = issuer.count
        if issuer.down():
            log.info("token request n=%d result=dropped (endpoint down)", n)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        hostile = issuer.hostile(urllib.parse.urlsplit(self.path).path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1 << 20:
                raise ValueError("body too large")
            body = self.rfile.read(length).decode("utf-8", "replace")
            form = urllib.parse.parse_qs(body, keep_blank_values=True)
            path = urllib.parse.urlsplit(self.path).path
            if hostile:
                status, answer = HOSTILE_ANSWERS[hostile]
                method = "hostile"
                if hostile == "big":   # 1 MB of JSON: far beyond any real answer
                    answer = {"error": "server_error", "error_description": "x" * (1 << 20)}
                if hostile == "expiring":
                    with issuer.lock:
                        first = path not in issuer.hostile_seen
                        issuer.hostile_seen.add(path)
                    status, answer = _token("eyJ0eXAi.ZXhwaXJpbmc.c2ln", lifetime=3) if first \
                        else (503, {"error": "temporarily_unavailable",
                                    "error_description": "AADSTS90033: A transient error has "
                                                         "occurred. Please try again."})
            else:
                status, answer, method = issuer.handle(path, form)
        except Exception:
            log.exception("token request n=%d internal error", n)
            status, answer, method = 500, {"error": "server_error"}, "none"
        cid = (form.get("client_id") or ["?"])[0] if "form" in locals() else "?"
        result = f"hostile:{clean(path.split('/')[1], 60)}" if hostile else "ok" if status == 200 else \
            f"{answer['error']} {answer.get('error_description', '').split(':')[0]}"
        log.info("token request n=%d client_id=%s auth=%s result=%s status=%d", n, clean(cid, 60),
                 method, result, status)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store, no-cache")
        if hostile == "throttled":
            self.send_header("Retry-After", "6")
        self.end_headers()
        self.wfile.write(data)


def start_token_endpoint(issuer, host, ctx):
    """Serve the token endpoint over TLS in a thread; returns the server."""
    cls = http.server.ThreadingHTTPServer
    if ":" in host:
        cls = type("ThreadingHTTPServer6", (http.server.ThreadingHTTPServer,),
                   {"address_family": __import__("socket").AF_INET6})
    httpd = cls((host, 0), TokenHTTPHandler)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.issuer = issuer
    port = httpd.server_address[1]
    issuer.base_url = f"https://{'[::1]' if ':' in host else 'localhost'}:{port}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    path = os.path.join(issuer.store_dir, "token-endpoint")
    with open(path + ".tmp", "w", encoding="ascii") as f:
        f.write(issuer.base_url + "\n")
    os.replace(path + ".tmp", path)
    log.info("token endpoint %s (token lifetime %d s)", issuer.base_url, issuer.lifetime)
    return httpd


# ----------------------------------------------------------------------------- header checks

ADDR_RE = re.compile(r"[^@\s<>]+@[^@\s<>]+\Z")


def _addrs_modern(msg, name):
    """Addresses per policy.default (RFC 5322 parser).  Returns (n_headers, [addr_spec])."""
    headers = msg.get_all(name) or []
    return len(headers), [a.addr_spec for h in headers for a in getattr(h, "addresses", ())]


def _addrs_legacy(msg, name):
    """Addresses per compat32 + getaddresses(strict) — the older, lenient-in-other-ways parser."""
    headers = [str(v) for v in (msg.get_all(name) or [])]
    pairs = email.utils.getaddresses(headers)
    return len(headers), [addr for _name, addr in pairs]


def header_addresses(raw, name):
    """Return (ok, addresses, problem) for header `name` of the raw message.

    Both parsers are run and their results unioned: where they disagree about an odd header,
    a real server might side with either, so the emulator refuses if any reading is not
    permitted.  Any parser exception just removes that reading; if neither survives, or any
    "address" lacks local@domain form, the header counts as unparseable.

    So "a@b,", ",a@b" and "a@b (x, y)" are refused: the legacy reading gives an empty
    address for the empty list element and splits the comment at its comma.  How Exchange
    Online reads them is not documented (its SMTP submission article warns that From forms
    outside RFC 5322 may be handled differently, and it misreads a ';' in a comment of
    ARC-Authentication-Results: OpenARC issue #33), so refusing them is the safe stand-in:
    sendas must repair such a From rather than bet on a lenient reading.
    """
    readings = []
    for policy, extract in ((email.policy.default, _addrs_modern),
                            (email.policy.compat32, _addrs_legacy)):
        try:
            msg = email.parser.BytesParser(policy=policy).parsebytes(raw, headersonly=True)
            readings.append(extract(msg, name))
        except Exception as exc:  # the parsers have had crash bugs on hostile input
            log.debug("header parse (%s) failed: %r", extract.__name__, exc)
    if not readings:
        return False, [], "unparseable " + name
    counts = {n for n, _ in readings}
    addrs = sorted({a.lower() for _, lst in readings for a in lst})
    if max(counts) == 0:
        return True, [], None
    if counts != {1}:
        found = "/".join(str(n) for n in sorted(counts))
        return False, addrs, f"expected one {name} header, found {found}"
    if any(not lst for _, lst in readings) or not all(ADDR_RE.match(a) for a in addrs):
        return False, addrs, "unparseable " + name
    return True, addrs, None


def raw_header(raw, name):
    """Raw (unfolded) value(s) of a header for refusal records, never raising."""
    try:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
        values = [str(v) for v in (msg.get_all(name) or [])]
        return "\n".join(values) if values else None
    except Exception:
        return None


# ----------------------------------------------------------------------------- store

class Store:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        seqs = [int(m.group(1)) for f in os.listdir(directory)
                if (m := re.fullmatch(r"(\d{6,})\.json", f))]
        self.seq = max(seqs, default=0)

    def _write_atomic(self, name, data):
        tmp = os.path.join(self.dir, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.dir, name))

    def save(self, raw, record):
        self.seq += 1
        base = f"{self.seq:06d}"
        record = dict(record, seq=self.seq, eml=base + ".eml", size=len(raw))
        self._write_atomic(base + ".eml", raw)
        self._write_atomic(base + ".json", json.dumps(record, indent=1).encode() + b"\n")
        return self.seq

    def refuse(self, record):
        line = json.dumps(dict(record, time=now_iso()), ensure_ascii=True) + "\n"
        # one write() on an O_APPEND file keeps concurrent lines whole
        with open(os.path.join(self.dir, "refused.jsonl"), "a", encoding="ascii") as f:
            f.write(line)


# ----------------------------------------------------------------------------- handler

def guarded(hook):
    """Turn any exception in an SMTP hook into a 451 reply plus a logged traceback."""
    async def wrapper(self, server, *args):
        try:
            return await hook(self, server, *args)
        except Exception:
            log.exception("conn=%s internal error in %s", getattr(server, "conn_id", "?"),
                          hook.__name__)
            return R_INTERNAL
    wrapper.__name__ = hook.__name__
    return wrapper


class ExoHandler:
    """Policy and state shared by all sessions (single event loop, so no locking)."""

    def __init__(self, mailboxes, store, strict_envelope=True, rate_limit=0,
                 max_connections=3, basic_auth_disabled=False, issuer=None, data_delay=0.0):
        self.mailboxes = mailboxes
        self.issuer = issuer
        self.store = store
        self.strict_envelope = strict_envelope
        self.rate_limit = rate_limit
        self.max_connections = max_connections
        # the --basic-auth-disabled flag: None, or a BASIC_REPLIES key (True = "5.7.139")
        self.basic_auth_disabled = "5.7.139" if basic_auth_disabled is True else (
            basic_auth_disabled or None)
        self.accepted = 0                                # messages stored since start
        self.active = collections.Counter()              # mailbox -> authenticated sessions
        self.sent = collections.defaultdict(collections.deque)  # mailbox -> accept times
        self.sessions = set()                            # live ExoSMTP, closed on shutdown
        self.peak = collections.Counter()                # mailbox -> most sessions at once
        self.data_delay = data_delay                     # seconds before each 250 at DATA

    # --- authentication -------------------------------------------------------------

    def check_xoauth2(self, user, token):
        """Validate an XOAUTH2 bearer token for `user`: issued by this emulator's token
        endpoint, unexpired, to an app that may use the mailbox."""
        return bool(self.issuer) and self.issuer.valid(user, token)

    def _grant(self, server, mechanism, user):
        """Credentials are good: refuse if SMTP AUTH is off for the mailbox or its tenant
        (EXO checks this after the credentials: a wrong password still gets 5.7.3), then apply
        the concurrency limit and mark the session authed."""
        mailbox = self.mailboxes.canonical(user)
        refusal = self.mailboxes.smtp_auth_refusal(mailbox)
        if refusal:
            log.info("conn=%s auth %s fail user=%s (smtp auth disabled)",
                     server.conn_id, mechanism, clean(mailbox))
            return AuthResult(success=False, handled=False, message=refusal)
        if self.max_connections > 0 and self.active[mailbox] >= self.max_connections:
            log.info("conn=%s auth %s user=%s refused: concurrency limit (%d active)",
                     server.conn_id, mechanism, clean(user), self.active[mailbox])
            return AuthResult(success=False, handled=False, message=R_CONCURRENCY)
        self.active[mailbox] += 1
        server.exo_user = mailbox
        log.info("conn=%s auth %s ok user=%s active=%d total=%d", server.conn_id, mechanism,
                 clean(mailbox), self.active[mailbox], sum(self.active.values()))
        if self.active[mailbox] > self.peak[mailbox]:
            self.peak[mailbox] = self.active[mailbox]
            log.info("sessions peak mailbox=%s active=%d", clean(mailbox), self.active[mailbox])
        return AuthResult(success=True, auth_data=mailbox, message=R_AUTH_OK)

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        """aiosmtpd authenticator for the basic mechanisms (LOGIN, PLAIN)."""
        try:
            assert isinstance(auth_data, LoginPassword)
            user = auth_data.login.decode("utf-8", "replace")
            refusal = self.mailboxes.basic_refusal(user, self.basic_auth_disabled)
            if refusal:
                log.info("conn=%s auth %s fail user=%s (basic auth disabled)",
                         server.conn_id, mechanism, clean(user))
                return AuthResult(success=False, handled=False, message=refusal)
            if not self.mailboxes.check_password(user, auth_data.password.decode("utf-8", "replace")):
                log.info("conn=%s auth %s fail user=%s", server.conn_id, mechanism, clean(user))
                return AuthResult(success=False, handled=False, message=R_AUTH_FAILED)
            return self._grant(server, mechanism, user)
        except Exception:
            log.exception("conn=%s internal error in authenticate", server.conn_id)
            return AuthResult(success=False, handled=False, message=R_INTERNAL)

    async def auth_XOAUTH2(self, server, args):
        """SASL XOAUTH2: base64("user=" U "\\x01auth=Bearer " T "\\x01\\x01")."""
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except Exception:
                blob = b""
        else:
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):       # client aborted with "*"; reply already sent
                return AuthResult(success=False, handled=True)
        fields = dict(p.split(b"=", 1) for p in blob.split(b"\x01") if b"=" in p)
        user = fields.get(b"user", b"").decode("utf-8", "replace")
        auth = fields.get(b"auth", b"").decode("utf-8", "replace")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if user and token and self.mailboxes.canonical(user) and self.check_xoauth2(user, token):
            return self._grant(server, "XOAUTH2", user)
        log.info("conn=%s auth XOAUTH2 fail user=%s", server.conn_id, clean(user))
        return AuthResult(success=False, handled=False, message=R_AUTH_FAILED)

    def release(self, server):
        """Session closed: give back its concurrency slot (idempotent)."""
        mailbox, server.exo_user = server.exo_user, None
        if mailbox:
            self.active[mailbox] -= 1

    # --- rate limit -------------------------------------------------------------------

    def over_rate(self, mailbox):
        if self.rate_limit <= 0:
            return False
        window = self.sent[mailbox]
        cutoff = time.monotonic() - 60
        while window and window[0] < cutoff:
            window.popleft()
        return len(window) >= self.rate_limit

    # --- send-as ----------------------------------------------------------------------

    def sendas_problem(self, mailbox, raw, sender):
        """Why `mailbox` may not send this message as it stands, or None if it may."""
        for name in ("From", "Sender"):
            ok, addrs, problem = header_addresses(raw, name)
            if not ok:
                return problem
            if name == "From" and not addrs:
                return "no From header"
            denied = [a for a in addrs if not self.mailboxes.permits(mailbox, a)]
            if denied:
                return f"{name} not permitted: " + ", ".join(denied)
        if self.strict_envelope and sender and not self.mailboxes.permits(mailbox, sender):
            return "envelope sender not permitted: " + sender
        return None

    # --- SMTP hooks -------------------------------------------------------------------

    def refuse(self, server, envelope, reply, reason, raw=None, mail_from=None):
        code = int(reply[:3])
        self.store.refuse({
            "auth_user": server.exo_user,
            "mail_from": mail_from if mail_from is not None else envelope_sender(envelope),
            "rcpt_tos": list(envelope.rcpt_tos),
            "from_header": raw_header(raw, "From") if raw is not None else None,
            "code": code, "text": reply[4:], "reason": reason,
        })
        log.info("conn=%s result %d (%s)", server.conn_id, code, clean(reason))
        return reply

    @guarded
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        sender = "" if address == "<>" else address
        log.info("conn=%s MAIL FROM:<%s>%s", server.conn_id, clean(sender),
                 clean("".join(" " + o for o in mail_options)))
        if self.over_rate(server.exo_user):
            return self.refuse(server, envelope, R_RATE, "rate limit", mail_from=sender)
        # the hook replaces aiosmtpd's default handling, so record the envelope ourselves;
        # "<>" stays as is because aiosmtpd treats an empty mail_from as "no MAIL yet"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return R_SENDER_OK

    @guarded
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return R_RCPT_OK

    @guarded
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content
        mailbox = server.exo_user
        sender = envelope_sender(envelope)
        if self.over_rate(mailbox):
            return self.refuse(server, envelope, R_RATE, "rate limit", raw)

        if self.mailboxes.boxes.get(mailbox, {}).get("blocked"):
            return self.refuse(server, envelope, R_BLOCKED, "mailbox blocked", raw)
        problem = self.sendas_problem(mailbox, raw, sender)
        if problem:
            return self.refuse(server, envelope, R_SENDAS, problem, raw)

        delay = self.mailboxes.boxes.get(mailbox, {}).get("data_delay", self.data_delay)
        if delay > 0:
            await asyncio.sleep(delay)
        message_id = header_message_id(raw) or f"<{uuid.uuid4().hex}@{HOSTNAME}>"
        seq = self.store.save(raw, {
            "mail_from": sender,
            "rcpt_tos": list(envelope.rcpt_tos),
            "auth_user": mailbox,
            "mail_options": list(envelope.mail_options),
            "received_at": now_iso(),
            "message_id": message_id,
        })
        if self.rate_limit > 0:
            self.sent[mailbox].append(time.monotonic())
        self.accepted += 1
        log.info("conn=%s result 250 stored %06d accepted=%d From: %s rcpts=%d", server.conn_id,
                 seq, self.accepted, clean(raw_header(raw, "From")), len(envelope.rcpt_tos))
        return f"250 2.6.0 {message_id} [InternalId={seq}, Hostname={HOSTNAME}] Queued mail for delivery"

    def handle_STARTTLS(self, server, session, envelope):
        # aiosmtpd calls this synchronously once the handshake completed
        try:
            version = server.transport.get_extra_info("ssl_object").version()
        except Exception:
            version = "?"
        log.info("conn=%s tls %s", server.conn_id, version)
        return True

    async def handle_exception(self, error):
        if isinstance(error, TLSSetupException):
            return R_INTERNAL   # never sent: aiosmtpd drops the connection (logged by ExoSMTP)
        log.error("internal error: %r", error, exc_info=error)
        return R_INTERNAL


def envelope_sender(envelope):
    return "" if envelope.mail_from in (None, "<>") else envelope.mail_from


def header_message_id(raw):
    value = raw_header(raw, "Message-ID") or ""
    m = re.fullmatch(r"\s*(<[^<>\s]+@[^<>\s]+>)\s*", value)
    return m.group(1) if m else None


# ----------------------------------------------------------------------------- protocol

class ExoSMTP(SMTP):
    """aiosmtpd SMTP with EXO's EHLO, TLS/AUTH gating and reply texts."""

    _ids = itertools.count(1)

    def __init__(self, handler, **kwargs):
        super().__init__(handler, authenticator=handler.authenticate, **kwargs)
        self.conn_id = next(self._ids)
        self.exo_user = None
        # aiosmtpd keeps this dict on the class and grows it on every EHLO; keep ours private
        self.command_size_limits = collections.defaultdict(lambda: self.command_size_limit)

    def connection_made(self, transport):
        first = self.transport is None          # called again after STARTTLS
        super().connection_made(transport)
        if first:
            self.event_handler.sessions.add(self)
            log.info("conn=%s connect peer=%s", self.conn_id, clean(self.session.peer))

    def connection_lost(self, error):
        self.event_handler.release(self)
        if self in self.event_handler.sessions:
            self.event_handler.sessions.discard(self)
            log.info("conn=%s disconnect", self.conn_id)
        super().connection_lost(error)

    # overrides keep @syntax so aiosmtpd's HELP still lists the commands
    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname):
        if not hostname:
            return await self.push("501 5.5.4 Invalid domain name")
        self._set_rset_state()
        self.session.extended_smtp = True
        self.session.host_name = hostname
        self.command_size_limits["MAIL"] = self.command_size_limit + 26 + 10  # SIZE + SMTPUTF8
        peer = self.session.peer[0] if isinstance(self.session.peer, tuple) else "unknown"
        caps = [f"{self.hostname} Hello [{peer}]", f"SIZE {self.data_size_limit}",
                "PIPELINING", "ENHANCEDSTATUSCODES"]
        if self._tls_protocol:
            caps.append("AUTH " + " ".join(sorted(self._auth_methods)))
        else:
            caps.append("STARTTLS")
        caps += ["8BITMIME", "SMTPUTF8"]
        for cap in caps[:-1]:
            await self.push("250-" + cap)
        await self.push("250 " + caps[-1])

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg):
        try:
            await super().smtp_STARTTLS(arg)
        except TLSSetupException as exc:
            # e.g. a TLS 1.0/1.1 client; aiosmtpd closes the connection after this
            log.info("conn=%s tls handshake failed: %s", self.conn_id, clean(exc.__cause__ or exc))
            raise

    @syntax("MAIL FROM:<address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg):
        # RFC 4954: a server that offers AUTH takes MAIL's AUTH= parameter (Sendmail sends it
        # after authenticating); aiosmtpd would answer 555.  Accepted and ignored.
        if arg:
            arg = re.sub(r"(?i)\s+AUTH=\S*", "", arg)
        return await super().smtp_MAIL(arg)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg):
        if not self._tls_protocol:
            return await self.push(R_AUTH_BEFORE_TLS)
        return await super().smtp_AUTH(arg)

    async def check_auth_needed(self, caller_method):
        """Called by aiosmtpd at the top of MAIL, RCPT, DATA (and HELP/VRFY, left open)."""
        if caller_method not in ("MAIL", "RCPT", "DATA"):
            return False
        if not self._tls_protocol:
            await self.push(R_STARTTLS_REQUIRED)
            return True
        if not self.exo_user:
            await self.push(R_NOT_AUTHENTICATED)
            return True
        return False


# ----------------------------------------------------------------------------- TLS

def ensure_self_signed(directory):
    """Create (once) a self-signed cert+key for localhost in `directory`; return the paths."""
    cert_path = os.path.join(directory, "emulator-cert.pem")
    key_path = os.path.join(directory, "emulator-key.pem")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sendas EXO emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.DNSName("smtp.office365.com"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
            # a self-signed CA, so clients can trust the cert itself, even in X509_STRICT mode
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, True, False, False,
                                         False), critical=True)   # sign, encipher, certSign
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    for path, data in ((key_path, key_pem), (cert_path, cert.public_bytes(serialization.Encoding.PEM))):
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    os.chmod(cert_path, 0o644)
    return cert_path, key_path


def tls_context(cert_path, key_path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


# ----------------------------------------------------------------------------- main

def parse_listen(value):
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        if not sep or not ipaddress.ip_address(host).is_loopback or not 0 <= int(port) <= 65535:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError("expected 127.0.0.1:PORT or [::1]:PORT (loopback only)")
    return host, int(port)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Exchange Online SMTP submission emulator")
    p.add_argument("--listen", required=True, type=parse_listen, metavar="HOST:PORT")
    p.add_argument("--mailboxes", required=True, metavar="FILE")
    p.add_argument("--store", required=True, metavar="DIR")
    p.add_argument("--cert", metavar="FILE")
    p.add_argument("--key", metavar="FILE")
    p.add_argument("--log", metavar="FILE")
    p.add_argument("--strict-envelope", action=argparse.BooleanOptionalAction, default=True,
                   help="also apply the send-as check to MAIL FROM (default: on)")
    p.add_argument("--rate-limit", type=int, default=0, metavar="N",
                   help="messages per minute per mailbox (default: unlimited)")
    p.add_argument("--data-delay", type=float, default=0.0, metavar="SECONDS",
                   help="hold each accepted message this long before the 250 (default 0)")
    p.add_argument("--max-connections", type=int, default=3, metavar="N",
                   help="concurrent authenticated sessions per mailbox (0: unlimited)")
    p.add_argument("--basic-auth-disabled", nargs="?", const="5.7.139", default=None,
                   choices=sorted(BASIC_REPLIES), metavar="5.7.139|5.7.30",
                   help="refuse AUTH LOGIN/PLAIN for every mailbox with 535 5.7.139 "
                        "(default) or 550 5.7.30")
    p.add_argument("--token-lifetime", type=int, default=3599, metavar="SECONDS",
                   help="lifetime of the access tokens the token endpoint issues (3599)")
    args = p.parse_args(argv)
    if bool(args.cert) != bool(args.key):
        p.error("--cert and --key go together")
    return args


async def serve(args, handler, ctx):
    loop = asyncio.get_running_loop()
    host, port = args.listen

    def factory():
        return ExoSMTP(handler, hostname=HOSTNAME, ident="Microsoft ESMTP MAIL Service ready",
                       tls_context=ctx, data_size_limit=MAX_SIZE, enable_SMTPUTF8=True,
                       loop=loop)

    server = await loop.create_server(factory, host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    real_port = server.sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    log.info("listening on %s:%d", shown, real_port)
    print(f"READY {shown}:{real_port}", flush=True)
    await stop.wait()
    log.info("shutting down")
    server.close()
    for session in list(handler.sessions):
        if session.transport:
            session.transport.close()
    await asyncio.sleep(0.1)    # let connection_lost callbacks run before the loop closes
    await server.wait_closed()


def main(argv=None):
    args = parse_args(argv)
    log_handler = (logging.FileHandler(args.log, encoding="utf-8") if args.log
                   else logging.StreamHandler(sys.stderr))
    log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(log_handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    # aiosmtpd's own logging echoes command lines and warns about its own deprecated
    # attributes on every AUTH; keep only its errors so the log stays ours
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    try:
        mailboxes = Mailboxes(args.mailboxes)
        store = Store(args.store)
        cert, key = (args.cert, args.key) if args.cert else ensure_self_signed(args.store)
        ctx = tls_context(cert, key)
        issuer = TokenIssuer(mailboxes, args.store, args.token_lifetime)
        start_token_endpoint(issuer, args.listen[0], ctx)
    except (OSError, ValueError, ssl.SSLError) as exc:
        log.error("startup failed: %s", exc)
        print(f"exo_emulator: {exc}", file=sys.stderr)
        return 2
    handler = ExoHandler(mailboxes, store, strict_envelope=args.strict_envelope,
                         rate_limit=args.rate_limit, max_connections=args.max_connections,
                         basic_auth_disabled=args.basic_auth_disabled, issuer=issuer,
                         data_delay=args.data_delay)
    asyncio.run(serve(args, handler, ctx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
