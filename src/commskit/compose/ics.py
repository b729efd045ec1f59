"""Build the iCalendar (RFC 5545) invitation attached to announcement campaigns."""

from __future__ import annotations

import datetime as dt

from ..policy import FALLBACK_DOMAIN
from .campaign import Campaign, Event


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character (RFC 5545 §3.1)."""
    out: list[str] = []
    current = ""
    size = 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def build_ics(campaign: Campaign, event: Event, *, domain: str, organizer: str = "") -> bytes:
    """Return a one-event VCALENDAR; stable bytes for the same campaign (its fingerprint).

    ``domain`` is :func:`commskit.policy.message_id_domain`'s, as for Message-IDs.
    """
    stamp_source = campaign.date or event.start
    stamp = (
        dt.datetime(stamp_source.year, stamp_source.month, stamp_source.day, tzinfo=dt.UTC)
        if not isinstance(stamp_source, dt.datetime)
        else stamp_source
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//commskit//commskit//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{campaign.id}@{domain or FALLBACK_DOMAIN}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(event.start)}",
        f"DTEND:{_utc(event.end)}",
        f"SUMMARY:{_escape(event.title or campaign.subject)}",
    ]
    description = event.description or ""
    if event.url:
        description = f"{description}\n{event.url}".strip()
        lines.append(f"URL:{event.url}")
    if description:
        lines.append(f"DESCRIPTION:{_escape(description)}")
    if event.location:
        lines.append(f"LOCATION:{_escape(event.location)}")
    if organizer:
        lines.append(f"ORGANIZER:mailto:{organizer}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode("utf-8")
