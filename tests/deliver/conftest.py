"""Fixtures for the deliverability tests: DKIM keys, a loopback DNS serving their public halves,
and a dnspython-backed ``dnsfunc`` so dkimpy's verifier asks that server, as a receiver would."""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.resolver
import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_spec = importlib.util.spec_from_file_location("dns_zone", Path(__file__).with_name("dns_zone.py"))
assert _spec is not None
assert _spec.loader is not None
dns_zone = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dns_zone)

DOMAIN = "mobilites-territoires.fr"


@dataclass(frozen=True)
class KeyPair:
    algorithm: str
    selector: str
    private: bytes  # what the key file holds
    public_txt: str  # the DNS TXT value

    def write(self, folder: Path) -> Path:
        path = folder / f"{self.selector}.key"
        path.write_bytes(self.private)
        path.chmod(0o600)
        return path


@pytest.fixture(scope="session")
def rsa_key() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair("rsa", "rsa2026", pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())


@pytest.fixture(scope="session")
def ed_key() -> KeyPair:
    key = nacl.signing.SigningKey.generate()
    public = base64.b64encode(bytes(key.verify_key)).decode()
    return KeyPair(
        "ed25519", "ed2026", base64.b64encode(bytes(key)), f"v=DKIM1; k=ed25519; p={public}"
    )


def zone_for(*keys: KeyPair, domain: str = DOMAIN) -> str:
    return "\n".join(
        f"{k.selector}._domainkey.{domain}. 300 IN TXT {dns_zone.txt_strings(k.public_txt)}"
        for k in keys
    )


@pytest.fixture
def dns_server(rsa_key: KeyPair, ed_key: KeyPair) -> Iterator[Any]:
    """A DNS server on 127.0.0.1 publishing both test keys under DOMAIN."""
    server = dns_zone.LoopbackDNS(zone_for(rsa_key, ed_key)).start()
    yield server
    server.stop()


@pytest.fixture
def txt_strings() -> Callable[[str], str]:
    """The zone-file form of a TXT value (quoted strings of at most 255 characters)."""
    return dns_zone.txt_strings


@pytest.fixture
def dnsfunc(dns_server: Any) -> Callable[..., bytes]:
    """dkimpy's ``dnsfunc``: the TXT record of a name, asked of the loopback server only."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = dns_server.port

    def txt(name: bytes, timeout: float = 5) -> bytes:
        try:
            answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout, tcp=True)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return b""
        return b"".join(b"".join(rr.strings) for rr in answer)

    return txt
