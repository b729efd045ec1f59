"""Calendar objects (RFC 5545) for an event, with the iTIP methods of RFC 5546.

Written with the ``icalendar`` library: it escapes and folds content lines, writes ``TZID``
parameters and builds the ``VTIMEZONE`` of the event's zone from zoneinfo, which we would
otherwise hand-write (and get wrong around DST changes).

What Gmail and Outlook rely on to update an invitation in place rather than add a second one: the
same ``UID`` for every message about the event, a ``SEQUENCE`` that grows on each change, a
``METHOD`` equal to the MIME part's ``method=`` parameter, ``ORGANIZER`` (with ``CN``) and, in a
personal copy, the recipient as ``ATTENDEE`` (``PARTSTAT=NEEDS-ACTION``, ``RSVP=TRUE``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .model import CalendarIdentity, EventSpec

if TYPE_CHECKING:
    from icalendar import Timezone

PRODID = "-//commskit//commskit//FR"
REQUEST = "REQUEST"
CANCEL = "CANCEL"
#: stands for the generation time in a calendar built once and stamped per message
_STAMP_PLACEHOLDER = b"DTSTAMP:19700101T000000Z\r\n"
_STAMP_ZERO = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Attendee:
    """The recipient of a personal copy."""

    email: str
    name: str = ""


def _vtimezone(event: EventSpec) -> Timezone:
    from icalendar import Timezone

    tz = event.start.tzinfo
    assert isinstance(tz, dt.tzinfo)
    # the zone's transitions around the event only: a 70-year RDATE list helps no client
    first = dt.date(event.start.year, 1, 1)
    last = dt.date(event.end.year + 1, 1, 1)
    vtimezone = Timezone.from_tzinfo(tz, event.timezone, first_date=first, last_date=last)
    for observance in vtimezone.subcomponents:
        _onset_in_offset_from(observance, tz)
    return vtimezone


def _onset_in_offset_from(observance: Any, tz: dt.tzinfo) -> None:
    """Write an observance's DTSTART as the wall time before the change (RFC 5545 §3.6.5).

    icalendar writes the spring onset in the new offset (03:00 for Paris, where the clocks go
    from 02:00 to 03:00); read with TZOFFSETFROM that puts the change an hour late, and a client
    that trusts the VTIMEZONE shows 03:00-04:00 that Sunday an hour off.
    """
    onset = observance.decoded("dtstart")
    before = observance.decoded("tzoffsetfrom")
    after = observance.decoded("tzoffsetto")
    if before == after:
        return
    for offset in (before, after):
        instant = (onset - offset).replace(tzinfo=dt.UTC)
        moment = instant.astimezone(tz)
        earlier = (instant - dt.timedelta(seconds=1)).astimezone(tz)
        if moment.utcoffset() == after and earlier.utcoffset() == before:
            del observance["dtstart"]
            observance.add("dtstart", (instant + before).replace(tzinfo=None))
            return


def _organizer(event: EventSpec, fallback: tuple[str, str]) -> object | None:
    from icalendar import vCalAddress

    name, address = event.organizer_mailbox() if event.organizer else fallback
    if not address:
        return None
    organizer = vCalAddress(f"mailto:{address}")
    if name:
        organizer.params["CN"] = name
    return organizer


def _attendee_line(attendee: Attendee) -> bytes:
    """Return the folded ``ATTENDEE`` content line of one recipient (CRLF-terminated).

    One icalendar content line (parameter quoting, folding) rather than a component around it:
    this runs once per message, and a component's serialisation folds three lines.
    """
    from icalendar import vCalAddress
    from icalendar.parser import Contentline

    address = vCalAddress(f"mailto:{attendee.email}")
    if attendee.name:
        address.params["CN"] = attendee.name
    address.params["CUTYPE"] = "INDIVIDUAL"
    address.params["ROLE"] = "REQ-PARTICIPANT"
    address.params["PARTSTAT"] = "NEEDS-ACTION"
    address.params["RSVP"] = "TRUE"
    line = Contentline.from_parts("ATTENDEE", address.params, address, sorted=True)
    text: bytes = line.to_ical()
    return text + b"\r\n"


class CalendarTemplate:
    """An event's calendar object built once; :meth:`personal` stamps and addresses one copy.

    Building with icalendar costs milliseconds (the VTIMEZONE), too much per recipient of a
    large send: the template is built once with a placeholder DTSTAMP and no ATTENDEE, and each
    copy gets its DTSTAMP (the generation time) and its ATTENDEE line spliced in.
    """

    def __init__(
        self,
        event: EventSpec,
        identity: CalendarIdentity,
        *,
        method: str = REQUEST,
        organizer: tuple[str, str] = ("", ""),
        summary: str = "",
    ) -> None:
        from icalendar import Calendar, Event

        self.method = method
        self.identity = identity
        calendar = Calendar()
        calendar.add("prodid", PRODID)
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", method)
        vevent = Event()
        vevent.add("uid", identity.uid)
        vevent.add("dtstamp", _STAMP_ZERO)
        vevent.add("sequence", identity.sequence)
        vevent.add("dtstart", event.start)
        vevent.add("dtend", event.end)
        vevent.add("summary", event.title or summary)
        if event.description or event.url:
            vevent.add("description", f"{event.description}\n{event.url}".strip())
        if event.url:
            vevent.add("url", event.url)
        if event.location:
            vevent.add("location", event.location)
        found = _organizer(event, organizer)
        if found is not None:
            vevent.add("organizer", found)
        if method == CANCEL:
            vevent.add("status", "CANCELLED")
        else:
            vevent.add("status", "CONFIRMED")
        calendar.add_component(_vtimezone(event))
        calendar.add_component(vevent)
        data: bytes = calendar.to_ical()
        assert _STAMP_PLACEHOLDER in data
        self.template = data
        head, _, tail = data.rpartition(b"END:VEVENT\r\n")
        self._head, self._tail = head, b"END:VEVENT\r\n" + tail

    def personal(self, attendee: Attendee | None, stamp: dt.datetime) -> bytes:
        """Return the calendar for one recipient, DTSTAMP = ``stamp`` (when it is generated)."""
        when = stamp.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ").encode()
        line = _attendee_line(attendee) if attendee is not None else b""
        body = self._head.replace(_STAMP_PLACEHOLDER, b"DTSTAMP:" + when + b"\r\n", 1)
        return body + line + self._tail


def build_calendar(
    event: EventSpec,
    identity: CalendarIdentity,
    *,
    method: str = REQUEST,
    attendee: Attendee | None = None,
    organizer: tuple[str, str] = ("", ""),
    stamp: dt.datetime | None = None,
) -> bytes:
    """Return one calendar object: REQUEST (invitation, confirmation) or CANCEL (cancellation).

    ``organizer`` is the (name, address) used when the event file names none; ``stamp`` the
    DTSTAMP (default now).
    """
    template = CalendarTemplate(event, identity, method=method, organizer=organizer)
    return template.personal(attendee, stamp or dt.datetime.now(dt.UTC))
