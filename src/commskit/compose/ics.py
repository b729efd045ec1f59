"""The invitation (.ics) attached to a campaign that announces an event (``event: NAME``).

The calendar itself is :mod:`commskit.events.calendar`'s (icalendar, TZID + VTIMEZONE,
METHOD:REQUEST); this module decides what a campaign's copy says: the event's stored UID and
SEQUENCE, the campaign's subject as the summary when the event has no title, and the sender as
organizer when the event file names none.
"""

from __future__ import annotations

from ..events.calendar import REQUEST, CalendarTemplate
from ..events.model import CalendarIdentity, EventSpec
from ..policy import FALLBACK_DOMAIN
from .campaign import Campaign


def default_uid(event: EventSpec, campaign: Campaign, domain: str) -> str:
    """Return the UID used when the store gave none (a preview outside a workspace)."""
    return f"{event.name or campaign.id}@{domain or FALLBACK_DOMAIN}"


def invitation_calendar(
    campaign: Campaign,
    event: EventSpec,
    *,
    domain: str,
    organizer: tuple[str, str],
    identity: CalendarIdentity | None = None,
    method: str = REQUEST,
) -> CalendarTemplate:
    """Return the campaign's invitation, built once; ``.personal()`` makes each copy.

    ``domain`` is :func:`commskit.policy.message_id_domain`'s, as for Message-IDs;
    ``organizer`` the (name, address) used when the event file names none; ``method`` the iTIP
    method (REQUEST; CANCEL for a cancellation).
    """
    return CalendarTemplate(
        event,
        identity or CalendarIdentity(default_uid(event, campaign, domain)),
        method=method,
        organizer=organizer,
        summary=campaign.subject,
    )
