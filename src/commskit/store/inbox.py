"""SQL for what partners did that is not a send: mail read back, field changes, the timeline.

``inbox_messages`` holds one row per message ``commskit inbox`` read (its ``message_key`` makes a
second reading record nothing), ``contact_changes`` the stage and tag changes imports saw
(migration 0019). :meth:`InboxRepo.timeline` puts them in time order with the sends, the event
registrations, the bounces and the suppressions, one indexed query per source.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from .db import utcnow
from .sends import SentRow

if TYPE_CHECKING:
    from .db import Store


class InboxRow(NamedTuple):
    """One message read back from a mailbox, as :meth:`InboxRepo.record` stores it."""

    message_key: str
    kind: str
    contact_id: int | None
    campaign_id: str | None
    received_at: str
    subject: str
    excerpt: str
    detail: str
    mailbox: str


class FieldChange(NamedTuple):
    """A contact's field (``stage``, ``tags``) changing value, as an import saw it."""

    contact_id: int
    field: str
    old_value: str
    new_value: str
    changed_at: str
    source: str


class TimelineRow(NamedTuple):
    """One line of a partner's timeline (``_asdict()`` gives the public dict).

    ``kind`` is sent, reply, auto_reply, calendar_reply, other, invited, registered,
    cancelled, attended, hard/soft bounce, complaint, unsubscribed, suppressed, stage or tags;
    ``summary`` the line's text (a reply's first line, an event's name, "old → new").
    """

    at: str
    contact_id: int | None
    email: str | None
    kind: str
    campaign: str | None
    summary: str


#: each source of the timeline: (SELECT of at, contact_id, kind, campaign, summary; the
#: contact id column; the time column) — filtered on one of the last two
_SOURCES: tuple[tuple[str, str, str], ...] = (
    (
        "SELECT sent_at, contact_id, 'sent', campaign_id, '' FROM send_log"
        " WHERE status = 'sent' AND sent_at IS NOT NULL",
        "contact_id",
        "sent_at",
    ),
    # the mail read back; its bounces, complaints and unsubscribes come from the bounce and
    # suppression tables below, which every reader (bounces, inbox, the web app) fills
    (
        "SELECT received_at, contact_id, kind, campaign_id,"
        " CASE WHEN excerpt != '' THEN substr(excerpt, 1, instr(excerpt || char(10), char(10)) - 1)"
        " WHEN detail != '' THEN detail ELSE subject END"
        " FROM inbox_messages WHERE kind IN ('reply', 'auto_reply', 'calendar_reply', 'other')"
        " AND contact_id IS NOT NULL",
        "contact_id",
        "received_at",
    ),
    *(
        (
            f"SELECT r.{column}_at, r.contact_id, '{column}', NULL, e.name"  # noqa: S608 - constants
            " FROM event_registrations r JOIN events e ON e.id = r.event_id"
            f" WHERE r.{column}_at != ''",
            "r.contact_id",
            f"r.{column}_at",
        )
        for column in ("invited", "registered", "cancelled", "attended")
    ),
    (
        "SELECT b.received_at, c.id, CASE b.kind WHEN 'complaint' THEN 'complaint'"
        " ELSE b.kind || ' bounce' END, b.campaign_id, COALESCE(b.status, '')"
        " FROM bounce_events b JOIN contacts c ON c.email_hash = b.email_hash"
        " WHERE b.matched = 1",
        "c.id",
        "b.received_at",
    ),
    (
        "SELECT s.created_at, c.id, CASE s.reason WHEN 'unsubscribed' THEN 'unsubscribed'"
        " ELSE 'suppressed' END, NULL,"
        " CASE WHEN s.list_name = '' THEN '(all lists)' ELSE s.list_name END"
        " || CASE WHEN s.reason = 'unsubscribed' THEN '' ELSE ': ' || s.reason END"
        " FROM suppressions s JOIN contacts c ON c.email_hash = s.email_hash WHERE 1",
        "c.id",
        "s.created_at",
    ),
    (
        "SELECT changed_at, contact_id, field, NULL, old_value || ' → ' || new_value"
        " FROM contact_changes WHERE 1",
        "contact_id",
        "changed_at",
    ),
)


class InboxRepo:
    """Queries and writes for the mail read back and the partner timeline."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- mail read back ----------------------------------------------------------------------

    def recorded(self, message_key: str) -> bool:
        """Return whether a message (its Message-ID, else a digest) was already read."""
        row = self.store.conn.execute(
            "SELECT 1 FROM inbox_messages WHERE message_key = ?", (message_key,)
        ).fetchone()
        return row is not None

    def record(self, row: InboxRow) -> bool:
        """Store one message read; False if it was already there (nothing is counted twice)."""
        cur = self.store.conn.execute(
            "INSERT INTO inbox_messages (message_key, kind, contact_id, campaign_id, received_at,"
            " subject, excerpt, detail, mailbox, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (message_key) DO NOTHING",
            (*row, utcnow()),
        )
        return cur.rowcount > 0

    def last_sent_to(self, contact_id: int, since: str, until: str) -> SentRow | None:
        """Return the latest message handed to a transport for this contact between two
        instants (ISO 8601 UTC), or None."""
        row = self.store.conn.execute(
            "SELECT campaign_id, contact_id, email, token, message_id FROM send_log"
            " WHERE contact_id = ? AND sent_at >= ? AND sent_at <= ? AND status = 'sent'"
            " ORDER BY sent_at DESC LIMIT 1",
            (contact_id, since, until),
        ).fetchone()
        return SentRow(*row) if row else None

    def messages(self, contact_id: int) -> list[InboxRow]:
        """Return the messages read back for one contact, oldest first."""
        cur = self.store.conn.execute(
            f"SELECT {', '.join(InboxRow._fields)} FROM inbox_messages"  # noqa: S608 - constants
            " WHERE contact_id = ? ORDER BY received_at, id",
            (contact_id,),
        )
        return [InboxRow(*row) for row in cur]

    # --- calendar replies --------------------------------------------------------------------

    def event_by_uid(self, uid: str) -> tuple[int, str] | None:
        """Return the (id, name) of the stored event with this iCalendar UID, or None."""
        row = self.store.conn.execute(
            "SELECT id, name FROM events WHERE uid = ?", (uid,)
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def cancel_registration(self, event_id: int, contact_id: int, *, source: str) -> bool:
        """Mark a contact's registration cancelled (they declined); True if it changed.

        An attendance already recorded is kept: a late "declined" does not undo it.
        """
        now = utcnow()
        cur = self.store.conn.execute(
            "INSERT INTO event_registrations"
            " (event_id, contact_id, status, source, cancelled_at, updated_at)"
            " VALUES (?, ?, 'cancelled', ?, ?, ?)"
            " ON CONFLICT (event_id, contact_id) DO UPDATE SET status = 'cancelled',"
            " cancelled_at = excluded.cancelled_at, updated_at = excluded.updated_at"
            " WHERE event_registrations.status IN ('invited', 'registered')",
            (event_id, contact_id, source, now, now),
        )
        return cur.rowcount > 0

    # --- field changes -----------------------------------------------------------------------

    def record_changes(self, changes: Iterable[FieldChange]) -> None:
        """Store field changes (inside the caller's transaction), one executemany."""
        self.store.conn.executemany(
            "INSERT INTO contact_changes (contact_id, field, old_value, new_value, changed_at,"
            " source) VALUES (?, ?, ?, ?, ?, ?)",
            changes,
        )

    # --- the timeline ------------------------------------------------------------------------

    def timeline(
        self, *, contact_id: int | None = None, since: str | None = None, limit: int = 10_000
    ) -> list[TimelineRow]:
        """Return one contact's timeline, or everyone's since an instant, oldest first."""
        selects: list[str] = []
        args: list[object] = []
        for select, contact_column, time_column in _SOURCES:
            where: list[str] = []
            if contact_id is not None:
                where.append(f"{contact_column} = ?")
                args.append(contact_id)
            if since is not None:
                where.append(f"{time_column} >= ?")
                args.append(since)
            selects.append(select + "".join(f" AND {w}" for w in where))
        sql = (
            "SELECT t.at, t.contact_id, c.email, t.kind, t.campaign, t.summary FROM ("  # noqa: S608
            + " UNION ALL ".join(_aliased(selects))
            + ") t LEFT JOIN contacts c ON c.id = t.contact_id"
            " ORDER BY t.at, t.contact_id, t.kind LIMIT ?"
        )
        args.append(limit)
        return [TimelineRow(*row) for row in self.store.conn.execute(sql, args)]


def _aliased(selects: Sequence[str]) -> list[str]:
    """Name the first SELECT's columns so the union's columns have names."""
    first = selects[0].replace(
        "SELECT sent_at, contact_id, 'sent', campaign_id, ''",
        "SELECT sent_at AS at, contact_id AS contact_id, 'sent' AS kind,"
        " campaign_id AS campaign, '' AS summary",
        1,
    )
    return [first, *selects[1:]]
