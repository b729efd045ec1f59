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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..config import DkimSettings
from ..errors import DkimError
from ..render.mime import CRLFMessage, RelaxedBodyMessage

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
#: one header field of a CRLF head: its name and its value with the folding CRLFs
_HEADER_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)\r\n")
_ALWAYS = tuple(h.encode() for h in SIGNED_HEADERS)
_WHEN_PRESENT = tuple(h.encode() for h in SIGNED_WHEN_PRESENT)


def _include(lowered_names: Iterable[bytes]) -> tuple[bytes, ...]:
    """Return the ``h=`` list for a head whose header names (lowered) are ``lowered_names``."""
    present = set(lowered_names)
    return _ALWAYS + tuple(h for h in _WHEN_PRESENT if h in present)


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
        self._loaded: list[tuple[DkimKey, Callable[[bytes], bytes]]] | None = None

    @property
    def description(self) -> str:
        """Return e.g. ``rsa s=2026a d=example.fr + ed25519 s=2026e d=example.fr``."""
        return " + ".join(f"{k.algorithm} s={k.selector} d={k.domain}" for k in self.keys)

    def headers_for(self, data: bytes) -> list[bytes]:
        """Return the ``h=`` list for this message: :data:`SIGNED_HEADERS` and those present."""
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        return list(_include(name.lower() for name in _HEADER_NAME.findall(head)))

    def sign(self, data: bytes, *, timestamp: int | None = None) -> bytes:
        """Return ``data`` with one DKIM-Signature header per key in front; raise DkimError.

        ``timestamp`` is the ``t=`` tag (default: now). A message built by commskit's MIME
        builder (:class:`~commskit.render.mime.CRLFMessage`) has its head parsed here in one
        pass; its body, when the builder wrote it in relaxed form
        (:class:`~commskit.render.mime.RelaxedBodyMessage`), is hashed as it is. Anything else
        goes through dkimpy's parser and :func:`relaxed_body`. The result keeps the message's
        type: the signature headers are CRLF lines, none starting with a dot.
        """
        loaded = self._keys()
        end = data.find(b"\r\n\r\n") if isinstance(data, CRLFMessage) else -1
        if end > 0:
            headers = _HEADER_FIELD.findall(data, 0, end + 2)
            include = _include(name.lower() for name, _ in headers)
            if isinstance(data, RelaxedBodyMessage):  # its own relaxed form: no rewrite, no copy
                digest = hashlib.sha256(memoryview(data)[end + 4 :]).digest()
            else:
                digest = hashlib.sha256(relaxed_body(data[end + 4 :])).digest()
        else:
            import dkim as _dkimpy  # here, not at the top: `commskit status` never pays for it

            include = tuple(self.headers_for(data))
            try:
                headers, body = split_message(data)
            except _dkimpy.DKIMException as exc:
                raise DkimError(f"cannot DKIM-sign a malformed message: {exc}") from exc
            digest = hashlib.sha256(relaxed_body(body)).digest()
        signed_part = relaxed_headers(headers, include)
        body_hash = base64.b64encode(digest)
        now = str(int(time.time()) if timestamp is None else timestamp).encode("ascii")
        signatures = b"".join(
            _signature_header(key, sign, include, signed_part, body_hash, now)
            for key, sign in loaded
        )
        return type(data)(signatures + data) if isinstance(data, CRLFMessage) else signatures + data

    def _keys(self) -> list[tuple[DkimKey, Callable[[bytes], bytes]]]:
        """Return each key with its signing function, parsed once (a forked sending process
        inherits them), or raise DkimError naming the key that cannot be parsed."""
        if self._loaded is None:
            self._loaded = [(key, _signing_function(_load_private(key))) for key in self.keys]
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
    sign: Callable[[bytes], bytes],
    include: tuple[bytes, ...],
    signed_part: bytes,
    body_hash: bytes,
    now: bytes,
) -> bytes:
    """Return one ``DKIM-Signature:`` header line, laid out by :func:`fold_signature`.

    ``signed_part`` is the selected headers, canonicalised (relaxed) and concatenated; the
    signature covers it and this header with an empty ``b=`` (RFC 6376 §3.7), whose relaxed form
    is its tags joined by single spaces: we lay the header out from the same words, so the
    canonical form is known without canonicalising anything.
    """
    words = signature_words(key, include, body_hash, now)
    # the signature header is hashed without its trailing CRLF (RFC 6376 §3.7)
    raw = sign(signed_part + b"dkim-signature:" + b" ".join(words))
    return fold_signature(words, base64.b64encode(raw))


def _signing_function(private: _PrivateKey) -> Callable[[bytes], bytes]:
    """Return what signs the data of a DKIM signature with ``private`` (made once per key)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if isinstance(private, rsa.RSAPrivateKey):
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        rsa_key = private
        return lambda data: rsa_key.sign(data, pkcs1, sha256)
    ed_key = private
    # RFC 8463: Ed25519 ("pure") over the SHA-256 of the data
    return lambda data: ed_key.sign(hashlib.sha256(data).digest())


def signature_words(
    key: DkimKey, include: tuple[bytes, ...], body_hash: bytes, now: bytes
) -> list[bytes]:
    """Return the DKIM-Signature value as words (no whitespace inside), ending with ``b=``."""
    return [
        *_key_words(key),
        b"t=" + now + b";",
        *_header_words(include),
        b"bh=" + body_hash + b";",
        b"b=",
    ]


@lru_cache(maxsize=16)
def _key_words(key: DkimKey) -> tuple[bytes, ...]:
    """The tags that depend only on the key, in dkimpy's order (once per key)."""
    domain = key.domain.encode("idna")
    return (
        b"v=1;",
        b"a=" + _ALGORITHMS[key.algorithm] + b";",
        b"c=relaxed/relaxed;",
        b"d=" + domain + b";",
        b"i=@" + domain + b";",
        b"q=dns/txt;",
        b"s=" + key.selector.encode("ascii") + b";",
    )


@lru_cache(maxsize=64)
def _header_words(include: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """``h=from : from : to …;`` as words (once per list of headers: one or two a campaign)."""
    words = [b"h=" + include[0]]
    for name in include[1:]:
        words += (b":", name)
    words[-1] += b";"
    return tuple(words)


#: the longest line of a DKIM-Signature header we write (the CRLF not counted; RFC 5322 §2.1.1
#: asks for at most 78)
SIGNATURE_WIDTH = 76


def fold_signature(words: list[bytes], signature: bytes) -> bytes:
    """Lay ``DKIM-Signature: words… b=signature`` out on lines of ≤ :data:`SIGNATURE_WIDTH`.

    Folding only ever replaces the single space between two words by CRLF + space, so unfolding
    and the relaxed canonicalisation give back the words joined by single spaces. The base64 of
    ``b=`` fills the rest of its line and whole lines after it (RFC 6376 §3.5 allows folding
    whitespace inside it; verifiers remove it with the value).
    """
    lines: list[bytes] = []
    line = _NAME + b":"
    for word in words:
        if len(line) + 1 + len(word) > SIGNATURE_WIDTH:
            lines.append(line)
            line = b""
        line += b" " + word
    room = SIGNATURE_WIDTH - len(line)
    line += signature[:room]
    for start in range(room, len(signature), SIGNATURE_WIDTH - 1):
        lines.append(line)
        line = b" " + signature[start : start + SIGNATURE_WIDTH - 1]
    lines.append(line)
    return b"\r\n".join(lines) + b"\r\n"


def relaxed_headers(headers: Sequence[Sequence[bytes]], include: tuple[bytes, ...]) -> bytes:
    """Return the headers ``include`` names, selected and canonicalised as dkimpy does, joined.

    The selection is dkimpy's ``select_headers`` (each name taken from the bottom up, a name
    listed more often than present selects nothing more) with the names lowered once instead of
    once per comparison; each value goes through :func:`relaxed_header`.
    """
    positions: dict[bytes, list[int]] = {}
    for i, (name, _) in enumerate(headers):
        positions.setdefault(name.lower(), []).append(i)
    out: list[bytes] = []
    for wanted in include:
        found = positions.get(wanted)
        if found:  # the lowest one not taken yet
            out.append(relaxed_header(wanted, headers[found.pop()][1]))
    return b"".join(out)


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """Return ``name:value`` in the relaxed canonical form (RFC 6376 §3.4.2), as dkimpy does.

    dkimpy removes every ``\\r?\\n``, turns ``[ \\t]+`` into one space and strips the ends
    (three ``re`` calls a header). Once the CRLFs are gone, a value with no other CR, LF, VT or
    FF holds no whitespace but spaces and tabs, and ``split()``/``join`` does the same in one
    step; anything else takes dkimpy's own path.
    """
    unfolded = value.replace(b"\r\n", b"")
    if not (b"\r" in unfolded or b"\n" in unfolded or b"\x0b" in unfolded or b"\x0c" in unfolded):
        return name.lower() + b":" + b" ".join(unfolded.split()) + b"\r\n"
    from dkim.canonicalization import Relaxed

    [(canonical_name, canonical)] = Relaxed.canonicalize_headers([(name, value)])
    return bytes(canonical_name + b":" + canonical)


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
