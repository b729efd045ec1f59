"""Unsubscribe mails: what a client sends to the ``mailto:`` of our ``List-Unsubscribe``.

Every message carries ``<mailto:ADDR?subject=unsubscribe%20TOKEN&body=unsubscribe%20TOKEN>``
(:func:`commskit.policy.unsubscribe_mailto`). Apple Mail sends a mail to ADDR with that subject
and a body of its own ("Apple Mail sent this email to unsubscribe from the message …", marked
``X-Apple-Unsubscribe: true`` and ``Auto-Submitted: auto-replied``); Gmail and Outlook.com use the
one-click POST when it is offered, and otherwise send the URI's subject (and body); a person
replying by hand may paste the token anywhere in the first lines. So a token is looked for in
the subject, then in a ``+TOKEN`` local part of To/Delivered-To/X-Original-To (a relay that
rewrites to subaddresses), then in the first lines of the plain-text body.

:func:`unsubscribe_request` is pure (a parsed message in, a token candidate out): it does not
verify the token, the caller does (``ContactBook.unsubscribe_token(token, source="mailto")``), so
a forged one suppresses nobody. :func:`unsubscribe_mail` also recognises a request *without* a
token (Apple Mail's mark, a mail to the unsubscribe address, a subject that only says
"unsubscribe"): such a request is reported for a person to handle and suppresses nothing, since
a From address is trivially forged and says neither which list nor that the sender got our mail.
A delivery report or complaint (``multipart/report``) is never an unsubscribe mail.

The same functions serve ``commskit bounces`` and any other reader of an inbox.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING

from ..errors import TokenError
from ..policy import UNSUBSCRIBE_WORD
from .identity import TEST_TOKEN

if TYPE_CHECKING:
    from ..audience import ContactBook

#: a token's alphabet (base64url, no padding) and length (commskit.audience.tokens: 16 and more),
#: or the test copies' token; a shorter word after "unsubscribe" is not taken for a token
_TOKEN = rf"{re.escape(TEST_TOKEN)}|[A-Za-z0-9_-]{{16,400}}"
_IN_TEXT = re.compile(
    rf"(?<![A-Za-z0-9_-]){UNSUBSCRIBE_WORD}\s*[:=]?\s*({_TOKEN})(?![A-Za-z0-9_-])"
)
_IN_LOCAL_PART = re.compile(rf"^[^@+]+\+({_TOKEN})@", re.I)
_RECIPIENT_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")
#: what a token-less request's whole subject says (after Re:/Fwd:), in the languages we ship
_BARE_SUBJECT = re.compile(
    r"^\s*(?:(?:re|tr|fwd?)\s*:\s*)*(?:unsubscribe|d[ée]sinscription|d[ée]sabonnement"
    r"|se d[ée]sabonner|se d[ée]sinscrire)\s*\.?\s*$",
    re.I,
)
#: how many non-empty body lines are searched for a token
BODY_LINES = 10


@dataclass(frozen=True)
class UnsubscribeMail:
    """An unsubscribe request read from a mailbox: its token (None: none found) and sender."""

    token: str | None
    sender: str  # the From address, as written (never trusted to pick whom to suppress)
    where: str  # "subject", "address" or "body"; "" without a token


def _header_text(value: object) -> str:
    """Return a header as text: encoded-words decoded, raw 8-bit bytes read as UTF-8."""
    if value is None:
        return ""
    try:
        pieces = decode_header(value if isinstance(value, Header) else str(value))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return str(value)  # a broken encoded-word: read it as written
    out = []
    for data, charset in pieces:
        if isinstance(data, str):
            out.append(data)
            continue
        try:
            out.append(data.decode(charset or "utf-8", "replace"))
        except LookupError:  # "unknown-8bit" or a charset Python does not know
            out.append(data.decode("utf-8", "replace"))
    return "".join(out)


def _recipient_addresses(msg: Message) -> list[str]:
    values = [str(v) for name in _RECIPIENT_HEADERS for v in msg.get_all(name, [])]
    return [addr.strip() for _name, addr in getaddresses(values) if addr]


def _first_lines(msg: Message) -> str:
    """Return the first :data:`BODY_LINES` non-empty lines of the first text/plain part."""
    for part in msg.walk():
        if part.get_content_type() != "text/plain":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = payload[:20000].decode(part.get_content_charset() or "utf-8", "replace")
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith(">")]
        return "\n".join(lines[:BODY_LINES])
    return ""


def unsubscribe_request(msg: Message) -> str | None:
    """Return the unsubscribe token a mail carries (not verified), or None.

    Looked for in the subject (``unsubscribe TOKEN``), a ``+TOKEN`` local part of the
    recipient headers, then the first lines of the plain-text body. A delivery report or a
    complaint (``multipart/report``) carries none, even when it quotes our message.
    """
    found = _find_token(msg)
    return found[0] if found else None


def _find_token(msg: Message) -> tuple[str, str] | None:
    if msg.get_content_type() == "multipart/report":
        return None
    match = _IN_TEXT.search(_header_text(msg.get("Subject")))
    if match:
        return match.group(1), "subject"
    for address in _recipient_addresses(msg):
        match = _IN_LOCAL_PART.match(address)
        if match:
            return match.group(1), "address"
    match = _IN_TEXT.search(_first_lines(msg))
    if match:
        return match.group(1), "body"
    return None


def unsubscribe_mail(msg: Message, addresses: Sequence[str] = ()) -> UnsubscribeMail | None:
    """Return the unsubscribe request ``msg`` is, or None when it is not one.

    With a token (see :func:`unsubscribe_request`), or without one when Apple Mail marked it
    (``X-Apple-Unsubscribe: true``), when it is addressed to one of ``addresses`` (the configured
    ``[unsubscribe] mailto``), or when its subject only says "unsubscribe".
    """
    if msg.get_content_type() == "multipart/report":
        return None
    sender = parseaddr(str(msg.get("From", "")))[1]
    found = _find_token(msg)
    if found is not None:
        return UnsubscribeMail(found[0], sender, found[1])
    wanted = {_bare(a) for a in addresses if a}
    if (
        str(msg.get("X-Apple-Unsubscribe", "")).strip().lower() == "true"
        or wanted.intersection(_bare(a) for a in _recipient_addresses(msg))
        or _BARE_SUBJECT.match(_header_text(msg.get("Subject")))
    ):
        return UnsubscribeMail(None, sender, "")
    return None


def _bare(address: str) -> str:
    """Return an address without ``mailto:``, query or ``+tag``, lower-cased."""
    address = address.removeprefix("mailto:").partition("?")[0].strip().lower()
    local, _, domain = address.rpartition("@")
    return f"{local.partition('+')[0]}@{domain}"


def read_unsubscribe_mail(raw: bytes, addresses: Sequence[str] = ()) -> UnsubscribeMail | None:
    """Parse ``raw`` and return the unsubscribe request it is (see :func:`unsubscribe_mail`).

    Raises what the email package raises on a hostile message; the caller records it as
    unreadable.
    """
    return unsubscribe_mail(email.message_from_bytes(raw, policy=email.policy.compat32), addresses)


@dataclass(frozen=True)
class UnsubscribeOutcome:
    """What an unsubscribe mail did: whom (as the token says), which list, and whether."""

    recipient: str  # the contact the token names ("" for an address token or an erased one)
    list_name: str
    applied: bool  # a valid token: suppressed for that list (a dry run: would be)
    reason: str


def act_on(contacts: ContactBook, mail: UnsubscribeMail, *, dry_run: bool) -> UnsubscribeOutcome:
    """Verify the mail's token and suppress that contact for that list only (never in a dry run).

    A forged or altered token, the test copies' token or no token at all suppresses nobody:
    the outcome says why, for a person to handle it (``commskit contacts unsubscribe``).
    """
    if mail.token is None:
        return UnsubscribeOutcome(
            mail.sender,
            "",
            False,
            "no token: nobody suppressed; if it comes from a contact, unsubscribe them by hand "
            "(commskit contacts unsubscribe ADDRESS --list LIST)",
        )
    if mail.token == TEST_TOKEN:
        return UnsubscribeOutcome(
            mail.sender,
            "",
            False,
            "a test copy's unsubscribe (valid for nobody): nobody suppressed",
        )
    try:
        if dry_run:
            contact, list_name = contacts.check_unsubscribe_token(mail.token)
        else:
            contact, list_name = contacts.unsubscribe_token(mail.token, source="mailto")
    except TokenError:
        return UnsubscribeOutcome(
            mail.sender,
            "",
            False,
            f"invalid or forged token (in the {mail.where}): nobody suppressed",
        )
    address = contact.email if contact is not None else ""
    return UnsubscribeOutcome(address, list_name, True, f"unsubscribed from {list_name}")
