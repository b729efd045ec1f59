"""Run the whole pipeline offline on the shipped sample data (``commskit demo``).

The demo is an ordinary workspace made by :meth:`Workspace.init`, with two settings changed so it
stays on this machine: feeds come from the offline snapshots in ``feeds/samples/`` and mail goes
to a Maildir outbox in ``out/outbox``. The sample feeds are static files, so their dates are moved
forward to end yesterday: the digest and the newsletter's veille section then look as they would
on a real Monday, whatever the date.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from .errors import CommskitError
from .workspace import Workspace

DEMO_CAMPAIGN = "2026-11-infolettre"
DEMO_CONTACTS = "contacts/partenaires-demo.csv"
DEMO_SOURCES = "feeds/samples/*.toml"
DEMO_OUTBOX = "out/outbox"

Step = Callable[[str], None]


@dataclass(frozen=True)
class DemoResult:
    """What the demo did and where its outputs are (every path exists when it returns)."""

    root: Path
    feeds: int
    new_items: int
    feed_errors: int
    digest_items: int
    digest_topics: int
    digest_markdown: Path
    digest_html: Path
    contacts_imported: int
    campaign: str
    subject: str
    veille_items: int
    audience: str
    preview_html: Path
    preview_text: Path
    preview_eml: Path
    sent: int
    suppressed: int
    outbox: Path
    blog_post: Path
    elapsed: float
    next_commands: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}


_ISO_TAGS = re.compile(
    r"(<(?P<tag>updated|published|dc:date|created|modified)>)(?P<value>[^<]+)(</(?P=tag)>)"
)
_RFC822_TAGS = re.compile(r"(<(?P<tag>pubDate|lastBuildDate)>)(?P<value>[^<]+)(</(?P=tag)>)")


def _parse_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_rfc822(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _newest_date(texts: Iterable[str]) -> datetime | None:
    """Return the latest date written in any of the feed texts (Atom or RSS tags), or None."""
    moments = [
        moment
        for text in texts
        for tags, parse in ((_ISO_TAGS, _parse_iso), (_RFC822_TAGS, _parse_rfc822))
        for match in tags.finditer(text)
        if (moment := parse(match["value"])) is not None
    ]
    return max(moments, default=None)


def shift_sample_dates(folder: Path, now: datetime) -> int:
    """Move every date in the sample feeds by whole days so the newest falls on yesterday.

    Returns the number of days moved (0 when the samples are already recent). Time of day and
    order are kept, so the feeds read exactly as written, only later.
    """
    files = sorted(folder.glob("*.xml"))
    texts = {path: path.read_text(encoding="utf-8") for path in files}
    newest = _newest_date(texts.values())
    if newest is None:
        return 0
    days = (now.date() - newest.astimezone(UTC).date()).days - 1
    if days <= 0:
        return 0
    delta = timedelta(days=days)

    def iso(match: re.Match[str]) -> str:
        moment = _parse_iso(match["value"])
        if moment is None:
            return match[0]
        shifted = (moment + delta).isoformat().replace("+00:00", "Z")
        return f"{match[1]}{shifted}{match[4]}"

    def rfc822(match: re.Match[str]) -> str:
        moment = _parse_rfc822(match["value"])
        if moment is None:
            return match[0]
        return f"{match[1]}{format_datetime(moment + delta)}{match[4]}"

    for path, text in texts.items():
        path.write_text(_RFC822_TAGS.sub(rfc822, _ISO_TAGS.sub(iso, text)), encoding="utf-8")
    return days


def _point_settings_at_samples(config: Path) -> None:
    """Make the demo workspace's commskit.toml use the offline feeds and the out/ outbox."""
    text = config.read_text(encoding="utf-8")
    text, feeds = re.subn(
        r"(?m)^sources\s*=.*$", f'sources = ["{DEMO_SOURCES}"]  # the demo: offline samples', text
    )
    text, transport = re.subn(
        r"(?m)^url\s*=\s*\"outbox:[^\"]*\"", f'url = "outbox:{DEMO_OUTBOX}"', text
    )
    if not feeds or not transport:
        raise CommskitError(
            "the shipped commskit.toml has no [feeds] sources or outbox transport url to adapt",
            path=config,
            hint="Reinstall commskit; the shipped examples look modified",
        )
    config.write_text(text, encoding="utf-8")


def _prepare(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="commskit-demo-"))
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise CommskitError(
            f"{directory} is not empty",
            hint="Give --dir a new or empty folder (the demo never writes over your files)",
        )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def run_demo(directory: Path | None = None, *, step: Step | None = None) -> DemoResult:
    """Run fetch → digest → import → compose → send (to the outbox) → blog, offline.

    ``directory`` must be new or empty (default: a fresh temporary folder). ``step`` is called
    with a short description before each stage, for progress display.
    """
    from .compose.veille import veille_items
    from .feeds.digest_formats import render_digest

    say = step or (lambda _message: None)
    started = time.monotonic()
    root = _prepare(directory)
    Workspace.init(root).close()
    _point_settings_at_samples(root / "commskit.toml")
    shift_sample_dates(root / "feeds" / "samples", datetime.now(UTC))

    with Workspace.open(root) as ws:
        say("Fetching the sample feeds")
        fetched = ws.fetch()

        say("Building the veille digest")
        digest = ws.digest(since=ws.settings.digest.since, mark=True)
        out = ws.path(ws.settings.paths.output)
        out.mkdir(parents=True, exist_ok=True)
        digest_md = out / "veille.md"
        digest_md.write_text(render_digest(digest, "markdown"), encoding="utf-8")
        digest_html = out / "veille.html"
        digest_html.write_text(ws.render_digest_html(digest), encoding="utf-8")

        say("Importing the demo partners")
        imported = ws.contacts.import_file(ws.path(DEMO_CONTACTS))

        say("Composing the newsletter")
        campaign = ws.campaign(DEMO_CAMPAIGN)
        veille = veille_items(campaign, ws.veille_digest(campaign))
        audience = campaign.audience or ""
        first = next(iter(ws.segment(audience, list_name=campaign.list_name)), None)
        files = ws.render_files(campaign, to=first.email if first else None, folder=out)

        # one partner of the segment unsubscribed last month: the send must skip them
        members = list(ws.segment(audience, list_name=campaign.list_name))
        if len(members) > 1:
            ws.contacts.unsubscribe(
                members[-1].email, list_name=campaign.list_name, source="demo: unsubscribed"
            )

        say(f"Sending to the segment {audience!r} through the outbox")
        report = ws.send(campaign, yes=True)

        say("Writing the blog draft")
        blog_post = ws.write_blog_post(campaign, folder=out / "blog")

        outbox = ws.path(DEMO_OUTBOX)
        return DemoResult(
            root=root,
            feeds=len(fetched.results),
            new_items=fetched.new_items,
            feed_errors=len(fetched.failed),
            digest_items=digest.total,
            digest_topics=len(digest.sections),
            digest_markdown=digest_md,
            digest_html=digest_html,
            contacts_imported=imported.imported,
            campaign=campaign.id,
            subject=campaign.subject,
            veille_items=len(veille),
            audience=audience,
            preview_html=files.html,
            preview_text=files.text,
            preview_eml=files.eml,
            sent=report.sent,
            suppressed=report.preflight.suppressed,
            outbox=outbox / "new",
            blog_post=blog_post,
            elapsed=time.monotonic() - started,
            next_commands=[
                f"cd {root}",
                "commskit digest --since 7d --format text",
                f"commskit segment {audience}",
                f"commskit preview {campaign.id}",
                "commskit status",
                f"commskit send {campaign.id} --yes    # a re-run sends nothing twice",
            ],
        )
