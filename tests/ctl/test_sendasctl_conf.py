#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sendasctl check and postfix-config on temporary sendas.conf files (no daemons, no root).

  check          a mistyped directive names the one meant; errors about the whole file name
                 no line 0; a file that starts with a UTF-8 BOM is fine; warnings (host bits
                 in a network, a route after "route *") are printed with file and line, the
                 file is still accepted (exit 0), sendas-milter -n prints them too, and
                 sendas-milter and sendas-policyd start on it and log them;
  test           client:::ffff:192.0.2.7/128 is the route of IPv4 client 192.0.2.7;
  postfix-config with oauth_* set: smtp_sasl_mechanism_filter = xoauth2 (not login) and
                 sasl_passwd entries naming each mailbox's token file (no PASSWORD); a
                 declared mailbox left out of oauth_mailboxes is flagged; without oauth_*
                 the Basic-authentication lines stay;
  manuals        sendas.conf(5) documents every directive the parser knows (conf.c's settings[]),
                 sendasctl(8)'s synopsis has every command `sendasctl help` lists.

Prints one PASS/FAIL line per check, then "N passed, M failed"; exit 0 when all pass, 1
otherwise, 77 (automake SKIP) without the built sendasctl.  BUILDDIR (the build tree) and
SRCDIR are set by `make check`.
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("BUILDDIR") or os.getcwd()
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import report  # noqa: E402

SENDASCTL = os.path.join(BUILDDIR, "ctl", "sendasctl")
MILTER = os.path.join(BUILDDIR, "milter", "sendas-milter")

BASE = "mailbox relay@contoso.com\nmailbox scanner@contoso.com\n"


def run(tmp, text, *args, prog=SENDASCTL, name="t.conf"):
    """run - write text to tmp/name and run prog -c that file args; (rc, stdout, stderr)"""
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    p = subprocess.run([prog, "-c", path, *args], capture_output=True, text=True, timeout=30,
                       cwd=tmp)
    return p.returncode, p.stdout.replace(tmp + "/", ""), p.stderr.replace(tmp + "/", "")


def started_with_warning(tmp, prog, text):
    """started_with_warning - (ok, detail): prog -f starts on text (sockets and state in tmp),
    logs its warnings with file and line, and stops on SIGTERM"""
    path = os.path.join(tmp, "d.conf")
    os.makedirs(os.path.join(tmp, "state"), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + f"milter_socket unix:{tmp}/m.sock\npolicy_socket unix:{tmp}/p.sock\n"
                f"state_dir {tmp}/state\n")
    p = subprocess.Popen([prog, "-f", "-c", path], stderr=subprocess.PIPE, text=True, cwd=tmp)
    seen = []
    try:
        for line in p.stderr:
            seen.append(line.replace(tmp + "/", ""))
            if " starting " in line or len(seen) > 20:
                break
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    log = "".join(seen)
    return ("warning: configuration: d.conf:5: route sender:@x.example can never match" in log
            and " starting " in log), log


def main():
    if not os.access(SENDASCTL, os.X_OK):
        print(f"SKIP: no {SENDASCTL}")
        return 77
    tmp = tempfile.mkdtemp(prefix="sendasctl-conf-")
    results = []

    def check(label, ok, detail=""):
        results.append((bool(ok), label, "" if ok else detail))

    # --- finding 14: messages ---
    rc, out, err = run(tmp, BASE + "route * relay@contoso.com\nrout sasl:x scanner@contoso.com\n",
                       "check")
    check("typo'd directive: did you mean", rc == 1 and
          't.conf:4: unknown directive "rout" (did you mean "route"?)' in err, f"rc={rc} {err!r}")
    rc, out, err = run(tmp, BASE + "route * relay@contoso.co\n", "check")
    check("typo'd route mailbox: did you mean", rc == 1 and
          "t.conf:3: route *: relay@contoso.co is not a declared mailbox "
          "(did you mean relay@contoso.com?)" in err, f"rc={rc} {err!r}")
    rc, out, err = run(tmp, "mailbox relay@contoso.com\n", "check")
    check("whole-file error names no line 0", rc == 1 and "t.conf: no route declared" in err
          and ":0:" not in err, f"rc={rc} {err!r}")
    rc, out, err = run(tmp, b"\xef\xbb\xbf" + (BASE + "route * relay@contoso.com\n").encode(),
                       "check")
    check("UTF-8 BOM at the start is accepted", rc == 0 and "configuration OK" in out,
          f"rc={rc} {err!r}")
    words = " ".join(f"u{i}@contoso.com" for i in range(40))
    rc, out, err = run(tmp, "mailbox relay@contoso.com sendas\n" +
                       "".join(f"  {words}\n" for _ in range(20)) + "route * relay@contoso.com\n",
                       "check")
    check("a long continued directive: its first line and where the cap was reached",
          rc == 1 and "t.conf:1: line too long (more than 8192 bytes, reached at line" in err,
          f"rc={rc} {err!r}")

    # --- finding 15: warnings, exit 0, the daemons' -n too ---
    warn_conf = (BASE + "route client:10.1.2.3/8 scanner@contoso.com\n"
                 "route * relay@contoso.com\nroute sender:@x.example reject\n")
    rc, out, err = run(tmp, warn_conf, "check")
    check("check: host bits warned with file and line", rc == 0 and
          "sendasctl: warning: t.conf:3: route client:10.1.2.3/8: host bits are set: "
          "this is the network 10.0.0.0/8" in err, f"rc={rc} {err!r}")
    check("check: route after route * warned", rc == 0 and
          "sendasctl: warning: t.conf:5: route sender:@x.example can never match: "
          "route * (line 4)" in err, f"rc={rc} {err!r}")
    check("check: accepted with the count of warnings",
          "configuration OK: 2 mailboxes, 3 routes, 2 warnings" in out, repr(out))
    rc, out, err = run(tmp, BASE + "route * relay@contoso.com\n", "check")
    check("check: a clean file has no warning", rc == 0 and err == "" and
          out.strip().endswith("configuration OK: 2 mailboxes, 1 routes"), f"{out!r} {err!r}")
    if os.access(MILTER, os.X_OK):
        rc, out, err = run(tmp, warn_conf, "-n", prog=MILTER)
        check("sendas-milter -n: accepted, warnings printed", rc == 0 and
              "warning: t.conf:5: route sender:@x.example can never match" in err,
              f"rc={rc} {err!r}")
    for prog in (MILTER, os.path.join(BUILDDIR, "policyd", "sendas-policyd")):
        if not os.access(prog, os.X_OK):
            continue
        name = os.path.basename(prog)
        ok, detail = started_with_warning(tmp, prog, warn_conf)
        check(f"{name} starts with such a file and logs the warnings", ok, detail)
    mapped = BASE + "route client:::ffff:192.0.2.7/128 scanner@contoso.com\nroute * relay@contoso.com\n"
    for client in ("192.0.2.7", "::ffff:192.0.2.7"):
        rc, out, err = run(tmp, mapped, "test", "--from", "app@corp.example", "--client", client)
        check(f"IPv4-mapped route matches client {client}",
              "route:        client:::ffff:192.0.2.7/128" in out and
              "mailbox:      scanner@contoso.com" in out, f"rc={rc} {out!r} {err!r}")

    # --- finding 16: postfix-config with OAuth ---
    snippets = os.path.join(SRCDIR, "deploy")
    oauth = (BASE + "route * relay@contoso.com\noauth_tenant contoso.onmicrosoft.com\n"
             "oauth_client_id 11111111-2222-3333-4444-555555555555\n"
             "oauth_client_secret_file /etc/sendas/client-secret\n")
    rc, out, err = run(tmp, oauth, "postfix-config", "--snippets", snippets)
    lines = out.splitlines()
    check("oauth: mechanism filter xoauth2", rc == 0 and
          "smtp_sasl_mechanism_filter = xoauth2" in lines and
          "smtp_sasl_mechanism_filter = login" not in lines, f"rc={rc} {err!r}")
    tok = "/var/spool/postfix/sendas/tokens"
    check("oauth: sasl_passwd names the token files",
          f"relay@contoso.com relay@contoso.com:token:{tok}/relay@contoso.com" in lines and
          f"scanner@contoso.com scanner@contoso.com:token:{tok}/scanner@contoso.com" in lines and
          f"[smtp.office365.com]:587 relay@contoso.com:token:{tok}/relay@contoso.com" in lines,
          "\n".join(line for line in lines if "@" in line and not line.startswith("#")))
    check("oauth: no PASSWORD to fill in",
          not [line for line in lines if "PASSWORD" in line and not line.startswith("#")], "")
    rc, out, err = run(tmp, oauth + "token_dir /srv/tokens\noauth_mailboxes scanner@contoso.com\n",
                       "postfix-config", "--snippets", snippets, "sasl_passwd")
    lines = out.splitlines()
    check("oauth_mailboxes and token_dir followed",
          "scanner@contoso.com scanner@contoso.com:token:/srv/tokens/scanner@contoso.com" in lines
          and "[smtp.office365.com]:587 scanner@contoso.com:token:/srv/tokens/scanner@contoso.com"
          in lines, out)
    check("a mailbox without a token is flagged, not given a password entry",
          "#relay@contoso.com relay@contoso.com:PASSWORD" in lines and
          "relay@contoso.com is not in oauth_mailboxes" in err, f"{out!r} {err!r}")
    # Debian's master.cf runs smtp chrooted in /var/spool/postfix: a token_dir elsewhere is
    # out of its reach (every sign-in fails "cannot read token file")
    check("a token_dir outside Postfix's queue directory is flagged (a chrooted smtp)",
          "token_dir /srv/tokens is outside /var/spool/postfix" in err and
          "# token_dir /srv/tokens is outside /var/spool/postfix" in out, f"{err!r}")
    rc, out, err = run(tmp, oauth + "token_dir /var/spool/postfixx/t\n",
                       "postfix-config", "--snippets", snippets, "sasl_passwd")
    check("a token_dir that only starts like the queue directory is flagged too",
          "is outside /var/spool/postfix" in err, f"{err!r}")
    rc, out, err = run(tmp, oauth, "postfix-config", "--snippets", snippets, "sasl_passwd")
    check("the default token_dir is not flagged", "outside" not in err + out, f"{err!r}")
    rc, out, err = run(tmp, BASE + "route * relay@contoso.com\noauth_tenant contoso.onmicrosoft.com\n",
                       "postfix-config", "--snippets", snippets)
    lines = out.splitlines()
    check("no oauth: Basic authentication lines stay",
          rc == 0 and "smtp_sasl_mechanism_filter = login" in lines and
          "relay@contoso.com relay@contoso.com:PASSWORD" in lines, f"rc={rc} {err!r}")

    # --- issue 9 review (finding 12): Postfix's recipient cap follows sendas.conf's ---
    for limit, want in (("100", "100"), ("1000", "1000"), (None, "500")):
        text = BASE + "route * relay@contoso.com\n" + (
            f"limit_recipients_per_message {limit}\n" if limit else "")
        rc, out, err = run(tmp, text, "postfix-config", "--snippets", snippets, "main.cf")
        lines = out.splitlines()
        check(f"limit_recipients_per_message {limit or 'default'}: smtpd_recipient_limit and "
              f"exo_destination_recipient_limit = {want}",
              rc == 0 and f"smtpd_recipient_limit = {want}" in lines and
              f"exo_destination_recipient_limit = {want}" in lines,
              "\n".join(line for line in lines if "recipient_limit" in line) + err)

    # --- finding 16: the manuals cover every directive and every command ---
    with open(os.path.join(SRCDIR, "policy", "conf.c")) as f:
        src = f.read()
    # the settings table: DIRECTIVE("name", ...), BOOL(name, ...), {.name = "name", ...
    table = src[src.index("settings[] = {"):]
    table = table[:table.index("\n};")]
    keywords = re.findall(r'^\s*(?:DIRECTIVE\("|[A-Z]+\(|\{\.name = ")([a-z_]+)\b', table, re.M)
    with open(os.path.join(SRCDIR, "doc", "sendas.conf.5")) as f:
        man5 = f.read()
    undocumented = [k for k in keywords
                    if not re.search(r'^\.(B|BI|BR) %s\b' % k, man5, re.M) and
                    f'\\fP{k}"' not in man5]
    check("sendas.conf(5) documents every directive", len(keywords) > 30 and not undocumented,
          " ".join(undocumented))
    out = subprocess.run([SENDASCTL, "help"], capture_output=True, text=True, timeout=30).stdout
    commands = re.findall(r"^  ([a-z][a-z-]+)\b", out, re.M)
    with open(os.path.join(SRCDIR, "doc", "sendasctl.8")) as f:
        man8 = f.read().replace("\\-", "-")
    missing = [c for c in commands if not re.search(r"^\.B %s$" % c, man8, re.M)]
    check("sendasctl(8) has every command in its synopsis", len(commands) >= 6 and not missing,
          f"commands {commands}, missing {missing}")
    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
