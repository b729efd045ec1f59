"""The veille digest as an email's template context (`commskit digest --format html`, sends).

Rendering it (MJML, CSS) is render's job: :mod:`commskit.render.digest`.
"""

from __future__ import annotations

from typing import Any

from ..config import DigestSettings, SenderSettings
from ..feeds.digest import EPOCH, Digest
from ..i18n import format_period, format_until, plural
from .environment import strings_for
from .veille import item_view


def digest_context(
    digest: Digest,
    *,
    language: str,
    sender: SenderSettings,
    settings: DigestSettings,
    unsubscribe_url: str = "",
    list_title: str = "",
) -> dict[str, Any]:
    """Build the template context of the ``digest`` template (items prepared as data).

    ``list_title`` is how the footer names the list (``[lists.<name>] title``; default its name).

    ``unsubscribe_url`` defaults to the sender's website (a digest shown, not sent).
    """
    strings = strings_for(language)
    fmt = strings["date_format"]
    sections = [
        {
            "topic": section.topic,
            "title": section.title,
            "items": [
                item_view(item, date_format=fmt, language=language) for item in section.items
            ],
        }
        for section in digest.sections
    ]
    if digest.start <= EPOCH:
        period = format_until(digest.end, language)
    else:
        period = format_period(digest.start, digest.end, language)
    subject = settings.subject or strings["digest_title"]
    return {
        "subject": subject,
        "preheader": "",
        "language": language,
        "body": "",
        "digest": {
            "name": digest.name,
            # "since all" starts at the epoch: show no start date rather than 01/01/1970
            "start": "" if digest.start <= EPOCH else digest.start.strftime(fmt),
            "end": digest.end.strftime(fmt),
            "total": digest.total,
            # "Du 24 novembre au 1er décembre 2026", "1 article": words, not ISO dates
            "period": period[:1].upper() + period[1:],
            "count": plural(digest.total, strings["item"], strings["items"], language),
            "sections": sections,
        },
        "veille": None,
        "event": None,
        "sender": sender,
        "list_name": digest.name,
        "list_title": list_title or digest.name,
        "t": strings,
        "contact": None,
        "unsubscribe_url": unsubscribe_url or sender.website,
        "has_attachment": False,
    }
