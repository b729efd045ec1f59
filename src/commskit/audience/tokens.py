"""Unsubscribe and link tokens: opaque, signed, one per (contact, list), short enough for a URL.

A token is ``base64url(varint(contact_id) || list_name || mac)`` without padding, where ``mac`` is
the first 10 bytes (80 bits) of HMAC-SHA256(workspace secret, ``"unsubscribe\\0" || payload``).
The address never appears in it; the list name does (it is not secret), so that one function can
verify a token without a list registry. A token for contact 1234 and list "infolettre" is 30
characters long.

    >>> token = make_token(b"0123456789abcdef", 1234, "infolettre")
    >>> verify_token(b"0123456789abcdef", token)
    (1234, 'infolettre')

A plain address that is not a contact (the digest's ``[digest] recipients``) gets a token whose
id is :data:`ADDRESS_ID_BASE` plus the id of its row in the store's address tokens (only the
address's keyed hash is kept there): :func:`make_address_token`, :func:`address_id_of`. Such a
token verifies like any other; ``ContactBook.unsubscribe_token`` tells the two apart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import NamedTuple

from ..errors import TokenError

_MAC_BYTES = 10
_DOMAIN = b"unsubscribe\0"  # separates these MACs from any other use of the secret
_MAX_ID_BYTES = 9
#: ids from here up name a plain address's token row, not a contact (contact ids stay far below;
#: the varint of an id this size is 9 bytes, the most :func:`verify_token` reads)
ADDRESS_ID_BASE = 1 << 56


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _DOMAIN + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def make_token(secret: bytes, contact_id: int, list_name: str) -> str:
    """Return the unsubscribe token of one contact for one list.

    ``contact_id`` is the contact's store id (a positive integer); ``list_name`` is the list the
    one-click unsubscribe removes the contact from (RFC 8058: only the associated list).
    """
    if not isinstance(contact_id, int) or isinstance(contact_id, bool) or contact_id < 0:
        raise ValueError(f"contact_id must be a non-negative integer, not {contact_id!r}")
    if not list_name:
        raise ValueError("list_name must not be empty")
    payload = _varint(contact_id) + list_name.encode("utf-8")
    raw = payload + _mac(secret, payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def verify_token(secret: bytes, token: str) -> tuple[int, str]:
    """Return ``(contact_id, list_name)`` from a token made with the same secret.

    Raises :class:`~commskit.errors.TokenError` when the token is malformed, truncated, altered,
    or signed with another secret. A token for list A never verifies as list B: the list name is
    inside the signed payload.
    """
    invalid = TokenError(
        "invalid unsubscribe token",
        hint="The link may be truncated or altered; unsubscribe with the address instead",
    )
    if not isinstance(token, str) or not token or len(token) > 400 or "=" in token:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise invalid from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        # non-canonical encodings would give several valid spellings of one token
        raise invalid
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise invalid
    contact_id = 0
    shift = 0
    for index, byte in enumerate(payload[:_MAX_ID_BYTES]):
        contact_id |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            list_bytes = payload[index + 1 :]
            break
    else:
        raise invalid
    try:
        list_name = list_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid from exc
    if not list_name:
        raise invalid
    return contact_id, list_name


def make_address_token(secret: bytes, address_id: int, list_name: str) -> str:
    """Return the unsubscribe token of a plain address (its token row ``address_id``)."""
    if not isinstance(address_id, int) or address_id < 0 or address_id >= ADDRESS_ID_BASE:
        raise ValueError(f"address_id must be a small non-negative integer, not {address_id!r}")
    return make_token(secret, ADDRESS_ID_BASE + address_id, list_name)


def address_id_of(token_id: int) -> int | None:
    """Return the address token row a verified token's id names, or None for a contact id."""
    return token_id - ADDRESS_ID_BASE if token_id >= ADDRESS_ID_BASE else None


# --- link tokens: registration, cancellation, preferences, sign-up confirmation ---------------

#: The purposes a link token may have; each signs under its own domain, so a token made for one
#: page never verifies on another.
LINK_PURPOSES = frozenset({"event", "preferences", "signup", "event-signup"})


class LinkToken(NamedTuple):
    """What a verified link token names."""

    #: the contact's store id (for ``signup``/``event-signup``: the pending sign-up's row id)
    subject_id: int
    #: what the token is limited to: an event's name, a list's name, or ``""``
    scope: str
    #: Unix time after which the token is refused; 0 when it never expires
    expires: int


def _link_mac(secret: bytes, purpose: str, payload: bytes) -> bytes:
    domain = b"link\0" + purpose.encode("ascii") + b"\0"
    return hmac.new(secret, domain + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def make_link_token(
    secret: bytes, purpose: str, subject_id: int, scope: str = "", *, expires: int = 0
) -> str:
    """Return a signed, URL-safe token for one page: ``purpose`` of ``subject_id`` in ``scope``.

    ``event`` tokens (scope: the event's name) open a contact's registration and cancellation
    pages; ``preferences`` (scope ``""``) the preference centre; ``signup`` (scope: the list) and
    ``event-signup`` (scope: the event) confirm a double opt-in and should expire (``expires``,
    Unix time). The address never appears in a token.

        >>> t = make_link_token(b"0123456789abcdef", "event", 12, "webinaire-dec")
        >>> verify_link_token(b"0123456789abcdef", t, "event", scope="webinaire-dec")
        LinkToken(subject_id=12, scope='webinaire-dec', expires=0)
    """
    if purpose not in LINK_PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    if not isinstance(subject_id, int) or isinstance(subject_id, bool) or subject_id < 0:
        raise ValueError(f"subject_id must be a non-negative integer, not {subject_id!r}")
    if not isinstance(expires, int) or expires < 0:
        raise ValueError(f"expires must be a non-negative Unix time, not {expires!r}")
    payload = _varint(subject_id) + _varint(expires) + scope.encode("utf-8")
    raw = payload + _link_mac(secret, purpose, payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _read_varint(data: bytes, start: int) -> tuple[int, int] | None:
    number = 0
    shift = 0
    for index in range(start, min(len(data), start + _MAX_ID_BYTES)):
        byte = data[index]
        number |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return number, index + 1
    return None


def verify_link_token(
    secret: bytes,
    token: str,
    purpose: str,
    *,
    scope: str | None = None,
    now: float | None = None,
) -> LinkToken:
    """Return what a link token names, or raise :class:`~commskit.errors.TokenError`.

    Refused: a malformed, altered or truncated token, one signed with another secret or for
    another purpose, one for another ``scope`` (when given), and an expired one (``now``: Unix
    time, default the current time).
    """
    invalid = TokenError(
        "invalid link", hint="The link may be truncated or altered; open it from the mail again"
    )
    if not isinstance(token, str) or not token or len(token) > 400 or "=" in token:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise invalid from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        raise invalid
    if len(raw) <= _MAC_BYTES or purpose not in LINK_PURPOSES:
        raise invalid
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _link_mac(secret, purpose, payload)):
        raise invalid
    first = _read_varint(payload, 0)
    second = _read_varint(payload, first[1]) if first else None
    if first is None or second is None:
        raise invalid
    try:
        found_scope = payload[second[1] :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid from exc
    if scope is not None and found_scope != scope:
        raise invalid
    expires = second[0]
    if expires and (time.time() if now is None else now) > expires:
        raise TokenError("this link has expired", hint="Ask for a new one from the same page")
    return LinkToken(first[0], found_scope, expires)
