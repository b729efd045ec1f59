"""Campaign use cases: load, compile (with its veille digest), render to files, blog drafts.

Each function gathers what the stages need from the workspace (settings sections, folders, the
contact book, the secret, the veille digest) and hands it to compose and render, which never see
the workspace. The one database read of a compilation is here, in :func:`veille_digest`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compose.campaign import DEFAULT_LIST, Campaign, find_campaign, list_campaigns, load_campaign
from ..compose.sample import contact_for
from ..errors import CommskitError
from ..policy import message_id_domain, unsubscribe_url

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..audience.contacts import Recipient
    from ..feeds.digest import Digest
    from ..render.compiled import CompiledCampaign
    from ..workspace import Workspace

_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}(?:-\d{2})?-")
PREVIEW_TOKEN = "APERCU"  # noqa: S105 - a visible placeholder in sample links, not a secret
#: the link base of previews and renders when ``[unsubscribe] url`` is not set
PLACEHOLDER_UNSUBSCRIBE = "https://example.invalid/unsubscribe"


def campaigns_folder(ws: Workspace) -> Path:
    """Return the workspace's campaigns folder (``[paths] campaigns``)."""
    return ws.path(ws.settings.paths.campaigns)


def templates_folder(ws: Workspace) -> Path:
    """Return the workspace's templates folder (``[paths] templates``)."""
    return ws.path(ws.settings.paths.templates)


def load(ws: Workspace, path_or_name: str | Path) -> Campaign:
    """Load and validate a campaign file (a path, or a name in the campaigns folder)."""
    path = find_campaign(campaigns_folder(ws), Path(path_or_name), root=ws.root)
    return load_campaign(
        path,
        ws_root=ws.root,
        default_language=ws.settings.workspace.language,
        attachment_dirs=tuple(ws.path(d) for d in ws.settings.paths.attachment_dirs),
        state_dir=ws.state_dir,
    )


def load_all(ws: Workspace) -> list[Campaign]:
    """Load every campaign file of the workspace, sorted by file name."""
    return [load(ws, path) for path in list_campaigns(campaigns_folder(ws))]


def list_names(ws: Workspace) -> set[str]:
    """Return the mailing lists the workspace's files name: [lists], campaigns, the digest.

    A campaign file that does not load is passed over (its own commands report it).
    """
    names = {*ws.settings.lists, DEFAULT_LIST, ws.settings.digest.name}
    for path in list_campaigns(campaigns_folder(ws)):
        try:
            names.add(load(ws, path).list_name)
        except CommskitError:
            continue  # a broken campaign names no list; `commskit check` reports it
    return names


def veille_digest(
    ws: Workspace, campaign: Campaign, *, now: dt.datetime | None = None
) -> Digest | None:
    """Build the veille digest a campaign's ``veille:`` section asks for (None: it asks none).

    This reads the database (stored feed items). ``now`` pins the window and the recency
    ranking (a resumed send passes the time of its first part, so it shows the same items).
    """
    options = campaign.veille
    if options is None:
        return None
    return ws.digest(
        name=options.name,
        since=options.since,
        topics=list(options.topics) or None,
        max_per_topic=None,
        now=now,
    )


def compile_campaign(
    ws: Workspace,
    campaign: Campaign,
    *,
    digest: Digest | None = None,
    veille_now: dt.datetime | None = None,
    extra_context: Mapping[str, Any] | None = None,
) -> CompiledCampaign:
    """Compile ``campaign`` (see :func:`commskit.render.compiled.compile_campaign`).

    Its veille section shows ``digest``, else the digest :func:`veille_digest` builds.
    """
    from ..render.compiled import compile_campaign as compile_stage

    if digest is None:
        digest = veille_digest(ws, campaign, now=veille_now)
    return compile_stage(
        campaign,
        templates=templates_folder(ws),
        sender=ws.settings.sender,
        unsubscribe_url=ws.settings.unsubscribe.url,
        digest=digest,
        extra_context=extra_context,
    )


def compile_digest(
    ws: Workspace, digest: Digest, *, subject: str | None = None, list_name: str | None = None
) -> CompiledCampaign:
    """Compile a veille digest like a campaign, for digest sends."""
    from ..render.digest import compile_digest as compile_stage

    return compile_stage(
        digest,
        templates=templates_folder(ws),
        sender=ws.settings.sender,
        settings=ws.settings.digest,
        unsubscribe_url=ws.settings.unsubscribe.url,
        language=ws.settings.workspace.language,
        path=ws.path("commskit.toml"),
        subject=subject,
        list_name=list_name,
    )


def render_digest_html(ws: Workspace, digest: Digest, *, language: str | None = None) -> str:
    """Render a veille digest to email-ready HTML with the ``digest`` MJML template."""
    from ..render.digest import render_digest_html as render_stage

    return render_stage(
        digest,
        templates=templates_folder(ws),
        sender=ws.settings.sender,
        settings=ws.settings.digest,
        unsubscribe_url=ws.settings.unsubscribe.url,
        language=language or ws.settings.workspace.language,
    )


def unsubscribe_url_for(ws: Workspace, contact: Recipient, list_name: str) -> str:
    """Return the unsubscribe link ``contact`` gets, as send builds it (a signed token).

    A contact not stored (id 0, a sample) gets the visible placeholder token ``APERCU``.
    """
    from ..audience.tokens import make_token

    base = ws.settings.unsubscribe.url or PLACEHOLDER_UNSUBSCRIBE
    token = make_token(ws.secret, contact.id, list_name) if contact.id else PREVIEW_TOKEN
    return unsubscribe_url(base, token)


def preview_unsubscribe_url(ws: Workspace) -> str:
    """Return the link previews show: the configured base with the placeholder token."""
    return unsubscribe_url(ws.settings.unsubscribe.url or PLACEHOLDER_UNSUBSCRIBE, PREVIEW_TOKEN)


@dataclass(frozen=True)
class RenderedFiles:
    """The three files of one rendered message."""

    html: Path
    text: Path
    eml: Path
    recipient: str
    html_bytes: int


def render_files(
    ws: Workspace, campaign: Campaign, *, to: str | None = None, folder: Path | None = None
) -> RenderedFiles:
    """Render ``campaign`` for one contact (``to``, else a sample) into .html, .txt and .eml."""
    compiled = compile_campaign(ws, campaign)
    contact = contact_for(ws.contacts if to else None, to, campaign.language)
    url = unsubscribe_url_for(ws, contact, campaign.list_name)
    parts = compiled.render(contact, unsubscribe_url=url)
    domain = message_id_domain(ws.settings.sender.domain, compiled.static.from_)
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


def campaign_post(ws: Workspace, campaign: Campaign, *, digest: Digest | None = None) -> str:
    """Return the campaign as a blog post; its veille section shows ``digest`` (else built)."""
    from ..compose.blog import campaign_post as post_stage

    if digest is None:
        digest = veille_digest(ws, campaign)
    return post_stage(
        campaign,
        templates=templates_folder(ws),
        organization=ws.settings.sender.organization,
        digest=digest,
    )


def digest_post(ws: Workspace, digest: Digest) -> str:
    """Return a veille digest as a blog post, one section per topic."""
    from ..compose.blog import digest_post as post_stage

    return post_stage(
        digest,
        templates=templates_folder(ws),
        language=ws.settings.workspace.language,
        subject=ws.settings.digest.subject,
        organization=ws.settings.sender.organization,
    )


def write_blog_post(ws: Workspace, campaign: Campaign, *, folder: Path | None = None) -> Path:
    """Write the campaign as a Markdown post into ``folder`` (default ``out/blog``)."""
    folder = folder or ws.path(ws.settings.paths.output) / "blog"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / blog_file_name(campaign)
    target.write_text(campaign_post(ws, campaign), encoding="utf-8")
    return target
