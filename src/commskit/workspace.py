"""The workspace: one folder of plain files plus one SQLite database.

:class:`Workspace` is the object scripts import; every CLI command is a thin layer over one of its
methods or over a stage object it hands out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .config import CONFIG_FILE, Settings, load_settings
from .errors import WorkspaceExistsError, WorkspaceNotFoundError
from .examples import EXAMPLE_DIRS, examples_root
from .keyfile import create_secret_file, load_secret
from .store import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date, datetime

    from .app.event_mail import EventMailReport, EventMailSetup
    from .app.events import AttendanceReport, EventDetails, EventSummary, RegisterResult
    from .app.run import DueSource, RunReport
    from .app.sequences import SequenceStatus
    from .audience import Contact, ContactBook, Segment
    from .compose.sequence import SequenceSpec
    from .events.model import EventSpec
    from .feeds import Digest, FeedLists, FeedSource, FetchReport, TopicRules
    from .feeds.veille import FeedStatus, ImportReport, RuleTest
    from .progress import Progress
    from .send import PreflightReport
    from .send.doctor import DoctorReport
    from .store.signups import ContactRequest

CONFIG_ENV = "COMMSKIT_CONFIG"

_GITIGNORE = """\
# commskit state: SQLite database, outbox, secret key. Back it up; never commit it.
.commskit/
out/
"""


def find_root(start: Path) -> Path | None:
    """Return the nearest folder at or above ``start`` holding ``commskit.toml``, as git does."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


class Workspace:
    """A commskit workspace: settings, plain files and the state store."""

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings

    @property
    def settings(self) -> Settings:
        """The workspace's settings; replacing them also renews what was built from them."""
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings
        self.__dict__.pop("contacts", None)  # the contact book holds settings sections

    # --- opening and creating --------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = ".",
        *,
        config: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Workspace:
        """Open the workspace containing ``path`` (searching upward for ``commskit.toml``).

        ``config`` names a settings file explicitly (else ``COMMSKIT_CONFIG``, else the one found);
        ``overrides`` are settings that win over the file and the environment, as CLI flags do.
        """
        env = os.environ if environ is None else environ
        config = config or env.get(CONFIG_ENV) or None
        if config is not None:
            config_path = Path(config).resolve()
            if not config_path.is_file():
                raise WorkspaceNotFoundError(
                    "settings file not found",
                    path=str(config),
                    hint="Check the path, or run `commskit init`",
                )
            root = config_path.parent
        else:
            found = find_root(Path(path))
            if found is None:
                raise WorkspaceNotFoundError(
                    f"no {CONFIG_FILE} in {Path(path).resolve()} or any parent folder",
                    hint="Run `commskit init DIR` to create a workspace, or pass -C DIR",
                )
            root = found
            config_path = root / CONFIG_FILE
        settings = load_settings(config_path, environ=env, overrides=overrides)
        return cls(root, settings)

    @classmethod
    def init(cls, path: str | os.PathLike[str], *, force: bool = False) -> Workspace:
        """Create a workspace in ``path`` from the shipped examples and open it.

        Refuses to touch a folder that already holds a ``commskit.toml`` unless ``force``; never
        overwrites an existing file even then.
        """
        root = Path(path).resolve()
        if (root / CONFIG_FILE).exists() and not force:
            raise WorkspaceExistsError(
                f"{root} is already a commskit workspace",
                hint="Open it as it is, or choose another folder",
            )
        source = examples_root()
        root.mkdir(parents=True, exist_ok=True)
        copy_examples(source, root)
        gitignore = root / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text(_GITIGNORE, encoding="utf-8")
        ws = cls.open(root)
        create_secret_file(ws.state_dir)
        ws.store.set_meta("created_by", "commskit init")
        return ws

    # --- places ----------------------------------------------------------------------------

    def path(self, relative: str | os.PathLike[str]) -> Path:
        """Resolve a path given relative to the workspace root (absolute paths pass through)."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def state_dir(self) -> Path:
        return self.path(self.settings.paths.state)

    @cached_property
    def store(self) -> Store:
        """The state database, created and migrated on first use."""
        return Store(self.state_dir / "state.db", timeout=self.settings.store.lock_timeout)

    @cached_property
    def secret(self) -> bytes:
        """The signing/hashing key (``COMMSKIT_SECRET`` or ``.commskit/secret``)."""
        return load_secret(self.state_dir)

    def close(self) -> None:
        """Close the state database if it was opened."""
        if "store" in self.__dict__:
            self.store.close()
            del self.__dict__["store"]

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # --- veille (feeds, fetch, digest) -----------------------------------------------------

    def feed_rules(self) -> TopicRules:
        """Return the topic rules (``feeds/topics.toml`` or settings.feeds.rules)."""
        from .app import veille

        return veille.rules(self.root, self.settings.feeds)

    def feed_lists(self) -> FeedLists:
        """Return every feed of the lists selected by settings.feeds.sources."""
        from .app import veille

        return veille.feed_lists(self.root, self.settings.feeds)

    def feed_status(self) -> list[FeedStatus]:
        """Return every listed feed with its fetch state (errors, last fetch, deactivation)."""
        from .app import veille

        return veille.feed_status(self.root, self.settings.feeds, self.store.feeds)

    def fetch(self, progress: Progress | None = None, *, force: bool = False) -> FetchReport:
        """Fetch every enabled feed and store the new items; per-feed failures are reported.

        ``force`` also retries deactivated and backed-off feeds.
        """
        from .app import veille

        return veille.fetch(
            self.root,
            self.settings.feeds,
            self.settings.digest,
            self.store.feeds,
            progress,
            force=force,
        )

    def digest(
        self,
        name: str | None = None,
        since: str | datetime | date | None = None,
        topics: Sequence[str] | None = None,
        max_per_topic: int | None = None,
        *,
        mark: bool = False,
        now: datetime | None = None,
    ) -> Digest:
        """Build the veille digest (``since``: 7d, 24h, 2026-11-01, last, all or a datetime).

        ``mark`` records it so ``since="last"`` never repeats its items; ``now`` (default: the
        current time) is the end of the period and the reference for recency ranking.
        """
        from .app import veille

        return veille.digest(
            self.root,
            self.settings.feeds,
            self.settings.digest,
            self.store.feeds,
            language=self.settings.workspace.language,
            name=name,
            since=since,
            topics=topics,
            max_per_topic=max_per_topic,
            mark=mark,
            now=now,
        )

    def mark_digest(self, digest: Digest) -> None:
        """Record ``digest`` as sent (its end time and items), for ``since="last"``."""
        from .app import veille

        return veille.mark_digest(self.store.feeds, digest)

    def add_feed(
        self,
        url: str,
        *,
        name: str | None = None,
        topics: Sequence[str] = (),
        tags: Sequence[str] = (),
        weight: float = 1.0,
        to: str | os.PathLike[str] | None = None,
    ) -> FeedSource:
        """Append a feed to a TOML feed list (``to``: that list; default: the first TOML list).

        Unknown topics and a URL already listed are refused; the list's comments are kept.
        """
        from .app import veille

        return veille.add_feed(
            self.root,
            self.settings.feeds,
            url,
            name=name,
            topics=topics,
            tags=tags,
            weight=weight,
            to=to,
        )

    def remove_feed(self, name_or_url: str) -> FeedSource:
        """Delete a feed from its TOML list (its stored items leave future digests)."""
        from .app import veille

        return veille.remove_feed(self.root, self.settings.feeds, name_or_url)

    def reset_feed(self, name_or_url: str) -> FeedSource:
        """Clear a feed's errors, back-off and deactivation so the next fetch tries it again."""
        from .app import veille

        return veille.reset_feed(self.root, self.settings.feeds, self.store.feeds, name_or_url)

    def import_opml(self, path: str | os.PathLike[str], *, to: str | None = None) -> ImportReport:
        """Add the feeds of an OPML file to a TOML list; folders become topics."""
        from .app import veille

        return veille.import_opml(self.root, self.settings.feeds, Path(path), to=to)

    def export_opml(self) -> str:
        """Return every listed feed as OPML 2.0 (topics as folders and categories)."""
        from .app import veille

        return veille.export_opml(
            self.root, self.settings.feeds, title=self.settings.workspace.name
        )

    def try_rules(
        self, text: str | None = None, *, stored: bool = False, topic: str | None = None
    ) -> list[RuleTest]:
        """Show which topics (and keywords) match a text or the latest stored items."""
        from .app import veille

        return veille.try_rules(
            self.root, self.settings.feeds, self.store.feeds, text, stored=stored, topic=topic
        )

    # --- compose and render ----------------------------------------------------------------

    if TYPE_CHECKING:
        from .app.archive import ArchiveReport
        from .app.campaigns import CampaignSetup, RenderedFiles
        from .app.preview import CampaignPreview
        from .compose.campaign import Campaign
        from .render.compiled import CompiledCampaign
        from .render.variants import CompiledVariants

    def campaign_setup(self) -> CampaignSetup:
        """Return what the campaign use cases (:mod:`commskit.app.campaigns`) take from here."""
        from .app.campaigns import CampaignSetup

        return CampaignSetup(
            root=self.root,
            settings=self.settings,
            store=lambda: self.store,
            secret=lambda: self.secret,
            contacts=lambda: self.contacts,
        )

    def campaign(self, path_or_name: str | os.PathLike[str]) -> Campaign:
        """Load and validate a campaign file (a path, or a name in the campaigns folder)."""
        from .app import campaigns

        return campaigns.load(self.campaign_setup(), Path(path_or_name))

    def campaigns(self) -> list[Campaign]:
        """Load every campaign file of the workspace, sorted by file name."""
        from .app import campaigns

        return campaigns.load_all(self.campaign_setup())

    def list_names(self) -> set[str]:
        """Return the mailing lists the workspace's files name: [lists], campaigns, the digest.

        A campaign file that does not load is passed over (its own commands report it).
        """
        from .app import campaigns

        return campaigns.list_names(self.campaign_setup())

    def compile(
        self,
        campaign: Campaign,
        *,
        digest: Digest | None = None,
        veille_now: datetime | None = None,
        extra_context: Mapping[str, Any] | None = None,
    ) -> CompiledCampaign | CompiledVariants:
        """Render everything that is the same for every recipient of ``campaign`` once.

        A campaign in several languages gives a
        :class:`~commskit.render.variants.CompiledVariants` (one compiled object per language;
        ``campaign.variant("en")`` compiles one language alone).

        Its veille section shows ``digest``, else the veille digest its ``veille:`` options
        select (``veille_now`` pins that window's end). Replaces ``campaign.compile(ws)``.
        """
        from .app import campaigns

        return campaigns.compile_campaign(
            self.campaign_setup(),
            campaign,
            digest=digest,
            veille_now=veille_now,
            extra_context=extra_context,
        )

    def compile_digest(
        self, digest: Digest, *, subject: str | None = None, list_name: str | None = None
    ) -> CompiledCampaign:
        """Compile a veille digest like a campaign, for the send engine (digest sends)."""
        from .app import campaigns

        return campaigns.compile_digest(
            self.campaign_setup(), digest, subject=subject, list_name=list_name
        )

    def render_digest_html(self, digest: Digest) -> str:
        """Render a veille digest to email-ready HTML with the ``digest`` MJML template."""
        from .app import campaigns

        return campaigns.render_digest_html(self.campaign_setup(), digest)

    def veille_digest(self, campaign: Campaign, *, now: datetime | None = None) -> Digest | None:
        """Return the digest a campaign's ``veille:`` section shows (None: it has none)."""
        from .app import campaigns

        return campaigns.veille_digest(self.campaign_setup(), campaign, now=now)

    def render_files(
        self,
        campaign: Campaign,
        *,
        to: str | None = None,
        folder: str | os.PathLike[str] | None = None,
    ) -> RenderedFiles:
        """Render ``campaign`` for one contact (``to``, else a sample) into .html, .txt, .eml."""
        from .app import campaigns

        return campaigns.render_files(
            self.campaign_setup(),
            campaign,
            to=to,
            folder=None if folder is None else Path(folder),
        )

    def campaign_post(self, campaign: Campaign, *, digest: Digest | None = None) -> str:
        """Return the campaign as a blog post (Markdown with front matter)."""
        from .app import campaigns

        return campaigns.campaign_post(self.campaign_setup(), campaign, digest=digest)

    def digest_post(self, digest: Digest) -> str:
        """Return a veille digest as a blog post, one section per topic."""
        from .app import campaigns

        return campaigns.digest_post(self.campaign_setup(), digest)

    def write_blog_post(
        self, campaign: Campaign, *, folder: str | os.PathLike[str] | None = None
    ) -> Path:
        """Write the campaign as a Markdown post into ``folder`` (default ``out/blog``)."""
        from .app import campaigns

        return campaigns.write_blog_post(
            self.campaign_setup(), campaign, folder=None if folder is None else Path(folder)
        )

    def archive(self, folder: str | os.PathLike[str]) -> ArchiveReport:
        """Write the public archive (campaigns sent to ``public = true`` lists) into ``folder``.

        See :mod:`commskit.app.archive`: idempotent, token-free, French first.
        """
        from .app.archive import write_archive

        return write_archive(self.campaign_setup(), Path(folder))

    def preview(
        self, campaign_ref: str, *, to: str | None = None, language: str | None = None
    ) -> CampaignPreview:
        """Return a live preview of a campaign (re-rendered when its files change).

        ``language`` shows that variant of a campaign written in several languages.
        """
        from .app.preview import CampaignPreview

        return CampaignPreview(self.campaign_setup(), campaign_ref, to=to, language=language)

    # --- audience --------------------------------------------------------------------------

    @cached_property
    def contacts(self) -> ContactBook:
        """The partner list: import, look up, suppress, erase (see docs/audience.md)."""
        from .audience import ContactBook
        from .audience.book import BookSettings

        return ContactBook(
            lambda: self.store,  # reopened after close(), as the book may outlive it
            lambda: self.secret,  # loaded on first use: listing contacts needs no key
            BookSettings.from_settings(self.settings),
            list_names=self.list_names,
        )

    def segment(
        self,
        expression_or_name: str,
        *,
        include_suppressed: bool = False,
        list_name: str | None = None,
    ) -> Segment:
        """Return the contacts a segment expression or a ``[segments]`` name selects.

        Suppressed contacts are left out unless ``include_suppressed``; ``list_name`` also
        leaves out those unsubscribed from that list. See docs/segments.md::

            ws.segment('kind = "AOM" and region = "Bretagne"').count()
            for contact in ws.segment("aom-a-convaincre", list_name="infolettre"): ...
        """
        return self.contacts.segment(
            expression_or_name, include_suppressed=include_suppressed, list_name=list_name
        )

    # --- send ------------------------------------------------------------------------------

    if TYPE_CHECKING:
        from collections.abc import Iterator

        from .app.inbox import InboxReport
        from .app.sending import SendSetup
        from .send import PreflightReport, SendOptions, SendReport
        from .send.bounces import BounceReport
        from .send.status import CampaignCheck

    def send(
        self,
        campaign: Campaign | str | os.PathLike[str],
        *,
        dry_run: bool = False,
        test: str | None = None,
        limit: int | None = None,
        yes: bool = False,
        retry_failed: bool = False,
        retry_unknown: bool = False,
        allow_changed: bool = False,
        audience: str | None = None,
        options: SendOptions | None = None,
        progress: Progress | None = None,
        confirm: Callable[[PreflightReport], bool] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> SendReport:
        """Send a campaign (object, path or name) to its audience; re-running resumes it.

        Pre-flight renders every recipient first; more than one message needs ``yes=True`` or a
        ``confirm(preflight_report) -> bool`` callback. ``warn(text)`` hears the warnings about
        the sender's standing (doctor, the last campaigns' rates) before anything is sent;
        they are in ``report.preflight.warnings`` too. See docs/sending.md.
        """
        from .app.sending import send_campaign
        from .send import SendOptions

        return send_campaign(
            self.send_setup(),
            campaign,
            options=options
            or SendOptions(
                dry_run=dry_run,
                test_address=test,
                limit=limit,
                yes=yes,
                retry_failed=retry_failed,
                retry_unknown=retry_unknown,
                allow_changed=allow_changed,
            ),
            audience=audience,
            progress=progress,
            confirm=confirm,
            warn=warn,
        )

    def send_digest(
        self,
        digest: Digest,
        *,
        recipients: list[str] | None = None,
        segment: str | None = None,
        dry_run: bool = False,
        test: str | None = None,
        progress: Progress | None = None,
        yes: bool = False,
        confirm: Callable[[PreflightReport], bool] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> SendReport:
        """Email a veille digest to [digest] recipients/segment, at most once per [digest] period.

        Like :meth:`send`, more than one message needs ``yes=True`` or a ``confirm`` callback,
        and ``warn`` hears the doctor's and the rates' warnings before anything is sent.
        Marking is left to the caller (``ws.mark_digest(digest)`` once the send finished), so a
        crash before the end leaves the items for the re-run. See docs/scheduling.md.
        """
        from .app.sending import send_digest

        return send_digest(
            self.send_setup(),
            digest,
            recipients=recipients,
            segment=segment,
            dry_run=dry_run,
            test_address=test,
            progress=progress,
            yes=yes,
            confirm=confirm,
            warn=warn,
        )

    def check_campaign(
        self,
        campaign: Campaign | str | os.PathLike[str],
        *,
        to: str | None = None,
        audience: str | None = None,
    ) -> CampaignCheck:
        """Check a campaign as ``send`` would, against its real audience (or one contact ``to``).

        See :func:`commskit.app.sending.check_campaign`.
        """
        from .app.sending import check_campaign

        return check_campaign(self.send_setup(), campaign, to=to, audience=audience)

    def send_status(self, campaign_id: str | None = None) -> list[dict[str, Any]]:
        """Return per-campaign send counts (pending, sent, failed, suppressed, unknown, ...)."""
        from .app.send_log import send_status

        return send_status(self.store.sends, self._find_campaign, campaign_id)

    def send_report(self, campaign_id: str) -> Iterator[dict[str, Any]]:
        """Yield one row per recipient of a campaign's send log."""
        from .app.send_log import send_report

        return send_report(self.store.sends, self._find_campaign, campaign_id)

    def send_history(self, contact: Contact | int) -> list[dict[str, Any]]:
        """Return what was sent to a contact (a Contact or its id), newest first."""
        from .app.send_log import send_history

        return send_history(self.store.sends, contact)

    # --- the preference centre's requests (docs/gdpr.md) ---------------------------------------

    def contact_requests(self, *, include_done: bool = False) -> list[ContactRequest]:
        """Return the "forget me" requests made from the preference centre, oldest first."""
        from .app.signup import contact_requests

        return contact_requests(self.store, include_done=include_done)

    def close_contact_request(self, request_id: int) -> bool:
        """Mark a preference-centre request carried out; False if no open one has that id."""
        from .app.signup import close_request

        return close_request(self.store, request_id)

    # --- events (docs/events.md) ----------------------------------------------------------------

    @property
    def events_folder(self) -> Path:
        """The folder of the ``events/NAME.toml`` files (``[events] folder``)."""
        from .app.events import event_folder

        return event_folder(self.root, self.settings.events.folder)

    def event(self, name: str) -> EventSpec:
        """Load and check ``events/NAME.toml`` (EventError names the file and the field)."""
        from .app.events import load

        return load(self.events_folder, name, default_timezone=self.settings.events.timezone)

    def events(self, *, now: datetime | None = None) -> list[EventSummary]:
        """Return every event file with its invited/registered/attended counts, upcoming first."""
        from .app.events import summaries

        return summaries(
            self.events_folder,
            self.store.events,
            default_timezone=self.settings.events.timezone,
            now=now,
        )

    def event_details(self, name: str) -> EventDetails:
        """Return an event, its stored UID/SEQUENCE and everyone's status (``events show``)."""
        from .app.events import details

        return details(
            self.events_folder,
            self.store.events,
            name,
            default_timezone=self.settings.events.timezone,
        )

    def import_attendance(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        mapping: Mapping[str, str] | None = None,
    ) -> AttendanceReport:
        """Import a webinar tool's attendance export: registrants become attended or no-show.

        ``mapping`` names columns as in contact imports (``{"Participant": "email"}``).
        """
        from .app.events import import_attendance
        from .policy import message_id_domain

        sender = self.settings.sender
        return import_attendance(
            self.events_folder,
            self.store,
            self.secret,
            name,
            self.path(path),
            default_timezone=self.settings.events.timezone,
            domain=message_id_domain(sender.domain, sender.from_),
            mapping=mapping or {},
        )

    def event_mail_setup(self) -> EventMailSetup:
        """Return the pieces the event mails of :mod:`commskit.app.event_mail` take."""
        from .app.event_mail import EventMailSetup
        from .policy import message_id_domain

        sender = self.settings.sender
        return EventMailSetup(
            campaigns=self.campaign_setup(),
            sending=self.send_setup(),
            folder=self.events_folder,
            default_timezone=self.settings.events.timezone,
            list_name=self.settings.events.list,
            domain=message_id_domain(sender.domain, sender.from_),
        )

    def register_for_event(
        self, name: str, contact_id: int, *, source: str = "web", now: datetime | None = None
    ) -> RegisterResult:
        """Register a contact for an event if the deadline, capacity and status allow it.

        Idempotent (a second call returns ``ALREADY``); see :func:`commskit.app.events.register`.
        The confirmation mail is not sent here: :meth:`send_event_confirmations` does.
        """
        from .app.events import register, stored_event
        from .policy import message_id_domain

        spec = self.event(name)
        sender = self.settings.sender
        domain = message_id_domain(sender.domain, sender.from_)
        record = stored_event(self.store.events, spec, domain=domain)
        return register(self.store.events, record, spec, contact_id, source=source, now=now)

    def cancel_event_registration(self, name: str, contact_id: int) -> bool:
        """Cancel a registrant's place (True if it changed; a second call changes nothing)."""
        from .app.events import cancel_registration

        record = self.store.events.get(self.event(name).name)
        return record is not None and cancel_registration(self.store.events, record, contact_id)

    def send_event_confirmations(
        self,
        name: str | None = None,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> list[EventMailReport]:
        """Send the confirmation (join URL, .ics, cancel link) to every registrant without one.

        One event (``name``) or all; over and cancelled events are passed over.
        """
        from .app.event_mail import send_confirmations

        return send_confirmations(
            self.event_mail_setup(), name, now=now, dry_run=dry_run, progress=progress
        )

    def send_event_reminders(
        self,
        name: str | None = None,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> list[EventMailReport]:
        """Send the reminders that are due (offset reached, event not started), once each."""
        from .app.event_mail import send_reminders

        return send_reminders(
            self.event_mail_setup(), name, now=now, dry_run=dry_run, progress=progress
        )

    def event_update(
        self,
        name: str,
        *,
        dry_run: bool = False,
        yes: bool = False,
        progress: Progress | None = None,
        confirm: Callable[[PreflightReport], bool] | None = None,
    ) -> EventMailReport:
        """Store an event file's changes; mail registrants an update (SEQUENCE + 1) if it moved.

        More than one message needs ``yes=True`` or a ``confirm`` callback, as for :meth:`send`.
        """
        from .app.event_mail import update_event

        return update_event(
            self.event_mail_setup(),
            name,
            dry_run=dry_run,
            yes=yes,
            progress=progress,
            confirm=confirm,
        )

    def event_cancel(
        self,
        name: str,
        *,
        note: str = "",
        dry_run: bool = False,
        yes: bool = False,
        progress: Progress | None = None,
        confirm: Callable[[PreflightReport], bool] | None = None,
    ) -> EventMailReport:
        """Cancel an event and mail its registrants METHOD:CANCEL with ``note``."""
        from .app.event_mail import cancel_event

        return cancel_event(
            self.event_mail_setup(),
            name,
            note=note,
            dry_run=dry_run,
            yes=yes,
            progress=progress,
            confirm=confirm,
        )

    def read_bounces(
        self, mailbox: str | os.PathLike[str], *, dry_run: bool = False
    ) -> BounceReport:
        """Read a Maildir or mbox of bounce reports into the suppression list (never deletes).

        Unsubscribe mails to ``[unsubscribe] mailto`` are honoured too (their token says whom
        and from which list).
        """
        from .app.bounces import read_bounces

        return read_bounces(
            self.store,
            self.contacts,
            Path(mailbox),
            dry_run=dry_run,
            unsubscribe_address=self.settings.unsubscribe.mailto,
        )

    def read_inbox(
        self,
        mailbox: str | os.PathLike[str],
        *,
        dry_run: bool = False,
        mark_seen: bool = False,
        progress: Progress | None = None,
    ) -> InboxReport:
        """Read a mailbox back into the partners' history (docs/inbox.md): replies,
        auto-replies, calendar replies, and the bounces, complaints and unsubscribe mails
        ``read_bounces`` acts on. ``mailbox`` is a Maildir, an mbox or ``imaps://USER@HOST/
        FOLDER`` (password from ``COMMSKIT_IMAP_PASSWORD``). Never deletes; flags ``\\Seen``
        only with ``mark_seen``.
        """
        from .app.inbox import read_inbox
        from .send.mailboxes import open_source

        source = open_source(os.fspath(mailbox))
        return read_inbox(
            self.store,
            self.contacts,
            source,
            dry_run=dry_run,
            mark_seen=mark_seen,
            unsubscribe_address=self.settings.unsubscribe.mailto,
            progress=progress,
        )

    def timeline(self, *, since: str = "30d") -> list[dict[str, Any]]:
        """Return every contact's timeline since ``since`` (30d, 2026-11-01, all), oldest first."""
        from .app.inbox import timeline

        return [row._asdict() for row in timeline(self.store, since=since)]

    def doctor(self, *, nameserver: str | None = None) -> DoctorReport:
        """Check the sender's DNS records (SPF, DMARC, MX, DKIM selector) and return findings.

        ``nameserver`` (``HOST[:PORT]``) asks that server instead of the system's resolver.
        The run is recorded under the state folder (``doctor.json``). Raises DoctorError when
        the nameserver does not answer in time.
        """
        from .app.doctor import check_domains, record_run

        settings = self.settings
        report = check_domains(
            settings.sender,
            settings.transport,
            settings.dkim,
            nameserver=nameserver,
            root=self.root,
        )
        record_run(self.state_dir, report)  # `send` warns when it failed or is a week old
        return report

    def dkim_keygen(self, selector: str, *, algorithm: Literal["rsa", "ed25519"] = "rsa") -> Any:
        """Write a new DKIM key (0600, in the state folder) and set [dkim] in commskit.toml to it.

        Returns a ``commskit.app.dkim.KeygenResult``: the key file, the settings changed (old and
        new values) and the DNS TXT record to publish. The workspace's settings are not reloaded:
        open it again to sign with the new key.
        """
        from .app.dkim import keygen

        return keygen(
            root=self.root,
            state_dir=self.state_dir,
            config_path=self.settings.source or self.root / CONFIG_FILE,
            dkim=self.settings.dkim,
            sender_from=self.settings.sender.from_,
            selector=selector,
            algorithm=algorithm,
        )

    # --- scheduled work: sequences, send_at, commskit run ------------------------------------

    def sequences(self) -> list[SequenceSpec]:
        """Load every sequences/NAME.toml; the first bad file raises SequenceError (file, line)."""
        from .app import sequences

        return sequences.load_all(self.send_setup())

    def sequence(self, name: str) -> SequenceSpec:
        """Load one sequence by name (or path)."""
        from .app import sequences

        return sequences.load(self.send_setup(), name)

    def sequence_status(self, name: str, *, with_contacts: bool = False) -> SequenceStatus:
        """Return a sequence's members per step, those still in, who left and why."""
        from .app import sequences

        setup = self.send_setup()
        return sequences.status(setup, sequences.load(setup, name), with_contacts=with_contacts)

    def schedule_send(self, campaign_ref: str, at: str | datetime) -> datetime:
        """Record that `commskit run` sends a campaign at ``at`` (local time of
        ``[events] timezone`` when it has no offset); return it in UTC. Sends nothing now."""
        from .app import run

        setup = self.send_setup()
        moment = run.local_time(at, self.settings.events.timezone) if isinstance(at, str) else at
        return run.schedule(setup, self.campaign(campaign_ref), moment)

    def run_sources(self, *, progress: Progress | None = None) -> list[tuple[str, DueSource]]:
        """Return the due-work sources of `commskit run`, in the order they run.

        Every file is read first: a bad sequence file raises before anything is sent. Then
        the event confirmations nobody got yet and the reminders that are due.
        """
        from .app import run

        setup = self.send_setup()
        specs = self.sequences()
        campaigns, broken = run.load_campaigns(setup)
        return [
            (
                "scheduled campaigns",
                run.scheduled_campaigns(setup, campaigns, progress, broken=broken),
            ),
            ("sequences", run.sequence_source(setup, specs, progress)),
            ("digest", self._digest_source()),
            (
                "event confirmations",
                run.event_mail_source(
                    self.send_event_confirmations, label="confirmation", progress=progress
                ),
            ),
            (
                "event reminders",
                run.event_mail_source(
                    self.send_event_reminders,
                    label="reminder",
                    progress=progress,
                    moments=self._reminder_moments,
                ),
            ),
        ]

    def _reminder_moments(self, after: datetime, until: datetime) -> list[datetime]:
        from .app.event_mail import reminder_moments

        return reminder_moments(self.event_mail_setup(), after, until)

    def _digest_source(self) -> DueSource:
        """`commskit run`'s digest: fetch, build, send and mark once the schedule has come."""
        from .app import run
        from .errors import PreflightError
        from .send.digest import period_key

        settings = self.settings.digest

        def job(moment: datetime) -> str:
            return f"{settings.name}-{period_key(moment, settings.period)}"

        def done(campaign_id: str) -> bool:
            try:
                rows = self.send_status(campaign_id)
            except PreflightError:  # this period's digest was never sent
                return False
            return bool(rows) and all(
                row["total"]
                and not (row["pending"] or row["sending"])
                and not (row["retry_later"] or row["unknown"])
                for row in rows
            )

        def send(moment: datetime) -> int:
            self.fetch()
            digest = self.digest(since=settings.since, now=moment)
            if digest.total == 0:
                return 0
            report = self.send_digest(digest, yes=True)
            if report.stopped is None and not report.retry_later and not report.unknown:
                self.mark_digest(digest)  # as `digest --send --mark`: once everyone has it
            return report.sent

        return run.digest_source(
            schedule=settings.schedule,
            period=settings.period,
            timezone=self.settings.events.timezone,
            period_id=job,
            done=done,
            send=send,
            path=self.settings.source,
        )

    def run(
        self,
        *,
        now: datetime | None = None,
        until: datetime | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> RunReport:
        """Send whatever is due (scheduled campaigns, sequence steps, event confirmations and
        reminders), once, under the run lock.

        ``dry_run`` sends and writes nothing and, with ``until``, returns the timeline of what
        runs until then would send. Raises RunLockedError when another run holds the lock.
        """
        from . import clock
        from .app import run

        return run.run(
            self.store,
            self.run_sources(progress=progress),
            now=now or clock.now(),
            until=until,
            dry_run=dry_run,
        )

    def _find_campaign(self, path_or_name: Path) -> Path:
        from .app.campaigns import campaigns_folder
        from .compose.campaign import find_campaign

        return find_campaign(campaigns_folder(self.campaign_setup()), path_or_name, root=self.root)

    def send_setup(self) -> SendSetup:
        """Return the pieces the send use cases of :mod:`commskit.app.sending` take.

        The one place those use cases get campaigns and digests compiled (:meth:`compile`).
        """
        from .app.sending import SendSetup

        return SendSetup(
            settings=self.settings,
            store=self.store,
            contacts=self.contacts,
            secret=lambda: self.secret,
            root=self.root,
            load_campaign=self.campaign,
            find_campaign=self._find_campaign,
            compile_campaign=lambda campaign, now: self.compile(campaign, veille_now=now),
            compile_digest=lambda digest, name: self.compile_digest(digest, list_name=name),
            reopen=lambda: Workspace(self.root, self.settings).send_setup(),
        )


def copy_examples(source: Path, dest: Path) -> list[Path]:
    """Copy the shipped example files into ``dest``, never overwriting; return what was written."""
    written: list[Path] = []
    items = [source / CONFIG_FILE, *(source / d for d in EXAMPLE_DIRS)]
    for item in items:
        if item.is_file():
            target = dest / item.name
            if not target.exists():
                shutil.copy2(item, target)
                written.append(target)
            continue
        if not item.is_dir():
            continue
        for file in sorted(item.rglob("*")):
            if not file.is_file() or "__pycache__" in file.parts:
                continue
            target = dest / file.relative_to(source)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
            written.append(target)
    return written
