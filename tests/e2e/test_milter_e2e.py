#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: legacy-application mail through Postfix + sendas-milter to the Exchange Online
emulator.

Starts the emulator (tests/emulator), sendas-milter and a private Postfix instance configured
with the shipped deploy/postfix/main.cf and master.cf (only the endpoint, the milter socket and
paths substituted; tests/lib/stack.py, which also holds the test tenant's mailboxes and
sendas.conf), submits every message of tests/e2e/corpus (SMTP with smtplib, or the
instance's sendmail(1)), waits until Postfix has delivered everything, and checks each message
the emulator stored against tests/e2e/corpus/MANIFEST.json.  One PASS/FAIL line per message,
then "N passed, M failed".  Exit 0 when all pass, 1 otherwise, 77 (automake SKIP) when
Postfix, the milter binary, root or Debian's python3-aiosmtpd is missing.

Run: /usr/bin/python3 tests/e2e/test_milter_e2e.py  (as root; from the build directory, or
set BUILDDIR, or SENDAS_MILTER=/path/to/sendas-milter).  SENDAS_E2E_KEEP=1 keeps the
temporary directory (Postfix maillog, milter log, emulator store) even when everything passes;
it is always kept after a failure.

MANIFEST.json "messages", one object per .eml:
  file, message_id         the corpus file and its Message-ID (how delivered copies are found)
  envelope_sender          MAIL FROM / sendmail -f ("" is the null sender)
  recipients               RCPT TO / sendmail arguments
  via                      "smtp" (smtplib to the instance) or "sendmail" (sendmail -C DIR)
  client                   SMTP only: the loopback address to connect from (default 127.0.0.1,
                           which Postfix counts as this host: it rewrites such headers itself)
  expect_mailbox           mailbox whose credentials and address the emulator must see
                           (AUTH user and MAIL FROM); null when the message must be refused
  expect_reject            enhanced status code the SMTP transaction must fail with (e.g. "5.7.1")
  expect_from_kept         the From header(s) must arrive byte for byte (permitted sender)
  expect_from              the address a rewritten From must carry when it is not the mailbox's
                           (a permitted From repaired to one clean mailbox)
  expect_display_name      text the rewritten From's decoded display name must contain, or null
  display_name_must_not_contain  strings the rewritten display name must not contain
  original                 original sender address(es) that must be recoverable from Reply-To
                           or X-Original-From of a rewritten message
  expect_reply_to_added    a Reply-To naming original[0] must have been added (or replaced one
                           without an address)
  expect_reply_to_holds    addresses of the client's own Reply-To fields that the one Reply-To
                           leaving must still name
  originals_must_not_contain  strings Reply-To and X-Original-From must not contain (a forged
                           trace header, an address guessed from a syntax error)
Every rewritten message must also carry exactly one X-Original-From and at most one Reply-To,
both 7-bit (the corpus has no SMTPUTF8 message).
  expect_headers_kept      header names whose fields must all arrive byte for byte
  expect_sender_removed    no Sender header may arrive
  mta                      "postfix": only for the Postfix tests, not test_sendmail_e2e.py
                           (Sendmail's own limits decide such a message first); default "any"
  note                     why the message is in the corpus
"""

import email.parser
import email.policy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import SENDAS_CONF, Stack, e2e_tmpdir, report, require_stack  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")


# --- raw message handling -------------------------------------------------------------------

def normalize_eol(raw):
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def split_message(raw):
    """split_message - (header block, body) with line endings normalized to LF."""
    t = normalize_eol(raw)
    if t.startswith(b"\n"):
        return b"", t[1:]
    i = t.find(b"\n\n")
    if i < 0:
        return t if t.endswith(b"\n") or not t else t + b"\n", b""
    return t[:i + 1], t[i + 2:]


def norm_body(body):
    """norm_body - SMTP cannot carry a body without a final line end: compare with one."""
    return body if not body or body.endswith(b"\n") else body + b"\n"


def header_fields(block):
    """header_fields - [(lower-case name, raw field bytes incl. folding)] in order."""
    fields = []
    for line in block.split(b"\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + b"\n" + line)
        else:
            fields.append((line.split(b":", 1)[0].strip().lower().decode("latin-1"), line))
    return fields


def fields_named(fields, name):
    return [raw for n, raw in fields if n == name.lower()]


def parse(raw):
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def message_id_of(raw):
    block, _ = split_message(raw)
    for raw_field in fields_named(header_fields(block), "message-id"):
        return raw_field.split(b":", 1)[1].strip().decode("latin-1")
    return None


def check_delivered(entry, rec, original_raw):
    """check_delivered - list of failure reasons for one delivered message ([] = pass)."""
    why = []
    raw = rec["raw"]
    mailbox = entry["expect_mailbox"].lower()
    if (rec.get("auth_user") or "").lower() != mailbox:
        why.append(f"AUTH user {rec.get('auth_user')!r}, expected {mailbox}")
    if (rec.get("mail_from") or "").lower() != mailbox:
        why.append(f"MAIL FROM <{rec.get('mail_from')}>, expected <{mailbox}>")
    if sorted(r.lower() for r in rec.get("rcpt_tos", [])) != sorted(r.lower()
                                                                    for r in entry["recipients"]):
        why.append(f"recipients {rec.get('rcpt_tos')} != {entry['recipients']}")

    o_block, o_body = split_message(original_raw)
    d_block, d_body = split_message(raw)
    o_fields, d_fields = header_fields(o_block), header_fields(d_block)

    for line in d_block.split(b"\n"):
        if len(line) > 998:
            why.append(f"header line of {len(line)} bytes (limit 998)")
            break

    d_from = fields_named(d_fields, "from")
    if len(d_from) != 1:
        why.append(f"{len(d_from)} From headers arrived, expected 1: {d_from!r}")

    msg = parse(raw)
    for name in ("From", "Reply-To", "Sender"):
        for h in msg.get_all(name) or []:
            if getattr(h, "defects", None):
                why.append(f"{name} {str(h)!r} has defects {[str(d) for d in h.defects]}")

    if entry["expect_from_kept"]:
        o_from = fields_named(o_fields, "from")
        if d_from != o_from:
            why.append(f"From not kept byte for byte: sent {o_from!r}, arrived {d_from!r}")
    elif d_from:
        raw_from = d_from[0]
        h = msg["From"]
        addrs = list(getattr(h, "addresses", ()) or ())
        want_from = (entry.get("expect_from") or mailbox).lower()
        if len(addrs) != 1 or addrs[0].addr_spec.lower() != want_from:
            why.append(f"From {raw_from!r} is not the single address {want_from}")
        name = addrs[0].display_name if addrs else ""
        want = entry.get("expect_display_name")
        if want and want not in name:
            why.append(f"display name {name!r} does not contain {want!r} (From {raw_from!r})")
        for bad in entry.get("display_name_must_not_contain", []):
            if bad in name:
                why.append(f"display name {name!r} contains {bad!r}")
        if any(b > 0x7F for b in raw_from):
            why.append(f"rewritten From carries raw 8-bit bytes: {raw_from!r}")

        trace = fields_named(d_fields, "x-original-from")
        if len(trace) != 1:
            why.append(f"{len(trace)} X-Original-From headers, expected sendas's one: {trace!r}")
        reply_to = fields_named(d_fields, "reply-to")
        if len(reply_to) > 1:
            why.append(f"{len(reply_to)} Reply-To headers: {reply_to!r}")
        for raw_field in trace + reply_to:
            if any(b > 0x7F for b in raw_field) or b"\x1b" in raw_field:
                why.append(f"sendas wrote raw 8-bit or escape bytes: {raw_field!r}")
        for bad in entry.get("originals_must_not_contain", []):
            for raw_field in trace + reply_to:
                if bad.lower().encode() in raw_field.lower():
                    why.append(f"{bad!r} in {raw_field!r}")
        recover = b"\n".join(trace + reply_to).decode("utf-8", "replace").lower()
        recover += "\n" + "\n".join(str(v) for n in ("Reply-To", "X-Original-From")
                                    for v in (msg.get_all(n) or [])).lower()
        trace_text = b"\n".join(trace).decode("utf-8", "replace").lower()
        for addr in entry["original"]:
            if addr.lower() not in trace_text:
                why.append(f"original sender {addr!r} not in the X-Original-From {trace!r}")
            if addr.lower() not in recover:
                why.append(f"original sender {addr!r} not in Reply-To/X-Original-From "
                           f"({(trace + reply_to)!r})")
        if entry.get("expect_reply_to_added"):
            if not reply_to:
                why.append("no Reply-To added")
            elif entry["original"] and entry["original"][0].lower() not in \
                    b"\n".join(reply_to).decode("utf-8", "replace").lower():
                why.append(f"Reply-To {reply_to!r} does not name {entry['original'][0]!r}")
        for addr in entry.get("expect_reply_to_holds", []):
            if addr.lower() not in b"\n".join(reply_to).decode("utf-8", "replace").lower():
                why.append(f"Reply-To {reply_to!r} lost the client's {addr!r}")

    for name in entry.get("expect_headers_kept", []):
        if fields_named(d_fields, name) != fields_named(o_fields, name):
            why.append(f"{name} not kept byte for byte: sent {fields_named(o_fields, name)!r}, "
                       f"arrived {fields_named(d_fields, name)!r}")
    if entry.get("expect_sender_removed") and fields_named(d_fields, "sender"):
        why.append(f"Sender not removed: {fields_named(d_fields, 'sender')!r}")

    if norm_body(d_body) != norm_body(o_body):
        why.append(f"body differs ({len(o_body)} bytes sent, {len(d_body)} arrived; first "
                   f"difference at byte {first_diff(norm_body(o_body), norm_body(d_body))})")
    return why


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    milter_bin = require_stack()

    with open(os.path.join(CORPUS, "MANIFEST.json"), encoding="utf-8") as f:
        manifest = json.load(f)["messages"]

    tmp = e2e_tmpdir("e2e")
    # Postfix hands a milter no more than about 60 KB of one header (measured with 3.7), so
    # the corpus's From over max_header_bytes needs a limit below the default 64 KiB.
    stack = Stack(tmp, milter_bin, sendas_conf=SENDAS_CONF + "max_header_bytes 32768\n")
    submitted = {}  # file -> ("accepted", None) | ("refused", "stage: code text")
    results = []  # (ok, label, reasons, details)
    try:
        stack.start()
        for entry in manifest:
            with open(os.path.join(CORPUS, entry["file"]), "rb") as f:
                raw = f.read()
            submitted[entry["file"]] = stack.submit(raw, entry["envelope_sender"],
                                                    entry["recipients"], entry["via"],
                                                    source=entry.get("client"))
        drained = stack.pf.wait_queue_empty(timeout=120)
        delivered = {}
        for rec in stack.emu.messages():
            delivered.setdefault(message_id_of(rec["raw"]), []).append(rec)

        for entry in manifest:
            label = entry["file"][:-4]
            state, detail = submitted[entry["file"]]
            copies = delivered.get(entry["message_id"], [])
            with open(os.path.join(CORPUS, entry["file"]), "rb") as f:
                original_raw = f.read()
            reasons, details = [], None
            if entry.get("expect_reject"):
                if state != "refused":
                    reasons.append(f"accepted, expected refusal with {entry['expect_reject']}")
                elif entry["expect_reject"] not in detail or not detail.split(": ", 1)[1][:1] == "5":
                    reasons.append(f"refused with {detail!r}, expected 5xx {entry['expect_reject']}")
                if copies:
                    reasons.append(f"{len(copies)} copies reached the emulator")
                results.append((not reasons, label, reasons,
                                None if reasons else f"refused at {detail}"))
                continue
            if state != "accepted":
                reasons.append(f"submission refused: {detail}")
            elif not copies:
                reasons.append("not delivered to the emulator (" + stack.delivery_status(entry["message_id"]) + ")")
            elif len(copies) > 1:
                reasons.append(f"{len(copies)} copies delivered")
            if copies:
                reasons += check_delivered(entry, copies[0], original_raw)
                if reasons:
                    details = split_message(copies[0]["raw"])[0].decode("utf-8", "replace")
            results.append((not reasons, label, reasons, details))

        refused = stack.emu.refused()
        results.append((not refused, "[emulator] refused nothing",
                        [f"{len(refused)} refusals: " + "; ".join(
                            f"{r.get('code')} {r.get('text')} (auth {r.get('auth_user')}, "
                            f"MAIL FROM {r.get('mail_from')}, From {r.get('from_header')})"
                            for r in refused[:10])] if refused else [], None))
        left = stack.pf.queue_ids()
        results.append((drained and not left, "[postfix] queue drained",
                        [] if drained and not left else [f"still queued: {left}"], None))
        alive = stack.milter_running()
        results.append((alive, "[milter] still running",
                        [] if alive else [f"sendas-milter exited with {stack.milter.returncode}"],
                        None))
    except Exception as e:  # noqa: BLE001 - set-up failures become one FAIL line
        results.append((False, "[setup]", [f"{type(e).__name__}: {e}"], None))
    finally:
        stack.stop()

    def line(r):
        ok, label, reasons, details = r
        if ok:
            return f"PASS {label}" + (f" ({details})" if details else "")
        return f"FAIL {label}: " + "; ".join(reasons) + ("".join(
            f"\n#    {ln}" for ln in details.rstrip("\n").split("\n")) if details else "")

    return report(results, tmp, note="postfix/maillog, milter.log, emulator/", line=line,
                  tails=[("milter log tail", stack.milter_log, 3000)])


if __name__ == "__main__":
    sys.exit(main())
