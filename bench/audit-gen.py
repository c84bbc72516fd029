#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""audit-gen.py DIR [LINES] - a synthetic audit log and the matching Postfix mail log.

Writes DIR/audit.log (LINES audit records, default 1,000,000: per message one sendas-milter
record and one sendas-policyd "counted" record, plus refusals), DIR/mail.log.1.gz (the
older half of the mail log, rotated and compressed) and DIR/mail.log (the newer half), for
bench/audit-bench.sh.  Each accepted message gets the five lines Postfix writes (smtpd
client, cleanup message-id, qmgr from, the exo transport's delivery status, qmgr removed);
3% are deferred with 4.3.2 first, 4% bounce with 5.7.60, 1% with 5.7.139.  Timestamps are
RFC 3339 (syslog's high-precision form), spread over seven days; 2,000 senders from 300
client addresses.  Deterministic (seeded).
"""

import datetime
import gzip
import json
import os
import random
import sys


def main():
    out = sys.argv[1]
    target = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(42)
    senders = [f"app{i}@host{i % 97}.corp.local" for i in range(2000)]
    clients = [f"10.20.{i // 250}.{i % 250 + 1}" for i in range(300)]
    t0 = datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc).timestamp()
    span = 7 * 86400
    audit = open(os.path.join(out, "audit.log"), "w")
    older = gzip.open(os.path.join(out, "mail.log.1.gz"), "wt", compresslevel=1)
    newer = open(os.path.join(out, "mail.log"), "w")
    lines = 0
    n = 0
    qn = 0x10000
    # messages needed: ~2.1 audit lines per message
    msgs = target // 2
    step = span / msgs

    def ts(t, frac=True):
        d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
        return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + ("Z" if frac else "+00:00")

    while lines < target:
        t = t0 + n * step
        n += 1
        s = rnd.choice(senders)
        c = clients[hash(s) % len(clients)]
        ml = older if t < t0 + span / 2 else newer
        r = rnd.random()
        base = {"time": ts(t), "component": "sendas-milter", "client_addr": c,
                "client_name": "unknown", "env_from": s, "header_from": s}
        if r < 0.05:  # refused here (route reject)
            rec = dict(base, queue_id="NOQUEUE", action="rejected",
                       rule="sender:@host13.corp.local",
                       reason=f"route \"sender:@host13.corp.local\" says reject")
            audit.write(json.dumps(rec, separators=(",", ":")) + "\n")
            lines += 1
            continue
        qn += 1
        qid = f"{qn:X}A{n % 16:X}"
        action = "kept" if r < 0.15 else "rewritten"
        rec = dict(base, queue_id=qid, mailbox="relay@contoso.com", action=action, rule="*",
                   reason="From not permitted for relay@contoso.com; Reply-To added",
                   message_id=f"<{n}@{s.split('@')[1]}>")
        audit.write(json.dumps(rec, separators=(",", ":")) + "\n")
        pol = {"time": ts(t + 0.001), "component": "sendas-policyd", "queue_id": qid,
               "client_addr": c, "env_from": s, "mailbox": "relay@contoso.com",
               "action": "counted", "rule": "*", "stage": "END-OF-MESSAGE",
               "rcpt_count": 1 + n % 3, "size": 2000 + n % 5000}
        audit.write(json.dumps(pol, separators=(",", ":")) + "\n")
        lines += 2
        h = "relay01"
        ml.write(f"{ts(t - 0.01, False)} {h} postfix/smtpd[{n % 30000}]: {qid}: client=unknown[{c}]\n")
        ml.write(f"{ts(t, False)} {h} postfix/cleanup[{n % 30000}]: {qid}: message-id=<{n}@x>\n")
        ml.write(f"{ts(t + 0.01, False)} {h} postfix/qmgr[77]: {qid}: from=<relay@contoso.com>, "
                 f"size=2345, nrcpt=1 (queue active)\n")
        d = rnd.random()
        pre = (f"{ts(t + 0.3, False)} {h} postfix/exo/smtp[{n % 3000}]: {qid}: "
               f"to=<ops@contoso.com>, relay=smtp.office365.com[52.97.1.2]:587, delay=0.3, "
               f"delays=0.01/0/0.1/0.2, ")
        if d < 0.03:
            ml.write(pre + "dsn=4.3.2, status=deferred (host smtp.office365.com[52.97.1.2] said: "
                     "432 4.3.2 Concurrent connections limit exceeded. (in reply to MAIL FROM "
                     "command))\n")
            ml.write(pre + "dsn=2.6.0, status=sent (250 2.6.0 Queued mail for delivery)\n")
        elif d < 0.07:
            ml.write(pre + "dsn=5.7.60, status=bounced (host smtp.office365.com[52.97.1.2] said: "
                     "550 5.7.60 SMTP; Client does not have permissions to send as this sender "
                     "(in reply to end of DATA command))\n")
        elif d < 0.08:
            ml.write(pre + "dsn=5.7.139, status=bounced (SASL authentication failed; server "
                     "smtp.office365.com[52.97.1.2] said: 535 5.7.139 Authentication "
                     "unsuccessful, SmtpClientAuthentication is disabled for the Tenant.)\n")
        else:
            ml.write(pre + "dsn=2.6.0, status=sent (250 2.6.0 Queued mail for delivery)\n")
        ml.write(f"{ts(t + 0.31, False)} {h} postfix/qmgr[77]: {qid}: removed\n")
    audit.close()
    older.close()
    newer.close()
    print(f"{out}: {lines} audit lines, {n} messages")


if __name__ == "__main__":
    main()
