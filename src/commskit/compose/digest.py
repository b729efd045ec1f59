"""The veille digest as an email: `commskit digest --format html` and digest sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..feeds.digest import EPOCH
from ..i18n import format_period, format_until, plural
from .campaign import Campaign
from .environment import make_environment, render_template, strings_for, template_dirs
from .veille import item_view

if TYPE_CHECKING:
    from ..render.compiled import CompiledCampaign
    from ..workspace import Workspace


def digest_context(
    ws: Workspace, digest: Any, *, language: str | None = None, unsubscribe_url: str | None = None
) -> dict[str, Any]:
    """Build the template context of the ``digest`` template (items prepared as data)."""
    language = language or ws.settings.workspace.language
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
    subject = ws.settings.digest.subject or strings["digest_title"]
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
        "sender": ws.settings.sender,
        "list_name": digest.name,
        "t": strings,
        "contact": None,
        "unsubscribe_url": unsubscribe_url
        or ws.settings.unsubscribe.url
        or ws.settings.sender.website,
        "has_attachment": False,
    }


def compile_digest(
    ws: Workspace, digest: Any, *, subject: str | None = None, list_name: str | None = None
) -> CompiledCampaign:
    """Compile a Digest into a CompiledCampaign, so it goes through the same send engine.

    Recipients may be plain addresses (objects with ``email`` and ``id``); the ``digest``
    template shows no personal field. The campaign id is ``<digest name>-<end, UTC>``.
    """
    language = getattr(digest, "language", None) or ws.settings.workspace.language
    strings = strings_for(language)
    view = digest_context(ws, digest, language=language)["digest"]
    campaign = Campaign(
        id=f"{digest.name}-{digest.end:%Y%m%dT%H%M}",
        path=ws.path("commskit.toml"),
        subject=subject or ws.settings.digest.subject or strings["digest_title"],
        body="",
        body_line=1,
        template=ws.settings.digest.template or "digest",
        list_name=list_name or digest.name,
        language=language,
    )
    from ..render.compiled import compile_campaign  # render builds on compose: import late

    return compile_campaign(ws, campaign, extra_context={"digest": view})


def render_digest_html(ws: Workspace, digest: Any, *, language: str | None = None) -> str:
    """Render a Digest (contract 1) with the MJML ``digest`` template to inlined HTML."""
    dirs = template_dirs(ws.path(ws.settings.paths.templates))
    env = make_environment(dirs)
    name = f"{ws.settings.digest.template or 'digest'}.mjml"
    source = render_template(env, name, digest_context(ws, digest, language=language))
    from ..render.html import inline_css, mjml_to_html

    return inline_css(mjml_to_html(source, template=name, include_dirs=dirs))
