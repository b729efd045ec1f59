"""A real DNS server on 127.0.0.1 for the deliverability tests (dnslib), serving a zone we set.

It answers over UDP and TCP (long TXT records such as an RSA-2048 DKIM key make resolvers retry
over TCP), gives NOERROR with no answer for a name that exists without the asked type, and
NXDOMAIN for a name it does not know, as an authoritative server would.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.records: list[Any] = []
        self.lock = threading.Lock()

    def load(self, zone: str) -> None:
        records = list(RR.fromZone(zone))
        with self.lock:
            self.records = records

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qname, qtype = request.q.qname, QTYPE[request.q.qtype]
        with self.lock:
            records = list(self.records)
        known = False
        for rr in records:
            if rr.rname != qname:
                continue
            known = True
            if qtype in (QTYPE[rr.rtype], "ANY") or QTYPE[rr.rtype] == "CNAME":
                reply.add_answer(rr)
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
        reply.header.aa = 1
        return reply


class LoopbackDNS:
    """Serve ``zone`` (master-file text) on 127.0.0.1:``port``, UDP and TCP, until ``stop()``."""

    def __init__(self, zone: str = "") -> None:
        self.zone = _Zone()
        self.zone.load(zone)
        self.port = _free_port()
        quiet = DNSLogger(log="-request,-reply,-truncated,-error", prefix=False)
        self.servers = [
            DNSServer(self.zone, address="127.0.0.1", port=self.port, tcp=tcp, logger=quiet)
            for tcp in (False, True)
        ]

    def set_zone(self, zone: str) -> None:
        """Replace every record served (the next query sees the new zone)."""
        self.zone.load(zone)

    def start(self) -> LoopbackDNS:
        for server in self.servers:
            server.start_thread()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()

    @property
    def nameserver(self) -> str:
        """``HOST:PORT``, the form ``--nameserver`` takes."""
        return f"127.0.0.1:{self.port}"


def _free_port() -> int:
    """Return a port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port on 127.0.0.1 for both UDP and TCP")


def txt_strings(value: str) -> str:
    """Return ``value`` as a zone-file TXT rdata: quoted strings of at most 255 characters."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join(f'"{chunk}"' for chunk in chunks)
