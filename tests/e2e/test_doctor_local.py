#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end: `sendasctl doctor`'s local checks against a private Postfix configured from the
shipped deploy/postfix snippets, with sendas-milter (a unix socket outside the queue
directory) and sendas-policyd (a unix socket inside it) running.

First the correct configuration: every check OK, exit 0.  Then one wrong configuration at a
time, each undone before the next, and for each exactly the expected FAIL/WARN lines (no
other line is not OK), the value found and the fix, and the exit status: smtpd chrooted with
the milter's socket outside the jail and the policy socket inside it but written as an
absolute path (then written relative: only the milter fails), a mailbox without its
sasl_passwd entry, the null sender without one, one signing in as another mailbox,
a mailbox found only through an @domain entry, sasl_passwd readable by all (hash:, and
texthash: whose fix names no .db), smtp_sender_dependent_authentication = no, an XOAUTH2 filter
with passwords (and one with exclusions, !xoauth2, that fits), no SASL plugin, mynetworks
with 10.0.0.0/8, with 0.0.0.0/0, with [::]/0 and unset, internal_mail_filter_classes empty,
relayhost unset, with the port a service name (OK but for the null sender's key), a
mynetworks pattern file (private hosts: OK; 0.0.0.0/0 in it: FAIL), milter_default_action =
accept (WARN), receive_override_options with no_milters (main.cf, a service's -o: FAIL);
smtp_tls_policy_maps' level for the next hop (encrypt over main.cf's may:
OK; may over secure: WARN); link-local mynetworks (OK), relayhost without brackets, another milter
beside a wrong sendas path and restrictions without check_policy_service (the fixes keep the
admin's other entries), a submission service whose -o smtpd_milters= is empty (FAIL) or a
$parameter that reaches (OK); opportunistic TLS allowing TLSv1, a second transport with 20 connections
(named by a map, then by none), no check_policy_service (a WARN; a stopped sendas-policyd is
then no failure), sendas-policyd and sendas-milter not running; then an XOAUTH2
configuration (tokens, libxoauth2.so) that is all OK but for one expired token, and with the
exo transport chrooted away from token_dir.  Every run: `--format json` parses
and has the same checks and statuses as the table, every table line is at most 100 columns,
and no file of the instance or the token directory changed (content and mtime).

Postfix is configured, not started: doctor reads the configuration, not the running master.
SASL_PATH points at a directory of this test (liblogin.so linked from the system's, the built
libxoauth2.so), so nothing is installed anywhere.  Needs root; exit 77 when Postfix, root or
the binaries are missing.  SENDAS_E2E_KEEP=1 keeps the temporary directory.
"""

import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from daemonrun import wait_unix  # noqa: E402
from pfinstance import PostfixInstance  # noqa: E402
from stack import (checks, e2e_tmpdir, free_port, report, skip, start_daemon,  # noqa: E402
                   stop_process)

EXO = "[smtp.office365.com]:587"
MAILBOXES = ("relay@contoso.com", "scanner@contoso.com")

SENDAS_CONF = """\
# sendas.conf written by tests/e2e/test_doctor_local.py
mailbox relay@contoso.com
mailbox scanner@contoso.com
route sender:@printers.corp.local scanner@contoso.com
route * relay@contoso.com
milter_socket unix:{run}/milter.sock
policy_socket unix:{jail}/policy.sock
state_dir {state}
"""

OAUTH_CONF = """\
oauth_tenant contoso.onmicrosoft.com
oauth_client_id 00000000-0000-0000-0000-000000000001
oauth_client_secret_file {secret}
token_dir {tokens}
"""


def tree_state(*roots):
    """tree_state - {path: (mtime_ns, sha256)} of every regular file under roots."""
    state = {}
    for root in roots:
        for d, _, files in os.walk(root):
            for f in files:
                p = os.path.join(d, f)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                with open(p, "rb") as fh:
                    state[p] = (os.stat(p).st_mtime_ns, hashlib.sha256(fh.read()).hexdigest())
    return state


class Doctor:
    def __init__(self, ctl, env, watch):
        self.ctl, self.env, self.watch = ctl, env, watch

    def run(self, conf, pfdir):
        """run - doctor as table and as JSON: (exit, checks from JSON, table text, problems)
        where problems lists what is wrong with the output itself (width, JSON, changes)."""
        before = tree_state(*self.watch)
        argv = [self.ctl, "-c", conf, "doctor", "--postfix-dir", pfdir, "--timeout", "5"]
        t = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, timeout=60)
        j = subprocess.run(argv + ["--format", "json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=self.env, timeout=60)
        after = tree_state(*self.watch)
        problems = []
        wide = [ln for ln in t.stdout.splitlines() if len(ln) > 100]
        if wide:
            problems.append(f"table lines over 100 columns: {wide}")
        try:
            doc = json.loads(j.stdout)
        except ValueError as e:
            return t.returncode, [], t.stdout, problems + [f"JSON does not parse: {e}"]
        table_heads = [ln.split(None, 1) for ln in t.stdout.splitlines()
                       if ln[:4] in ("OK  ", "WARN", "FAIL")]
        json_heads = [[c["status"], f"{c['area']}: {c['check']}"] for c in doc["checks"]]
        if table_heads != json_heads:
            problems.append(f"table and JSON differ: {table_heads} vs {json_heads}")
        if doc["exit"] != t.returncode or j.returncode != t.returncode:
            problems.append(f"exit {t.returncode}, JSON exit {doc['exit']}/{j.returncode}")
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        if changed:
            problems.append(f"doctor changed files: {changed}")
        return t.returncode, doc["checks"], t.stdout, problems


def not_ok(found):
    return {(c["status"], c["area"], c["check"]) for c in found if c["status"] != "OK"}


def main():
    builddir = os.environ.get("BUILDDIR") or os.getcwd()
    ctl = os.path.join(builddir, "ctl", "sendasctl")
    milter = os.path.join(builddir, "milter", "sendas-milter")
    policyd = os.path.join(builddir, "policyd", "sendas-policyd")
    plugin = os.path.join(builddir, "sasl", "libxoauth2.so")
    login = "/usr/lib/x86_64-linux-gnu/sasl2/liblogin.so"
    if not os.access("/usr/sbin/postfix", os.X_OK):
        skip("postfix is not installed (/usr/sbin/postfix)")
    if os.geteuid() != 0:
        skip("a private Postfix instance needs root")
    for b in (ctl, milter, policyd, plugin):
        if not os.path.exists(b):
            skip(f"not built: {b} (set BUILDDIR)")
    login = next((os.path.join(d, "liblogin.so") for d in
                  [os.path.dirname(login)] + [f"/usr/lib/{a}/sasl2" for a in os.listdir("/usr/lib")
                                              if "-linux-" in a]
                  if os.path.exists(os.path.join(d, "liblogin.so"))), None)
    if login is None:
        skip("libsasl2-modules is not installed (liblogin.so)")

    tmp = e2e_tmpdir("doctor-local")
    results, check = checks()
    procs = []
    try:
        run = os.path.join(tmp, "run")
        sasl = os.path.join(tmp, "sasl2")
        tokens = os.path.join(tmp, "tokens")
        for d in (run, sasl, os.path.join(tmp, "nosasl")):
            os.makedirs(d)
        os.symlink(login, os.path.join(sasl, "liblogin.so"))
        os.symlink(plugin, os.path.join(sasl, "libxoauth2.so"))
        pf = PostfixInstance(os.path.join(tmp, "postfix"), free_port())
        # the milter's socket outside the queue directory, the policy service's inside it
        jail = os.path.join(pf.queue_dir, "sendas")
        os.makedirs(jail)
        conf = os.path.join(tmp, "sendas.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(SENDAS_CONF.format(run=run, jail=jail, state=os.path.join(tmp, "state")))
        subs = {"unix:/run/sendas/milter.sock": f"unix:{run}/milter.sock",
                "unix:/run/sendas/policy.sock": f"unix:{jail}/policy.sock",
                "/etc/postfix/": pf.config_dir + "/"}
        pf.apply_snippet(os.path.join(SRCDIR, "deploy", "postfix", "main.cf"), subs)
        pf.apply_snippet(os.path.join(SRCDIR, "deploy", "postfix", "master.cf"), subs)
        entries = {mb: f"{mb}:secret-{i}" for i, mb in enumerate(MAILBOXES)}
        entries[EXO] = "relay@contoso.com:secret-0"
        smtpd = f"127.0.0.1:{pf.smtp_port}/inet"

        def settle(*paths):
            """settle - date the files 10 s back: Postfix's programs wait up to 2 s before
            reading a file changed within the last second (it may still be being written)."""
            for p in paths or (pf.main_path, pf.master_path):
                os.utime(p, (time.time() - 10, time.time() - 10))

        def postconf(*args):
            subprocess.run(["postconf", "-c", pf.config_dir] + list(args), check=True)
            settle()

        def write_map(name, entries):
            path = os.path.join(pf.config_dir, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write("".join(f"{k} {v}\n" for k, v in entries.items()))
            os.chmod(path, 0o600)
            settle(path)
            pf.postmap(path)

        def add_master(text):
            pf.add_master(text)
            settle()

        write_map("sasl_passwd", entries)
        settle()
        mlog, plog = os.path.join(tmp, "milter.log"), os.path.join(tmp, "policyd.log")
        mproc = start_daemon([milter, "-f", "-c", conf], mlog, None)
        procs.append(mproc)
        pproc = start_daemon([policyd, "-f", "-c", conf], plog, None)
        procs.append(pproc)
        if not wait_unix(os.path.join(run, "milter.sock"), mproc) or \
                not wait_unix(os.path.join(jail, "policy.sock"), pproc):
            raise RuntimeError("sendas-milter or sendas-policyd did not listen")

        env = dict(os.environ, SASL_PATH=sasl)
        doctor = Doctor(ctl, env, [pf.basedir, tokens])
        pe = f"postconf -c {pf.config_dir} -e"
        reload = f"postfix -c {pf.config_dir} reload"

        def scenario(label, expect_exit, expect, conf_path=conf, doc=doctor):
            """scenario - run doctor; the not-OK checks must be exactly expect
            {(status, area, check): [substrings of found, substrings of fix]}."""
            code, found, table, problems = doc.run(conf_path, pf.config_dir)
            bad = not_ok(found)
            detail = f"exit {code}, not OK {sorted(bad)}\n{table}"
            check(code == expect_exit and bad == set(expect) and not problems,
                  f"{label}: exit {expect_exit}, exactly {sorted(expect) or 'all OK'}",
                  f"{detail}\n{problems}")
            for key, (in_found, in_fix) in expect.items():
                c = next((c for c in found if (c["status"], c["area"], c["check"]) == key), None)
                ok = c is not None and all(s in c["found"] for s in in_found) and \
                    all(s in (c["fix"] or "") for s in in_fix)
                check(ok, f"{label}: {key[0]} {key[2]} says {in_found} and the fix {in_fix}",
                      json.dumps(c, indent=1))
            return found

        found = scenario("correct configuration", 0, {})
        names = {c["check"] for c in found}
        check({"sendas-milter", "sendas-policyd", "relayhost", "smtpd_milters",
               "non_smtpd_milters", "smtpd_recipient_restrictions",
               "smtpd_end_of_data_restrictions", "sasl relay@contoso.com",
               "sasl scanner@contoso.com", "sasl null sender", "smtp_sasl_mechanism_filter",
               "sasl plugins", "internal_mail_filter_classes", "concurrency exo", "mynetworks",
               "smtp_tls_security_level", "smtp_tls_mandatory_protocols"} <= names,
              "correct configuration: every local check ran", sorted(names))

        outside = ("FAIL", "postfix", "smtpd_milters"), (
            [f"runs chrooted in {pf.queue_dir}", f"{run}/milter.sock is outside it"],
            [f"milter_socket unix:{pf.queue_dir}/sendas/milter.sock",
             "smtpd_milters = unix:/sendas/milter.sock",
             f"postconf -c {pf.config_dir} -F '{smtpd}/chroot = n'"])
        absolute = f"check_policy_service unix:{jail}/policy.sock"
        relative = "check_policy_service unix:/sendas/policy.sock"
        postconf("-F", f"{smtpd}/chroot = y")
        scenario("smtpd chrooted: milter socket outside the jail, policy path not relative", 2, {
            outside[0]: outside[1],
            **{("FAIL", "postfix", p): (
                [f"{p} = {absolute} does not reach sendas-policyd",
                 f"chroot y, reaches it as unix:/sendas/policy.sock"],
                [f"{pe} '{p} = {relative}'"])
               for p in ("smtpd_recipient_restrictions", "smtpd_end_of_data_restrictions")}})
        postconf(f"smtpd_recipient_restrictions = {relative}",
                 f"smtpd_end_of_data_restrictions = {relative}")
        scenario("smtpd chrooted, policy path relative to the jail: only the milter fails", 2,
                 dict([outside]))
        postconf("-F", f"{smtpd}/chroot = n")
        postconf(f"smtpd_recipient_restrictions = {absolute}",
                 f"smtpd_end_of_data_restrictions = {absolute}")

        write_map("sasl_passwd", {k: v for k, v in entries.items()
                                     if k != "scanner@contoso.com"})
        scenario("no sasl_passwd entry for one mailbox", 2, {
            ("FAIL", "postfix", "sasl scanner@contoso.com"): (
                ["no entry for scanner@contoso.com"],
                ["put `scanner@contoso.com scanner@contoso.com:PASSWORD` in "
                 f"{pf.config_dir}/sasl_passwd", "postmap hash:"])})
        write_map("sasl_passwd", {k: v for k, v in entries.items() if k != EXO})
        scenario("no sasl_passwd entry for the null sender", 2, {
            ("FAIL", "postfix", "sasl null sender"): (
                [f"no entry for {EXO}", "own notices"],
                [f"put `{EXO} relay@contoso.com:PASSWORD` in"])})
        write_map("sasl_passwd", dict(entries, **{"scanner@contoso.com":
                                                     "relay@contoso.com:secret-0"}))
        scenario("a mailbox's entry signs in as another mailbox", 1, {
            ("WARN", "postfix", "sasl scanner@contoso.com"): (
                ["scanner@contoso.com signs in as relay@contoso.com, not as scanner@contoso.com"],
                ["put `scanner@contoso.com scanner@contoso.com:PASSWORD` in"])})
        write_map("sasl_passwd", {**{k: v for k, v in entries.items()
                                     if k != "scanner@contoso.com"},
                                  "@contoso.com": "relay@contoso.com:secret-0"})
        scenario("a mailbox found through an @domain entry (Postfix's sender lookup)", 1, {
            ("WARN", "postfix", "sasl scanner@contoso.com"): (
                ["scanner@contoso.com signs in as relay@contoso.com, not as scanner@contoso.com "
                 "(through the entry @contoso.com)"],
                ["put `scanner@contoso.com scanner@contoso.com:PASSWORD` in"])})
        write_map("sasl_passwd", entries)

        sasl_passwd = os.path.join(pf.config_dir, "sasl_passwd")
        os.chmod(sasl_passwd, 0o644)
        scenario("sasl_passwd readable by all", 1, {
            ("WARN", "postfix", "sasl_passwd mode"): (
                [f"{sasl_passwd} is mode 0644: other users can read the passwords"],
                [f"chmod 600 {sasl_passwd} {sasl_passwd}.db"])})
        os.chmod(sasl_passwd, 0o600)
        # texthash: read from the source, no .db to chmod
        postconf(f"smtp_sasl_password_maps = texthash:{sasl_passwd}")
        os.chmod(sasl_passwd, 0o644)
        found = scenario("a texthash sasl_passwd readable by all", 1, {
            ("WARN", "postfix", "sasl_passwd mode"): (
                [f"{sasl_passwd} is mode 0644"], [f"chmod 600 {sasl_passwd}"])})
        check(all(".db" not in (c["fix"] or "") for c in found
                  if c["check"] == "sasl_passwd mode"), "texthash: the fix names no .db",
              str([c["fix"] for c in found if c["check"] == "sasl_passwd mode"]))
        os.chmod(sasl_passwd, 0o600)
        postconf(f"smtp_sasl_password_maps = hash:{sasl_passwd}")
        postconf("smtp_sender_dependent_authentication = no")
        scenario("smtp_sender_dependent_authentication = no", 2, {
            ("FAIL", "postfix", "smtp_sender_dependent_authentication"): (
                ["smtp_sender_dependent_authentication = no", "next hop's entry"],
                [f"{pe} 'smtp_sender_dependent_authentication = yes'"])})
        postconf("smtp_sender_dependent_authentication = yes")
        postconf("smtp_sasl_mechanism_filter = xoauth2")
        scenario("XOAUTH2 filter with passwords", 2, {
            ("FAIL", "postfix", "smtp_sasl_mechanism_filter"): (
                ["smtp_sasl_mechanism_filter = xoauth2", "sets no oauth_*"],
                [f"{pe} 'smtp_sasl_mechanism_filter = login'; {reload}"])})
        postconf("smtp_sasl_mechanism_filter = !gssapi, !xoauth2, LOGIN")
        scenario("a filter with exclusions and upper case: as login", 0, {})
        postconf("smtp_sasl_mechanism_filter = login")

        scenario("no LOGIN plugin", 2, {
            ("FAIL", "postfix", "sasl plugins"): (
                ["liblogin.so for login is not in " + os.path.join(tmp, "nosasl")],
                ["apt-get install libsasl2-modules"])},
            doc=Doctor(ctl, dict(env, SASL_PATH=os.path.join(tmp, "nosasl")), doctor.watch))

        loop = "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"
        postconf(f"mynetworks = {loop} 192.168.7.0/24 10.0.0.0/8")
        scenario("mynetworks with 10.0.0.0/8", 1, {
            ("WARN", "postfix", "mynetworks"): (
                [f"mynetworks = {loop} 192.168.7.0/24 10.0.0.0/8",
                 "10.0.0.0/8 is 16777216 private addresses"],
                [f"{pe} 'mynetworks = {loop} 192.168.7.0/24 APP-HOST/32'"])})
        postconf(f"mynetworks = {loop} 0.0.0.0/0")
        scenario("mynetworks with 0.0.0.0/0", 2, {
            ("FAIL", "postfix", "mynetworks"): (
                ["0.0.0.0/0 is all or most of the Internet: an open relay"],
                [f"'mynetworks = {loop} APP-HOST/32'"])})
        postconf(f"mynetworks = {loop} [fd00::]/8 [::]/0")
        scenario("mynetworks with [::]/0 and a wide unique-local network", 2, {
            ("FAIL", "postfix", "mynetworks"): (
                ["[fd00::]/8 is a wide unique-local network",
                 "[::]/0 is all or most of the Internet: an open relay"],
                [f"'mynetworks = {loop} APP-HOST/32'"])})
        postconf("-X", "mynetworks")
        scenario("mynetworks unset", 1, {
            ("WARN", "postfix", "mynetworks"): (["not set: derived from mynetworks_style"],
                                                ["'mynetworks = "])})
        postconf(f"mynetworks = {loop}")

        postconf("internal_mail_filter_classes =")
        scenario("internal_mail_filter_classes empty", 2, {
            ("FAIL", "postfix", "internal_mail_filter_classes"): (
                ["internal_mail_filter_classes = (empty)", "550 5.7.60"],
                [f"{pe} 'internal_mail_filter_classes = bounce, notify'; {reload}"])})
        postconf("internal_mail_filter_classes = bounce, notify")

        postconf("relayhost =")
        scenario("relayhost unset", 2, {
            ("FAIL", "postfix", "relayhost"): (["relayhost is empty"],
                                               [f"{pe} 'relayhost = {EXO}'"])})
        postconf(f"relayhost = {EXO}")

        # sibling cases of the above that Postfix's syntax allows
        postconf(f"mynetworks = {loop} [fe80::]/64 169.254.0.0/16")
        scenario("mynetworks with link-local networks (mynetworks_style's [fe80::]/64)", 0, {})
        postconf(f"mynetworks = {loop}")
        postconf("relayhost = smtp.office365.com:587")
        scenario("relayhost without brackets", 2, {
            ("WARN", "postfix", "relayhost"): (["without [brackets]", "MX records"],
                                               [f"{pe} 'relayhost = {EXO}'"]),
            ("FAIL", "postfix", "sasl null sender"): (["no entry for smtp.office365.com:587"],
                                                      [])})
        postconf("relayhost = [smtp.office365.com]:submission")
        scenario("relayhost with the port as a service name", 2, {
            ("FAIL", "postfix", "sasl null sender"): (
                ["no entry for [smtp.office365.com]:submission"], [])})
        postconf(f"relayhost = {EXO}")
        postconf(f"mynetworks = {loop} {pf.config_dir}/network_table")
        with open(os.path.join(pf.config_dir, "network_table"), "w", encoding="utf-8") as f:
            f.write("# the application hosts\n192.168.7.10 192.168.7.11 # printers\n")
        scenario("mynetworks naming a pattern file of private hosts", 0, {})
        with open(os.path.join(pf.config_dir, "network_table"), "a", encoding="utf-8") as f:
            f.write("0.0.0.0/0\n")
        scenario("mynetworks naming a pattern file with 0.0.0.0/0", 2, {
            ("FAIL", "postfix", "mynetworks"): (
                [f"0.0.0.0/0 in {pf.config_dir}/network_table is all or most of the Internet"],
                [f"'mynetworks = {loop} APP-HOST/32'"])})
        postconf(f"mynetworks = {loop}")
        postconf("milter_default_action = accept")
        scenario("milter_default_action = accept (OpenDKIM's guides)", 1, {
            ("WARN", "postfix", "milter_default_action"): (
                ["milter_default_action = accept", "550 5.7.60"],
                [f"{pe} 'milter_default_action = tempfail'"])})
        postconf("milter_default_action = tempfail")
        postconf("receive_override_options = no_address_mappings, no_milters")
        scenario("receive_override_options with no_milters in main.cf", 2, {
            ("FAIL", "postfix", "receive_override_options"): (
                ["no_address_mappings, no_milters: mail received by any service skips every "
                 "milter"],
                [f"{pe} 'receive_override_options = no_address_mappings'"])})
        postconf("receive_override_options =")
        add_master("submission inet n - n - - smtpd -o receive_override_options=no_milters")
        scenario("a submission service with -o receive_override_options=no_milters", 2, {
            ("FAIL", "postfix", "receive_override_options"): (
                ["(master.cf submission -o)", "this service receives"],
                [f"postconf -c {pf.config_dir} -P "
                 "'submission/inet/receive_override_options = '"])})
        add_master("submission inet n - n - - smtpd")
        postconf("smtpd_milters = inet:127.0.0.1:8891, unix:/wrong/milter.sock")
        scenario("another milter and a wrong sendas path: the fix keeps the other milter", 2, {
            ("FAIL", "postfix", "smtpd_milters"): (
                ["does not reach sendas-milter"],
                [f"{pe} 'smtpd_milters = inet:127.0.0.1:8891, unix:{run}/milter.sock'"])})
        postconf(f"smtpd_milters = unix:{run}/milter.sock")
        postconf("smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination")
        scenario("restrictions without check_policy_service: the fix puts it first", 1, {
            ("WARN", "postfix", "smtpd_recipient_restrictions"): (
                ["Postfix does not ask sendas-policyd"],
                [f"{pe} 'smtpd_recipient_restrictions = {absolute}, permit_mynetworks, "
                 "reject_unauth_destination'"])})
        postconf(f"smtpd_recipient_restrictions = {absolute}")
        add_master("submission inet n - n - - smtpd -o syslog_name=postfix/submission "
                   "-o smtpd_milters=")
        scenario("a submission service overriding smtpd_milters with nothing", 2, {
            ("FAIL", "postfix", "smtpd_milters"): (
                ["(master.cf submission/inet -o smtpd_milters)", "without sendas-milter"],
                [f"postconf -c {pf.config_dir} -P 'submission/inet/smtpd_milters = "
                 f"unix:{run}/milter.sock'"])})
        add_master("submission inet n - n - - smtpd -o syslog_name=postfix/submission "
                   f"-o smtpd_milters=$non_smtpd_milters")
        scenario("a submission service overriding smtpd_milters with a $parameter that reaches", 0,
                 {})

        postconf("smtp_tls_security_level = may", "smtp_tls_protocols = >=TLSv1")
        scenario("opportunistic TLS with TLSv1", 1, {
            ("WARN", "postfix", "smtp_tls_security_level"): (
                ["smtp_tls_security_level = may"],
                [f"{pe} 'smtp_tls_security_level = encrypt'"]),
            ("WARN", "postfix", "smtp_tls_protocols"): (
                ["smtp_tls_protocols = >=TLSv1 allows protocols older than TLSv1.2"],
                [f"{pe} 'smtp_tls_protocols = >=TLSv1.2'"])})
        postconf("smtp_tls_security_level = secure")
        # a policy map entry for the next hop decides, both ways
        write_map("tls_policy", {EXO: "encrypt"})
        postconf("smtp_tls_security_level = may",
                 f"smtp_tls_policy_maps = hash:{pf.config_dir}/tls_policy")
        scenario("opportunistic in main.cf, encrypt in smtp_tls_policy_maps", 0, {})
        write_map("tls_policy", {EXO: "may"})
        postconf("smtp_tls_security_level = secure")
        scenario("secure in main.cf, may in smtp_tls_policy_maps", 1, {
            ("WARN", "postfix", "smtp_tls_security_level"): (
                [f"smtp_tls_security_level = may (smtp_tls_policy_maps hash:{pf.config_dir}"
                 f"/tls_policy: {EXO})"],
                [f"put `{EXO} encrypt` in {pf.config_dir}/tls_policy"]),
            ("WARN", "postfix", "smtp_tls_protocols"): ([], [])})
        postconf("smtp_tls_policy_maps =")

        add_master("sendas-fast unix - - n - 20 smtp")
        write_map("sender_transport", {"scanner@contoso.com": "sendas-fast:"})
        postconf(f"sender_dependent_default_transport_maps = hash:{pf.config_dir}/sender_transport",
                 "default_destination_concurrency_limit = 20")
        scenario("a per-mailbox transport with 20 connections", 1, {
            ("WARN", "postfix", "concurrency sendas-fast"): (
                ["sendas-fast_destination_concurrency_limit = 20, master.cf maxproc 20",
                 "432 4.3.2"],
                [f"{pe} 'sendas-fast_destination_concurrency_limit = 3'"])})
        postconf("sender_dependent_default_transport_maps =")
        scenario("the same transport named by no map: still checked (sendas-*)", 1, {
            ("WARN", "postfix", "concurrency sendas-fast"): (
                ["sendas-fast_destination_concurrency_limit = 20, master.cf maxproc 20"],
                [f"{pe} 'sendas-fast_destination_concurrency_limit = 3'"])})
        add_master("sendas-fast unix - - n - 3 smtp")

        postconf("smtpd_recipient_restrictions =", "smtpd_end_of_data_restrictions =")
        stop_process(pproc)
        scenario("no check_policy_service, sendas-policyd stopped (not asked: no FAIL)", 1, {
            ("WARN", "postfix", p): ([f"{p} = (empty): Postfix does not ask sendas-policyd"],
                                     [f"{pe} '{p} = {absolute}'"])
            for p in ("smtpd_recipient_restrictions", "smtpd_end_of_data_restrictions")})
        postconf(f"smtpd_recipient_restrictions = {absolute}",
                 f"smtpd_end_of_data_restrictions = {absolute}")
        scenario("sendas-policyd not running", 2, {
            ("FAIL", "daemons", "sendas-policyd"): (
                [f"unix:{jail}/policy.sock: cannot connect", "Postfix defers mail at RCPT"],
                ["systemctl start sendas-policyd", f"policy_socket unix:{jail}/policy.sock"])})
        pproc = start_daemon([policyd, "-f", "-c", conf], plog, None)
        procs.append(pproc)
        if not wait_unix(os.path.join(jail, "policy.sock"), pproc):
            raise RuntimeError("sendas-policyd did not listen again")

        stop_process(mproc)
        scenario("sendas-milter not running", 2, {
            ("FAIL", "daemons", "sendas-milter"): (
                [f"unix:{run}/milter.sock: cannot connect"],
                ["systemctl start sendas-milter", f"milter_socket unix:{run}/milter.sock"])})

        # XOAUTH2: tokens in token_dir, the filter and the map entries that go with them
        mproc = start_daemon([milter, "-f", "-c", conf], mlog, None)
        procs.append(mproc)
        if not wait_unix(os.path.join(run, "milter.sock"), mproc):
            raise RuntimeError("sendas-milter did not listen again")
        os.makedirs(tokens, mode=0o750)
        secret = os.path.join(tmp, "client-secret")
        with open(secret, "w", encoding="utf-8") as f:
            f.write("not-a-real-secret\n")
        os.chmod(secret, 0o600)
        conf2 = os.path.join(tmp, "sendas-oauth.conf")
        with open(conf, encoding="utf-8") as src, open(conf2, "w", encoding="utf-8") as f:
            f.write(src.read() + OAUTH_CONF.format(secret=secret, tokens=tokens))
        now = int(time.time())
        for mb, exp in (("relay@contoso.com", now - 600), ("scanner@contoso.com", now + 3600)):
            with open(os.path.join(tokens, mb), "w", encoding="utf-8") as f:
                f.write(f"expires {exp}\ntoken eyJ0eXAi.eyJhdWQi.c2lnbmF0dXJl\n")
        write_map("sasl_passwd", {**{mb: f"{mb}:token:{tokens}/{mb}" for mb in MAILBOXES},
                                     EXO: f"relay@contoso.com:token:{tokens}/relay@contoso.com"})
        postconf("smtp_sasl_mechanism_filter = xoauth2")
        found = scenario("XOAUTH2, one token expired", 2, {
            ("FAIL", "tokens", "token relay@contoso.com"): (
                [f"{tokens}/relay@contoso.com expired 10 min ago"],
                ["sendasctl token --fetch relay@contoso.com"])}, conf_path=conf2)
        postconf("-F", "exo/unix/chroot = y")
        scenario("XOAUTH2 with exo chrooted and token_dir outside the jail", 2, {
            ("FAIL", "tokens", "token relay@contoso.com"): ([], []),
            ("FAIL", "postfix", "chroot exo"): (
                [f"exo runs chrooted in {pf.queue_dir}, but token_dir {tokens} is outside it"],
                [f"postconf -c {pf.config_dir} -F 'exo/unix/chroot = n'"])}, conf_path=conf2)
        postconf("-F", "exo/unix/chroot = n")
        ok = [c["found"] for c in found if c["check"] in ("sasl plugins",
                                                          "token scanner@contoso.com")]
        check(any("libxoauth2.so in " + sasl in f for f in ok)
              and any("valid for 59 min" in f or "valid for 60 min" in f for f in ok),
              "XOAUTH2: the plugin is found and the other token is valid", ok)
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        check(False, "test ran to the end", repr(e))
    finally:
        for p in procs:
            stop_process(p)
    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
