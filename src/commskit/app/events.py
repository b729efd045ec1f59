"""Event use cases: keep the stored copy of an event file, record invitations, list and show
events, import a webinar tool's attendance export.

The stored copy gives an event what its file cannot: a UID that never changes (calendars match
every later message by it) and a SEQUENCE that grows when the time, place or join URL changes
(:func:`sync_event`). Compiling or previewing a campaign never moves the SEQUENCE
(:func:`stored_event`): only ``commskit events update`` does, and it mails the change to the
registrants in the same step, so no change reaches the store without being announced.
:func:`register` holds the rules of who may register (deadline, capacity, a cancelled event) for
every page that records a registration. Functions take the pieces they use (the events folder,
the repository, the secret), never the workspace.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CommskitError
from ..events.model import (
    CalendarIdentity,
    EventSpec,
    find_event,
    list_events,
    load_event,
    significant_changes,
)
from ..store.events import EventCounts, EventFields, EventRecord, Registration

if TYPE_CHECKING:
    from ..store import Store
    from ..store.events import EventRepo


def _utc(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds")


def fields_of(spec: EventSpec) -> EventFields:
    """Return what the store keeps of an event file."""
    return EventFields(
        name=spec.name,
        title=spec.title,
        start_at=_utc(spec.start),
        end_at=_utc(spec.end),
        timezone=spec.timezone,
        location=spec.location,
        join_url=spec.join_url,
        organizer=spec.organizer,
        capacity=spec.capacity,
        deadline_at=_utc(spec.registration_deadline),
        reminders=spec.reminder_texts,
    )


def _significant(fields: EventFields) -> dict[str, object]:
    return {
        "start": fields.start_at,
        "end": fields.end_at,
        "location": fields.location,
        "join_url": fields.join_url,
    }


def sync_event(repo: EventRepo, spec: EventSpec, *, domain: str) -> EventRecord:
    """Store an event file's current fields; return the record with its UID and SEQUENCE.

    A new event gets the UID ``NAME@domain`` and SEQUENCE 0 (the same UID if the database is
    ever rebuilt, so calendars still match it); a stored one keeps its UID, whatever the sender
    domain becomes, and gets SEQUENCE + 1 when its start, end, location or join URL changed
    (:func:`commskit.events.model.significant_changes`). Unchanged files write nothing.
    """
    fields = fields_of(spec)
    stored = repo.get(spec.name)
    if stored is None:
        return repo.create(fields, uid=f"{spec.name}@{domain}")
    if stored.fields == fields:
        return stored
    bump = bool(significant_changes(_significant(stored.fields), _significant(fields)))
    repo.update(stored.id, fields, bump=bump)
    found = repo.get(spec.name)
    assert found is not None
    return found


def stored_event(repo: EventRepo, spec: EventSpec, *, domain: str) -> EventRecord:
    """Return the stored copy of an event, storing it on first use; never change a stored one.

    What compiling an invitation uses: a preview or a render must not move the SEQUENCE (the
    registrants would never hear of the change). ``events update`` (:func:`sync_event`) stores
    changes and announces them.
    """
    stored = repo.get(spec.name)
    if stored is not None:
        return stored
    return repo.create(fields_of(spec), uid=f"{spec.name}@{domain}")


def pending_changes(record: EventRecord | None, spec: EventSpec) -> list[str]:
    """Return what the file changed since the stored copy (significant fields first).

    Empty: nothing to announce. ``events list`` and ``show`` print it, ``events update`` acts.
    """
    if record is None:
        return []
    fields = fields_of(spec)
    significant = significant_changes(_significant(record.fields), _significant(fields))
    others = [
        name
        for name in ("title", "timezone", "organizer", "capacity", "deadline_at", "reminders")
        if getattr(record.fields, name) != getattr(fields, name)
    ]
    return [*significant, *others]


def identity(record: EventRecord) -> CalendarIdentity:
    """Return the UID and SEQUENCE calendars see for a stored event."""
    return CalendarIdentity(record.uid, record.sequence)


def load(folder: Path, name: str, *, default_timezone: str) -> EventSpec:
    """Load ``folder/NAME.toml`` (EventError naming the file and field when it is wrong)."""
    return load_event(find_event(folder, name), default_timezone=default_timezone)


def record_invitations(repo: EventRepo, event_name: str, campaign_id: str) -> int:
    """Record everyone a campaign's send log shows as sent as invited to the event."""
    record = repo.get(event_name)
    if record is None:
        return 0
    return repo.record_invitations(record.id, campaign_id)


# --- list and show -----------------------------------------------------------------------------


_NO_COUNTS = EventCounts(0, 0, 0, 0, 0)


@dataclass(frozen=True)
class EventSummary:
    """One line of ``events list``."""

    name: str
    title: str = ""
    start: str = ""
    timezone: str = ""
    capacity: int | None = None
    counts: EventCounts = _NO_COUNTS
    upcoming: bool = True
    #: the one-line error of an event file that does not load
    error: str = ""
    #: what the file changed that registrants were not told yet (``events update`` does)
    changes: tuple[str, ...] = ()
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "start": self.start,
            "timezone": self.timezone,
            "upcoming": self.upcoming,
            "capacity": self.capacity,
            **self.counts._asdict(),
            "error": self.error,
            "unannounced_changes": list(self.changes),
            "cancelled": self.cancelled,
        }


def summaries(
    folder: Path, repo: EventRepo, *, default_timezone: str, now: dt.datetime | None = None
) -> list[EventSummary]:
    """Return every event file with its stored counts, upcoming first, then past.

    A file that does not load is listed with its error; the others are still shown.
    """
    if now is None:
        from ..clock import now as clock_now

        now = clock_now()
    found: list[EventSummary] = []
    for path in list_events(folder):
        try:
            spec = load_event(path, default_timezone=default_timezone)
        except CommskitError as exc:
            found.append(EventSummary(path.stem, error=str(exc)))
            continue  # one broken file: reported on its line, the others listed
        record = repo.get(spec.name)
        found.append(
            EventSummary(
                name=spec.name,
                title=spec.title,
                start=spec.start.isoformat(timespec="minutes"),
                timezone=spec.timezone,
                capacity=spec.capacity,
                counts=repo.counts(record.id) if record else _NO_COUNTS,
                upcoming=spec.end >= now,
                changes=tuple(_unannounced(record, spec)),
                cancelled=bool(record and record.cancelled_at),
            )
        )
    return sorted(found, key=lambda s: (not s.upcoming, s.start if s.upcoming else _neg(s.start)))


def _unannounced(record: EventRecord | None, spec: EventSpec) -> list[str]:
    """Return the changes registrants were not told of: the file's, and a stored one whose
    update mail did not finish (``SEQUENCE`` above the announced one)."""
    found = pending_changes(record, spec)
    if record is not None and record.unannounced and not record.cancelled_at:
        found = found or ["stored change"]
    return found


def _neg(text: str) -> str:
    # past events newest first: invert the characters' order for the sort key
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


@dataclass(frozen=True)
class EventDetails:
    """``events show``: the event file, its stored UID/SEQUENCE and everyone's status."""

    spec: EventSpec
    record: EventRecord | None
    registrations: list[Registration]

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": spec.name,
            "title": spec.title,
            "start": spec.start.isoformat(),
            "end": spec.end.isoformat(),
            "timezone": spec.timezone,
            "location": spec.location,
            "capacity": spec.capacity,
            "registration_deadline": (
                spec.registration_deadline.isoformat() if spec.registration_deadline else None
            ),
            "reminders": list(spec.reminder_texts),
            "uid": self.record.uid if self.record else None,
            "sequence": self.record.sequence if self.record else None,
            "cancelled_at": self.record.cancelled_at if self.record else "",
            "unannounced_changes": _unannounced(self.record, spec),
            "people": [r._asdict() for r in self.registrations],
        }


def details(folder: Path, repo: EventRepo, name: str, *, default_timezone: str) -> EventDetails:
    """Return an event and its people (nobody before its first invitation is sent)."""
    spec = load(folder, name, default_timezone=default_timezone)
    record = repo.get(spec.name)
    return EventDetails(spec, record, repo.registrations(record.id) if record else [])


# --- attendance --------------------------------------------------------------------------------


@dataclass
class AttendanceReport:
    """What ``events attendance`` did: counts, walk-ins and the rows it could not use."""

    event: str
    path: Path
    attended: int = 0
    no_show: int = 0
    walk_ins: list[str] = field(default_factory=list)
    #: addresses that are no contact: reported, not stored
    unknown: list[str] = field(default_factory=list)
    #: (row, text, reason) of rows skipped (no or bad address)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "file": str(self.path),
            "attended": self.attended,
            "no_show": self.no_show,
            "walk_ins": self.walk_ins,
            "unknown": self.unknown,
            "skipped": [{"row": r, "email": e, "reason": why} for r, e, why in self.skipped],
        }


def import_attendance(
    folder: Path,
    store: Store,
    secret: bytes,
    name: str,
    path: Path,
    *,
    default_timezone: str,
    domain: str,
    mapping: Mapping[str, str] | None = None,
) -> AttendanceReport:
    """Import a webinar tool's attendance export for an event.

    The address column is found as contact imports find it (:mod:`commskit.audience.importer`:
    CSV, .xlsx, .ods, JSON; "E-mail", "Courriel", "Adresse mail"…). Registrants in the file
    become ``attended``, the other registrants ``no-show``; contacts who were not registered are
    walk-ins (``attended``); addresses that are no contact are reported, not stored; a row
    without a valid address is reported and skipped. A file without an address column raises
    (nothing stored). Importing the same file again changes nothing. ``mapping`` names columns
    as ``contacts import --map`` does.
    """
    from ..audience.importer import ImportOptions, read_contact_file

    spec = load(folder, name, default_timezone=default_timezone)
    parsed = read_contact_file(path, secret, ImportOptions(mapping=mapping or {}))
    record = stored_event(store.events, spec, domain=domain)
    report = AttendanceReport(spec.name, path)
    report.skipped = [
        (s.row, s.email, s.reason)
        for s in parsed.skipped
        if not s.reason.startswith("duplicate of row")  # joined twice: one attendance
    ]
    registered = {r.contact_id: r for r in store.events.registrations(record.id) if r.registered_at}
    attended: list[int] = []
    for row in parsed.rows:
        contact = store.audience.get_by_hash(row.email_hash)
        if contact is None:
            report.unknown.append(row.email)
            continue
        attended.append(contact.id)
        if contact.id not in registered:
            report.walk_ins.append(contact.email)
    report.attended, report.no_show = store.events.set_attendance(
        record.id, attended, source=f"attendance:{path.name}"
    )
    return report


def event_folder(root: Path, folder: str) -> Path:
    """Return the workspace's events folder (``[events] folder``)."""
    path = Path(folder).expanduser()
    return path if path.is_absolute() else root / path


# --- registration ------------------------------------------------------------------------------


class RegisterResult(enum.Enum):
    """What :func:`register` did, for the page (or the caller) to say."""

    #: recorded now: a confirmation mail is owed
    REGISTERED = "registered"
    #: was registered already: nothing changed
    ALREADY = "already"
    #: the registration deadline (or the start) has passed
    CLOSED = "closed"
    #: every place is taken
    FULL = "full"
    #: the event was cancelled (``events cancel``)
    CANCELLED = "cancelled"


def register(
    repo: EventRepo,
    record: EventRecord,
    spec: EventSpec,
    contact_id: int,
    *,
    source: str,
    now: dt.datetime | None = None,
) -> RegisterResult:
    """Register a contact for an event if the rules allow it; idempotent.

    The rules, in this order: someone already registered stays so (ALREADY, whatever the
    deadline or capacity say now); a cancelled event takes nobody; registrations close at
    ``registration_deadline`` (else at the start); at ``capacity`` registrants the event is
    FULL. Anyone who is a contact may register (invited or not, cancelled before or not): the
    public sign-up creates the contact first. The count and the write are one transaction, so
    two people taking the last place at once cannot both get it.
    """
    from ..clock import now as clock_now

    moment = now or clock_now()
    with repo.store.transaction():
        status = repo.status(record.id, contact_id)
        if status in ("registered", "attended", "no-show"):
            return RegisterResult.ALREADY
        if record.cancelled_at:
            return RegisterResult.CANCELLED
        closes = spec.registration_deadline or spec.start
        if moment >= closes:
            return RegisterResult.CLOSED
        if spec.capacity is not None and repo.registered_count(record.id) >= spec.capacity:
            return RegisterResult.FULL
        repo.register(record.id, contact_id, source=source)
    return RegisterResult.REGISTERED


def cancel_registration(repo: EventRepo, record: EventRecord, contact_id: int) -> bool:
    """Cancel a registrant's place; True if it changed (a second call changes nothing)."""
    return repo.cancel_registration(record.id, contact_id)
