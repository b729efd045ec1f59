"""Write what one recipient would receive, and blog drafts, to files.

``commskit render`` and ``commskit blog`` are thin layers over these, and so is the demo.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .campaign import Campaign

_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}(?:-\d{2})?-")
PREVIEW_TOKEN = "APERCU"  # noqa: S105 - a visible placeholder in sample links, not a secret


@dataclass(frozen=True)
class RenderedFiles:
    """The three files of one rendered message."""

    html: Path
    text: Path
    eml: Path
    recipient: str
    html_bytes: int


def unsubscribe_url_for(ws: Workspace, contact: Any, list_name: str) -> str:
    """Return the unsubscribe URL a contact would get: a signed token for a stored contact."""
    from ..audience.tokens import make_token

    base = ws.settings.unsubscribe.url or "https://example.invalid/unsubscribe"
    contact_id = getattr(contact, "id", 0)
    token = make_token(ws.secret, contact_id, list_name) if contact_id else PREVIEW_TOKEN
    return f"{base}?t={token}"


def render_files(
    ws: Workspace, campaign: Campaign, *, to: str | None = None, folder: Path | None = None
) -> RenderedFiles:
    """Render ``campaign`` for one contact (``to``, else a sample) into .html, .txt and .eml."""
    from ..render.compiled import sender_domain
    from .preview import contact_for

    compiled = campaign.compile(ws)
    contact = contact_for(ws, to, campaign.language)
    url = unsubscribe_url_for(ws, contact, campaign.list_name)
    parts = compiled.render(contact, unsubscribe_url=url)
    domain = sender_domain(ws, compiled.static.from_)
    raw = compiled.message_for(
        contact,
        message_id=f"<render.{campaign.id}@{domain}>",
        unsubscribe_url=url,
        unsubscribe_mailto=ws.settings.unsubscribe.mailto or None,
    )
    folder = folder or ws.path(ws.settings.paths.output)
    folder.mkdir(parents=True, exist_ok=True)
    html = parts.html.encode()
    paths = []
    for suffix, data in ((".html", html), (".txt", parts.text.encode()), (".eml", raw)):
        target = folder / f"{campaign.id}{suffix}"
        target.write_bytes(data)
        paths.append(target)
    return RenderedFiles(
        html=paths[0], text=paths[1], eml=paths[2], recipient=contact.email, html_bytes=len(html)
    )


def blog_file_name(campaign: Campaign, today: dt.date | None = None) -> str:
    """Return the Jekyll/Hugo post name ``YYYY-MM-DD-<campaign id>.md``."""
    day = campaign.date or today or dt.date.today()
    # do not repeat a date already in the campaign's name (2026-11-infolettre → infolettre)
    stem = _DATE_PREFIX.sub("", campaign.id) or campaign.id
    return f"{day:%Y-%m-%d}-{stem}.md"


def write_blog_post(ws: Workspace, campaign: Campaign, *, folder: Path | None = None) -> Path:
    """Write the campaign as a Markdown post into ``folder`` (default ``out/blog``)."""
    from .blog import campaign_post

    folder = folder or ws.path(ws.settings.paths.output) / "blog"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / blog_file_name(campaign)
    target.write_text(campaign_post(ws, campaign), encoding="utf-8")
    return target
