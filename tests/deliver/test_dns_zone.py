"""The loopback DNS server the deliverability tests rely on answers as a real one would."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.resolver
import pytest

_spec = importlib.util.spec_from_file_location("dns_zone", Path(__file__).with_name("dns_zone.py"))
assert _spec is not None
assert _spec.loader is not None
dns_zone = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dns_zone)

LONG = "v=DKIM1; k=rsa; p=" + "A" * 400

ZONE = f"""
ex.org.            300 IN TXT "v=spf1 ip4:192.0.2.1 -all"
ex.org.            300 IN MX 10 mx.ex.org.
_dmarc.ex.org.     300 IN TXT "v=DMARC1; p=none"
s1._domainkey.ex.org. 300 IN TXT {dns_zone.txt_strings(LONG)}
"""


@pytest.fixture
def server() -> Iterator[object]:
    srv = dns_zone.LoopbackDNS(ZONE).start()
    try:
        yield srv
    finally:
        srv.stop()


def _resolver(server: object) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = server.port  # type: ignore[attr-defined]
    res.lifetime = 5
    return res


def test_answers_txt_mx_and_long_records_over_udp_and_tcp(server: object) -> None:
    res = _resolver(server)
    spf = [b"".join(r.strings).decode() for r in res.resolve("ex.org", "TXT")]
    assert spf == ["v=spf1 ip4:192.0.2.1 -all"]
    assert [str(r.exchange) for r in res.resolve("ex.org", "MX")] == ["mx.ex.org."]
    dkim = res.resolve("s1._domainkey.ex.org", "TXT", tcp=True)
    assert b"".join(next(iter(dkim)).strings).decode() == LONG


def test_missing_type_is_nodata_and_unknown_name_is_nxdomain(server: object) -> None:
    res = _resolver(server)
    with pytest.raises(dns.resolver.NoAnswer):
        res.resolve("_dmarc.ex.org", "MX")
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve("nothere.ex.org", "TXT")


def test_zone_can_be_replaced(server: object) -> None:
    server.set_zone('ex.org. 300 IN TXT "v=spf1 -all"')  # type: ignore[attr-defined]
    query = dns.message.make_query("ex.org", "TXT")
    reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=5)  # type: ignore[attr-defined]
    assert [b"".join(r.strings) for r in reply.answer[0]] == [b"v=spf1 -all"]
