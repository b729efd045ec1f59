"""Classify mail read back from the team's mailbox: replies, auto-replies, calendar replies,
and the bounces, complaints and unsubscribe mails :mod:`commskit.send.bounces` acts on.

Pure: bytes in, a :class:`Classified` out. Whether a message is a *reply to us* needs the send
log, so this module gives the keys (In-Reply-To/References Message-IDs, a VERP token, the From
address and whether the subject says "Re:") and ``commskit.app.inbox`` looks them up.

The order matters: an unsubscribe mail (its token) first, then an iTIP calendar REPLY (a
structured answer), then the delivery reports and complaints of the bounce reader, then the
auto-replies (RFC 3834 headers or an "absence / out of office" subject), then everything else.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

from .bounces import BounceVerdict, classify_message, read_report, verp_token
from .unsubmail import read_unsubscribe_mail

#: a reply's subject: "Re:", "RE :", "Réf :", "AW:", "TR: Re:" …
_RE_SUBJECT = re.compile(r"^\s*(?:(?:tr|fwd?|fw)\s*:\s*)*(?:re|réf|ref|aw|sv|antw)\s*:", re.I)
_OWN_AUTO_SUBJECT = re.compile(
    r"absen(?:ce|t)|out of (?:the )?office|r[ée]ponse automatique|auto(?:matic)?[ -]?(?:reply|"
    r"response)|autoreply|vacation|away from|cong[ée]s?\b",
    re.I,
)
#: how many lines of a reply are kept (signature and quoted text stripped)
EXCERPT_LINES = 3
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class CalendarReply:
    """An iTIP REPLY (RFC 5546): which event (UID), who answered and what (PARTSTAT)."""

    uid: str
    attendee: str
    partstat: str  # accepted, declined, tentative (lower-case)


@dataclass(frozen=True)
class Classified:
    """What one message is and the keys that tie it to a message we sent.

    ``kind`` is unsubscribe, bounce, complaint, calendar_reply, auto_reply or message (a
    person's mail: a reply once matched to the send log, else other).
    """

    kind: str
    message_key: str
    received_at: str
    subject: str
    sender: str
    excerpt: str = ""
    detail: str = ""
    message_ids: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    re_subject: bool = False
    calendar: CalendarReply | None = None


def message_key(msg: Message, raw: bytes) -> str:
    """Return the key a message is recorded under: its Message-ID, else a digest of its bytes."""
    found = re.search(r"<[^<>\s]+>", str(msg.get("Message-ID", "")))
    return found.group(0) if found else "sha256:" + hashlib.sha256(raw).hexdigest()


def received_at(msg: Message, now: datetime) -> str:
    """Return the message's own Date in UTC (ISO 8601 seconds), else ``now``'s."""
    try:
        when = parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        when = now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def classify(raw: bytes, *, unsubscribe_addresses: Sequence[str] = (), now: datetime) -> Classified:
    """Classify one message (raises what the email package raises on a hostile message)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = _header(msg.get("Subject", ""))
    sender = parseaddr(_header(msg.get("From", "")))[1]
    base = Classified(
        "message", message_key(msg, raw), received_at(msg, now), subject[:300], sender
    )
    if read_unsubscribe_mail(raw, unsubscribe_addresses) is not None:
        return replace(base, kind="unsubscribe")
    calendar = calendar_reply(msg)
    token = verp_token(msg)
    keys = replace(base, message_ids=tuple(_reply_ids(msg)), tokens=(token,) if token else ())
    if calendar is not None:
        return replace(keys, kind="calendar_reply", detail=calendar.partstat, calendar=calendar)
    verdict = classify_message(msg)
    if verdict.recipients:
        return _report(raw, base, verdict)
    text = body_text(msg)
    if verdict.ignored == "auto-reply" or _OWN_AUTO_SUBJECT.search(subject):
        back = return_date(f"{subject}\n{text}", _message_date(base.received_at))
        return replace(keys, kind="auto_reply", detail=f"back {back.isoformat()}" if back else "")
    if verdict.ignored == "delivery notification":
        return replace(base, kind="other", detail="delivery notification")
    return replace(keys, excerpt=reply_excerpt(text), re_subject=bool(_RE_SUBJECT.match(subject)))


def _report(raw: bytes, base: Classified, verdict: BounceVerdict) -> Classified:
    """Classify a delivery report or complaint, with the keys the bounce reader found in it."""
    reading = read_report(raw)
    kinds = {r.kind for r in verdict.recipients}
    kind = "complaint" if "complaint" in kinds else "bounce"
    if kinds == {"unsubscribe"}:
        kind = "unsubscribe"
    status = next((r.status for r in verdict.recipients if r.status), "")
    return replace(
        base,
        kind=kind,
        detail=status or ", ".join(sorted(kinds)),
        message_ids=tuple(reading.message_ids),
        tokens=tuple(reading.tokens),
    )


def _message_date(iso: str) -> date:
    return datetime.fromisoformat(iso).date()


def _header(value: object) -> str:
    """Return a header as text, encoded-words decoded (a broken one is kept as written)."""
    from email.header import decode_header, make_header

    try:
        return " ".join(str(make_header(decode_header(str(value or "")))).split())
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return " ".join(str(value or "").split())


def _reply_ids(msg: Message) -> Iterator[str]:
    """Yield the Message-IDs a reply names (In-Reply-To first, then References, newest first)."""
    yield from re.findall(r"<[^<>\s]{1,500}>", str(msg.get("In-Reply-To", "")))
    yield from reversed(re.findall(r"<[^<>\s]{1,500}>", str(msg.get("References", "")))[-20:])


def own_parts(msg: Message) -> Iterator[Message]:
    """Yield the parts of the message itself, not those of a message it encloses (a DSN's
    original, a forwarded mail)."""
    yield msg
    payload = msg.get_payload()
    if msg.is_multipart() and isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message) and part.get_content_maintype() != "message":
                yield from own_parts(part)


def body_text(msg: Message) -> str:
    """Return the message's own text: its first text/plain part, else its HTML as text."""
    html_text = ""
    for part in own_parts(msg):
        ctype = part.get_content_type()
        if ctype not in {"text/plain", "text/html"} or part.get_filename():
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        try:
            text = raw.decode(part.get_content_charset() or "utf-8", "replace")
        except LookupError:  # an unknown charset name: latin-1 keeps every byte readable
            text = raw.decode("latin-1")
        if ctype == "text/plain":
            return text.replace("\r\n", "\n")
        html_text = html_text or _html_to_text(text)
    return html_text


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|head).*?</\1>", "", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|<blockquote", "\n\\g<0>", markup)
    markup = re.sub(r"(?is)<blockquote.*?</blockquote>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


# --- calendar replies ---------------------------------------------------------------------------


def calendar_reply(msg: Message) -> CalendarReply | None:
    """Return the iTIP REPLY a message carries (text/calendar, METHOD:REPLY), else None."""
    from icalendar import Calendar

    for part in own_parts(msg):
        if part.get_content_type() != "text/calendar":
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        try:
            cal = Calendar.from_ical(raw)
        except ValueError:
            continue
        if str(cal.get("METHOD", part.get_param("method") or "")).upper() != "REPLY":
            continue
        for event in cal.walk("VEVENT"):
            attendee = event.get("ATTENDEE")
            attendees = attendee if isinstance(attendee, list) else [attendee]
            for who in attendees:
                if who is None:
                    continue
                partstat = str(who.params.get("PARTSTAT", "")).lower()
                if partstat in {"accepted", "declined", "tentative"}:
                    address = re.sub(r"(?i)^mailto:", "", str(who)).strip()
                    return CalendarReply(str(event.get("UID", "")), address, partstat)
    return None


# --- reply excerpts -----------------------------------------------------------------------------

#: where the quoted message starts: "Le 2 déc. 2026 à 10:00, X a écrit :", "On … wrote:",
#: Outlook's "-----Original Message-----" / "De : … Envoyé : …" block, its underscore rule
_QUOTE_HEADER = re.compile(
    r"^\s*(?:le\s.{0,200}a\s+[ée]crit\s*:|on\s.{0,200}wrote\s*:"
    r"|-{2,}\s*(?:original message|message d'origine|message original)\s*-{2,}"
    r"|_{10,}|(?:de|from)\s*:\s.+\n\s*(?:envoy[ée]|sent|date|à|to)\s*:)",
    re.I | re.M,
)
_SIGNATURE = re.compile(
    r"^\s*(?:--\s*|cordialement[,.!]?|bien cordialement[,.!]?|(?:bien|très) à vous[,.!]?"
    r"|bonne (?:journée|soirée)[,.!]?|best(?: regards)?[,.!]?|regards[,.!]?|kind regards[,.!]?"
    r"|sincères salutations[,.!]?|salutations[,.!]?|merci(?: beaucoup)?[,.!]?"
    r"|envoy[ée] (?:de|depuis) (?:mon|ma) .*|sent from my .*|get outlook for .*"
    r"|obtenir outlook pour .*)\s*$",
    re.I,
)


#: a greeting on a line of its own says nothing the timeline needs
_GREETING = re.compile(
    r"^(?:bonjour|bonsoir|salut|hello|hi|dear|cher|chère|madame|monsieur)\b[^.!?:]{0,40}[,!]?$",
    re.I,
)


def reply_excerpt(text: str, *, lines: int = EXCERPT_LINES) -> str:
    """Return the first lines a person wrote: greeting, quoted text and signature stripped."""
    quote = _QUOTE_HEADER.search(text)
    if quote is not None:
        text = text[: quote.start()]
    kept: list[str] = []
    for line in text.splitlines():
        if _SIGNATURE.match(line):
            break
        stripped = line.strip()
        if not stripped or stripped.startswith(">") or (not kept and _GREETING.match(stripped)):
            continue
        kept.append(" ".join(stripped.split()))
        if len(kept) >= lines:
            break
    return "\n".join(kept)[:EXCERPT_CHARS]


# --- auto-replies' return dates -----------------------------------------------------------------

_MONTHS = {
    **{
        name: n
        for n, names in enumerate(
            (
                ("janvier", "january", "jan", "janv"),
                ("février", "fevrier", "february", "feb", "févr", "fevr"),
                ("mars", "march", "mar"),
                ("avril", "april", "apr", "avr"),
                ("mai", "may"),
                ("juin", "june", "jun"),
                ("juillet", "july", "jul", "juil"),
                ("août", "aout", "august", "aug"),
                ("septembre", "september", "sep", "sept"),
                ("octobre", "october", "oct"),
                ("novembre", "november", "nov"),
                ("décembre", "decembre", "december", "dec", "déc"),
            ),
            1,
        )
        for name in names
    }
}
_MONTH = "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True))
_CUE = (
    r"(?:jusqu['’]\s?(?:au|à)|retour(?:\s+au\s+bureau)?(?:\s+(?:le|à partir du|prévu le))?"
    r"|de retour(?:\s+le)?|à partir du|absente?\s+du\s+.{1,30}?\s+au|until|till|through"
    r"|back(?:\s+in the office)?(?:\s+on)?|return(?:ing)?(?:\s+on)?)"
)
_DAY_NAME = (
    r"(?:(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday)\.?,?\s+)?"
)
_DATE_FORMS = (
    re.compile(r"(?P<y>20\d\d)-(?P<m>\d\d)-(?P<d>\d\d)"),
    re.compile(
        rf"{_DAY_NAME}(?P<d>\d{{1,2}})(?:er|st|nd|rd|th)?\s+(?P<mn>{_MONTH})\.?(?:\s+(?P<y>20\d\d))?",
        re.I,
    ),
    re.compile(
        rf"{_DAY_NAME}(?P<mn>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>20\d\d))?",
        re.I,
    ),
    re.compile(r"(?P<d>\d{1,2})[/.](?P<m>\d{1,2})(?:[/.](?P<y>(?:20)?\d\d))?(?!\d)"),
)
_AFTER_CUE = re.compile(rf"{_CUE}\s*(?:le\s+|the\s+|on\s+)?", re.I)


def return_date(text: str, sent: date) -> date | None:
    """Return the date an auto-reply says its author is back, or None when it states none.

    A date after a cue ("jusqu'au 5 janvier", "de retour le 05/01/2027", "back on January 5",
    "until 2027-01-05"); numeric dates are day/month (French use). A date without a year is
    the next one on or after the message's.
    """
    for cue in _AFTER_CUE.finditer(text[:4000]):
        window = text[cue.end() : cue.end() + 60]
        for form in _DATE_FORMS:
            found = form.match(window)
            if found:
                value = _date_of(found, sent)
                if value is not None:
                    return value
    return None


def _date_of(found: re.Match[str], sent: date) -> date | None:
    parts = found.groupdict()
    month = int(parts["m"]) if parts.get("m") else _MONTHS.get((parts.get("mn") or "").lower(), 0)
    year_text = parts.get("y")
    year = (
        int(year_text) + (2000 if year_text and len(year_text) == 2 else 0)
        if year_text
        else sent.year
    )
    try:
        value = date(year, month, int(parts["d"]))
    except ValueError:
        return None
    if not year_text and value < sent:
        try:
            value = value.replace(year=year + 1)
        except ValueError:
            return None
    return value
