#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: pacing (issue 10, point 4) on a real, private Postfix relaying to the emulator.

The relay is configured from `sendasctl postfix-config` (main.cf, master.cf and the
sendas_transport table) for a sendas.conf with "pacing yes", on top of the shipped snippets
(tests/lib/stack.py), with sendas-milter and sendas-policyd running.

  two mailboxes, 3 connections each: two mailboxes without a per-minute limit get a transport
      of their own with concurrency 3; 15 messages each, the emulator holding every message
      0.5 s (so deliveries overlap): its log shows 3 sessions at once for each mailbox and 6 in
      total, never 4 for one (no 432 4.3.2);
  burst: 120 messages from one SMTP client (one connection) to one mailbox whose limit is 60 a
      minute (limit_headroom 100: Postfix's rate delay is whole seconds, 1 s here), the
      emulator enforcing 60 a minute (--rate-limit 60, sliding window): 0 refused at intake
      (sendas-policyd leaves the per-minute limit to Postfix), 0 throttling replies from the
      emulator (432, 452), each delivered once, all within 1.1 x the physical minimum
      (messages / rate = 120 s).  Prints the measured figures: time to the last delivery,
      the pace, the most messages the emulator took in any 60 s;
  two relays, one mailbox: with "relays 2" a second relay joins, both configured from
      postfix-config, each paces the mailbox (60 a minute) at half: 2 s apart, at most 30 a
      minute each and 60 together, no throttling reply.

This test runs for over two minutes: 120 messages at 60 a minute cannot be delivered faster,
and fewer would not show the sliding window being respected over more than one minute.
PACING_MESSAGES and PACING_RATE change the burst (bench/pacing-bench.sh); PACING_OFF=1 runs the
same with "pacing no" (the shipped single exo transport and the intake limit), for contrast.

Prints one PASS/FAIL line per check, then "N passed, M failed".  Exit 0 when all pass, 1
otherwise, 77 (automake SKIP) when Postfix, root or the binaries are missing.
"""

import bisect
import datetime
import os
import smtplib
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import Stack, checks, e2e_tmpdir, report, require_stack  # noqa: E402

# 120 by the acceptance (over two minutes); the sanitizer build of the suite (scripts/test.sh
# sets SENDAS_TEST_VARIANT) sends 30, the same checks at a quarter of the time: the pace is
# Postfix's, what the sanitizers watch (milter, policyd) does the same per message
MESSAGES = int(os.environ.get("PACING_MESSAGES") or
               (30 if os.environ.get("SENDAS_TEST_VARIANT") == "sanitizers" else 120))
RATE = int(os.environ.get("PACING_RATE", "60"))  # per minute: the emulator's and the mailbox's
PARALLEL = 15  # messages per mailbox in the concurrency part

MAILBOXES = {
    "burst@contoso.com": {"password": "burst-secret", "sendas": []},
    "one@contoso.com": {"password": "one-secret", "sendas": [], "data_delay": 0.5},
    "two@contoso.com": {"password": "two-secret", "sendas": [], "data_delay": 0.5},
    "pair@contoso.com": {"password": "pair-secret", "sendas": []},
}
PAIR = 10  # messages through each of two relays for one mailbox

SENDAS_CONF = f"""\
# sendas.conf written by tests/e2e/test_pacing.py
mailbox burst@contoso.com limit_messages_per_minute {RATE} limit_headroom 100
mailbox one@contoso.com limit_messages_per_minute 0
mailbox two@contoso.com limit_messages_per_minute 0
mailbox pair@contoso.com limit_messages_per_minute {RATE} limit_headroom 100
route sender:@burst.corp burst@contoso.com
route sender:@one.corp one@contoso.com
route sender:@two.corp two@contoso.com
route sender:@pair.corp pair@contoso.com
milter_socket inet:{{port}}@127.0.0.1
policy_socket inet:{{policy_port}}@127.0.0.1
state_dir {{state_dir}}
pacing {"no" if os.environ.get("PACING_OFF") else "yes"}
"""


def submit_all(port, batch):
    """submit_all - send every (sender, raw) of batch over one SMTP connection (a new one only
    when Postfix ends it, as after 20 refusals); returns the refusals as "sender: reply" """
    refused, smtp = [], None
    try:
        for sender, raw in batch:
            if smtp is None:
                smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="app.corp.local",
                                    timeout=60)
            try:
                smtp.sendmail(sender, ["user@example.org"], raw)
            except smtplib.SMTPException as e:
                refused.append(f"{sender}: {e}")
                try:
                    smtp.rset()
                except smtplib.SMTPException:
                    smtp.close()
                    smtp = None
    finally:
        if smtp is not None:
            smtp.close()
    return refused


def message(sender, n):
    return (f"From: {sender}\r\nTo: user@example.org\r\nSubject: pacing {n}\r\n"
            f"Message-ID: <pacing-{n}-{sender}>\r\n\r\nmessage {n}\r\n").encode()


def stored_times(emu, mailbox):
    """stored_times - when the emulator stored each message of mailbox, in seconds, sorted"""
    return sorted(datetime.datetime.fromisoformat(m["received_at"]).timestamp()
                  for m in emu.messages() if m.get("auth_user") == mailbox)


def max_in_window(times, span=60.0):
    """max_in_window - the most of times (sorted) within any half-open span seconds"""
    return max((bisect.bisect_left(times, t + span) - i for i, t in enumerate(times)), default=0)


def wait_count(emu, mailbox, count, timeout):
    """wait_count - wait until mailbox has count stored messages; the time it happened"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for m in emu.messages() if m.get("auth_user") == mailbox) >= count:
            return time.monotonic()
        time.sleep(0.2)
    return None


def pace_of(times):
    """pace_of - messages a minute from the first to the last of times (sorted)"""
    return (len(times) - 1) * 60.0 / (times[-1] - times[0]) if len(times) > 1 else 0.0


def two_relays(stack, expect):
    """two_relays - a second relay for the same mailboxes ("relays 2"): each relay paces the
    pair mailbox at half its limit, so together they stay within it"""
    with open(stack.conf_path, encoding="utf-8") as f:
        conf = f.read()
    with open(stack.conf_path, "w", encoding="utf-8") as f:
        f.write(conf + "relays 2\n")
    relays = [stack.pf, stack.add_postfix("postfix2")]
    rows = [stack.configure_pacing(pf) for pf in relays][-1]
    delay = stack.pf.main_params().get(f"{rows['pair@contoso.com']}_destination_rate_delay")
    t0 = time.monotonic()
    refused = []
    for r, pf in enumerate(relays):
        refused += submit_all(pf.smtp_port, [(f"r{r}m{n}@pair.corp", message(f"r{r}m{n}@pair.corp", n))
                                             for n in range(PAIR)])
    done = wait_count(stack.emu, "pair@contoso.com", 2 * PAIR, PAIR * 2 * 60.0 / RATE + 30)
    took = (done or time.monotonic()) - t0
    each = [sorted(datetime.datetime.fromisoformat(m["received_at"]).timestamp()
                   for m in stack.emu.messages() if f"-r{r}m" in m["message_id"]) for r in (0, 1)]
    both = stored_times(stack.emu, "pair@contoso.com")
    print(f"# two relays: rate delay {delay} each; {len(both)} delivered in {took:.1f} s; pace "
          f"relay 1 {pace_of(each[0]):.1f}/min, relay 2 {pace_of(each[1]):.1f}/min, together "
          f"{pace_of(both):.1f}/min (limit {RATE})")
    expect(f"two relays: each paces at half ({120 // RATE}s apart)", delay == f"{120 // RATE}s",
           str(delay))
    expect(f"two relays: all {2 * PAIR} delivered, none refused or throttled",
           done and not refused and not throttled(stack.emu), f"{refused[:2]} {throttled(stack.emu)[:2]}")
    expect(f"two relays: at most {RATE // 2} a minute each, {RATE} together",
           all(len(t) == PAIR and pace_of(t) <= RATE / 2 + 0.5 for t in each) and
           pace_of(both) <= RATE + 1, f"{[round(pace_of(t), 1) for t in each]} {pace_of(both):.1f}")


def throttled(emu):
    """throttled - the emulator's 432 and 452 replies (refused.jsonl and AUTH refusals)"""
    return ([r for r in emu.refused() if r["code"] in (432, 452)] +
            [ln for ln in emu.log_text().splitlines() if "refused: concurrency limit" in ln])


def main():
    milter_bin = require_stack()
    tmp = e2e_tmpdir("pacing")
    stack = Stack(tmp, milter_bin, sendas_conf=SENDAS_CONF, mailboxes=MAILBOXES,
                  emulator_options={"rate_limit": RATE})
    results, check = checks()

    def expect(label, ok, detail=""):
        check(ok, label, detail)
    try:
        stack.start()
        rows = stack.configure_pacing()
        params = stack.pf.main_params()
        burst_tp = rows.get("burst@contoso.com", "?")
        expect("relay configured from postfix-config: 4 transports, burst at 1 s, one/two at 3",
              len(rows) == 4 and params.get(f"{burst_tp}_destination_rate_delay") ==
              f"{60 // RATE}s" and all(params.get(f"{rows.get(m, '?')}_destination_concurrency_limit")
                                       == "3" for m in ("one@contoso.com", "two@contoso.com")),
              f"{rows} {burst_tp}: {params.get(f'{burst_tp}_destination_rate_delay')}")

        # --- two mailboxes, 3 connections each ---
        batch = [(f"app{i}@{side}.corp", message(f"app{i}@{side}.corp", i))
                 for i in range(PARALLEL) for side in ("one", "two")]
        refused = submit_all(stack.pf.smtp_port, batch)
        done = all(wait_count(stack.emu, f"{m}@contoso.com", PARALLEL, 60) for m in ("one", "two"))
        peaks, total = stack.emu.session_peaks()
        print(f"# two mailboxes: sessions at once one={peaks.get('one@contoso.com')} "
              f"two={peaks.get('two@contoso.com')} total={total}")
        expect(f"two mailboxes: all {2 * PARALLEL} accepted and delivered", not refused and done,
              f"refused {refused[:3]}")
        expect("two mailboxes: 3 sessions at once each, 6 in total",
              peaks.get("one@contoso.com") == 3 and peaks.get("two@contoso.com") == 3
              and total == 6, f"{peaks} total={total}")
        expect("two mailboxes: never a 4th session for one (no 432 4.3.2)",
              not throttled(stack.emu), str(throttled(stack.emu)[:3]))

        # --- the burst ---
        batch = [(f"scan{i}@burst.corp", message(f"scan{i}@burst.corp", i))
                 for i in range(MESSAGES)]
        t0 = time.monotonic()
        refused = submit_all(stack.pf.smtp_port, batch)
        accepted_in = time.monotonic() - t0
        minimum = MESSAGES * 60.0 / RATE
        end = wait_count(stack.emu, "burst@contoso.com", MESSAGES, 1.5 * minimum + 30)
        elapsed = (end or time.monotonic()) - t0
        times = stored_times(stack.emu, "burst@contoso.com")
        window = max_in_window(times)
        pace = pace_of(times)
        print(f"# burst: {MESSAGES} messages accepted by the relay in {accepted_in:.1f} s, "
              f"{len(refused)} refused at intake; delivered {len(times)} in {elapsed:.1f} s "
              f"(physical minimum {minimum:.0f} s, ratio {elapsed / minimum:.3f}); pace "
              f"{pace:.1f}/min; most in any 60 s at the emulator: {window} (limit {RATE}); "
              f"throttling replies: {len(throttled(stack.emu))}")
        expect("burst: 0 refused at intake", not refused, str(refused[:3]))
        expect("burst: 0 throttling replies from the emulator (432, 452)", not throttled(stack.emu),
              str(throttled(stack.emu)[:3]))
        expect(f"burst: all {MESSAGES} delivered, each once", end is not None and
              len(times) == MESSAGES, f"{len(times)} delivered")
        expect(f"burst: delivered within 1.1 x the physical minimum ({1.1 * minimum:.0f} s)",
              end is not None and elapsed <= 1.1 * minimum, f"{elapsed:.1f} s")
        expect(f"burst: never more than {RATE} in any 60 s at the emulator", window <= RATE,
              str(window))
        if not os.environ.get("PACING_OFF"):
            two_relays(stack, expect)
        deferred = [ln for ln in stack.pf.maillog().splitlines() if "status=deferred" in ln]
        expect("relay: nothing deferred", not deferred, "\n".join(deferred[:3]))
    except Exception as e:  # noqa: BLE001 - reported as a failed check, then cleaned up
        check(False, "test ran to the end", repr(e))
    finally:
        stack.stop()
    return report(results, tmp, tails=[("emulator log", stack.emu.log_path if stack.emu else "")])


if __name__ == "__main__":
    sys.exit(main())
