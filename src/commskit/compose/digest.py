"""The veille digest as an email: `commskit digest --format html` and digest sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..render.compiled import item_view
from ..render.html import inline_css, mjml_to_html
from .environment import make_environment, render_template, strings_for, template_dirs

if TYPE_CHECKING:
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
            "items": [item_view(item, date_format=fmt) for item in section.items],
        }
        for section in digest.sections
    ]
    subject = ws.settings.digest.subject or strings["digest_title"]
    return {
        "subject": subject,
        "preheader": "",
        "language": language,
        "body": "",
        "digest": {
            "name": digest.name,
            "start": digest.start.strftime(fmt),
            "end": digest.end.strftime(fmt),
            "total": digest.total,
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


def render_digest_html(ws: Workspace, digest: Any, *, language: str | None = None) -> str:
    """Render a Digest (contract 1) with the MJML ``digest`` template to inlined HTML."""
    dirs = template_dirs(ws.path(ws.settings.paths.templates))
    env = make_environment(dirs)
    name = f"{ws.settings.digest.template or 'digest'}.mjml"
    source = render_template(env, name, digest_context(ws, digest, language=language))
    return inline_css(mjml_to_html(source, template=name, include_dirs=dirs))
