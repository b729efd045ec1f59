"""Blog drafts: a campaign or a digest as Markdown with Jekyll/Hugo front matter."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from ..audience.contacts import Contact
from .campaign import Campaign
from .environment import (
    call_template,
    make_environment,
    render_bounded,
    render_template,
    strings_for,
    template_dirs,
)
from .veille import item_view, veille_items

if TYPE_CHECKING:
    from ..workspace import Workspace

_EMPTY_GREETING = re.compile(r"[ \t]+(,)")


def _front_matter(fields: dict[str, Any]) -> str:
    clean = {k: v for k, v in fields.items() if v not in (None, "", [], ())}
    return str(yaml.safe_dump(clean, allow_unicode=True, sort_keys=False, width=1000))


def _environment(ws: Workspace) -> jinja2.Environment:
    return make_environment(template_dirs(ws.path(ws.settings.paths.templates)))


def campaign_post(ws: Workspace, campaign: Campaign, *, digest: Any = None) -> str:
    """Return the campaign as a blog post: body without greeting names, veille kept, no footer."""
    text_env = make_environment(
        template_dirs(ws.path(ws.settings.paths.templates)), autoescape=False
    )
    nobody = Contact(id=0, email="", language=campaign.language)
    body = call_template(
        lambda: render_bounded(
            text_env.from_string(campaign.body), {"contact": nobody, "unsubscribe_url": ""}
        ),
        path=campaign.path,
        line_offset=campaign.body_line - 1,
    )
    # "Bonjour {{ contact.first_name }}," has no one to greet on a blog
    body = _EMPTY_GREETING.sub(r"\1", body).strip()
    strings = strings_for(campaign.language)
    sections = []
    if campaign.veille is not None:
        items = veille_items(ws, campaign, digest)
        sections.append(
            {
                "title": campaign.veille.title or strings["veille_title"],
                "items": [item_view(i, date_format=strings["date_format"]) for i in items],
            }
        )
    date = campaign.date or dt.date.today()
    front = _front_matter(
        {
            "title": campaign.title or campaign.subject,
            "date": date.isoformat(),
            "author": campaign.author or ws.settings.sender.organization,
            "tags": list(campaign.tags),
            "description": campaign.description or campaign.preheader,
            "lang": campaign.language,
        }
    )
    return render_template(
        _environment(ws),
        "post.md",
        {
            "front_matter": _Raw(front),
            "body": _Raw(body),
            "sections": sections,
        },
    )


def digest_post(ws: Workspace, digest: Any) -> str:
    """Return a veille digest as a blog post, one section per topic."""
    language = ws.settings.workspace.language
    strings = strings_for(language)
    sections = [
        {
            "title": s.title,
            "items": [item_view(i, date_format=strings["date_format"]) for i in s.items],
        }
        for s in digest.sections
    ]
    end = digest.end.date() if isinstance(digest.end, dt.datetime) else dt.date.today()
    front = _front_matter(
        {
            "title": f"{ws.settings.digest.subject or strings['digest_title']} — {end:%d/%m/%Y}",
            "date": end.isoformat(),
            "author": ws.settings.sender.organization,
            "tags": sorted({s.topic for s in digest.sections}),
            "description": f"{digest.total} {strings['items']}",
            "lang": language,
        }
    )
    return render_template(
        _environment(ws),
        "post.md",
        {
            "front_matter": _Raw(front),
            "body": "" if digest.total else strings["digest_empty"],
            "sections": sections,
        },
    )


class _Raw(str):
    """The author's own Markdown: trusted, so not HTML-escaped in the post."""

    def __html__(self) -> str:
        return str(self)
