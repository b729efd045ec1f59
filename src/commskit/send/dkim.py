"""DKIM signing (RFC 6376), RSA-SHA256 and Ed25519-SHA256 (RFC 8463): keys in, signed bytes out.

A :class:`DkimSigner` holds one or two keys (an RSA key and an Ed25519 key give two signatures
on the same message, as RFC 8463 §5 advises while not every verifier knows Ed25519). It signs the
final bytes of a message and returns them with the ``DKIM-Signature`` header(s) put in front;
nothing else of the message changes (its Message-ID, its body), so a resume that compares
Message-IDs is not affected.

dkimpy parses the head, selects and canonicalises the headers (``relaxed/relaxed``) and lays out
the DKIM-Signature header; the body is canonicalised with dkimpy's own rules behind a fast path
that provably changes nothing (:func:`relaxed_body`), hashed once for every key, and
`cryptography` (OpenSSL) makes the RSA-SHA256 and Ed25519 signatures: dkimpy's own RSA is pure
Python, ~40 times slower. The output is what dkimpy's ``DKIM.sign`` writes, byte for byte
(tests/deliver/test_dkim_fast.py). ``h=`` lists
:data:`SIGNED_HEADERS` (From twice: over-signed, so a second From cannot be added without breaking
the signature), whether or not the message has them — an absent header signed as empty cannot be
added later either. RFC 8058 §3.1 wants ``List-Unsubscribe-Post`` signed, which dkimpy's default
list leaves out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..config import DkimSettings
from ..errors import DkimError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    _PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

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
_NAME = b"DKIM-Signature"
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
    """Sign finished messages with every key given, in order (one DKIM-Signature per key).

    A message is parsed, its body canonicalised and hashed, and its headers selected and
    canonicalised ONCE, whatever the number of keys; only the DKIM-Signature header itself
    differs between the signatures. The keys are parsed on the first signature (the transport's
    probe in ``open()``), then kept.
    """

    def __init__(self, keys: list[DkimKey] | tuple[DkimKey, ...]) -> None:
        if not keys:
            raise DkimError("a DKIM signer needs at least one key")
        self.keys = tuple(keys)
        self._loaded: list[tuple[DkimKey, _PrivateKey]] | None = None

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

    def sign(self, data: bytes, *, timestamp: int | None = None) -> bytes:
        """Return ``data`` with one DKIM-Signature header per key in front; raise DkimError.

        ``timestamp`` is the ``t=`` tag (default: now).
        """
        import dkim as _dkimpy  # here, not at the top: `commskit status` never pays for it

        loaded = self._keys()
        include = tuple(self.headers_for(data))
        try:
            headers, body = split_message(data)
        except _dkimpy.DKIMException as exc:
            raise DkimError(f"cannot DKIM-sign a malformed message: {exc}") from exc
        signed_part = relaxed_headers(headers, include)
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        now = str(int(time.time()) if timestamp is None else timestamp).encode("ascii")
        signatures = [
            _signature_header(key, private, include, signed_part, body_hash, now)
            for key, private in loaded
        ]
        return b"".join(signatures) + data

    def _keys(self) -> list[tuple[DkimKey, _PrivateKey]]:
        """Return the keys parsed (once), or raise DkimError naming the one that cannot be."""
        if self._loaded is None:
            self._loaded = [(key, _load_private(key)) for key in self.keys]
        return self._loaded


def _load_private(key: DkimKey) -> _PrivateKey:
    """Parse a key file's bytes (PEM RSA, or the base64 of an Ed25519 seed) with cryptography."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    try:
        if key.algorithm == "ed25519":
            seed = base64.b64decode(key.private)
            return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        loaded = serialization.load_pem_private_key(key.private, password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"a PEM {type(loaded).__name__}, not an RSA private key")
        return loaded
    except (ValueError, TypeError, binascii.Error) as exc:
        raise DkimError(
            f"cannot sign with the {key.algorithm} DKIM key of selector {key.selector!r}: "
            f"not a usable {key.algorithm} private key ({exc})",
            hint="Check the key file named in [dkim] of commskit.toml "
            "(`commskit dkim keygen` writes a new one)",
        ) from exc


def _signature_header(
    key: DkimKey,
    private: _PrivateKey,
    include: tuple[bytes, ...],
    signed_part: bytes,
    body_hash: bytes,
    now: bytes,
) -> bytes:
    """Return one ``DKIM-Signature:`` header line, laid out as dkimpy's ``DKIM.sign`` does.

    ``signed_part`` is the selected headers, canonicalised (relaxed) and concatenated; the
    signature covers it and this header with an empty ``b=`` (RFC 6376 §3.7).
    """
    import dkim as _dkimpy
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    domain = key.domain.encode("idna")
    fields = [
        (b"v", b"1"),
        (b"a", _ALGORITHMS[key.algorithm]),
        (b"c", b"relaxed/relaxed"),
        (b"d", domain),
        (b"i", b"@" + domain),
        (b"q", b"dns/txt"),
        (b"s", key.selector.encode("ascii")),
        (b"t", now),
        (b"h", b" : ".join(include)),
        (b"bh", body_hash),
        # a placeholder as long as dkimpy's: b= folds onto its own line, so filling it in does
        # not move the folding of the tags before it
        (b"b", b"0" * 60),
    ]
    value = _dkimpy.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(_NAME))
    value = _dkimpy.RE_BTAG.sub(b"\\1", value)
    [(name, canonical)] = _dkimpy.canonicalization.Relaxed.canonicalize_headers(
        [(_NAME, b" " + value)]
    )
    # the signature header is hashed without its trailing CRLF (RFC 6376 §3.7)
    to_sign = signed_part + name + b":" + canonical.rstrip()
    if isinstance(private, rsa.RSAPrivateKey):
        raw = private.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
    else:  # RFC 8463: Ed25519 ("pure") over the SHA-256 of the data
        raw = private.sign(hashlib.sha256(to_sign).digest())
    fields[-1] = (b"b", base64.b64encode(raw))
    line = b"; ".join(b"=".join(f) for f in fields) + b"\r\n"
    return _NAME + b": " + bytes(_dkimpy.fold(line, namelen=len(_NAME)))


def relaxed_headers(headers: list[list[bytes]], include: tuple[bytes, ...]) -> bytes:
    """Return the headers ``include`` names, selected and canonicalised as dkimpy does, joined.

    The selection is dkimpy's ``select_headers`` (each name taken from the bottom up, a name
    listed more often than present selects nothing more) with the names lowered once instead of
    once per comparison; each value goes through :func:`relaxed_header`.
    """
    lowered = [name.lower() for name, _ in headers]
    out: list[bytes] = []
    last: dict[bytes, int] = {}
    for wanted in include:
        i = last.get(wanted, len(headers))
        while i > 0:
            i -= 1
            if lowered[i] == wanted:
                out.append(relaxed_header(lowered[i], headers[i][1]))
                break
        last[wanted] = i
    return b"".join(out)


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """Return ``name:value`` in the relaxed canonical form (RFC 6376 §3.4.2), as dkimpy does.

    dkimpy removes every ``\\r?\\n``, turns ``[ \\t]+`` into one space and strips the ends
    (three ``re`` calls a header). Once the CRLFs are gone, a value with no other CR, LF, VT or
    FF holds no whitespace but spaces and tabs, and ``split()``/``join`` does the same in one
    step; anything else takes dkimpy's own path.
    """
    unfolded = value.replace(b"\r\n", b"")
    if not any(c in unfolded for c in _OTHER_WHITESPACE):
        return name.lower() + b":" + b" ".join(unfolded.split()) + b"\r\n"
    from dkim.canonicalization import Relaxed

    [(canonical_name, canonical)] = Relaxed.canonicalize_headers([(name, value)])
    return bytes(canonical_name + b":" + canonical)


_OTHER_WHITESPACE = (b"\r", b"\n", b"\x0b", b"\x0c")


def split_message(data: bytes) -> tuple[list[list[bytes]], bytes]:
    """Return (headers, body) as dkimpy's ``rfc822_parse`` does, parsing only the head when it can.

    dkimpy splits the WHOLE message into lines to find the blank one and joins the body back
    with CRLF (a bare LF becomes CRLF). A message whose lines all end in CRLF comes out of that
    unchanged, so its body is the bytes after the first blank line, and only the head needs
    parsing; anything else goes through dkimpy whole.
    """
    from dkim import rfc822_parse

    end = data.find(b"\r\n\r\n")
    if end > 0 and not data.startswith(b"\r\n") and _only_crlf(data):
        headers, _ = rfc822_parse(data[: end + 2])
        return headers, data[end + 4 :]
    headers, body = rfc822_parse(data)
    return headers, body


def _only_crlf(text: bytes) -> bool:
    """Return whether every LF in ``text`` ends a CRLF (no bare LF)."""
    return text.count(b"\n") == text.count(b"\r\n")


_SPACE_RUN = re.compile(b"  +")  # starts with a literal: re scans for it at C speed


def relaxed_body(body: bytes) -> bytes:
    """Return the relaxed canonical form (RFC 6376 §3.4.4) of a CRLF-separated body, as dkimpy.

    dkimpy removes ``[ \\t]+`` before each CRLF, then turns every ``[ \\t]+`` into one space
    (two ``re.sub`` matching at every space of the body: most of an Ed25519 signature's cost)
    and drops the empty lines at the end. In a body with no tab and no space before a CRLF (two
    byte searches prove it), the first step changes nothing and the second only shortens runs of
    two spaces or more, which one ``re.sub`` anchored on two spaces does; only the end is then
    worked on. Any other body takes dkimpy's own path.
    """
    from dkim.canonicalization import Relaxed, correct_empty_body, strip_trailing_lines

    if fast_body_path(body):
        return bytes(correct_empty_body(strip_trailing_lines(_SPACE_RUN.sub(b" ", body))))
    return bytes(Relaxed.canonicalize_body(body))


def fast_body_path(body: bytes) -> bool:
    """Return whether :func:`relaxed_body` may take its fast path for ``body``."""
    return b"\t" not in body and b" \r\n" not in body


def key_path(root: Path, key_file: str) -> Path:
    """Return where a ``[dkim]`` key file setting points: ``~`` expanded, relative to ``root``."""
    path = Path(key_file.strip()).expanduser()
    return path if path.is_absolute() else root / path


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
        path = key_path(root, key_file)
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
