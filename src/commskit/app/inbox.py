"""The inbox use case: read the team's mailbox back into the partners' history.

One reader for one mailbox: each message is classified (:mod:`commskit.send.inbox`); bounces,
complaints and unsubscribe mails go through the bounce code path (:func:`commskit.send.bounces.
process_item`: suppressions, bounce counts), replies and auto-replies are matched to the message
we sent (In-Reply-To/References against the send log's Message-IDs, else the VERP token it was
delivered to, else its From address and a "Re:" subject within :data:`REPLY_WINDOW` of a send to
that contact), calendar replies change the registration of the event whose UID they carry.
Every message is recorded once in ``inbox_messages`` under its Message-ID (a second run records
nothing new); mail is never deleted, and flagged ``\\Seen`` only with ``mark_seen``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..clock import now as clock_now
from ..periods import parse_since
from ..send.bounces import BounceReport, MailboxMessage, process_item, start_report
from ..send.inbox import Classified, classify
from ..store.inbox import InboxRow

if TYPE_CHECKING:
    from ..audience import ContactBook
    from ..progress import Progress
    from ..send.mailboxes import MailSource
    from ..store import Store
    from ..store.inbox import TimelineRow
    from ..store.sends import SentRow

#: a reply matched by its From address and "Re:" subject only counts within this of a send
REPLY_WINDOW = timedelta(days=30)
#: what a calendar reply's PARTSTAT does to the registration
_PARTSTAT_STATUS = {"accepted": "registered", "declined": "cancelled"}


@dataclass(frozen=True)
class InboxLine:
    """One message read: its class and what it matched (``--dry-run``/``--json`` list these)."""

    message: str  # the Maildir file name, "message N" of an mbox, "uid N" on IMAP
    kind: str
    contact: str  # the matched contact's address, "" when none
    campaign: str
    detail: str
    subject: str
    new: bool  # False: already read by an earlier run, nothing recorded


@dataclass
class InboxReport:
    """What ``commskit inbox`` read, by class, and the bounce reader's report of its part."""

    mailbox: str
    dry_run: bool
    messages: int = 0
    already_read: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    registrations: int = 0  # registrations a calendar reply changed
    read: list[InboxLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bounces: BounceReport = field(default_factory=BounceReport)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = {k: v for k, v in self.__dict__.items() if k not in {"read", "bounces"}}
        out["read"] = [asdict(line) for line in self.read]
        out["bounces"] = self.bounces.to_dict()
        return out


@dataclass(frozen=True)
class _Match:
    contact_id: int | None
    email: str
    campaign: str | None


_NO_MATCH = _Match(None, "", None)


class _Reader:
    """One run over one mailbox."""

    def __init__(
        self,
        store: Store,
        contacts: ContactBook,
        report: InboxReport,
        *,
        unsubscribe_addresses: tuple[str, ...],
        now: datetime,
    ) -> None:
        self.store = store
        self.contacts = contacts
        self.report = report
        self.unsubscribe_addresses = unsubscribe_addresses
        self.now = now

    def read(self, item: MailboxMessage) -> bool:
        """Read one message; return True when it is recorded (now or by an earlier run): it may
        be marked seen."""
        report = self.report
        report.messages += 1
        if item.raw is None:
            report.problems.append(f"{item.label}: cannot be read ({item.error}): skipped")
            return False
        try:
            found = classify(
                item.raw, unsubscribe_addresses=self.unsubscribe_addresses, now=self.now
            )
        except Exception as exc:  # a message is anyone's data: it must never stop the others
            report.problems.append(f"{item.label}: cannot be read ({type(exc).__name__}): skipped")
            return False
        if self.store.inbox.recorded(found.message_key):
            report.already_read += 1
            report.read.append(
                InboxLine(item.label, found.kind, "", "", "already read", found.subject, False)
            )
            return not report.dry_run
        kind, match, detail = self._act(item, found)
        report.counts[kind] = report.counts.get(kind, 0) + 1
        report.read.append(
            InboxLine(
                item.label, kind, match.email, match.campaign or "", detail, found.subject, True
            )
        )
        if report.dry_run:
            return False
        row = InboxRow(
            found.message_key,
            kind,
            match.contact_id,
            match.campaign,
            found.received_at,
            found.subject,
            found.excerpt if kind == "reply" else "",
            detail,
            report.mailbox,
        )
        with self.store.transaction():
            self.store.inbox.record(row)
        return True

    def _act(self, item: MailboxMessage, found: Classified) -> tuple[str, _Match, str]:
        """Return the message's final class, what it matched and its detail (acting on it)."""
        if found.kind in {"bounce", "complaint", "unsubscribe"}:
            return found.kind, self._bounce(item, found), found.detail
        if found.kind == "calendar_reply":
            return self._calendar(found)
        if found.kind == "auto_reply":
            return "auto_reply", self._reply_match(found, need_re=False), found.detail
        if found.kind == "message":
            match = self._reply_match(found, need_re=True)
            if match.campaign is not None:
                return "reply", match, found.excerpt.split("\n", 1)[0]
            return "other", self._sender(found.sender), ""
        return found.kind, self._sender(found.sender), found.detail

    def _bounce(self, item: MailboxMessage, found: Classified) -> _Match:
        """Hand a bounce, complaint or unsubscribe mail to the bounce code path."""
        sub = self.report.bounces
        before = len(sub.read)
        process_item(
            self.store,
            self.contacts,
            sub,
            item,
            dry_run=self.report.dry_run,
            unsubscribe_addresses=self.unsubscribe_addresses,
        )
        rows = self.store.sends.sent_rows(tokens=found.tokens, message_ids=found.message_ids)
        if rows:
            return self._from_row(rows[0])
        named = next((line.recipient for line in sub.read[before:] if line.recipient), "")
        return self._sender(named) if named else _NO_MATCH

    def _calendar(self, found: Classified) -> tuple[str, _Match, str]:
        """Apply an iTIP REPLY to the registration of the event with its UID."""
        reply = found.calendar
        assert reply is not None  # classify() gives one with every calendar_reply
        match = self._sender(reply.attendee or found.sender)
        if match.contact_id is None:
            match = self._sender(found.sender)
        sent = self._reply_match(found, need_re=False)
        match = _Match(match.contact_id, match.email, sent.campaign)
        event = self.store.inbox.event_by_uid(reply.uid) if reply.uid else None
        if event is None:
            return "calendar_reply", match, f"{reply.partstat} (no event with this UID)"
        event_id, name = event
        detail = f"{reply.partstat} {name}"
        status = _PARTSTAT_STATUS.get(reply.partstat)
        if match.contact_id is None or status is None or self.report.dry_run:
            return "calendar_reply", match, detail
        with self.store.transaction():
            if status == "registered":
                changed = self.store.events.register(event_id, match.contact_id, source="calendar")
            else:
                changed = self.store.inbox.cancel_registration(
                    event_id, match.contact_id, source="calendar"
                )
        self.report.registrations += int(changed)
        return "calendar_reply", match, f"{detail} → {status}" if changed else detail

    def _reply_match(self, found: Classified, *, need_re: bool) -> _Match:
        """Match a person's mail to a send: its Message-IDs, its VERP token, else its From
        address with a reply's subject within :data:`REPLY_WINDOW` of a send to that contact."""
        sends = self.store.sends
        for key in ("message_ids", "tokens"):
            values = getattr(found, key)
            if values:
                rows = sends.sent_rows(**{key: values})
                if rows:
                    return self._from_row(rows[0])
        sender = self._sender(found.sender)
        if sender.contact_id is None or (need_re and not found.re_subject):
            return sender
        until = datetime.fromisoformat(found.received_at)
        row = self.store.inbox.last_sent_to(
            sender.contact_id,
            (until - REPLY_WINDOW).isoformat(timespec="seconds"),
            until.isoformat(timespec="seconds"),
        )
        return _Match(sender.contact_id, sender.email, row.campaign_id) if row else sender

    def _from_row(self, row: SentRow) -> _Match:
        return _Match(row.contact_id, row.email or "", row.campaign_id)

    def _sender(self, address: str) -> _Match:
        if not address:
            return _NO_MATCH
        contact = self.contacts.get(address)
        return _Match(contact.id, contact.email, None) if contact else _NO_MATCH


def read_inbox(
    store: Store,
    contacts: ContactBook,
    source: MailSource,
    *,
    dry_run: bool = False,
    mark_seen: bool = False,
    unsubscribe_address: str = "",
    progress: Progress | None = None,
    now: datetime | None = None,
) -> InboxReport:
    """Read every message of ``source`` once into the store (see the module's docstring).

    ``progress`` is told of each message; ``now`` dates messages that carry no Date.
    """
    report = InboxReport(source.label, dry_run)
    report.bounces = start_report(store, contacts, dry_run=dry_run)
    addresses = (unsubscribe_address,) if unsubscribe_address else ()
    reader = _Reader(
        store, contacts, report, unsubscribe_addresses=addresses, now=now or clock_now()
    )
    if progress is not None:
        progress(0, None, f"Reading {source.label}")
    try:
        for item in source.messages():
            if reader.read(item) and mark_seen:
                source.mark_seen(item)
            if progress is not None:
                progress(1)
    finally:
        source.close()
    return report


def timeline(store: Store, *, since: str = "30d", now: datetime | None = None) -> list[TimelineRow]:
    """Return everyone's timeline since ``since`` (7d, 2026-11-01, all…), oldest first."""
    start = parse_since(since, now or clock_now())
    return store.inbox.timeline(since=start.isoformat(timespec="seconds"))
