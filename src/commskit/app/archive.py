"""The public archive: a static site of the campaigns sent to lists marked public.

``commskit archive -o DIR`` gathers, from the send log, the campaigns that were sent (at least
one message accepted) to a list with ``[lists.NAME] public = true``, renders each one in each of
its languages **for nobody** (personal tags empty, no unsubscribe link, the links neutral: no
token anywhere) and writes one page per campaign and language, an index and an Atom feed per
list and language, and a home page. Re-running writes the same bytes (dates come from the send
log, never the clock) and touches no unchanged file. A page whose campaign file was removed or
whose list is no longer public is removed: making a list private must unpublish it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audience.contacts import Contact
from ..errors import CampaignError, ConfigError
from ..policy import page_url
from ..render import archive as site
from . import campaigns
from .links import base_url as public_base_url

if TYPE_CHECKING:
    from ..compose.campaign import Campaign
    from ..config import Settings
    from .campaigns import CampaignSetup

#: the file listing what the last run wrote, so that a later run removes only its own pages
MANIFEST = ".commskit-archive"


@dataclass
class ArchiveReport:
    """What one ``commskit archive`` run did."""

    folder: Path
    pages: int = 0  # campaign pages (one per campaign and language)
    written: list[str] = field(default_factory=list)  # files created or changed
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    #: sent campaigns of a public list whose file is gone (their pages are removed)
    missing: list[str] = field(default_factory=list)


def public_lists(settings: Settings) -> list[str]:
    """Return the lists marked ``public = true`` in ``[lists.*]``, in settings order."""
    out = []
    for name, table in settings.lists.items():
        value = table.get("public", False)
        if not isinstance(value, bool):
            raise ConfigError(
                f"[lists.{name}] public must be true or false",
                path=settings.source,
                hint="Write it as public = true (the list's sent campaigns go in the archive)",
            )
        if value:
            out.append(name)
    return out


def online_url(settings: Settings, campaign: Campaign) -> str:
    """Return the campaign's page in the public archive, or "" (list not public, no base_url)."""
    base = settings.archive.base_url.rstrip("/")
    if not base or campaign.list_name not in public_lists(settings):
        return ""
    return f"{base}/{campaign.list_name}/{campaign.language}/{campaign.id}.html"


def neutral_links(settings: Settings, campaign: Campaign) -> Any:
    """Return the link builder of the archive: the same token-free links for everybody."""
    base = public_base_url(settings)
    links = {"preferences": page_url(base, "signup", list=campaign.list_name)}
    if campaign.event is not None:
        event = page_url(base, "event", event=campaign.event.name)
        links.update(event=event, register=event, event_cancel=event)

    def build(_recipient: Any) -> Mapping[str, str]:
        return links

    return build


def render_for_nobody(setup: CampaignSetup, campaign: Campaign, sent_at: dt.datetime) -> str:
    """Return the HTML of one language of ``campaign`` as its archive page shows it.

    The veille section shows the items of the send's first run (its window ends then).
    """
    from ..render.compiled import compile_campaign as compile_stage

    settings = setup.settings
    compiled = compile_stage(
        campaign,
        templates=campaigns.templates_folder(setup),
        sender=settings.sender,
        unsubscribe_url=settings.unsubscribe.url,
        digest=campaigns.veille_digest(setup, campaign, now=sent_at),
        extra_context={"archive": True, "online_url": ""},
        list_title=campaigns.list_title(setup, campaign.list_name, campaign.language),
        links=neutral_links(settings, campaign),
    )
    nobody = Contact(id=0, email="", language=campaign.language)
    return compiled.render(nobody, unsubscribe_url="").html


def write_archive(setup: CampaignSetup, folder: Path) -> ArchiveReport:
    """Write the public archive into ``folder`` (see the module docstring)."""
    settings = setup.settings
    report = ArchiveReport(folder)
    files: dict[str, bytes] = {}
    entries: dict[tuple[str, str], list[site.ArchiveEntry]] = {}
    for campaign, sent_at in _published(setup, report):
        for language in campaign.languages:
            variant = campaign.variant(language)
            entry = site.ArchiveEntry(
                campaign.list_name,
                language,
                campaign.id,
                variant.subject,
                variant.preheader,
                sent_at,
            )
            files[entry.path] = render_for_nobody(setup, variant, sent_at).encode()
            entries.setdefault((campaign.list_name, language), []).append(entry)
            report.pages += 1
    sections = []
    for list_name in public_lists(settings):
        for language in ("fr", "en"):  # French first
            found = sorted(
                entries.get((list_name, language), []), key=lambda e: (e.sent_at, e.campaign_id)
            )[::-1]
            if not found and language != "fr":
                continue
            title = campaigns.list_title(setup, list_name, language) or list_name
            sections.append((list_name, language, title))
            files[f"{list_name}/{language}/index.html"] = site.list_index(title, language, found)
            files[f"{list_name}/{language}/atom.xml"] = site.atom_feed(
                title,
                language,
                found,
                base_url=settings.archive.base_url,
                feed_id=_feed_id(settings.archive.base_url, list_name, language),
                author=settings.sender.organization or list_name,
            )
    files["index.html"] = site.home(sections)
    _write(folder, files, report)
    return report


def _feed_id(base_url: str, list_name: str, language: str) -> str:
    if base_url:
        return f"{base_url.rstrip('/')}/{list_name}/{language}/atom.xml"
    return f"urn:commskit:{list_name}:{language}"


def _published(setup: CampaignSetup, report: ArchiveReport) -> list[tuple[Campaign, dt.datetime]]:
    """Return the sent campaigns of public lists, with their first send's time (UTC)."""
    public = set(public_lists(setup.settings))
    if not public:
        return []
    repo = setup.store().sends
    out = []
    for campaign_id in repo.campaign_ids():
        record = repo.campaign(campaign_id)
        if record is None or record.list_name not in public:
            continue
        if repo.counts(campaign_id).get("sent", 0) == 0:
            continue  # a dry run or a send that reached nobody publishes nothing
        try:
            campaign = campaigns.load(setup, campaign_id)
        except CampaignError:
            report.missing.append(campaign_id)  # its file is gone: its pages go too
            continue
        if campaign.list_name not in public:
            continue
        sent_at = dt.datetime.fromisoformat(record.created_at)
        out.append((campaign, sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=dt.UTC)))
    return out


def _write(folder: Path, files: Mapping[str, bytes], report: ArchiveReport) -> None:
    """Write what changed, remove what the last run wrote and this one did not."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST
    before = manifest.read_text(encoding="utf-8").split() if manifest.is_file() else []
    for relative, data in sorted(files.items()):
        target = folder / relative
        if target.is_file() and target.read_bytes() == data:
            report.unchanged += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        report.written.append(relative)
    root = folder.resolve()
    for relative in before:
        stale = (folder / relative).resolve()
        # only a file of this folder: an edited manifest must not reach anything else
        if relative not in files and stale.is_relative_to(root) and stale.is_file():
            (folder / relative).unlink()
            report.removed.append(relative)
    listing = "".join(f"{name}\n" for name in sorted(files))
    if not manifest.is_file() or manifest.read_text(encoding="utf-8") != listing:
        manifest.write_text(listing, encoding="utf-8")
