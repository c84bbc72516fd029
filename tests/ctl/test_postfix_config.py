#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sendasctl postfix-config with pacing (issue 10, point 4), and sendasctl check/quota showing
each mailbox's own limits (point 3).  No daemons; `postfix check` on a private configuration
directory when Postfix is installed.

  names     one transport per mailbox, "sendas-" + the address + a hash, <= 48 characters,
            the same in main.cf, master.cf and the sendas_transport table;
  figures   the rate delay and concurrency from each mailbox's per-minute limit, headroom and
            `relays` (1 and 2), the failed-cohort limit with a rate delay, each mailbox's
            recipients per message;
  off       pacing no: no per-mailbox transports, no map line; the table says it is off;
  postfix   postfix -c DIR check accepts the generated main.cf and master.cf (and postmap the
            table), and postconf reads the per-transport figures back;
  check     sendasctl check prints each mailbox's effective limits where they differ from
            the global ones; sendasctl quota marks them "own".

Prints one PASS/FAIL line per check, then "N passed, M failed"; exit 0 when all pass, 1
otherwise, 77 (automake SKIP) without the built sendasctl.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("BUILDDIR") or os.getcwd()
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import report  # noqa: E402

SENDASCTL = os.path.join(BUILDDIR, "ctl", "sendasctl")
SNIPPETS = os.path.join(SRCDIR, "deploy")

CONF = """\
mailbox relay@contoso.com sendas @shared.contoso.com
mailbox scanner@contoso.com limit_messages_per_minute 60 sendas @scan.corp
mailbox bulk@contoso.com
limits bulk@contoso.com limit_messages_per_minute 0 limit_recipients_per_message 100
route * relay@contoso.com
state_dir {tmp}/state
limit_headroom 100
"""


def sendasctl(tmp, text, *args):
    """sendasctl - write text to tmp/t.conf and run sendasctl -c it args: (rc, out, err)"""
    path = os.path.join(tmp, "t.conf")
    with open(path, "w") as f:
        f.write(text.format(tmp=tmp))
    p = subprocess.run([SENDASCTL, "-c", path, *args], capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def params(text):
    """params - main.cf lines NAME = VALUE of text, as a dict"""
    return dict(m.groups() for m in re.finditer(r"^([A-Za-z0-9_-]+) = (.*)$", text, re.M))


def main():
    if not os.access(SENDASCTL, os.X_OK):
        print(f"SKIP: no {SENDASCTL}")
        return 77
    tmp = tempfile.mkdtemp(prefix="sendasctl-pacing-")
    results = []

    def check(label, ok, detail=""):
        results.append((bool(ok), label, "" if ok else detail))

    paced = CONF + "pacing yes\n"
    rc, table, err = sendasctl(tmp, paced, "postfix-config", "--snippets", SNIPPETS,
                               "sendas_transport")
    rows = dict(ln.split() for ln in table.splitlines() if ln and not ln.startswith("#"))
    names = rows.values()
    check("sendas_transport: one row per mailbox, keyed by the mailbox",
          rc == 0 and sorted(rows) == ["bulk@contoso.com", "relay@contoso.com",
                                       "scanner@contoso.com"], table + err)
    check("transport names: sendas-ADDRESS-HASH, <= 48 characters, distinct",
          len(set(names)) == 3 and all(re.fullmatch(r"sendas-[a-z0-9-]{1,32}-[0-9a-f]{8}", n)
                                       and len(n) <= 48 for n in names) and
          rows.get("relay@contoso.com", "").startswith("sendas-relay-contoso-com-"), str(rows))

    rc, main_cf, err = sendasctl(tmp, paced, "postfix-config", "--snippets", SNIPPETS, "main.cf")
    mp = params(main_cf)
    relay, scanner, bulk = (rows.get(m + "@contoso.com", "?") for m in ("relay", "scanner", "bulk"))
    want = {
        "sender_dependent_default_transport_maps": "hash:/etc/postfix/sendas_transport",
        # the global 30 a minute at 100%: 2 s; its own 60: 1 s; its own 0: 3 connections
        f"{relay}_destination_concurrency_limit": "1",
        f"{relay}_destination_rate_delay": "2s",
        f"{relay}_destination_concurrency_failed_cohort_limit": "10",
        f"{scanner}_destination_rate_delay": "1s",
        f"{bulk}_destination_concurrency_limit": "3",
        f"{bulk}_destination_recipient_limit": "100",
        f"{relay}_destination_recipient_limit": "500",
    }
    wrong = {k: (mp.get(k), v) for k, v in want.items() if mp.get(k) != v}
    check("main.cf, relays 1: 2s for 30/min, 1s for 60/min, 3 connections without a limit",
          rc == 0 and not wrong and f"{bulk}_destination_rate_delay" not in mp,
          f"{wrong} {err}")

    # Postfix: with a destination recipient limit of 1 the rate delay is per recipient, so
    # such a line would leave the mailbox unpaced (sendas-policyd holds it to 1 at intake)
    one_cf = paced + "mailbox one@contoso.com limit_recipients_per_message 1\n"
    rc, table1, err = sendasctl(tmp, one_cf, "postfix-config", "--snippets", SNIPPETS,
                                "sendas_transport")
    one = dict(ln.split() for ln in table1.splitlines()
               if ln and not ln.startswith("#")).get("one@contoso.com", "?")
    rc, main1, err = sendasctl(tmp, one_cf, "postfix-config", "--snippets", SNIPPETS, "main.cf")
    mp1 = params(main1)
    check("limit_recipients_per_message 1: no recipient limit 1 (it would pace per recipient)",
          rc == 0 and mp1.get(f"{one}_destination_rate_delay") == "2s"
          and f"{one}_destination_recipient_limit" not in mp1,
          f"{one}: {[ln for ln in main1.splitlines() if one in ln]} {err}")

    rc, main_one, err = sendasctl(tmp, CONF + "limit_recipients_per_message 1\n",
                                  "postfix-config", "--snippets", SNIPPETS, "main.cf")
    mo = params(main_one)
    check("limit_recipients_per_message 1: smtpd's limit 1, exo's not (per recipient then)",
          rc == 0 and mo.get("smtpd_recipient_limit") == "1"
          and mo.get("exo_destination_recipient_limit", "1") != "1",
          f"{mo.get('smtpd_recipient_limit')} {mo.get('exo_destination_recipient_limit')} {err}")

    rc, main2, err = sendasctl(tmp, paced + "relays 2\n", "postfix-config", "--snippets",
                               SNIPPETS, "main.cf")
    mp2 = params(main2)
    want2 = {f"{relay}_destination_rate_delay": "4s", f"{scanner}_destination_rate_delay": "2s",
             f"{bulk}_destination_concurrency_limit": "1"}
    wrong = {k: (mp2.get(k), v) for k, v in want2.items() if mp2.get(k) != v}
    check("main.cf, relays 2: each relay at half the pace (4s, 2s), 1 connection each",
          rc == 0 and not wrong, f"{wrong} {err}")
    rc, _, err = sendasctl(tmp, paced + "relays 4\n", "postfix-config", "--snippets", SNIPPETS,
                           "main.cf")
    check("relays 4: warns that 1 connection each is 4 in all, over Exchange Online's 3",
          rc == 0 and "relays 4: a mailbox without a per-minute limit gets 1 connection on each "
          "relay, 4 in all, over Exchange Online's 3" in err, err)

    rc, master_cf, err = sendasctl(tmp, paced, "postfix-config", "--snippets", SNIPPETS,
                                   "master.cf")
    services = dict(re.findall(r"^(sendas-\S+) unix - - n - (\d) smtp$", master_cf, re.M))
    check("master.cf: one smtp service per mailbox, maxproc = its concurrency (1, 1, 3)",
          rc == 0 and services == {relay: "1", scanner: "1", bulk: "3"} and
          re.search(r"^exo\s+unix", master_cf, re.M), f"{services} {err}")

    rc, off, err = sendasctl(tmp, CONF, "postfix-config", "--snippets", SNIPPETS)
    live = [ln for ln in off.splitlines() if ln and not ln.startswith("#")]
    check("pacing no: no transports, no map",
          rc == 0 and not [ln for ln in live if re.search(r"sendas-[a-z0-9-]+-[0-9a-f]{8}\b", ln)]
          and
          not [ln for ln in live if ln.startswith("sender_dependent_default_transport_maps")],
          "\n".join(ln for ln in live if "sendas" in ln) + err)

    # --- Postfix itself reads what was printed ---
    postfix = shutil.which("postfix") or "/usr/sbin/postfix"
    if os.geteuid() == 0 and os.access(postfix, os.X_OK):
        etc = os.path.join(tmp, "etc")
        os.makedirs(etc)
        stock = subprocess.run(["postconf", "-d", "-h", "config_directory"], capture_output=True,
                               text=True).stdout.strip()
        shutil.copy(os.path.join(stock, "master.cf"), os.path.join(etc, "master.cf"))
        with open(os.path.join(etc, "master.cf"), "a") as f:
            f.write(master_cf)
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write(main_cf.replace("/etc/postfix/", etc + "/"))
        for name, text in (("sendas_transport", table), ("sasl_passwd", "x@y.z x:y\n")):
            with open(os.path.join(etc, name), "w") as f:
                f.write(text)
            subprocess.run(["postmap", "-c", etc, f"hash:{etc}/{name}"], check=False)
        p = subprocess.run([postfix, "-c", etc, "check"], capture_output=True, text=True)
        check("postfix -c DIR check accepts the generated main.cf and master.cf",
              p.returncode == 0 and "fatal" not in p.stderr, p.stderr[-800:])
        p = subprocess.run(["postconf", "-c", etc, "-h", f"{scanner}_destination_rate_delay"],
                           capture_output=True, text=True)
        check("postconf reads the per-transport rate delay back", p.stdout.strip() == "1s",
              p.stdout + p.stderr)
        p = subprocess.run(["postmap", "-c", etc, "-q", "scanner@contoso.com",
                            f"hash:{etc}/sendas_transport"], capture_output=True, text=True)
        check("postmap -q finds the mailbox's transport", p.stdout.strip() == scanner, p.stdout)
    else:
        print("# postfix check skipped: needs root and Postfix")

    # --- point 3: check and quota show each mailbox's own limits ---
    rc, out, err = sendasctl(tmp, CONF, "check")
    check("check: the mailboxes whose limits differ, with their effective figures",
          rc == 0 and re.search(r"scanner@contoso\.com: .*60 messages/minute \(own\)", out) and
          re.search(r"bulk@contoso\.com: .*no limit \(own\).*100 recipients/message \(own\)", out)
          and "relay@contoso.com:" not in out, out + err)
    os.makedirs(os.path.join(tmp, "state"), exist_ok=True)
    rc, out, err = sendasctl(tmp, CONF, "quota", "scanner@contoso.com")
    check("quota: the mailbox's own per-minute limit, marked own",
          rc == 0 and re.search(r"messages/minute .*0/60 \(100% of 60, own\)", out) and
          re.search(r"recipients/24h .*\(100% of 10000\)", out), f"rc={rc} {out}{err}")
    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
