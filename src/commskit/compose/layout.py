"""What layout templates see: the campaign, its veille section, its event, the sender's strings.

Render calls :func:`stage_one_context` once per campaign, passing its own stand-ins for the two
personal names (``contact`` and ``unsubscribe_url``): compose knows nothing of how render fills
them in per recipient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from ..config import SenderSettings
from ..feeds.digest import DigestItem
from ..i18n import format_date
from .campaign import Campaign
from .environment import strings_for
from .veille import http_url, item_view


def _zone_label(moment: dt.datetime, pattern: str) -> str:
    """Name the time zone a reader needs to read the time right: the zone's city for an IANA
    zone ("heure de Paris", "America/Guadeloupe" → "heure de Guadeloupe"),
    else the UTC offset ("UTC+01:00"); ``""`` for a naive time."""
    key = getattr(moment.tzinfo, "key", "")
    if "/" in key and not key.startswith("Etc/"):
        return pattern.format(city=key.rsplit("/", 1)[1].replace("_", " "))
    offset = moment.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else ""


def event_view(campaign: Campaign, language: str) -> dict[str, Any] | None:
    """Return the campaign's event as templates show it ("jeudi 3 décembre 2026, 10h00 – …")."""
    event = campaign.event
    if event is None:
        return None
    strings = strings_for(language)
    start, end = event.start, event.end
    when = (
        f"{format_date(start, language, weekday=True)}, "
        f"{start.strftime(strings['time_format'])} – {end.strftime(strings['time_format'])}"
    )
    zone = _zone_label(start, strings["zone_time"])
    when += f" ({zone})" if zone else ""
    return {
        "title": event.title or campaign.subject,
        "when": when,
        "start_iso": start.isoformat(),
        "location": event.location,
        "url": http_url(event.url),
        "description": event.description,
    }


def list_id(base: str, list_name: str) -> str:
    """Return the List-Id of ``list_name`` from ``[sender] list_id`` (``""`` when unset).

    ``base`` names the default list ("infolettre.example.gouv.fr"); another list of the same
    sender swaps the first label ("webinaires.example.gouv.fr").
    """
    if not base:
        return ""
    base = base.strip("<>")
    if base.startswith(f"{list_name}."):
        return f"<{base}>"
    labels = base.split(".")
    if len(labels) >= 3:
        return f"<{list_name}.{'.'.join(labels[1:])}>"
    return f"<{list_name}.{base}>"


def veille_view(campaign: Campaign, items: Sequence[DigestItem]) -> dict[str, Any] | None:
    """Return the veille section of a campaign's layout (None when it asks for none)."""
    if campaign.veille is None:
        return None
    strings = strings_for(campaign.language)
    return {
        "title": campaign.veille.title or strings["veille_title"],
        "items": [
            item_view(i, date_format=strings["date_format"], language=campaign.language)
            for i in items
        ],
    }


def stage_one_context(
    campaign: Campaign,
    *,
    sender: SenderSettings,
    body_html: str,
    veille: Sequence[DigestItem],
    subject_display: str,
    contact: object,
    unsubscribe_url: str,
    list_title: str = "",
    links: object = None,
) -> dict[str, Any]:
    """Build what layout templates see: everything but the personal values.

    ``contact`` and ``unsubscribe_url`` are what the layout prints for them (render passes
    tokens it replaces per recipient). ``list_title`` is how the footer names the list (its
    ``[lists.<name>] title``; the list's name when empty).
    """
    return {
        "campaign": {
            "id": campaign.id,
            "subject": subject_display,
            "preheader": campaign.preheader,
            "language": campaign.language,
            "list_name": campaign.list_name,
            "date": campaign.date.isoformat() if campaign.date else "",
            "template": campaign.template,
        },
        "subject": subject_display,
        "preheader": campaign.preheader,
        "language": campaign.language,
        "body": Markup(body_html),  # noqa: S704 - rendered from the author's Markdown
        "veille": veille_view(campaign, veille),
        "event": event_view(campaign, campaign.language),
        "sender": sender,
        "list_name": campaign.list_name,
        "list_title": list_title or campaign.list_name,
        "t": strings_for(campaign.language),
        "contact": contact,
        "unsubscribe_url": unsubscribe_url,
        # the message's page in the public archive ("Voir en ligne"; "" when there is none) and
        # whether this is that page, rendered for nobody (no unsubscribe link): see app/archive.py
        "online_url": "",
        "archive": False,
        # the recipient's personal links (links.preferences, links.register…): tokens too
        "links": links if links is not None else {},
        "has_attachment": bool(campaign.attachments or campaign.event),
    }
