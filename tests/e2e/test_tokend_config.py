#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sendas-tokend's start-up checks, `sendas-tokend -n` and `sendasctl check` agree (issue 12,
findings 5, 6, 7).

For each bad set of files below, three runs on the same sendas.conf:
  - `sendas-tokend -f` (a start) exits non-zero within a few seconds, with the reason;
  - `sendas-tokend -n` exits non-zero with the same reason;
  - `sendasctl check` exits non-zero with the same reason;
none of them hangs (a FIFO as secret, key or certificate; an encrypted key must not make
OpenSSL prompt), and nothing is changed: a shared token_dir keeps its mode and owner.
A good configuration passes all three (the start keeps running).  As root, files owned by
another user (nobody) are added: a 0600 secret, a token_dir.  With systemd-analyze, the
shipped sendas-tokend.service must score at most 2.0 (finding 8).

Prints one PASS/FAIL line per case, then "N passed, M failed"; exit 0 when all pass, 1
otherwise, 77 when the binaries or openssl are missing.
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import report, skip  # noqa: E402

OPENSSL = "/usr/bin/openssl"
APP = "6d1f1f5e-1c2b-4a57-9a53-0f4f0f6a1a01"


def build_dir():
    return os.environ.get("BUILDDIR") or os.getcwd()


def private(path, text="Qx~8Q~sendas-test-secret\n", mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Files:
    """A directory with a good secret, certificate, key, and ways to spoil them."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0
        self.cert = os.path.join(tmp, "cert.pem")
        self.key = os.path.join(tmp, "key.pem")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=tokend config test", "-keyout", self.key, "-out",
                        self.cert], check=True, capture_output=True)
        os.chmod(self.key, 0o600)
        self.enc_key = os.path.join(tmp, "key-encrypted.pem")
        subprocess.run([OPENSSL, "pkey", "-in", self.key, "-aes256", "-passout", "pass:pw",
                        "-out", self.enc_key], check=True, capture_output=True)
        os.chmod(self.enc_key, 0o600)

    def path(self, name):
        self.n += 1
        d = os.path.join(self.tmp, f"c{self.n:02d}")
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, name)

    def fifo(self, name):
        p = self.path(name)
        os.mkfifo(p, 0o600)
        return p


def conf(files, secret=None, cert=None, key=None, tokdir=None, extra=""):
    """A sendas.conf for tokend; secret=None with cert/key uses the certificate."""
    text = ("mailbox relay@contoso.com\nroute * relay@contoso.com\n"
            f"oauth_tenant contoso.onmicrosoft.com\noauth_client_id {APP}\n"
            "oauth_token_endpoint https://127.0.0.1:9/t/oauth2/v2.0/token\n"
            f"token_dir {tokdir or files.path('tokens')}\ntoken_group root\n"
            "token_retry_min 1\ntoken_retry_max 4\n")
    if secret:
        text += f"oauth_client_secret_file {secret}\n"
    else:
        text += f"oauth_certificate {cert or files.cert}\noauth_private_key {key or files.key}\n"
    path = files.path("sendas.conf")
    with open(path, "w") as f:
        f.write(text + extra)
    return path


def run(argv, timeout):
    """(exit code or "hung", output)."""
    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           start_new_session=True)
        return r.returncode, (r.stdout + r.stderr).decode("latin-1").strip()
    except subprocess.TimeoutExpired:
        return "hung", ""


def start(tokend, conf_path, seconds=3):
    """A start: (exit code, or "running" when still up after seconds; output)."""
    proc = subprocess.Popen([tokend, "-f", "-c", conf_path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=seconds)
        return proc.returncode, out.decode("latin-1").strip()
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        return "running", out.decode("latin-1").strip()


def main():
    tokend = os.environ.get("SENDAS_TOKEND") or os.path.join(build_dir(), "tokend",
                                                             "sendas-tokend")
    ctl = os.environ.get("SENDASCTL") or os.path.join(build_dir(), "ctl", "sendasctl")
    for prog in (tokend, ctl, OPENSSL):
        if not os.access(prog, os.X_OK):
            skip(f"{prog} not found (set BUILDDIR)")
    tmp = tempfile.mkdtemp(prefix="sendas-tokconf-")
    results = []
    files = Files(tmp)
    root = os.geteuid() == 0
    nobody = pwd.getpwnam("nobody").pw_uid

    def shared(mode, owner=None):
        d = files.path("shared")
        os.makedirs(d)
        os.chmod(d, mode)
        if owner is not None:
            os.chown(d, owner, -1)
        return d

    def holding(d):
        with open(os.path.join(d, "README"), "w") as f:
            f.write("not a token\n")
        return d

    bad = [
        ("no secret file", conf(files, secret=files.path("missing"))),
        ("a 0644 secret", conf(files, secret=private(files.path("s"), mode=0o644))),
        ("an empty secret", conf(files, secret=private(files.path("s"), text="\n"))),
        ("a FIFO as secret", conf(files, secret=files.fifo("s"))),
        ("a FIFO as private key", conf(files, key=files.fifo("k"))),
        ("a FIFO as certificate", conf(files, cert=files.fifo("c"))),
        ("an encrypted private key", conf(files, key=files.enc_key)),
        ("token_retry_min above token_retry_max",
         conf(files, extra="token_retry_min 60\ntoken_retry_max 10\n")),
        ("an oauth_mailboxes entry that cannot name a file",
         conf(files, extra="oauth_mailboxes .relay@contoso.com\n")),
        ("token_refresh_margin as long as a token lives",
         conf(files, extra="token_refresh_margin 3600\n")),
        ("token_dir a shared sticky directory (1777)", conf(files, tokdir=shared(0o1777))),
        ("token_dir world-writable (0777)", conf(files, tokdir=shared(0o777))),
        ("token_dir a file", conf(files, tokdir=private(files.path("f")))),
        # a directory tokend did not make, holding other files: not its to chmod (as root,
        # a root-owned /etc/sendas or /var/spool/postfix went 0750)
        ("token_dir an existing 0755 directory with other files",
         conf(files, tokdir=holding(shared(0o755)))),
        # the CA file is read like the credentials: a FIFO hung OpenSSL at the first request,
        # a missing or empty one failed every request of a tokend that said it was fine
        ("a FIFO as oauth_ca_file", conf(files, secret=private(files.path("s")),
                                         extra=f"oauth_ca_file {files.fifo('ca')}\n")),
        ("a missing oauth_ca_file", conf(files, secret=private(files.path("s")),
                                         extra=f"oauth_ca_file {files.path('none.pem')}\n")),
        ("an oauth_ca_file with no certificate",
         conf(files, secret=private(files.path("s")),
              extra=f"oauth_ca_file {private(files.path('ca.pem'), text='not PEM')}\n")),
    ]
    if root:
        other = private(files.path("s"))
        os.chown(other, nobody, -1)
        bad.append(("a 0600 secret owned by another user", conf(files, secret=other)))
        bad.append(("token_dir owned by another user", conf(files, tokdir=shared(0o750, nobody))))
        # an empty directory root made for something else (0755: others may list it) is
        # not handed to the run user (-u / user)
        bad.append(("token_dir an empty root-owned 0755 directory, user nobody",
                    conf(files, tokdir=shared(0o755), extra="user nobody\n")))
    good = conf(files, secret=private(files.path("s")))

    try:
        for label, path in bad:
            with open(path) as f:
                tokdir = [ln.split(" ", 1)[1] for ln in f.read().splitlines()
                          if ln.startswith("token_dir ")][0]
            before = os.stat(tokdir) if os.path.exists(tokdir) else None
            started = start(tokend, path)
            checked = run([tokend, "-n", "-c", path], 10)
            ctl_checked = run([ctl, "-c", path, "check"], 10)
            after = os.stat(tokdir) if os.path.exists(tokdir) else None
            unchanged = (before is None or (after and (before.st_mode, before.st_uid,
                                                       before.st_gid) ==
                                            (after.st_mode, after.st_uid, after.st_gid)))
            refused = all(isinstance(rc, int) and rc != 0
                          for rc in (started[0], checked[0], ctl_checked[0]))
            results.append((refused and unchanged, f"refused by start, -n and check: {label}",
                            f"start {started[0]}, -n {checked[0]}, check {ctl_checked[0]}"
                            f"{'' if unchanged else ', token_dir changed'}: "
                            f"{(checked[1] or started[1]).splitlines()[-1:] }"))
        started = start(tokend, good)
        checked = run([tokend, "-n", "-c", good], 10)
        ctl_checked = run([ctl, "-c", good, "check"], 10)
        results.append((started[0] == "running" and checked[0] == 0 and ctl_checked[0] == 0,
                        "a good configuration passes start, -n and check",
                        f"start {started[0]}, -n {checked[0]}: {checked[1][-100:]}, "
                        f"check {ctl_checked[0]}: {ctl_checked[1][-100:]}"))
        unit_exposure(tmp, results)
    except Exception as e:  # noqa: BLE001
        results.append((False, "[setup]", f"{type(e).__name__}: {e}"))
    return report(results, tmp)


def unit_exposure(tmp, results):
    """deploy/systemd/sendas-tokend.service.in scores at most 2.0 (systemd-analyze security)."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        return
    with open(os.path.join(SRCDIR, "deploy", "systemd", "sendas-tokend.service.in")) as f:
        unit = f.read().replace("@sbindir@", "/usr/sbin").replace("@sysconfdir@", "/etc")
    path = os.path.join(tmp, "sendas-tokend.service")
    with open(path, "w") as f:
        f.write(unit)
    out = subprocess.run([analyze, "security", "--offline=true", path], capture_output=True,
                         text=True, timeout=60).stdout
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    results.append((m and float(m.group(1)) <= 2.0 and "User=sendas" in unit,
                    "sendas-tokend.service runs as sendas with exposure at most 2.0",
                    f"exposure {m.group(1) if m else 'unknown'}"))


if __name__ == "__main__":
    sys.exit(main())
