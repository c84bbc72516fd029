#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""trace_writes.py - the paths an `strace -f -y` log shows written, outside the allowed roots.

    trace_writes.py TRACE CWD ROOT...

TRACE comes from `strace -f -qq -y -e status=successful -e trace=...` (test-prefix.sh has
the list, with chdir, fchdir and the clone calls so that each process's working directory
is known); CWD is where the traced command started.  A call writes when it creates,
removes, renames, links or changes the mode, owner or times of a path, or opens one for
writing.  Prints "CALL PATH" for each written path under none of the ROOTs (nor /dev/null,
/dev/tty); exit 0 either way, 2 when the log has no traced call (strace did not run).
"""
import os
import re
import sys

CALL = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
# one argument: a file descriptor with its path (-y), a string, or anything else
ARG = re.compile(r'\s*(?:(?P<fd>\d+|AT_FDCWD)<(?P<fdpath>[^>]*)>|"(?P<str>(?:[^"\\]|\\.)*)"|[^,]*)\s*(?:,|$)')
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")
CLONES = ("clone", "clone3", "fork", "vfork")


def args_of(text):
    """args_of - the call's arguments as (fd path or None, string or None) pairs"""
    out = []
    for m in ARG.finditer(text):
        if m.end() == m.start():
            break
        out.append((m.group("fdpath"), m.group("str")))
    return out


def calls_of(trace):
    """calls_of - the log's calls in order, a call strace split (unfinished/resumed) joined"""
    pending, out = {}, []
    for line in open(trace, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^(\d+)\s+(.*) <unfinished \.\.\.>$", line)
        if m:
            pending[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$", line)
        if m:
            line = m.group(1) + " " + pending.pop(m.group(1), "") + m.group(2)
        out.append(line)
    return out


def main():
    """main - print the written paths outside the roots"""
    trace, start, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
    lines = calls_of(trace)
    # a new process starts in its parent's directory: the parent sits in clone() from
    # before the child's first call until it returns, so it cannot have moved meanwhile
    parent = {}
    for line in lines:
        m = CALL.match(line)
        if m and m.group(2) in CLONES and int(m.group(4)) > 0:
            parent[m.group(4)] = m.group(1)
    cwd, seen, calls = {}, set(), 0
    for line in lines:
        m = CALL.match(line)
        if not m:
            continue
        calls += 1
        pid, name, text = m.group(1), m.group(2), m.group(3)
        if pid not in cwd:
            cwd[pid] = cwd.get(parent.get(pid), start)
        here = cwd[pid]
        args = args_of(text)
        if name in CLONES:
            continue
        if name == "chdir" and args and args[0][1] is not None:
            cwd[pid] = os.path.normpath(os.path.join(here, args[0][1]))
            continue
        if name == "fchdir" and args and args[0][0] is not None:
            cwd[pid] = args[0][0]
            continue
        if name in ("open", "openat") and not any(f in text for f in WRITE_FLAGS):
            continue
        paths, base = [], None
        for fdpath, s in args:
            if fdpath is not None:
                base = fdpath
            elif s is not None:
                if name == "utimensat" and s == "":
                    paths.append(base or here)
                else:
                    paths.append(os.path.join(base or here, s))
                base = None
            elif base is not None and name == "utimensat":
                paths.append(base)   # utimensat(fd, NULL, ...): the fd's own file
                base = None
        for path in paths:
            q = os.path.normpath(path)
            if q in ("/dev/null", "/dev/tty") or any(q == r or q.startswith(r + "/") for r in roots):
                continue
            if (name, q) not in seen:
                seen.add((name, q))
                print(f"{name} {q}")
    return 0 if calls else 2


if __name__ == "__main__":
    sys.exit(main())
