"""Blog drafts: a campaign or a digest as Markdown with Jekyll/Hugo front matter.

Feed text becomes escaped Markdown (:func:`markdown_text`): no link, image, heading, list or HTML
it might carry survives as such, and no ``{{``/``{%`` is left for Liquid or Hugo to evaluate.
Links from feeds are http(s) only, percent-encoded so that no character closes the link early.

A blog post has no recipient: each ``{{ … }}`` of the campaign prints what it prints for a
contact with no field set. An empty value in a greeting ("Bonjour {{ contact.first_name }},")
is dropped with its space; anywhere else it would leave "merci à **** pour", so the post is
refused with the line to fix (give it a fallback, or put it inside ``{% if %}``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import yaml
from markupsafe import Markup

from ..audience.contacts import Contact
from ..errors import TemplateError
from ..feeds.digest import Digest
from ..feeds.digest_formats import escape_markdown
from ..i18n import plural
from .campaign import Campaign
from .environment import (
    call_template,
    make_environment,
    render_bounded,
    render_template,
    strings_for,
    template_caller,
    template_dirs,
)
from .veille import item_view, veille_items

_HOLE = re.compile("\x00([0-9]+)\x00")
# a greeting line: up to three words, then only empty personal values and punctuation
_GREETING = re.compile(
    r"(?m)^(?P<words>[^\S\n]*\S+(?:[^\S\n]+\S+){0,2}?)"
    r"(?P<holes>(?:[^\S\n]*\x00[0-9]+\x00)+)(?P<rest>[^\S\n]*[,!.:;]?[^\S\n]*)$"
)
_LIQUID_PERCENT = re.compile(r"(?<=\\\{)%|%(?=\\\})")
_BLOCK_START = re.compile(r"^(?:[-+=]|[0-9]+(?=[.)]))")
# what may stay as is in a link target: RFC 3986 reserved and unreserved characters but ( )
_URL_SAFE = ":/?#[]@!$&'*+,;=%-._~"


def markdown_text(value: Any) -> Markup:
    """Return ``value`` as one line of Markdown that renders as exactly that text."""
    text = escape_markdown(" ".join(str(value).split()))
    # "\{%" still holds "{%": escape the percent sign too, so Liquid sees no tag
    text = _LIQUID_PERCENT.sub(r"\\%", text)
    match = _BLOCK_START.match(text)
    if match:  # "- x", "1. x", "=== " would start a list or a heading
        end = match.end()
        text = f"{text[:end]}\\{text[end:]}" if text[0].isdigit() else f"\\{text}"
    return Markup(text)  # noqa: S704 - escaped for Markdown: no HTML, link or template syntax


def markdown_url(value: Any) -> Markup:
    """Return an http(s) URL for a Markdown link target (percent-encoded), or ``""``."""
    url = quote(str(value).strip(), safe=_URL_SAFE)
    if not url.lower().startswith(("https://", "http://")):
        return Markup("")
    return Markup(url)  # noqa: S704 - percent-encoded: no character ends the link target


class _NoColumns(dict[str, str]):
    """A blog post's contact has no imported columns: each one is empty."""

    def __missing__(self, key: str) -> str:
        return ""


class _Holes:
    """Marks each empty personal value a post would print, with the template line printing it."""

    def __init__(self) -> None:
        self.lines: list[int | None] = []

    def finalize(self, value: Any) -> Any:
        if isinstance(value, str) and not value:
            self.lines.append(template_caller()[1])
            return f"\x00{len(self.lines) - 1}\x00"
        return value

    def fill(
        self, text: str, *, path: Path, source: str, offset: int, hint: str, greetings: bool
    ) -> str:
        """Drop the holes of greeting lines; refuse any other, naming its tag and line."""

        def greeting(match: re.Match[str]) -> str:
            return match.group("words").rstrip() + match.group("rest")

        if greetings:
            text = _GREETING.sub(greeting, text)
        hole = _HOLE.search(text)
        if hole is None:
            return text
        line = self.lines[int(hole.group(1))]
        lines = source.splitlines()
        tag = ""
        if line is not None and 0 < line <= len(lines):
            found = re.search(r"\{\{.*?\}\}", lines[line - 1])
            tag = f"{found.group(0)} " if found else ""
        raise TemplateError(
            f"{tag}has no value in a blog post (a post has no recipient)",
            path=path,
            line=line + offset if line is not None else None,
            hint=hint,
        )


def _personal_text(
    templates: Path | None,
    campaign: Campaign,
    source: str,
    offset: int,
    hint: str,
    *,
    greetings: bool = True,
    links: Mapping[str, str] | None = None,
) -> str:
    """Render campaign text (body or subject) for nobody, refusing what would leave a hole."""
    holes = _Holes()
    env = make_environment(
        template_dirs(templates),
        autoescape=False,
        finalize=holes.finalize,
    )
    nobody = Contact(id=0, email="", language=campaign.language, attributes=_NoColumns())
    text = call_template(
        lambda: render_bounded(
            env.from_string(source),
            {"contact": nobody, "unsubscribe_url": "", "links": links or {}},
        ),
        path=campaign.path,
        line_offset=offset,
    )
    return holes.fill(
        text, path=campaign.path, source=source, offset=offset, hint=hint, greetings=greetings
    )


def _front_matter(fields: dict[str, Any]) -> str:
    clean = {k: v for k, v in fields.items() if v not in (None, "", [], ())}
    return str(yaml.safe_dump(clean, allow_unicode=True, sort_keys=False, width=1000))


def _environment(templates: Path | None) -> jinja2.Environment:
    env = make_environment(template_dirs(templates))
    env.filters["markdown_text"] = markdown_text
    env.filters["markdown_url"] = markdown_url
    return env


def campaign_post(
    campaign: Campaign,
    *,
    templates: Path | None,
    organization: str = "",
    digest: Digest | None = None,
    links: Mapping[str, str] | None = None,
) -> str:
    """Return the campaign as a blog post: body without greeting names, veille kept, no footer.

    ``templates`` is the workspace's templates folder; ``organization`` the default author
    (``[sender] organization``); ``digest`` the veille digest its veille section shows;
    ``links`` what ``{{ links.* }}`` print for a reader of the post (public, token-free pages).
    """
    fallback = (
        "Give it a fallback ({{ contact.organization or 'votre territoire' }}) or put it "
        "inside {% if contact.organization %}…{% endif %}"
    )
    body = _personal_text(
        templates, campaign, campaign.body, campaign.body_line - 1, fallback, links=links
    ).strip()
    title = campaign.title or campaign.subject
    if not campaign.title and "{" in campaign.subject:
        title = _personal_text(
            templates,
            campaign,
            campaign.subject,
            (campaign.line_of("subject") or 1) - 1,
            "Add a 'title:' to the front matter for the post, or give the tag a fallback",
            greetings=False,
        )
        title = " ".join(title.split())
    strings = strings_for(campaign.language)
    sections = []
    if campaign.veille is not None:
        items = veille_items(campaign, digest)
        sections.append(
            {
                "title": campaign.veille.title or strings["veille_title"],
                "items": [
                    item_view(i, date_format=strings["date_format"], language=campaign.language)
                    for i in items
                ],
            }
        )
    date = campaign.date or dt.date.today()
    front = _front_matter(
        {
            "title": title,
            "date": date.isoformat(),
            "author": campaign.author or organization,
            "tags": list(campaign.tags),
            "description": campaign.description or campaign.preheader,
            "lang": campaign.language,
        }
    )
    return render_template(
        _environment(templates),
        "post.md",
        {
            "front_matter": _Raw(front),
            "body": _Raw(body),
            "sections": sections,
        },
    )


def digest_post(
    digest: Digest,
    *,
    templates: Path | None,
    language: str,
    subject: str = "",
    organization: str = "",
) -> str:
    """Return a veille digest as a blog post, one section per topic.

    ``subject`` (``[digest] subject``) starts the title; ``organization`` is the author.
    """
    strings = strings_for(language)
    sections = [
        {
            "title": s.title,
            "items": [
                item_view(i, date_format=strings["date_format"], language=language) for i in s.items
            ],
        }
        for s in digest.sections
    ]
    end = digest.end.date() if isinstance(digest.end, dt.datetime) else dt.date.today()
    front = _front_matter(
        {
            "title": f"{subject or strings['digest_title']} — {end:%d/%m/%Y}",
            "date": end.isoformat(),
            "author": organization,
            "tags": sorted({s.topic for s in digest.sections}),
            "description": plural(digest.total, strings["item"], strings["items"], language),
            "lang": language,
        }
    )
    return render_template(
        _environment(templates),
        "post.md",
        {
            "front_matter": _Raw(front),
            "body": _Raw("" if digest.total else strings["digest_empty"]),
            "sections": sections,
        },
    )


class _Raw(str):
    """The author's own Markdown: trusted, so not HTML-escaped in the post."""

    def __html__(self) -> str:
        return str(self)
