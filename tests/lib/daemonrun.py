# SPDX-License-Identifier: MIT
"""Test helper: watching a running sendas daemon from the outside (its log, its socket, its
CPU and memory, what a sanitizer build reported), for the end-to-end tests."""

import os
import socket
import time

from stack import tail

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior")


def sanitizer_lines(*paths):
    """sanitizer_lines - the lines of a sanitizer report in the given logs."""
    return [ln.strip() for p in paths for ln in tail(p, 1 << 24).splitlines()
            if any(m in ln for m in SANITIZER_MARKS)]


def wait_log(path, text, start=0, timeout=10):
    """wait_log - True once text appears in the log after offset start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in tail(path, 1 << 24)[start:]:
            return True
        time.sleep(0.05)
    return False


def wait_unix(path, proc, timeout=15):
    """wait_unix - True once the unix socket at path accepts; False if proc exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(path)
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_delivered(emu, marker, timeout=60):
    """wait_delivered - the emulator's first record whose raw message contains marker (bytes),
    or None when none arrives in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in emu.messages():
            if marker in rec["raw"]:
                return rec
        time.sleep(0.25)
    return None


def cpu_seconds(pid):
    """cpu_seconds - user + system time of a process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_rss_kb(pid):
    """vm_rss_kb - resident memory of a process (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0
