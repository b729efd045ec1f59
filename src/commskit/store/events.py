"""SQL for events: the stored copy of each event file, and registrations (migration 0016).

The repository speaks in plain records (:class:`EventFields`, :class:`EventRecord`,
:class:`Registration`, :class:`EventHistoryRow`); the events package turns files into fields and
decides when a change is significant (SEQUENCE + 1), this module only stores what it is told.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from .db import utcnow

if TYPE_CHECKING:
    from .db import Store

#: where a person stands for one event
STATUSES = ("invited", "registered", "cancelled", "attended", "no-show")
#: the statuses of someone who registered (and did not cancel) whatever happened next
REGISTERED = ("registered", "attended", "no-show")


class EventFields(NamedTuple):
    """What an event file says, as the store keeps it (times in UTC ISO 8601)."""

    name: str
    title: str
    start_at: str
    end_at: str
    timezone: str
    location: str
    join_url: str
    organizer: str
    capacity: int | None
    deadline_at: str
    reminders: tuple[str, ...]


class EventRecord(NamedTuple):
    """A stored event: its fields, its stable UID and its SEQUENCE."""

    id: int
    uid: str
    sequence: int
    fields: EventFields
    created_at: str
    updated_at: str
    #: the SEQUENCE registrants were last mailed; below ``sequence``: a change not announced
    announced_sequence: int = 0
    #: when ``events cancel`` ran ("" = not cancelled), and the note its mail carries
    cancelled_at: str = ""
    cancel_note: str = ""

    @property
    def name(self) -> str:
        return self.fields.name

    @property
    def unannounced(self) -> bool:
        """Whether a stored change has not been mailed to registrants yet."""
        return self.sequence > self.announced_sequence


class Registration(NamedTuple):
    """One person's row for an event, with the contact's address and name."""

    contact_id: int
    email: str
    first_name: str
    last_name: str
    organization: str
    status: str
    source: str
    invited_at: str
    registered_at: str
    cancelled_at: str
    attended_at: str


class EventHistoryRow(NamedTuple):
    """One event in a contact's history (``contacts show``)."""

    event: str
    title: str
    start_at: str
    status: str
    source: str
    invited_at: str
    registered_at: str
    cancelled_at: str
    attended_at: str


class EventCounts(NamedTuple):
    """How many people stand where for one event (``events list``)."""

    invited: int
    registered: int
    cancelled: int
    attended: int
    no_show: int


_FIELD_COLUMNS = (
    "name, title, start_at, end_at, timezone, location, join_url, organizer, capacity,"
    " deadline_at, reminders"
)
_EVENT_SELECT = (
    f"SELECT id, uid, sequence, {_FIELD_COLUMNS}, created_at, updated_at,"  # noqa: S608 - constants
    " announced_sequence, cancelled_at, cancel_note FROM events"
)
_REG_COLUMNS = (
    "r.contact_id, c.email, c.first_name, c.last_name, c.organization, r.status, r.source,"
    " r.invited_at, r.registered_at, r.cancelled_at, r.attended_at"
)


def _record(row: Sequence[object]) -> EventRecord:
    values = list(row)
    fields = values[3:14]
    fields[10] = tuple(json.loads(str(fields[10])))
    return EventRecord(
        int(str(values[0])),
        str(values[1]),
        int(str(values[2])),
        EventFields(*fields),  # type: ignore[arg-type]
        str(values[14]),
        str(values[15]),
        int(str(values[16])),
        str(values[17]),
        str(values[18]),
    )


class EventRepo:
    """Queries and writes for events and their registrations."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    # --- events ------------------------------------------------------------------------------

    def get(self, name: str) -> EventRecord | None:
        row = self.conn.execute(f"{_EVENT_SELECT} WHERE name = ?", (name,)).fetchone()
        return None if row is None else _record(row)

    def all(self) -> list[EventRecord]:
        """Return every stored event, soonest first."""
        rows = self.conn.execute(f"{_EVENT_SELECT} ORDER BY start_at, name").fetchall()
        return [_record(row) for row in rows]

    def create(self, fields: EventFields, *, uid: str) -> EventRecord:
        """Store a new event with its UID and SEQUENCE 0."""
        now = utcnow()
        values = (*fields[:10], json.dumps(list(fields.reminders)))
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO events (uid, sequence, {_FIELD_COLUMNS}, created_at, updated_at)"  # noqa: S608 - constants
                " VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (uid, *values, now, now),
            )
        found = self.get(fields.name)
        assert found is not None
        return found

    def update(self, event_id: int, fields: EventFields, *, bump: bool) -> None:
        """Replace an event's fields; ``bump`` adds 1 to its SEQUENCE (a significant change)."""
        values = (*fields[:10], json.dumps(list(fields.reminders)))
        self.conn.execute(
            "UPDATE events SET name = ?, title = ?, start_at = ?, end_at = ?, timezone = ?,"
            " location = ?, join_url = ?, organizer = ?, capacity = ?, deadline_at = ?,"
            " reminders = ?, sequence = sequence + ?, updated_at = ? WHERE id = ?",
            (*values, 1 if bump else 0, utcnow(), event_id),
        )

    def set_announced(self, event_id: int, sequence: int) -> None:
        """Record that registrants were mailed SEQUENCE ``sequence`` (never moves back)."""
        self.conn.execute(
            "UPDATE events SET announced_sequence = MAX(announced_sequence, ?) WHERE id = ?",
            (sequence, event_id),
        )

    def cancel(self, event_id: int, note: str) -> bool:
        """Mark an event cancelled (SEQUENCE + 1, RFC 5546 §3.2.5); True if it was not yet.

        A second call changes nothing but the note, so a re-run after a crash keeps the
        SEQUENCE the first cancellation mails carried.
        """
        now = utcnow()
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE events SET cancelled_at = ?, cancel_note = ?, sequence = sequence + 1,"
                " updated_at = ? WHERE id = ? AND cancelled_at = ''",
                (now, note, now, event_id),
            )
            if cur.rowcount == 0 and note:
                conn.execute("UPDATE events SET cancel_note = ? WHERE id = ?", (note, event_id))
        return cur.rowcount > 0

    # --- registrations -----------------------------------------------------------------------

    def status(self, event_id: int, contact_id: int) -> str:
        """Return where a contact stands for an event ("" when it has no row)."""
        row = self.conn.execute(
            "SELECT status FROM event_registrations WHERE event_id = ? AND contact_id = ?",
            (event_id, contact_id),
        ).fetchone()
        return "" if row is None else str(row[0])

    def registered_count(self, event_id: int) -> int:
        """Return how many people hold a place (registered, and not cancelled)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM event_registrations WHERE event_id = ?"
            " AND status IN ('registered', 'attended', 'no-show') AND registered_at != ''",
            (event_id,),
        ).fetchone()
        return int(row[0])

    def registered_ids(self, event_id: int) -> list[int]:
        """Return the contact ids of the people registered (not cancelled), in id order."""
        rows = self.conn.execute(
            "SELECT contact_id FROM event_registrations WHERE event_id = ?"
            " AND status IN ('registered', 'attended', 'no-show') AND registered_at != ''"
            " ORDER BY contact_id",
            (event_id,),
        ).fetchall()
        return [int(row[0]) for row in rows]

    def registered_without(self, event_id: int, campaign_prefix: str) -> list[int]:
        """Return the registrants no send of a campaign id starting ``campaign_prefix`` reached.

        The confirmation catch-up: whoever registered and has no ``sent`` row in any of the
        event's confirmation jobs (one per SEQUENCE) still needs one.
        """
        pattern = campaign_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.conn.execute(
            "SELECT r.contact_id FROM event_registrations r WHERE r.event_id = ?"
            " AND r.status = 'registered' AND r.registered_at != ''"
            " AND NOT EXISTS (SELECT 1 FROM send_log s WHERE s.contact_id = r.contact_id"
            "   AND s.status = 'sent' AND s.campaign_id LIKE ? ESCAPE '\\')"
            " ORDER BY r.contact_id",
            (event_id, pattern + "%"),
        ).fetchall()
        return [int(row[0]) for row in rows]

    def cancel_registration(self, event_id: int, contact_id: int) -> bool:
        """Mark a registrant cancelled; True if it changed (a second call changes nothing)."""
        now = utcnow()
        cur = self.conn.execute(
            "UPDATE event_registrations SET status = 'cancelled', cancelled_at = ?,"
            " updated_at = ? WHERE event_id = ? AND contact_id = ? AND status = 'registered'",
            (now, now, event_id, contact_id),
        )
        return cur.rowcount > 0

    def record_invitations(self, event_id: int, campaign_id: str) -> int:
        """Record as invited everyone the campaign's send log shows as sent; return how many
        rows changed. Idempotent: an invitation time already known is kept, a later status
        (registered, attended) is never moved back."""
        cur = self.conn.execute(
            "INSERT INTO event_registrations"
            " (event_id, contact_id, status, source, invited_at, updated_at)"
            " SELECT ?, s.contact_id, 'invited', ?, COALESCE(s.sent_at, ''), ? FROM send_log s"
            " WHERE s.campaign_id = ? AND s.status = 'sent' AND s.contact_id IS NOT NULL"
            " AND s.contact_id IN (SELECT id FROM contacts)"
            " ON CONFLICT (event_id, contact_id) DO UPDATE SET"
            " invited_at = excluded.invited_at, updated_at = excluded.updated_at"
            " WHERE event_registrations.invited_at = ''",
            (event_id, f"campaign:{campaign_id}", utcnow(), campaign_id),
        )
        return cur.rowcount

    def registrations(self, event_id: int) -> list[Registration]:
        """Return the event's people with their contact details, by contact id."""
        rows = self.conn.execute(
            f"SELECT {_REG_COLUMNS} FROM event_registrations r"  # noqa: S608 - constants
            " JOIN contacts c ON c.id = r.contact_id WHERE r.event_id = ? ORDER BY r.contact_id",
            (event_id,),
        ).fetchall()
        return [Registration(*row) for row in rows]

    def counts(self, event_id: int) -> EventCounts:
        """Return how many were invited, are registered (attended and no-show included),
        cancelled, attended and did not come."""
        row = self.conn.execute(
            "SELECT"
            " COALESCE(SUM(invited_at != ''), 0),"
            " COALESCE(SUM(status IN ('registered', 'attended', 'no-show')"
            "     AND registered_at != ''), 0),"
            " COALESCE(SUM(status = 'cancelled'), 0),"
            " COALESCE(SUM(status = 'attended'), 0),"
            " COALESCE(SUM(status = 'no-show'), 0)"
            " FROM event_registrations WHERE event_id = ?",
            (event_id,),
        ).fetchone()
        return EventCounts(*(int(v) for v in row))

    def register(self, event_id: int, contact_id: int, *, source: str) -> bool:
        """Mark a contact registered (from invited, cancelled or nothing); True if it changed."""
        now = utcnow()
        cur = self.conn.execute(
            "INSERT INTO event_registrations"
            " (event_id, contact_id, status, source, registered_at, updated_at)"
            " VALUES (?, ?, 'registered', ?, ?, ?)"
            " ON CONFLICT (event_id, contact_id) DO UPDATE SET status = 'registered',"
            " registered_at = excluded.registered_at, cancelled_at = '',"
            " updated_at = excluded.updated_at"
            " WHERE event_registrations.status IN ('invited', 'cancelled')",
            (event_id, contact_id, source, now, now),
        )
        return cur.rowcount > 0

    def set_attendance(
        self, event_id: int, attended: Iterable[int], *, source: str
    ) -> tuple[int, int]:
        """Record who attended (walk-ins included) and mark the other registrants no-show.

        Returns (attended, no-show) counts. Idempotent: importing the same file again writes the
        same statuses and keeps the first attendance time. One transaction.
        """
        now = utcnow()
        ids = sorted(set(attended))
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO event_registrations"
                " (event_id, contact_id, status, source, attended_at, updated_at)"
                " VALUES (?, ?, 'attended', ?, ?, ?)"
                " ON CONFLICT (event_id, contact_id) DO UPDATE SET status = 'attended',"
                " attended_at = CASE WHEN event_registrations.attended_at = ''"
                "   THEN excluded.attended_at ELSE event_registrations.attended_at END,"
                " updated_at = excluded.updated_at",
                [(event_id, contact_id, source, now, now) for contact_id in ids],
            )
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS _attended (id INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM _attended")
            conn.executemany("INSERT INTO _attended (id) VALUES (?)", [(i,) for i in ids])
            conn.execute(
                "UPDATE event_registrations SET status = 'no-show', attended_at = '',"
                " updated_at = ? WHERE event_id = ? AND status IN ('registered', 'attended')"
                " AND registered_at != '' AND contact_id NOT IN (SELECT id FROM _attended)",
                (now, event_id),
            )
            conn.execute("DELETE FROM _attended")
            counts = self.counts(event_id)
        return counts.attended, counts.no_show

    def history(self, contact_id: int) -> list[EventHistoryRow]:
        """Return the events of one contact (invited, registered, attended…), by start time."""
        rows = self.conn.execute(
            "SELECT e.name, e.title, e.start_at, r.status, r.source, r.invited_at,"
            " r.registered_at, r.cancelled_at, r.attended_at"
            " FROM event_registrations r JOIN events e ON e.id = r.event_id"
            " WHERE r.contact_id = ? ORDER BY e.start_at, e.name",
            (contact_id,),
        ).fetchall()
        return [EventHistoryRow(*row) for row in rows]
