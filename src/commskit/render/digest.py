"""The veille digest as an email: its HTML (`commskit digest --format html`) and, compiled like a
campaign, the messages of digest sends."""

from __future__ import annotations

from pathlib import Path

from ..compose.campaign import Campaign
from ..compose.digest import digest_context
from ..compose.environment import make_environment, render_template, strings_for, template_dirs
from ..config import DigestSettings, SenderSettings
from ..feeds.digest import Digest
from .compiled import CompiledCampaign, compile_campaign
from .html import inline_css, mjml_to_html


def compile_digest(
    digest: Digest,
    *,
    templates: Path | None,
    sender: SenderSettings,
    settings: DigestSettings,
    unsubscribe_url: str,
    language: str,
    path: Path,
    subject: str | None = None,
    list_name: str | None = None,
    list_title: str = "",
) -> CompiledCampaign:
    """Compile a Digest into a CompiledCampaign, so it goes through the same send engine.

    ``language`` is the digest's own when it has one; ``path`` is the settings file errors
    name. Recipients may be plain addresses (objects with ``email`` and ``id``); the ``digest``
    template shows no personal field. The campaign id is ``<digest name>-<end, UTC>``.
    """
    # a digest from a script may be any object shaped like one, without a language
    language = getattr(digest, "language", None) or language
    strings = strings_for(language)
    view = digest_context(digest, language=language, sender=sender, settings=settings)["digest"]
    campaign = Campaign(
        id=f"{digest.name}-{digest.end:%Y%m%dT%H%M}",
        path=path,
        subject=subject or settings.subject or strings["digest_title"],
        body="",
        body_line=1,
        template=settings.template or "digest",
        list_name=list_name or digest.name,
        language=language,
    )
    return compile_campaign(
        campaign,
        templates=templates,
        sender=sender,
        unsubscribe_url=unsubscribe_url,
        extra_context={"digest": view},
        list_title=list_title,
    )


def render_digest_html(
    digest: Digest,
    *,
    templates: Path | None,
    sender: SenderSettings,
    settings: DigestSettings,
    unsubscribe_url: str,
    language: str,
    list_title: str = "",
) -> str:
    """Render a Digest with the MJML ``digest`` template to inlined HTML."""
    dirs = template_dirs(templates)
    env = make_environment(dirs)
    name = f"{settings.template or 'digest'}.mjml"
    context = digest_context(
        digest,
        language=language,
        sender=sender,
        settings=settings,
        unsubscribe_url=unsubscribe_url,
        list_title=list_title,
    )
    source = render_template(env, name, context)
    return inline_css(mjml_to_html(source, template=name, include_dirs=dirs))
