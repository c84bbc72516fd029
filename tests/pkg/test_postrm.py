#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""debian/sendas.postrm against a temporary root (DPKG_ROOT), without installing anything.

sendas-tokend's token files are secrets (an access token is valid for up to 90 minutes):
`apt-get remove` and `apt-get purge` must not leave them behind.  dpkg removes the conffile
sendas.conf before `postrm purge` runs, so the token_dir it names is handled at `remove`
(when the file is still there) and the default directory at both.  Only files tokend writes
are removed: a token_dir pointing at a shared directory keeps everything else, and a FIFO
there does not hang the script.

The script is run only when it confines itself to $DPKG_ROOT (it says so by using it):
otherwise the test fails without running it, so it can never touch this machine's /var.
Prints one PASS/FAIL line per check, then "N passed, M failed"; exit 0 when all pass.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from stack import report  # noqa: E402

POSTRM = os.path.join(SRCDIR, "debian", "sendas.postrm")
DEFAULT = "var/spool/postfix/sendas/tokens"
TOKEN = "expires 1900000000\ntoken eyJ0eXAiOiJKV1QiLCJhbGciOi.secret.part\n"
STATE = "mailbox=relay@contoso.com\nexpires=1900000000\nlast_refresh=0\n"


def put(root, rel, text, mode=0o640):
    """put - a file under root"""
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def tokens(root, rel):
    """tokens - a token directory as tokend leaves it"""
    put(root, f"{rel}/relay@contoso.com", TOKEN)
    put(root, f"{rel}/relay@contoso.com.state", STATE)
    put(root, f"{rel}/.scanner@contoso.com.tmp", TOKEN)
    put(root, f"{rel}/scanner@contoso.com", TOKEN)


def postrm(root, action):
    """postrm - run the maintainer script as dpkg would, confined to root"""
    env = dict(os.environ, DPKG_ROOT=root, DPKG_MAINTSCRIPT_NAME="postrm",
               DPKG_MAINTSCRIPT_PACKAGE="sendas")
    return subprocess.run(["/bin/sh", "-e", POSTRM, action], env=env, capture_output=True,
                          text=True, timeout=20)


def main():
    tmp = tempfile.mkdtemp(prefix="sendas-postrm-")
    results = []

    def check(label, ok, detail=""):
        results.append((bool(ok), label, "" if ok else detail))

    with open(POSTRM) as f:
        confined = "DPKG_ROOT" in f.read()
    check("postrm works under $DPKG_ROOT (else it is not run here)", confined, POSTRM)
    if not confined:
        return report(results, tmp)

    root = os.path.join(tmp, "root")
    shared = "srv/shared"
    put(root, "etc/sendas/sendas.conf",
        "mailbox relay@contoso.com\nroute * relay@contoso.com\n"
        "#token_dir /nowhere\ntoken_dir   /srv/shared   # tokend's files only\n")
    tokens(root, shared)
    tokens(root, DEFAULT)
    keep = [put(root, f"{shared}/notes.txt", "not tokend's\n"),
            put(root, f"{shared}/alice@contoso.com", "a file of somebody else\n")]
    os.mkfifo(os.path.join(root, shared, "fifo@contoso.com"))
    put(root, "var/lib/sendas/counters.db", "sqlite")

    p = postrm(root, "remove")
    check("remove: exit 0", p.returncode == 0, p.stderr)
    left = sorted(os.listdir(os.path.join(root, shared)))
    check("remove: token_dir of sendas.conf has no token, state or temporary file left",
          left == ["alice@contoso.com", "fifo@contoso.com", "notes.txt"], str(left))
    check("remove: other files in a shared token_dir are kept",
          all(os.path.exists(k) for k in keep), "")
    check("remove: the default token directory is gone",
          not os.path.exists(os.path.join(root, DEFAULT)), str(os.listdir(root)))
    check("remove: the counters stay (configuration)",
          os.path.exists(os.path.join(root, "var/lib/sendas/counters.db")), "")

    # purge: dpkg has removed the conffile; tokend (still running?) wrote again meanwhile
    os.remove(os.path.join(root, "etc/sendas/sendas.conf"))
    tokens(root, DEFAULT)
    p = postrm(root, "purge")
    check("purge: exit 0", p.returncode == 0, p.stderr)
    check("purge: the default token directory is gone",
          not os.path.exists(os.path.join(root, DEFAULT)), "")
    check("purge: no token file anywhere under the root",
          not [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
               if f.endswith("@contoso.com") and os.path.isfile(os.path.join(d, f)) and
               open(os.path.join(d, f)).read().startswith("expires ")], "")
    check("purge: the counters are gone", not os.path.exists(os.path.join(root, "var/lib/sendas")),
          "")
    check("purge: the spool directory of sendas is gone when empty",
          not os.path.exists(os.path.join(root, "var/spool/postfix/sendas")), "")
    for action in ("upgrade", "failed-upgrade", "abort-install", "disappear"):
        tokens(root, DEFAULT)
        p = postrm(root, action)
        check(f"{action}: exit 0, tokens kept", p.returncode == 0 and
              os.path.exists(os.path.join(root, DEFAULT, "relay@contoso.com")), p.stderr)
    return report(results, tmp)


if __name__ == "__main__":
    sys.exit(main())
