"""Build RFC 5322 messages that pass EMAIL-CHECKLIST section A.

Two paths produce the same message:

* :func:`build_message` assembles an :class:`email.message.EmailMessage` with a strict policy (the
  reference, used for one-off messages and to prove the fast path right);
* :class:`MessageSkeleton` encodes everything that does not change per recipient once, and per
  recipient only encodes the short personal pieces (quoted-printable segments joined by soft line
  breaks, RFC 2047 words for display names), which is what makes thousands of messages a second
  possible.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import idna

from ..errors import HeaderInjectionError, RenderError

#: CPython gained ``verify_generated_headers`` with the CVE-2024-6923 fix; without it we verify
#: our own output (see :func:`verify_headers`), which every compiled campaign does once.
HAS_VERIFY_GENERATED_HEADERS = hasattr(email_policy.default, "verify_generated_headers")

_FORBIDDEN = re.compile(r"[\r\n\x00]")
# An RFC 2047 encoded-word typed by a user would be decoded by the reader's client, so a value
# holding one can smuggle a line break ("=?UTF-8?Q?=0A?=Bcc: y"); we encode values ourselves.
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# RFC 5322 ftext, starting with a letter (so that no header line can start with a dot)
_HEADER_NAME = re.compile(r"^[A-Za-z][!-9;-~]*$")
_ATEXT_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$")
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


class LiteralListUnsubscribe(UnstructuredHeader):
    """An unstructured header folded as one literal ASCII line (EMAIL-CHECKLIST A9).

    Python would otherwise turn a long ``<https://…>`` into an encoded-word, which mail providers
    do not recognise as an unsubscribe URI.
    """

    max_count = 1

    def fold(self, *, policy: Any) -> str:
        value = str(self)
        name: str = getattr(self, "name", "List-Unsubscribe")
        line = f"{name}: {value}"
        if not value.isascii() or len(line) > 998:
            raise RenderError(f"{name} must be ASCII and under 998 characters")
        return line + policy.linesep  # type: ignore[no-any-return]


def _header_registry() -> HeaderRegistry:
    registry = HeaderRegistry()
    literal: Any = LiteralListUnsubscribe  # typeshed wants BaseHeader, a mixin it cannot express
    registry.map_to_type("list-unsubscribe", literal)
    registry.map_to_type("list-unsubscribe-post", literal)
    return registry


#: The one policy every commskit message is built with (EMAIL-CHECKLIST A3, A5, A9).
POLICY = email_policy.SMTP.clone(
    cte_type="7bit", max_line_length=76, header_factory=_header_registry()
)
if HAS_VERIFY_GENERATED_HEADERS:  # pragma: no cover - Python ≥ 3.13 / patched 3.12
    POLICY = POLICY.clone(verify_generated_headers=True)


def check_header_value(value: str, *, field: str) -> str:
    """Return ``value`` if it is safe in a mail header, else raise HeaderInjectionError.

    A value UTF-8 cannot encode (a lone surrogate) raises RenderError.
    """
    if _FORBIDDEN.search(value):
        raise HeaderInjectionError(
            f"{field} contains a line break or NUL character",
            hint="Remove CR, LF and NUL characters from it",
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RenderError(
                f"{field} contains a character UTF-8 cannot encode (a lone surrogate)",
                hint="Fix the value where it was stored",
            ) from exc
    if _ENCODED_WORD.search(value):
        raise HeaderInjectionError(
            f"{field} contains an RFC 2047 encoded-word (=?…?=)",
            hint="Write the plain text; commskit encodes headers itself",
        )
    return value


def check_header_name(name: str) -> str:
    """Return ``name`` if it is a valid header field name, else raise HeaderInjectionError."""
    if not _HEADER_NAME.match(name):
        raise HeaderInjectionError(f"invalid header name {name!r}")
    return name


def ascii_address(addr_spec: str, *, field: str = "address", utf8_local: bool = False) -> str:
    """Return the address with an IDN domain as A-labels (EMAIL-CHECKLIST A7).

    A non-ASCII local part is refused unless ``utf8_local`` (a recipient: the message then has
    it in UTF-8 in its To header, RFC 6532, and only goes out over SMTPUTF8).
    """
    check_header_value(addr_spec, field=field)
    local, at, domain = addr_spec.rpartition("@")
    if not at or not local or not domain:
        raise RenderError(f"{field} {addr_spec!r} is not an email address")
    if not local.isascii() and not utf8_local:
        raise RenderError(
            f"{field} {addr_spec!r} has a non-ASCII local part",
            hint="Such addresses need SMTPUTF8; ask the recipient for an ASCII address",
        )
    if domain.isascii():
        return addr_spec
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError as exc:
        raise RenderError(f"{field} {addr_spec!r} has an invalid domain: {exc}") from exc


# --- RFC 2047 --------------------------------------------------------------------------------


def _q_words(text: str, first_room: int) -> list[str]:
    """Encode ``text`` as Q encoded-words of at most 75 characters, never splitting a character.

    A word is cut just after a space when there is one, so that decoders which (wrongly) keep
    the folding whitespace between encoded-words still show the right words.
    """
    prefix, suffix = "=?utf-8?q?", "?="
    encoded = [
        "".join(chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in ch.encode())
        for ch in text
    ]
    words: list[str] = []
    current: list[str] = []
    size = 0
    room = min(75, max(first_room, 20)) - len(prefix) - len(suffix)
    for piece in encoded:
        if size + len(piece) > room and current:
            cut = len(current)
            spaces = [i for i, p in enumerate(current) if p == "_"]
            if spaces and spaces[-1] + 1 < len(current):
                cut = spaces[-1] + 1
            words.append(prefix + "".join(current[:cut]) + suffix)
            current = current[cut:]
            size = sum(len(p) for p in current)
            room = 75 - len(prefix) - len(suffix)
        current.append(piece)
        size += len(piece)
    if current or not words:
        words.append(prefix + "".join(current) + suffix)
    return words


def fold_words(name: str, words: Sequence[str]) -> str:
    """Join header ``words`` after ``name:`` folding so no line exceeds 76 characters."""
    lines: list[str] = []
    line = f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > 76 and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def encode_unstructured(name: str, value: str) -> str:
    """Fold an unstructured header (Subject), encoding it only when it is not plain ASCII."""
    if value.isascii() and not _ENCODED_WORD.search(value):
        words = value.split(" ")
        if all(len(w) <= 70 for w in words) and value == value.strip() and "  " not in value:
            return fold_words(name, words)
    return fold_words(name, _q_words(value, 75 - len(name) - 2))


_ATEXT_WORD = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")


def _phrase_words(display_name: str, room: int) -> list[str]:
    """Encode a display name: atext words stay plain, runs of other words become encoded-words.

    Consecutive words that need encoding share one encoded-word (their spaces encoded as "_"),
    because decoders disagree about whitespace between adjacent encoded-words in a phrase.
    """
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.extend(_q_words(" ".join(run), room if not out else 75))
            run.clear()

    for word in display_name.split(" "):
        if _ATEXT_WORD.match(word) and not _ENCODED_WORD.search(word):
            flush()
            out.append(word)
        else:
            run.append(word)
    flush()
    return out


def format_mailbox(name: str, display_name: str, addr_spec: str) -> str:
    """Fold ``Name: display <addr>`` with RFC 2047 only in the display name (EMAIL-CHECKLIST A6)."""
    addr = f"<{addr_spec}>"
    display_name = " ".join(display_name.split())
    if not display_name:
        return fold_words(name, [addr_spec])
    if display_name.isascii() and not _ENCODED_WORD.search(display_name):
        if _ATEXT_PHRASE.match(display_name):
            words = display_name.split(" ")
        else:
            quoted = display_name.replace("\\", "\\\\").replace('"', '\\"')
            words = [f'"{quoted}"']
        if all(len(w) <= 70 for w in words):
            return fold_words(name, [*words, addr])
    return fold_words(name, [*_phrase_words(display_name, 75 - len(name) - 2), addr])


# --- quoted-printable segments ---------------------------------------------------------------


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


class RelaxedQP(bytes):
    """Quoted-printable bytes that are their own DKIM relaxed body form (RFC 6376 §3.4.4).

    No tab, no run of two spaces or more, no space before a line end: the relaxed
    canonicalisation changes nothing in them. Only :func:`qp_segment` and
    :func:`relaxed_qp_join` make them; the type is the proof, so the signer hashes such a body
    as it is, without a pass.
    """

    __slots__ = ()


def qp_segment(text: str) -> RelaxedQP:
    """Encode ``text`` as QP lines of ≤ 76 characters that end in CRLF or a soft break.

    Segments encoded separately can be concatenated: each starts at column 0 and ends at a line
    end, so the fast path can join static (pre-encoded) and personal pieces in any order. No
    line starts with a dot, and the lines are already in DKIM's relaxed form
    (:func:`_relaxed_qp`).
    """
    return RelaxedQP(_no_leading_dot(_relaxed_qp(_qp_lines(text)))) if text else RelaxedQP()


# a tab, or a run of blanks: what DKIM's relaxed body canonicalisation would rewrite
_BLANK_RUN = re.compile(rb"[ \t]{2,}|\t")


def _escape_blanks(match: re.Match[bytes]) -> bytes:
    """Keep a run's first space literal (a tab never), escape the rest (RFC 2045 allows it)."""
    run = match.group(0)
    head = b" " if run[0] == 0x20 else b"=09"
    return head + b"".join(b"=20" if c == 0x20 else b"=09" for c in run[1:])


def _relaxed_qp(encoded: bytes) -> bytes:
    """Escape tabs and all but the first space of each run, re-breaking lines that grow.

    ``b2a_qp`` already escapes a blank before a line end; it keeps the others literal, which
    DKIM's relaxed canonicalisation would rewrite (so a signer would have to copy the body).
    Escaped, they decode to the same text and the body is its own canonical form. The check is
    one C-speed search; a static chunk is encoded once per campaign, a personal piece is short.
    """
    if b"  " not in encoded and b"\t" not in encoded:
        return encoded
    lines = _BLANK_RUN.sub(_escape_blanks, encoded).split(b"\r\n")
    out: list[bytes] = []
    for line in lines[:-1]:  # every segment line ends in CRLF
        while len(line) > 76:
            cut = _soft_cut(line)
            out.append(line[:cut] + b"=")
            line = line[cut:]
        out.append(line)
    out.append(b"")
    return b"\r\n".join(out)


def _soft_cut(line: bytes) -> int:
    """Return where to soft-break a quoted-printable line (at 75, the "=" making 76), never
    inside an "=XX" escape."""
    if line[74:75] == b"=":
        return 74
    if line[73:74] == b"=":
        return 73
    return 75


def _qp_lines(text: str) -> bytes:
    encoded = binascii.b2a_qp(_crlf(text).encode("utf-8"))
    # b2a_qp writes its soft breaks as bare LF unless the data's first line ends in CRLF
    encoded = encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if encoded.endswith(b"\r\n"):
        return encoded
    head, _, last = encoded.rpartition(b"\r\n")
    pieces = [head + b"\r\n"] if head or encoded.startswith(b"\r\n") else []
    # the last line has no line end yet; break it so that it ends with "=" within 76 columns
    while len(last) > 75:
        cut = _soft_cut(last)
        pieces.append(last[:cut] + b"=\r\n")
        last = last[cut:]
    pieces.append(last + b"=\r\n")
    return b"".join(pieces)


def _no_leading_dot(encoded: bytes) -> bytes:
    """Escape a "." that starts a QP line as "=2E", re-breaking the line if it grows past 76.

    RFC 2045 lets an encoder escape any character. A message in which no line starts with a dot
    needs no SMTP dot-stuffing (RFC 5321 §4.5.2), which would otherwise copy every 37 KB message
    per recipient in the transport; b2a_qp escapes only a dot alone on its line.
    """
    if not (encoded.startswith(b".") or b"\n." in encoded):
        return encoded
    out: list[bytes] = []
    for line in encoded.split(b"\r\n")[:-1]:  # every segment line ends in CRLF
        while line.startswith(b"."):
            line = b"=2E" + line[1:]
            if len(line) <= 76:
                break
            soft = line.endswith(b"=")  # an escape's "=" is never last: this is a soft break
            content = line[:-1] if soft else line
            cut = 75
            if content[cut - 1 : cut] == b"=":  # never cut inside an "=XX" escape
                cut -= 1
            elif content[cut - 2 : cut - 1] == b"=":
                cut -= 2
            out.append(content[:cut] + b"=")
            line = content[cut:] + (b"=" if soft else b"")
        out.append(line)
    out.append(b"")
    return b"\r\n".join(out)


def qp_join(segments: Iterable[bytes]) -> bytes:
    """Join QP segments into a body that ends with a line break, as ``set_content`` writes it."""
    body = b"".join(segments)
    if body.endswith(b"=\r\n"):
        body = body[:-3] + b"\r\n"
    return body


def relaxed_qp_join(segments: Sequence[RelaxedQP]) -> RelaxedQP | bytes:
    """:func:`qp_join` for segments :func:`qp_segment` made (the type checker holds callers to
    it, no pass at run time): the body is a :class:`RelaxedQP` too, since removing the last soft
    break leaves no blank before the line end (``b2a_qp`` escapes a text's last blank; checked
    anyway, at the end only)."""
    body = qp_join(segments)
    return body if body.endswith((b" \r\n", b"\t\r\n")) else RelaxedQP(body)


# --- the message -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """A file attached to every message of a campaign."""

    filename: str
    content_type: str
    data: bytes
    #: Content-Type parameters, e.g. (("charset", "utf-8"), ("method", "PUBLISH")) for .ics
    params: tuple[tuple[str, str], ...] = ()


#: Asks Exchange and Outlook not to answer a campaign with an out-of-office or an auto-reply
#: (MS-OXCMAIL 2.2.3.2.14); a campaign's own ``headers:`` value replaces it.
AUTO_RESPONSE_SUPPRESS = ("X-Auto-Response-Suppress", "OOF, AutoReply")


@dataclass(frozen=True)
class StaticHeaders:
    """The headers that are the same for every recipient of a campaign."""

    from_: str
    subject: str | None
    reply_to: str = ""
    list_id: str = ""
    extra: tuple[tuple[str, str], ...] = ()


def parse_mailbox(value: str, *, field: str) -> tuple[str, str]:
    """Split ``"Name <addr>"`` into (display name, A-label address), validating it."""
    check_header_value(value, field=field)
    name, addr = parseaddr(value)
    if not addr or "@" not in addr or "," in value.replace(name, "", 1):
        raise RenderError(
            f"{field} {value!r} is not a single email address",
            hint='Write it as "Name <address@example.org>" or address@example.org',
        )
    return name, ascii_address(addr, field=field)


def list_unsubscribe_value(url: str, mailto: str | None) -> str:
    """Return the List-Unsubscribe value: the HTTPS URI first, then an optional mailto."""
    check_header_value(url, field="unsubscribe URL")
    if not url.startswith("https://"):
        raise RenderError(
            f"unsubscribe URL {url!r} is not https://",
            hint="Set [unsubscribe] url to the https address of `commskit serve` (RFC 8058)",
        )
    value = f"<{url}>"
    if mailto:
        check_header_value(mailto, field="unsubscribe mailto")
        target = mailto if mailto.startswith("mailto:") else f"mailto:{mailto}"
        value += f", <{target}>"
    return value


def build_message(
    static: StaticHeaders,
    *,
    to_name: str,
    to_addr: str,
    subject: str,
    date: datetime,
    message_id: str,
    list_unsubscribe: str,
    text: str,
    html: str,
    attachments: Sequence[Attachment] = (),
    extra_headers: Mapping[str, str] | None = None,
) -> bytes:
    """Assemble one message with ``EmailMessage`` (the reference path; slow but obviously right)."""
    msg = EmailMessage(policy=POLICY)
    from_name, from_addr = parse_mailbox(static.from_, field="From")
    msg["From"] = Address(check_header_value(from_name, field="From name"), addr_spec=from_addr)
    msg["To"] = Address(
        check_header_value(to_name, field="recipient name"),
        addr_spec=ascii_address(to_addr, field="recipient"),
    )
    if static.reply_to:
        name, addr = parse_mailbox(static.reply_to, field="Reply-To")
        msg["Reply-To"] = Address(name, addr_spec=addr)
    msg["Subject"] = check_header_value(subject, field="Subject")
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = check_header_value(message_id, field="Message-ID")
    if static.list_id:
        msg["List-Id"] = check_header_value(static.list_id, field="List-Id")
    msg["List-Unsubscribe"] = list_unsubscribe
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (*static.extra, *(extra_headers or {}).items()):
        msg[check_header_name(name)] = check_header_value(value, field=name)
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=dict(attachment.params),
        )
    return msg.as_bytes(policy=POLICY)


class CRLFMessage(bytes):
    """Message bytes whose every line ends in CRLF and none starts with ".", by construction.

    Built only by :class:`MessageSkeleton`: headers are folded with CRLF, refuse CR/LF in values
    and have names that start with a letter (folded lines start with a space); QP bodies are
    re-terminated with CRLF and escape a line's leading dot; attachments are base64 with CRLF;
    boundary lines start with "--". A transport may skip both the line-end check and the
    dot-stuffing of such a message before SMTP DATA (each a scan or a copy of the whole message
    per recipient).
    """

    __slots__ = ()


class RelaxedBodyMessage(CRLFMessage):
    """A :class:`CRLFMessage` whose body is already its DKIM relaxed canonical form.

    Built only by :meth:`MessageSkeleton.assemble` when the skeleton's own body pieces are clean
    (checked once per campaign) and both text parts are :class:`RelaxedQP`: no tab, no run of
    blanks, no blank before a line end, and the body ends with one CRLF after a non-empty line.
    A DKIM signer may hash the bytes after the blank line as they are (RFC 6376 §3.4.4 would
    change nothing). The type is the flag; bytes from anywhere else never carry it.
    """

    __slots__ = ()


def _relaxed_clean(piece: bytes) -> bool:
    """Return whether ``piece`` holds nothing the relaxed body canonicalisation would rewrite."""
    return not (
        b"\t" in piece or b"  " in piece or b" \r\n" in piece or piece.endswith((b" ", b"\t"))
    )


def _part_head(attachment: Attachment, mixed: str) -> str:
    """Return the delimiter and headers of an attachment part (its base64 body follows)."""
    filename = attachment.filename
    check_header_value(filename, field="attachment name")
    params = "".join(f';\r\n {k}="{v}"' for k, v in attachment.params)
    if filename.isascii() and '"' not in filename and "\\" not in filename:
        disposition = f'filename="{filename}"'
    else:  # RFC 2231 for non-ASCII names
        disposition = f"filename*=utf-8''{quote(filename, safe='')}"
    return (
        f"\r\n--{mixed}\r\nContent-Type: {attachment.content_type}{params}\r\n"
        f"Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment;\r\n {disposition}\r\n\r\n"
    )


def _boundary(seed: str, kind: str) -> str:
    # "=_" can never occur in quoted-printable or base64 output, so the boundary needs no check
    return f"=_ck_{kind}_{hashlib.sha256(seed.encode()).hexdigest()[:24]}"


class MessageSkeleton:
    """Everything of a message that is the same for every recipient, already encoded."""

    def __init__(
        self,
        static: StaticHeaders,
        *,
        seed: str,
        attachments: Sequence[Attachment] = (),
        personal: Attachment | None = None,
    ) -> None:
        """``personal`` is an attachment whose bytes differ per recipient (an event's .ics with
        the recipient as ATTENDEE): it comes first, with the data :meth:`assemble` is given."""
        from_name, from_addr = parse_mailbox(static.from_, field="From")
        check_header_value(from_name, field="From name")
        head = [format_mailbox("From", from_name, from_addr)]
        if static.reply_to:
            name, addr = parse_mailbox(static.reply_to, field="Reply-To")
            head.append(format_mailbox("Reply-To", name, addr))
        if static.subject is not None:
            head.append(
                encode_unstructured("Subject", check_header_value(static.subject, field="Subject"))
            )
        if static.list_id:
            head.append(f"List-Id: {check_header_value(static.list_id, field='List-Id')}\r\n")
        head.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        for name, value in static.extra:
            head.append(
                encode_unstructured(check_header_name(name), check_header_value(value, field=name))
            )
        self.personal_subject = static.subject is None
        alt = _boundary(seed, "alt")
        mime: list[str] = ["MIME-Version: 1.0\r\n"]
        part_head = (
            'Content-Type: text/{}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        self.personal = personal
        if personal is not None:
            attachments = [personal, *attachments]
        if attachments:
            mixed = _boundary(seed, "mix")
            mime.append(f'Content-Type: multipart/mixed;\r\n boundary="{mixed}"\r\n\r\n')
            mime.append(
                f'--{mixed}\r\nContent-Type: multipart/alternative;\r\n boundary="{alt}"\r\n\r\n'
            )
        else:
            mime.append(f'Content-Type: multipart/alternative;\r\n boundary="{alt}"\r\n\r\n')
        self.head = "".join(head).encode("ascii")
        self.before_text = ("".join(mime) + f"--{alt}\r\n" + part_head.format("plain")).encode()
        # the CRLF before a boundary belongs to the delimiter (RFC 2046 §5.1.1)
        self.before_html = f"\r\n--{alt}\r\n{part_head.format('html')}".encode()
        # with a personal part, the alternative's end is written before it (_personal_part)
        tail = "" if personal is not None else f"\r\n--{alt}--\r\n"
        self.personal_head = b""
        if attachments:
            for attachment in attachments:
                encoded = base64.encodebytes(attachment.data).replace(b"\n", b"\r\n").decode()
                if attachment is personal:  # its bytes are the recipient's: kept apart
                    self.personal_head = _part_head(attachment, mixed).encode("ascii")
                    continue
                tail += _part_head(attachment, mixed) + encoded
            tail += f"\r\n--{mixed}--\r\n"
        self.tail = tail.encode("ascii")
        self.alt_end = f"\r\n--{alt}--\r\n".encode("ascii")
        # once per campaign: the body pieces every message shares are in DKIM's relaxed form
        # (an attachment's file name with a run of spaces, say, turns the signer's fast path off)
        body_pieces = (self.before_text.partition(b"\r\n\r\n")[2], self.before_html, self.tail)
        self.relaxed = all(map(_relaxed_clean, body_pieces)) and (
            personal is None or _relaxed_clean(self.personal_head)
        )

    def check(
        self,
        *,
        to_name: str,
        to_addr: str,
        subject: str | None,
        message_id: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> str:
        """Check one recipient's header values as :meth:`assemble` does; return the A-label To.

        Raises HeaderInjectionError or RenderError; :meth:`assemble` calls it first, so a
        pre-flight check with it fails exactly when building the message would.
        """
        check_header_value(to_name, field="recipient name")
        ascii_to = ascii_address(to_addr, field="recipient", utf8_local=True)
        check_header_value(message_id, field="Message-ID")
        if self.personal_subject:
            check_header_value(subject or "", field="Subject")
        if extra_headers:
            for name, value in extra_headers.items():
                check_header_name(name)
                check_header_value(value, field=name)
        return ascii_to

    def assemble(
        self,
        *,
        to_name: str,
        to_addr: str,
        subject: str | None,
        date: datetime,
        message_id: str,
        list_unsubscribe: str,
        text_qp: bytes,
        html_qp: bytes,
        extra_headers: Mapping[str, str] | None = None,
        personal_data: bytes | None = None,
    ) -> bytes:
        """Return the message bytes for one recipient from already-encoded body parts.

        ``personal_data`` fills the skeleton's ``personal`` attachment (its template's bytes
        when None)."""
        ascii_to = self.check(
            to_name=to_name,
            to_addr=to_addr,
            subject=subject,
            message_id=message_id,
            extra_headers=extra_headers,
        )
        first = [
            format_mailbox("To", to_name, ascii_to),
            f"Date: {_date_header(date)}\r\n",
            f"Message-ID: {message_id}\r\n",
            f"List-Unsubscribe: {list_unsubscribe}\r\n",
        ]
        if self.personal_subject:
            first.append(encode_unstructured("Subject", subject or ""))
        if extra_headers:
            for name, value in extra_headers.items():
                first.append(encode_unstructured(name, value))
        personal = "".join(first)
        relaxed = self.relaxed and type(text_qp) is RelaxedQP and type(html_qp) is RelaxedQP
        return (RelaxedBodyMessage if relaxed else CRLFMessage)(
            b"".join(
                (
                    # ASCII, but for a recipient whose local part is not (RFC 6532, SMTPUTF8)
                    personal.encode("ascii" if ascii_to.isascii() else "utf-8"),
                    self.head,
                    self.before_text,
                    text_qp,
                    self.before_html,
                    html_qp,
                    *self._personal_part(personal_data),
                    self.tail,
                )
            )
        )

    def _personal_part(self, data: bytes | None) -> tuple[bytes, ...]:
        if self.personal is None:
            return ()
        encoded = base64.encodebytes(self.personal.data if data is None else data)
        return (self.alt_end, self.personal_head, encoded.replace(b"\n", b"\r\n"))


@lru_cache(maxsize=4)
def _date_value(second: datetime) -> str:
    return format_datetime(second)


def _date_header(date: datetime) -> str:
    """Return the Date value; messages built within the same second share one formatting."""
    # format_datetime drops the microseconds anyway
    return _date_value(date.replace(microsecond=0))


def verify_headers(raw: bytes, expected: Iterable[str]) -> None:
    """Parse ``raw`` back and check its header names are exactly ``expected`` (A8 fallback).

    Python < 3.13 (and 3.11.7 here) lacks ``verify_generated_headers``; this catches any header a
    value could have smuggled in, whatever the cause.
    """
    parsed = BytesParser(policy=email_policy.default).parsebytes(raw, headersonly=True)
    got = sorted(name.lower() for name in parsed)
    want = sorted(name.lower() for name in expected)
    if got != want:
        raise HeaderInjectionError(
            f"generated headers {got} differ from the headers built {want}",
            hint="A header value must have contained a line break; check the campaign's values",
        )


_SUBJECT_LINE = re.compile(rb"(?im)^subject:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*")


def prefix_subject(raw: bytes, prefix: str) -> bytes:
    """Return the message with ``prefix`` put before its Subject (e.g. "[TEST] " for test copies).

    Only the Subject header is re-encoded; the other bytes stay as they were built.
    """
    end = raw.find(b"\r\n\r\n")
    head = raw[: end + 2] if end >= 0 else raw
    match = _SUBJECT_LINE.search(head)
    if match is None:
        line = encode_unstructured("Subject", prefix.strip()).encode("ascii")
        return line + raw
    parsed = BytesParser(policy=email_policy.default).parsebytes(match.group(0), headersonly=True)
    subject = " ".join(str(parsed["Subject"] or "").split())
    line = encode_unstructured("Subject", f"{prefix}{subject}").encode("ascii")
    out = raw[: match.start()] + line + raw[match.end() :]
    # the body is untouched: a RelaxedBodyMessage stays one
    return type(raw)(out) if isinstance(raw, CRLFMessage) else out
