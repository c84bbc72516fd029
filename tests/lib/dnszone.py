# SPDX-License-Identifier: MIT
"""Test helper: a small authoritative DNS server on loopback, on Debian's python3-dnslib.

    from dnszone import ZoneServer, silent_udp_port
    with ZoneServer(ZONE_TEXT) as dns:          # RFC 1035 zone lines, absolute names
        ... sendasctl doctor --dns --dns-server 127.0.0.1:{dns.port} ...
        dns.queries                             # [(name, type)] in the order asked
    with silent_udp_port() as port:             # a bound UDP port that never answers
        ...

Answers from the zone alone (no recursion): the records of the asked name and type; NOERROR
with no answer when the name has records of other types only; NXDOMAIN for a name that is
not in the zone.  Names compare case-insensitively.  UDP and TCP on the same port, in
threads of the test.
"""

import contextlib
import socket

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Quiet(DNSLogger):
    """dnslib logs every request to stdout by default: the test's output stays its own."""

    def __init__(self):
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data",
                         prefix=False)

    def log_error(self, handler, e):  # noqa: D401 - dnslib's hook
        pass


class ZoneServer(BaseResolver):
    def __init__(self, zone_text, address="127.0.0.1"):
        self.rrs = RR.fromZone(zone_text)
        self.names = {str(rr.rname).lower() for rr in self.rrs}
        self.address = address
        self.queries = []
        self.servers = []
        self.port = None

    def resolve(self, request, handler):
        reply = request.reply()
        qname, qtype = str(request.q.qname).lower(), request.q.qtype
        self.queries.append((qname, QTYPE.get(qtype)))
        hits = [rr for rr in self.rrs if str(rr.rname).lower() == qname and rr.rtype == qtype]
        for rr in hits:
            reply.add_answer(rr)
        if not hits and qname not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def start(self):
        """UDP and TCP on one free port (an answer too large for UDP is asked again over
        TCP, as from any real server)."""
        for _ in range(50):
            udp = DNSServer(self, address=self.address, port=0, logger=_Quiet())
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(self, address=self.address, port=port, tcp=True,
                                logger=_Quiet())
            except OSError:
                udp.server.server_close()
                continue
            self.servers, self.port = [udp, tcp], port
            for srv in self.servers:
                srv.start_thread()
            return self
        raise RuntimeError("no free port for both UDP and TCP")

    def stop(self):
        for srv in self.servers:
            srv.stop()
            srv.server.server_close()
        self.servers = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@contextlib.contextmanager
def silent_udp_port(address="127.0.0.1"):
    """A UDP port that is bound (no ICMP "port unreachable") and never read: queries to it
    time out."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((address, 0))
        yield s.getsockname()[1]
    finally:
        s.close()
