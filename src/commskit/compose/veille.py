"""The veille section of a campaign: which digest items it shows, and how they are presented.

Feed text is data: titles stay plain text (escaped by the templates), summaries are re-sanitised
with nh3, links other than http(s) are dropped.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import nh3
from markupsafe import Markup

from ..i18n import plural
from .environment import strings_for

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .campaign import Campaign


def _http_url(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def veille_items(
    ws: Workspace, campaign: Campaign, digest: Any = None, *, now: dt.datetime | None = None
) -> list[Any]:
    """Return the top items of the veille digest a campaign asks for (best score first).

    ``now`` pins the window and the recency ranking (the send engine passes the time of the
    first send, so a resumed send shows the same items as the first part of the run).
    """
    options = campaign.veille
    if options is None:
        return []
    if digest is None:
        digest = ws.digest(
            name=options.name,
            since=options.since,
            topics=list(options.topics) or None,
            max_per_topic=None,
            now=now,
        )
    items = [item for section in digest.sections for item in section.items]
    seen: set[str] = set()
    unique = []
    for item in sorted(items, key=lambda i: -float(i.score)):
        if item.id in seen:
            continue
        seen.add(item.id)
        unique.append(item)
    return unique[: options.max]


def item_view(item: Any, *, date_format: str, language: str = "fr") -> dict[str, Any]:
    """Prepare a digest item for templates: text stays text, HTML is re-sanitised."""
    published = item.published
    also_in = list(item.also_in)
    strings = strings_for(language)
    return {
        "id": item.id,
        "title": str(item.title),
        "url": _http_url(str(item.url or "")),
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
