"""An event file (``events/NAME.toml``), read and checked with the file and field in errors.

Times are written in local time (``start = 2026-12-03T10:00:00``) and localised with the event's
``timezone`` (default ``[events] timezone``): the author never types a UTC offset, so a date after
the spring DST change gets +02:00 without anyone thinking of it. A local time that does not exist
(in the spring gap) or exists twice (in the autumn overlap) is refused rather than guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import read_toml
from ..errors import EventError

DEFAULT_TIMEZONE = "Europe/Paris"

#: the fields whose change makes calendars show the event again (SEQUENCE + 1, RFC 5546 §2.1.4)
SIGNIFICANT_FIELDS = ("start", "end", "location", "join_url")

#: key of an event file -> what it must be
FIELDS: dict[str, str] = {
    "title": "a string",
    "start": "a local date and time",
    "end": "a local date and time",
    "timezone": "a string",
    "location": "a string",
    "url": "a string",
    "join_url": "a string",
    "description": "a string",
    "organizer": "a string",
    "capacity": "a whole number",
    "registration_deadline": "a local date and time",
    "reminders": "a list of strings",
}
_REQUIRED = ("title", "start", "end")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


@dataclass(frozen=True)
class EventSpec:
    """An event as its file defines it; times are aware, in the event's time zone."""

    start: dt.datetime
    end: dt.datetime
    title: str = ""
    location: str = ""
    #: a public page about the event (may appear in invitations)
    url: str = ""
    description: str = ""
    #: "Name <address>" (or a bare address); empty: the sender's Reply-To/From is used
    organizer: str = ""
    name: str = ""
    timezone: str = ""
    #: the webinar room; never in an invitation, only for registrants
    join_url: str = ""
    capacity: int | None = None
    registration_deadline: dt.datetime | None = None
    reminders: tuple[dt.timedelta, ...] = ()
    #: the reminders as written ("P1D"), for display and storage
    reminder_texts: tuple[str, ...] = ()
    path: Path | None = None
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)

    def organizer_mailbox(self) -> tuple[str, str]:
        """Return the organizer's (name, address), ("", "") when the file gives none."""
        return split_mailbox(self.organizer) if self.organizer else ("", "")


@dataclass(frozen=True)
class CalendarIdentity:
    """What the store keeps for an event across edits: its UID and its SEQUENCE number."""

    uid: str
    sequence: int = 0


def significant_changes(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    """Return the fields of :data:`SIGNIFICANT_FIELDS` whose values differ between two versions.

    A non-empty result means calendars must be told (SEQUENCE + 1); a new title or description
    alone does not move the event in anyone's calendar.
    """
    return [name for name in SIGNIFICANT_FIELDS if old.get(name) != new.get(name)]


def _fail(
    path: Path, lines: Mapping[str, int], key: str | None, message: str, hint: str = ""
) -> EventError:
    return EventError(message, path=path, line=lines.get(key or ""), hint=hint or None)


def _key_lines(text: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r"\s*\"?([A-Za-z_]+)\"?\s*=", line)
        if match:
            found.setdefault(match.group(1), number)
    return found


def _check_types(data: Mapping[str, Any], path: Path, lines: Mapping[str, int]) -> None:
    for key, value in data.items():
        if key not in FIELDS:
            raise _fail(
                path, lines, key, f"unknown key {key!r}", f"Known keys: {', '.join(FIELDS)}"
            )
        kind = FIELDS[key]
        ok = {
            "a string": isinstance(value, str),
            "a whole number": isinstance(value, int) and not isinstance(value, bool),
            "a list of strings": isinstance(value, list) and all(isinstance(v, str) for v in value),
            "a local date and time": isinstance(value, dt.datetime | str),
        }[kind]
        if not ok:
            raise _fail(path, lines, key, f"{key} must be {kind}, not {type(value).__name__}")
    for key in _REQUIRED:
        if not data.get(key):
            raise _fail(
                path, lines, None, f"{key} is missing", "An event needs title, start and end"
            )


def zone(name: str, *, path: Path, lines: Mapping[str, int]) -> ZoneInfo:
    """Return the IANA time zone ``name`` (``Europe/Paris``) or raise EventError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _fail(
            path,
            lines,
            "timezone",
            f"timezone {name!r} is not a known time zone",
            'Use an IANA name such as "Europe/Paris" or "America/Cayenne"',
        ) from exc


def localise(
    value: Any, tz: ZoneInfo, *, key: str, path: Path, lines: Mapping[str, int]
) -> dt.datetime:
    """Return a local date and time of the file as an aware datetime in ``tz``.

    Refused: text that is no date and time, a written UTC offset (the time zone gives it), a
    time the clocks skip (spring) or show twice (autumn).
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise _fail(
                path,
                lines,
                key,
                f"{key} {value!r} is not a date and time",
                "Write it in local time, e.g. 2026-12-03T10:00:00",
            ) from exc
    assert isinstance(value, dt.datetime)
    if value.tzinfo is not None:
        raise _fail(
            path,
            lines,
            key,
            f"{key} has a UTC offset",
            f"Write the local time without offset (e.g. {value.replace(tzinfo=None).isoformat()});"
            " 'timezone' gives the offset, summer time included",
        )
    first, second = value.replace(tzinfo=tz), value.replace(tzinfo=tz, fold=1)
    if first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) != value:
        raise _fail(
            path,
            lines,
            key,
            f"{key} {value.isoformat()} does not exist in {tz.key} (clocks go forward)",
            "Pick a time outside the hour the clocks skip",
        )
    if first.utcoffset() != second.utcoffset():
        raise _fail(
            path,
            lines,
            key,
            f"{key} {value.isoformat()} happens twice in {tz.key} (clocks go back)",
            "Pick a time outside the hour the clocks go back",
        )
    return first


def parse_reminder(text: str, *, path: Path, lines: Mapping[str, int]) -> dt.timedelta:
    """Return an ISO 8601 duration ("P1D", "PT1H") as a positive timedelta, or raise."""
    from icalendar.prop import vDuration

    try:
        value = vDuration.from_ical(text)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError) as exc:
        raise _fail(
            path,
            lines,
            "reminders",
            f"reminder {text!r} is not an ISO 8601 duration",
            'Write e.g. "P1D" (a day before) or "PT1H" (an hour before)',
        ) from exc
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
        raise _fail(
            path,
            lines,
            "reminders",
            f"reminder {text!r} must be a positive duration before the start",
            'Write e.g. "P1D" or "PT1H", without a sign',
        )
    return value


_MAILBOX = re.compile(r"\s*(?P<name>[^<>]*?)\s*<(?P<address>[^<>]*)>\s*\Z")


def split_mailbox(text: str) -> tuple[str, str]:
    """Return (name, address) of "Name <address>" or a bare address; a comma in the name is
    kept (people write "Équipe, Paris <a@b>" without the quotes RFC 5322 wants)."""
    match = _MAILBOX.match(text)
    if match is None:
        return "", text.strip()
    return match.group("name").strip().strip('"').strip(), match.group("address").strip()


def _organizer(text: str, path: Path, lines: Mapping[str, int]) -> str:
    name, address = split_mailbox(text)
    if "@" not in address or any(c.isspace() for c in address):
        raise _fail(
            path,
            lines,
            "organizer",
            f"organizer {text!r} has no valid address",
            'Write it as "Équipe Covoiturage <contact@example.gouv.fr>"',
        )
    return f"{name} <{address}>" if name else address


def _check_links(data: Mapping[str, Any], path: Path, lines: Mapping[str, int]) -> None:
    """Refuse a ``url`` or ``join_url`` that is no web address: registrants would get a dead
    "link" in their confirmation (``visio.example.org`` without https:// is text in mail)."""
    for key in ("url", "join_url"):
        value = str(data.get(key) or "").strip()
        if value and not re.match(r"https?://[^\s/]+", value):
            raise _fail(
                path,
                lines,
                key,
                f"{key} {value!r} is not a web address",
                f'Write the full address, e.g. {key} = "https://visio.example.gouv.fr/salle"',
            )


def load_event(path: Path, *, default_timezone: str = DEFAULT_TIMEZONE) -> EventSpec:
    """Read and check an event file; raise EventError naming the file, the line and the field."""
    data, text = read_toml(path, error=EventError, what="the event file", docs="docs/events.md")
    lines = _key_lines(text)
    _check_types(data, path, lines)
    _check_links(data, path, lines)
    tz_name = str(data.get("timezone") or default_timezone)
    tz = zone(tz_name, path=path, lines=lines)
    start = localise(data["start"], tz, key="start", path=path, lines=lines)
    end = localise(data["end"], tz, key="end", path=path, lines=lines)
    if end <= start:
        raise _fail(path, lines, "end", "end is not after start", "Check the date and the hours")
    deadline = None
    if data.get("registration_deadline") is not None:
        deadline = localise(
            data["registration_deadline"], tz, key="registration_deadline", path=path, lines=lines
        )
        if deadline > start:
            raise _fail(
                path,
                lines,
                "registration_deadline",
                "registration_deadline is after start",
                "Registrations must close before the event begins",
            )
    capacity = data.get("capacity")
    if capacity is not None and capacity < 1:
        raise _fail(path, lines, "capacity", "capacity must be at least 1 (leave it out: no limit)")
    texts = tuple(data.get("reminders") or ())
    reminders = tuple(parse_reminder(t, path=path, lines=lines) for t in texts)
    return EventSpec(
        name=path.stem,
        path=path,
        title=data["title"].strip(),
        start=start,
        end=end,
        timezone=tz_name,
        location=str(data.get("location") or ""),
        url=str(data.get("url") or ""),
        join_url=str(data.get("join_url") or ""),
        description=str(data.get("description") or ""),
        organizer=_organizer(data["organizer"], path, lines) if data.get("organizer") else "",
        capacity=capacity,
        registration_deadline=deadline,
        reminders=reminders,
        reminder_texts=texts,
        lines=lines,
    )


def find_event(folder: Path, name: str) -> Path:
    """Return ``folder/NAME.toml`` or raise EventError listing the known events."""
    if not _NAME.match(name):
        raise EventError(
            f"event name {name!r} is not a file name",
            hint="Name the file events/NAME.toml and refer to it as NAME",
        )
    path = folder / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in list_events(folder)) or "none yet"
        raise EventError(
            f"event {name!r} not found ({path})",
            hint=f"Create {folder.name}/{name}.toml (known events: {known}); see docs/events.md",
        )
    return path


def list_events(folder: Path) -> list[Path]:
    """Return the event files of the events folder, sorted by name."""
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []
