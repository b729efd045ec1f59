"""DKIM signing (RFC 6376), RSA-SHA256 and Ed25519-SHA256 (RFC 8463): keys in, signed bytes out.

A :class:`DkimSigner` holds one or two keys (an RSA key and an Ed25519 key give two signatures
on the same message, as RFC 8463 §5 advises while not every verifier knows Ed25519). It signs the
final bytes of a message and returns them with the ``DKIM-Signature`` header(s) put in front;
nothing else of the message changes (its Message-ID, its body), so a resume that compares
Message-IDs is not affected.

dkimpy does the canonicalisation (``relaxed/relaxed``) and the header selection; ``h=`` lists
:data:`SIGNED_HEADERS` (From twice: over-signed, so a second From cannot be added without breaking
the signature), whether or not the message has them — an absent header signed as empty cannot be
added later either. RFC 8058 §3.1 wants ``List-Unsubscribe-Post`` signed, which dkimpy's default
list leaves out.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import DkimSettings
from ..errors import DkimError

Algorithm = Literal["rsa", "ed25519"]

#: the headers every signature covers, From over-signed (RFC 6376 §8.15)
SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
#: headers signed only when the message has them: a relay or provider may add them afterwards
#: (SES adds its own Feedback-ID), which a signed empty header would forbid
SIGNED_WHEN_PRESENT: tuple[str, ...] = (
    "reply-to",
    "content-transfer-encoding",
    "feedback-id",
)

_ALGORITHMS: dict[Algorithm, bytes] = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}
_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)


@dataclass(frozen=True)
class DkimKey:
    """One private key and where its public half is published (``selector._domainkey.domain``).

    ``private`` is what dkimpy reads: a PEM RSA key, or the base64 of a 32-byte Ed25519 seed.
    """

    algorithm: Algorithm
    selector: str
    domain: str
    private: bytes


class DkimSigner:
    """Sign finished messages with every key given, in order (one DKIM-Signature per key)."""

    def __init__(self, keys: list[DkimKey] | tuple[DkimKey, ...]) -> None:
        if not keys:
            raise DkimError("a DKIM signer needs at least one key")
        self.keys = tuple(keys)

    @property
    def description(self) -> str:
        """Return e.g. ``rsa s=2026a d=example.fr + ed25519 s=2026e d=example.fr``."""
        return " + ".join(f"{k.algorithm} s={k.selector} d={k.domain}" for k in self.keys)

    def headers_for(self, data: bytes) -> list[bytes]:
        """Return the ``h=`` list for this message: :data:`SIGNED_HEADERS` and those present."""
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        present = {name.lower().decode("ascii") for name in _HEADER_NAME.findall(head)}
        return [h.encode() for h in SIGNED_HEADERS] + [
            h.encode() for h in SIGNED_WHEN_PRESENT if h in present
        ]

    def sign(self, data: bytes) -> bytes:
        """Return ``data`` with one DKIM-Signature header per key in front; raise DkimError."""
        import dkim as _dkimpy  # here, not at the top: `commskit status` never pays for it

        include = self.headers_for(data)
        message = _dkimpy.DKIM(data, linesep=b"\r\n")
        signatures: list[bytes] = []
        for key in self.keys:
            try:
                signatures.append(
                    message.sign(
                        key.selector.encode("ascii"),
                        key.domain.encode("idna"),
                        key.private,
                        signature_algorithm=_ALGORITHMS[key.algorithm],
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=include,
                    )
                )
            except _dkimpy.DKIMException as exc:
                raise DkimError(
                    f"cannot sign with the {key.algorithm} DKIM key of selector "
                    f"{key.selector!r}: {exc}",
                    hint="Check the key file named in [dkim] of commskit.toml "
                    "(`commskit dkim keygen` writes a new one)",
                ) from exc
        return b"".join(signatures) + data


def load_signer(settings: DkimSettings, *, root: Path, from_domain: str) -> DkimSigner | None:
    """Return the signer ``[dkim]`` configures, or None when no key is configured.

    Key paths are relative to the workspace ``root``; ``d=`` is ``[dkim] domain``, else the From
    address's domain. A missing or unreadable key file raises DkimError naming it.
    """
    wanted: list[tuple[Algorithm, str, str]] = [
        ("rsa", settings.rsa_selector, settings.rsa_key),
        ("ed25519", settings.ed25519_selector, settings.ed25519_key),
    ]
    domain = (settings.domain or from_domain).strip().lower()
    keys: list[DkimKey] = []
    for algorithm, selector, key_file in wanted:
        if not (selector.strip() or key_file.strip()):
            continue
        field = f"[dkim] {algorithm}"
        if not selector.strip() or not key_file.strip():
            raise DkimError(
                f"{field}_selector and {field.split()[1]}_key must be set together",
                hint="Run `commskit dkim keygen --selector NAME` to write a key and both settings",
            )
        if not domain:
            raise DkimError(
                "DKIM signing needs a domain: set [dkim] domain or [sender] from",
            )
        path = Path(key_file).expanduser()
        if not path.is_absolute():
            path = root / path
        try:
            private = path.read_bytes().strip()
        except OSError as exc:
            raise DkimError(
                f"cannot read the {algorithm} DKIM key: {os.strerror(exc.errno or 0)}",
                path=path,
                hint=f"Fix {field}_key in commskit.toml (or COMMSKIT_DKIM_"
                f"{algorithm.upper()}_KEY), or write a key with `commskit dkim keygen`",
            ) from exc
        keys.append(DkimKey(algorithm, selector.strip(), domain, private))
    return DkimSigner(keys) if keys else None


def generate_key(algorithm: Algorithm) -> bytes:
    """Return a new private key in the form a key file holds (PEM RSA-2048, base64 Ed25519 seed)."""
    if algorithm == "ed25519":
        import base64

        import nacl.signing

        return base64.b64encode(bytes(nacl.signing.SigningKey.generate())) + b"\n"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def dns_record(algorithm: Algorithm, private: bytes) -> str:
    """Return the TXT value publishing the public half of ``private`` (``v=DKIM1; k=…; p=…``)."""
    import base64

    if algorithm == "ed25519":
        import nacl.signing

        seed = base64.b64decode(private.strip())
        public = bytes(nacl.signing.SigningKey(seed).verify_key)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"
    from cryptography.hazmat.primitives import serialization

    loaded = serialization.load_pem_private_key(private, password=None)
    der = loaded.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
