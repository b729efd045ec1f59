"""Campaign use cases: load, compile (with its veille digest), render to files, blog drafts.

Each function takes a :class:`CampaignSetup` (what the composition root hands over: the
workspace folder, its settings, the store, the secret, the contact book), gathers what the stages
need from it (settings sections, folders, the veille digest) and hands that to compose and render,
which never see the workspace. The one database read of a compilation is here, in
:func:`veille_digest`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compose.campaign import DEFAULT_LIST, Campaign, find_campaign, list_campaigns, load_campaign
from ..compose.sample import contact_for
from ..errors import CommskitError, ConfigError
from ..policy import message_id_domain, unsubscribe_mailto, unsubscribe_url
from . import events, veille
from .links import link_builder

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..audience import ContactBook
    from ..audience.contacts import Recipient
    from ..config import Settings
    from ..feeds.digest import Digest
    from ..render.compiled import CompiledCampaign
    from ..render.variants import CompiledVariants
    from ..store import Store

_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}(?:-\d{2})?-")
PREVIEW_TOKEN = "APERCU"  # noqa: S105 - a visible placeholder in sample links, not a secret
#: the link base of previews and renders when ``[unsubscribe] url`` is not set
PLACEHOLDER_UNSUBSCRIBE = "https://example.invalid/unsubscribe"


@dataclass(frozen=True)
class CampaignSetup:
    """What the campaign use cases take from the composition root (``Workspace`` builds it).

    The store, the secret and the contact book are callables: a render needs no database unless
    the campaign has a veille section or names a stored contact, and no key unless it signs one.
    """

    root: Path
    settings: Settings
    store: Callable[[], Store]
    secret: Callable[[], bytes]
    contacts: Callable[[], ContactBook]

    def path(self, relative: str | os.PathLike[str]) -> Path:
        """Resolve a path given relative to the workspace root (absolute paths pass through)."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p


def campaigns_folder(setup: CampaignSetup) -> Path:
    """Return the workspace's campaigns folder (``[paths] campaigns``)."""
    return setup.path(setup.settings.paths.campaigns)


def templates_folder(setup: CampaignSetup) -> Path:
    """Return the workspace's templates folder (``[paths] templates``)."""
    return setup.path(setup.settings.paths.templates)


def load(setup: CampaignSetup, path_or_name: str | os.PathLike[str]) -> Campaign:
    """Load and validate a campaign file (a path, or a name in the campaigns folder)."""
    path = find_campaign(campaigns_folder(setup), Path(path_or_name), root=setup.root)
    return load_campaign(
        path,
        ws_root=setup.root,
        default_language=setup.settings.workspace.language,
        attachment_dirs=tuple(setup.path(d) for d in setup.settings.paths.attachment_dirs),
        state_dir=setup.path(setup.settings.paths.state),
        events_dir=setup.path(setup.settings.events.folder),
        default_timezone=setup.settings.events.timezone,
    )


def load_all(setup: CampaignSetup) -> list[Campaign]:
    """Load every campaign file of the workspace, sorted by file name."""
    return [load(setup, path) for path in list_campaigns(campaigns_folder(setup))]


def list_names(setup: CampaignSetup) -> set[str]:
    """Return the mailing lists the workspace's files name: [lists], campaigns, the digest.

    A campaign file that does not load is passed over (its own commands report it).
    """
    names = {*setup.settings.lists, DEFAULT_LIST, setup.settings.digest.name}
    for path in list_campaigns(campaigns_folder(setup)):
        try:
            names.add(load(setup, path).list_name)
        except CommskitError:
            continue  # a broken campaign names no list; `commskit check` reports it
    return names


def veille_digest(
    setup: CampaignSetup, campaign: Campaign, *, now: dt.datetime | None = None
) -> Digest | None:
    """Build the veille digest a campaign's ``veille:`` section asks for (None: it asks none).

    This reads the database (stored feed items). ``now`` pins the window and the recency
    ranking (a resumed send passes the time of its first part, so it shows the same items).
    """
    options = campaign.veille
    if options is None:
        return None
    settings = setup.settings
    return veille.digest(
        setup.root,
        settings.feeds,
        settings.digest,
        setup.store().feeds,
        language=settings.workspace.language,
        name=options.name,
        since=options.since,
        topics=list(options.topics) or None,
        max_per_topic=None,
        now=now,
    )


def compile_campaign(
    setup: CampaignSetup,
    campaign: Campaign,
    *,
    digest: Digest | None = None,
    veille_now: dt.datetime | None = None,
    extra_context: Mapping[str, Any] | None = None,
    calendar_method: str = "REQUEST",
) -> CompiledCampaign | CompiledVariants:
    """Compile ``campaign`` (see :func:`commskit.render.compiled.compile_campaign`).

    Its veille section shows ``digest``, else the digest :func:`veille_digest` builds. A
    campaign in several languages compiles every variant (the same digest for all) into one
    :class:`commskit.render.variants.CompiledVariants`. ``calendar_method`` is its event's iTIP
    method (the event mails' cancellation: CANCEL).
    """
    if digest is None:
        digest = veille_digest(setup, campaign, now=veille_now)
    if not campaign.variants:
        return _compile_one(setup, campaign, digest, extra_context, calendar_method)
    from ..render.variants import CompiledVariants

    compiled = {
        variant.language: _compile_one(setup, variant, digest, extra_context, calendar_method)
        for variant in (campaign.variant(lang) for lang in campaign.languages)
    }
    return CompiledVariants(default=compiled[campaign.language], variants=compiled)


def _compile_one(
    setup: CampaignSetup,
    campaign: Campaign,
    digest: Digest | None,
    extra_context: Mapping[str, Any] | None,
    calendar_method: str = "REQUEST",
) -> CompiledCampaign:
    """Compile one language of a campaign."""
    from ..render.compiled import compile_campaign as compile_stage
    from .archive import online_url

    event_identity = None
    if campaign.event is not None:
        # the event's stable UID and SEQUENCE: stored on first use, never bumped here (a
        # preview would move it without anyone being told): `events update` does that
        sender = setup.settings.sender
        domain = message_id_domain(sender.domain, campaign.from_ or sender.from_)
        record = events.stored_event(setup.store().events, campaign.event, domain=domain)
        event_identity = events.identity(record)
    return compile_stage(
        campaign,
        templates=templates_folder(setup),
        sender=setup.settings.sender,
        unsubscribe_url=setup.settings.unsubscribe.url,
        digest=digest,
        extra_context=_with_online_url(online_url(setup.settings, campaign), extra_context),
        list_title=list_title(setup, campaign.list_name, campaign.language),
        event_identity=event_identity,
        links=link_builder(
            setup.settings,
            setup.secret,
            event_name=campaign.event.name if campaign.event is not None else None,
        ),
        calendar_method=calendar_method,
    )


def _with_online_url(url: str, extra: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Add the campaign's archive page (``{{ online_url }}``, "Voir en ligne") when it has one."""
    return {"online_url": url, **(extra or {})} if url else extra


def list_title(setup: CampaignSetup, list_name: str, language: str = "") -> str:
    """Return ``[lists.<name>] title`` (how footers name the list), or ``""`` when unset.

    ``title_<language>`` (``title_en``) names it in a message of that language: one list, one
    campaign in several languages, each footer in its reader's words.
    """
    table = setup.settings.lists.get(list_name, {})
    key = f"title_{language}" if language and f"title_{language}" in table else "title"
    title = table.get(key, "")
    if not isinstance(title, str):
        raise ConfigError(
            f"[lists.{list_name}] {key} must be a string",
            path=setup.settings.source,
            hint='Write it as title = "Infolettre du service"',
        )
    return title


def compile_digest(
    setup: CampaignSetup,
    digest: Digest,
    *,
    subject: str | None = None,
    list_name: str | None = None,
) -> CompiledCampaign:
    """Compile a veille digest like a campaign, for digest sends."""
    from ..render.digest import compile_digest as compile_stage

    return compile_stage(
        digest,
        templates=templates_folder(setup),
        sender=setup.settings.sender,
        settings=setup.settings.digest,
        unsubscribe_url=setup.settings.unsubscribe.url,
        language=setup.settings.workspace.language,
        path=setup.path("commskit.toml"),
        subject=subject,
        list_title=list_title(setup, list_name or digest.name),
        list_name=list_name,
    )


def render_digest_html(setup: CampaignSetup, digest: Digest, *, language: str | None = None) -> str:
    """Render a veille digest to email-ready HTML with the ``digest`` MJML template."""
    from ..render.digest import render_digest_html as render_stage

    return render_stage(
        digest,
        templates=templates_folder(setup),
        sender=setup.settings.sender,
        settings=setup.settings.digest,
        unsubscribe_url=setup.settings.unsubscribe.url,
        language=language or setup.settings.workspace.language,
        list_title=list_title(setup, digest.name),
    )


def unsubscribe_url_for(setup: CampaignSetup, contact: Recipient, list_name: str) -> str:
    """Return the unsubscribe link ``contact`` gets, as send builds it (a signed token).

    A contact not stored (id 0, a sample) gets the visible placeholder token ``APERCU``.
    """
    base = setup.settings.unsubscribe.url or PLACEHOLDER_UNSUBSCRIBE
    return unsubscribe_url(base, _unsubscribe_token(setup, contact, list_name))


def _unsubscribe_token(setup: CampaignSetup, contact: Recipient, list_name: str) -> str:
    """Return the token send gives ``contact`` for ``list_name`` (a sample: ``APERCU``)."""
    from ..audience.tokens import make_token

    return make_token(setup.secret(), contact.id, list_name) if contact.id else PREVIEW_TOKEN


def preview_unsubscribe_url(setup: CampaignSetup) -> str:
    """Return the link previews show: the configured base with the placeholder token."""
    return unsubscribe_url(setup.settings.unsubscribe.url or PLACEHOLDER_UNSUBSCRIBE, PREVIEW_TOKEN)


@dataclass(frozen=True)
class RenderedFiles:
    """The three files of one rendered message."""

    html: Path
    text: Path
    eml: Path
    recipient: str
    html_bytes: int


def render_files(
    setup: CampaignSetup, campaign: Campaign, *, to: str | None = None, folder: Path | None = None
) -> RenderedFiles:
    """Render ``campaign`` for one contact (``to``, else a sample) into .html, .txt and .eml."""
    compiled = compile_campaign(setup, campaign)
    contact = contact_for(setup.contacts() if to else None, to, campaign.language)
    url = unsubscribe_url_for(setup, contact, campaign.list_name)
    parts = compiled.render(contact, unsubscribe_url=url)
    domain = message_id_domain(setup.settings.sender.domain, compiled.static.from_)
    raw = compiled.message_for(
        contact,
        message_id=f"<render.{campaign.id}@{domain}>",
        unsubscribe_url=url,
        unsubscribe_mailto=(
            unsubscribe_mailto(
                setup.settings.unsubscribe.mailto,
                _unsubscribe_token(setup, contact, campaign.list_name),
            )
            if setup.settings.unsubscribe.mailto
            else None
        ),
    )
    folder = folder or setup.path(setup.settings.paths.output)
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


def campaign_post(setup: CampaignSetup, campaign: Campaign, *, digest: Digest | None = None) -> str:
    """Return the campaign as a blog post; its veille section shows ``digest`` (else built)."""
    from ..compose.blog import campaign_post as post_stage
    from .archive import neutral_links

    if digest is None:
        digest = veille_digest(setup, campaign)
    return post_stage(
        campaign,
        templates=templates_folder(setup),
        organization=setup.settings.sender.organization,
        digest=digest,
        # a post is read by anyone: the links are the public, token-free pages
        links=neutral_links(setup.settings, campaign)(None),
    )


def digest_post(setup: CampaignSetup, digest: Digest) -> str:
    """Return a veille digest as a blog post, one section per topic."""
    from ..compose.blog import digest_post as post_stage

    return post_stage(
        digest,
        templates=templates_folder(setup),
        language=setup.settings.workspace.language,
        subject=setup.settings.digest.subject,
        organization=setup.settings.sender.organization,
    )


def _is_variant(campaign: Campaign) -> bool:
    """Return True for one language of a campaign folder (``campaigns/NAME/en.md``)."""
    return campaign.path.stem == campaign.language and campaign.path.parent.name == campaign.id


def write_blog_post(
    setup: CampaignSetup, campaign: Campaign, *, folder: Path | None = None
) -> Path:
    """Write the campaign as a Markdown post into ``folder`` (default ``out/blog``)."""
    folder = folder or setup.path(setup.settings.paths.output) / "blog"
    folder.mkdir(parents=True, exist_ok=True)
    name = blog_file_name(campaign)
    if _is_variant(campaign) and campaign.language != setup.settings.workspace.language:
        # Hugo's translation by file name: post.md and post.en.md are one post in two languages
        name = f"{name.removesuffix('.md')}.{campaign.language}.md"
    target = folder / name
    target.write_text(campaign_post(setup, campaign), encoding="utf-8")
    return target
