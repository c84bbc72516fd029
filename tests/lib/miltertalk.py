# SPDX-License-Identifier: MIT
"""Test helper: a raw milter-protocol (version 6) client, to talk to sendas-milter as an MTA
would, or as a broken peer would.

    s = MilterSession("unix:/tmp/x/milter.sock")
    s.negotiate()
    s.macro("C", ["j", "relay.example"])
    s.connect_cmd("app.corp.local", "127.0.0.1", 25000)
    s.mail(["<nagios@mon01.corp.local>"])        # -> ("c", b"") or ("t", b""), ...
    s.header("From", "nagios@mon01.corp.local")
    s.end_of_message()                             # -> list of (cmd, data), the last is final
"""

import socket
import struct

SMFIP_NOHDRS = 0x20
SMFIP_NOEOH = 0x40
SMFIP_NR_HDR = 0x80
SMFIP_NODATA = 0x200
SMFIP_NOUNKNOWN = 0x100
SMFIP_NOBODY = 0x10
SMFIP_NORCPT = 0x08
SMFIP_NOHELO = 0x02

ACTIONS_ALL = 0x1FF          # SMFIF_ADDHDRS .. SMFIF_SETSYMLIST
PROTOCOL_OFFER = 0x000003FF  # the "skip this step" bits, no "no reply" bits, no big packets


class MilterError(Exception):
    pass


def connect_spec(spec, timeout=10):
    """connect_spec - a socket connected to unix:PATH or inet:PORT@HOST."""
    if spec.startswith("unix:") or spec.startswith("local:") or spec.startswith("/"):
        path = spec.split(":", 1)[1] if ":" in spec else spec
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(path)
        return s
    port, _, host = spec.split(":", 1)[1].partition("@")
    return socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout)


class MilterSession:
    def __init__(self, spec, timeout=10):
        self.sock = connect_spec(spec, timeout)
        self.pflags = 0

    def close(self):
        try:
            self.send("Q")
        except OSError:
            pass
        self.sock.close()

    # --- framing ------------------------------------------------------------------------

    def send(self, cmd, data=b""):
        self.sock.sendall(struct.pack(">I", len(data) + 1) + cmd.encode() + data)

    def _read(self, n):
        got = b""
        while len(got) < n:
            chunk = self.sock.recv(n - len(got))
            if not chunk:
                raise MilterError("connection closed by the milter")
            got += chunk
        return got

    def recv(self):
        (n,) = struct.unpack(">I", self._read(4))
        body = self._read(n)
        return chr(body[0]), body[1:]

    # --- commands -----------------------------------------------------------------------

    def negotiate(self, actions=ACTIONS_ALL, protocol=PROTOCOL_OFFER):
        self.send("O", struct.pack(">III", 6, actions, protocol))
        cmd, data = self.recv()
        if cmd != "O":
            raise MilterError(f"negotiation answered {cmd!r}")
        _, _, self.pflags = struct.unpack(">III", data[:12])
        return self.pflags

    def macro(self, stage, strings):
        """macro - SMFIC_MACRO for stage ("C", "M", ...) with the strings as given (an odd
        number of them is what a broken peer sends)."""
        self.send("D", stage.encode() + b"".join(s.encode() + b"\0" for s in strings))

    def connect_cmd(self, hostname, addr, port):
        self.send("C", hostname.encode() + b"\0" + b"4" + struct.pack(">H", port)
                  + addr.encode() + b"\0")
        return self.recv()

    def mail(self, args):
        self.send("M", b"".join(a.encode() + b"\0" for a in args))
        return self.recv()

    def header(self, name, value):
        data = name.encode() + b"\0" + (value if isinstance(value, bytes) else value.encode()) \
            + b"\0"
        self.send("L", data)
        if not self.pflags & SMFIP_NR_HDR:
            return self.recv()
        return None

    def end_of_headers(self):
        if self.pflags & SMFIP_NOEOH:
            return None
        self.send("N")
        return self.recv()

    def end_of_message(self):
        """end_of_message - SMFIC_BODYEOB; every reply up to the final one."""
        self.send("E")
        replies = []
        while True:
            cmd, data = self.recv()
            replies.append((cmd, data))
            if cmd in "acdrty":  # accept, continue, discard, reject, tempfail, reply code
                return replies

    def abort(self):
        self.send("A")
