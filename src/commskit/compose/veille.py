"""The veille section of a campaign: which digest items it shows, and how they are presented.

Feed text is data: titles stay plain text (escaped by the templates), summaries are re-sanitised
with nh3, links other than http(s) are dropped.
"""

from __future__ import annotations

from typing import Any

import nh3
from markupsafe import Markup

from ..feeds.digest import Digest, DigestItem, other_language
from ..i18n import plural
from .campaign import Campaign
from .environment import strings_for


def http_url(url: str) -> str:
    """Return ``url`` when it is http(s), else ``""`` (feed and event links are data)."""
    return url if url.startswith(("https://", "http://")) else ""


def veille_items(campaign: Campaign, digest: Digest | None) -> list[DigestItem]:
    """Return the top items of ``digest`` a campaign's veille section shows (best score first).

    The digest is built by the caller (the application layer) for ``campaign.veille``: this
    reads no database. No veille section, or no digest, shows no item.
    """
    options = campaign.veille
    if options is None or digest is None:
        return []
    items = [item for section in digest.sections for item in section.items]
    seen: set[str] = set()
    unique = []
    for item in sorted(items, key=lambda i: -float(i.score)):
        if item.id in seen:
            continue
        seen.add(item.id)
        unique.append(item)
    return unique[: options.max]


def item_view(item: DigestItem, *, date_format: str, language: str = "fr") -> dict[str, Any]:
    """Prepare a digest item for templates: text stays text, HTML is re-sanitised.

    ``lang`` is the BCP 47 tag of the item's feed when it is another language than the
    message's ``language`` (templates put it on the title and summary), else "".
    """
    published = item.published
    also_in = list(item.also_in)
    strings = strings_for(language)
    return {
        "id": item.id,
        "lang": other_language(item.language, language),
        "title": str(item.title),
        "url": http_url(str(item.url or "")),
        "summary_html": Markup(nh3.clean(str(item.summary_html or ""))),  # noqa: S704
        "summary_text": str(item.summary_text or ""),
        "source": item.sources[0] if item.sources else "",
        "sources": list(item.sources),
        "also_in": also_in,
        # "aussi dans 2 autres sources": the count alone ("Aussi dans 2") said nothing
        "also_in_label": (
            f"{strings['also_in'].lower()} "
            f"{plural(len(also_in), strings['other_source'], strings['other_sources'], language)}"
        ),
        "topics": list(item.topics),
        "authors": list(item.authors),
        "published": published.strftime(date_format) if published else "",
        "published_iso": published.isoformat() if published else "",
    }
