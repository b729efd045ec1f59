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

from . import clock
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
    webinar: WebinarResult
    elapsed: float
    next_commands: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (paths as strings)."""
        return {
            k: str(v) if isinstance(v, Path) else v.to_dict() if hasattr(v, "to_dict") else v
            for k, v in self.__dict__.items()
        }


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
    """Run fetch → digest → import → compose → send (to the outbox) → blog → webinar, offline.

    The webinar part invites partners to the shipped event (moved to next week), registers a
    few through the web app on a loopback port, sends their confirmations and a reminder, and
    imports an attendance export.

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
    # the veille reads the machine's clock; the webinar's registration pages, its deadline and
    # reminders read commskit's one clock (COMMSKIT_NOW when pinned): the event moves with it
    shift_sample_dates(root / "feeds" / "samples", datetime.now(UTC))
    event_start = move_demo_event(root, clock.now())

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

        webinar = run_webinar(ws, event_start, say)

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
            webinar=webinar,
            elapsed=time.monotonic() - started,
            next_commands=[
                f"cd {root}",
                "commskit digest --since 7d --format text",
                f"commskit segment {audience}",
                f"commskit preview {campaign.id}",
                "commskit status",
                f"commskit send {campaign.id} --yes    # a re-run sends nothing twice",
                f"commskit events show {DEMO_EVENT}",
                "commskit serve    # the registration and unsubscribe pages",
            ],
        )


# --- the webinar: invitation, registrations over HTTP, confirmations, a reminder, attendance ---

DEMO_EVENT = "webinaire-tableau-de-bord"
DEMO_INVITATION = "2026-12-webinaire"
#: how many invited partners register through the web app (one of them then misses it)
DEMO_REGISTRANTS = 3
_REGISTER_LINK = re.compile(r"https?://[^\s\"'<>]+/evenements/[^\s\"'<>/]+/inscription/[\w-]+")
_FRENCH_MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


@dataclass(frozen=True)
class WebinarResult:
    """What the demo's webinar did."""

    event: str
    start: datetime
    invited: int
    registered: int
    confirmations: int
    reminders: int
    attended: int
    no_show: int
    attendance_file: Path

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            k: str(v) if isinstance(v, Path) else v.isoformat() if isinstance(v, datetime) else v
            for k, v in self.__dict__.items()
        }


def move_demo_event(root: Path, now: datetime) -> datetime:
    """Move the shipped webinar to a week after ``now`` (10:00 Paris time), in the demo
    workspace only.

    The shipped event file has a fixed date; the demo must tell the same story whatever the day:
    registrations open, the deadline the day before at 18:00. Returns the new start (local time,
    naive, as the file writes it). The invitations and the newsletter name the new date.
    """
    day = (now + timedelta(days=7)).date()
    start = datetime(day.year, day.month, day.day, 10, 0)
    deadline = start - timedelta(days=1) + timedelta(hours=8)
    path = root / "events" / f"{DEMO_EVENT}.toml"
    text = path.read_text(encoding="utf-8")
    for key, value in (
        ("start", start),
        ("end", start + timedelta(hours=1)),
        ("registration_deadline", deadline),
    ):
        text = re.sub(rf"(?m)^{key}\s*=.*$", f"{key} = {value.isoformat()}", text)
    path.write_text(text, encoding="utf-8")
    french = f"{day.day} {_FRENCH_MONTHS[day.month - 1]}"
    for name, date_text in (
        (f"{DEMO_INVITATION}.md", french),
        ("2026-12-webinar-en.md", f"{day.day} {day.strftime('%B')}"),
        (f"{DEMO_CAMPAIGN}/fr.md", french),  # the newsletter announces the webinar too
    ):
        campaign = root / "campaigns" / name
        if campaign.exists():
            body = campaign.read_text(encoding="utf-8")
            body = body.replace("3 décembre", date_text).replace("3 December", date_text)
            campaign.write_text(body, encoding="utf-8")
    return start


def _registration_links(outbox: Path, since: set[str]) -> list[str]:
    """Return the personal registration links in the invitations added to the outbox."""
    from email import message_from_bytes, policy

    links = []
    for path in sorted((outbox / "new").iterdir()):
        if path.name in since:
            continue
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        found = _REGISTER_LINK.search(body.get_content() if body is not None else "")
        if found:
            links.append(found.group(0))
    return links


def _register_over_http(base: str, link: str) -> int:
    """Open a registration link on the local web app as a browser would, then press the button.

    Returns the POST's status. GET shows the page and sets the CSRF cookie; the form's hidden
    field goes back with the cookie.
    """
    from urllib.parse import urlencode, urlsplit
    from urllib.request import ProxyHandler, Request, build_opener

    # straight to loopback: a proxy from the environment must not see these links
    urlopen = build_opener(ProxyHandler({})).open
    local = base + urlsplit(link).path
    with urlopen(local, timeout=30) as answer:
        page = answer.read().decode("utf-8")
        cookie = answer.headers.get("Set-Cookie", "").split(";", 1)[0]
    field = re.search(r'name="csrf" value="([^"]+)"', page)
    if field is None:
        raise CommskitError("the registration page shows no button", hint="Run the test suite")
    data = urlencode({"csrf": field.group(1)}).encode("ascii")
    request = Request(local, data=data, headers={"Cookie": cookie}, method="POST")  # noqa: S310
    with urlopen(request, timeout=30) as answer:
        return int(answer.status)


def run_webinar(ws: Workspace, start: datetime, say: Step) -> WebinarResult:
    """Invite, register a few partners through the real web app, confirm, remind, import who came.

    The web app runs on a free loopback port with the production server (waitress), as
    ``commskit serve`` runs it; the registrations are the links in the invitations just sent.
    """
    import threading
    from zoneinfo import ZoneInfo

    from .web.app import create_app
    from .web.server import make_server

    outbox = ws.path(DEMO_OUTBOX)
    before = {p.name for p in (outbox / "new").iterdir()} if (outbox / "new").exists() else set()
    say("Sending the webinar invitation")
    invited = ws.send(ws.campaign(DEMO_INVITATION), yes=True).sent
    links = _registration_links(outbox, before)[:DEMO_REGISTRANTS]

    say(f"Registering {len(links)} partners through the web app")
    app = create_app(ws)
    server = make_server(app, "127.0.0.1", 0, settings=ws.settings.web)
    thread = threading.Thread(target=server.serve_forever, name="commskit-demo-web", daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        registered = sum(_register_over_http(base, link) == 200 for link in links)
        notifier = app.context.on_registered
        if hasattr(notifier, "join"):
            notifier.join()  # the confirmations the web app sent in the background
    finally:
        server.shutdown()
        thread.join(timeout=10)
    # whatever the background thread could not send (none, normally) goes now
    ws.send_event_confirmations(DEMO_EVENT)
    confirmations = sum(
        int(row["sent"])
        for row in ws.send_status()
        if str(row["campaign"]).startswith(f"event:{DEMO_EVENT}:confirmation:")
    )

    say("Sending the reminder the day before")
    zone = ZoneInfo(ws.event(DEMO_EVENT).timezone or "Europe/Paris")
    eve = start.replace(tzinfo=zone).astimezone(UTC) - timedelta(hours=23)
    reminders = sum(r.sent for r in ws.send_event_reminders(DEMO_EVENT, now=eve))

    say("Importing the webinar tool's attendance export")
    people = ws.event_details(DEMO_EVENT).registrations
    came = [r.email for r in people if r.status == "registered"][:-1]
    attendance = ws.path(ws.settings.paths.output) / "participants-webinaire.csv"
    attendance.write_text(
        "Adresse e-mail;Durée (min)\n" + "".join(f"{email};55\n" for email in came),
        encoding="utf-8",
    )
    report = ws.import_attendance(DEMO_EVENT, attendance)
    return WebinarResult(
        event=DEMO_EVENT,
        start=start,
        invited=invited,
        registered=registered,
        confirmations=confirmations,
        reminders=reminders,
        attended=report.attended,
        no_show=report.no_show,
        attendance_file=attendance,
    )
