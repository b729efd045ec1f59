"""The mails an event's registrants get: confirmation, reminders, an update, a cancellation.

Each is a send job of the send engine (:func:`commskit.app.sending.job_runner`) with an id
derived from the event, never stored first, so the send log gives the exactly-once guarantee of
every campaign (kill -9, re-run, each registrant has one message):

- ``event:NAME:confirmation:SEQ`` — to each registrant no confirmation job of the event reached
  yet (a catch-up: the web app sends it right after a registration; whatever a crash left is
  sent by the next ``events remind`` or ``commskit run``);
- ``event:NAME:reminder:P1D`` — one per configured offset, once it is due and the event has not
  started; when several are due at once only the one nearest the start is sent;
- ``event:NAME:update:SEQ`` — ``events update``, after the file's time, place or join URL moved
  (SEQUENCE + 1);
- ``event:NAME:cancel:SEQ`` — ``events cancel`` (METHOD:CANCEL, SEQUENCE + 1).

The texts are Markdown campaign files, ``templates/events/KIND.LANG.md`` (the workspace's own
first, then the shipped ones), one per language; each registrant gets the one of their
``language`` (French when there is none). Besides ``contact.*`` and ``links.*`` they may print
the event's ``{{ event.title }}``, ``when``, ``location``, ``at_location``, ``join_url`` and
``note``: those are the same for everyone and are written into the text before it is compiled.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..compose.campaign import load_campaign
from ..compose.layout import event_view
from ..errors import EventError, TemplateError
from ..events.calendar import CANCEL, REQUEST
from ..events.model import list_events
from ..examples import shipped_templates
from ..send.jobs import make_job, refuse_example_sender
from ..send.runner import SendOptions
from .campaigns import compile_campaign, templates_folder
from .events import load, pending_changes, stored_event, sync_event
from .sending import job_runner

if TYPE_CHECKING:
    from ..audience import Contact
    from ..compose.campaign import Campaign
    from ..events.model import EventSpec
    from ..progress import Progress
    from ..render.compiled import CompiledCampaign
    from ..send.runner import PreflightReport, SendReport
    from ..store.events import EventRecord
    from .campaigns import CampaignSetup
    from .sending import SendSetup

#: the kinds of event mail, in the order a registrant meets them
KINDS = ("confirmation", "reminder", "update", "cancel")
#: the languages each kind has a text in; the first is the default
LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class EventMailSetup:
    """What the event mails take from the composition root (``Workspace`` builds it)."""

    campaigns: CampaignSetup
    sending: SendSetup
    #: the events folder and the zone of files that name none
    folder: Path
    default_timezone: str
    #: the list event mails are sent under (``[events] list``: List-Id, unsubscribe link)
    list_name: str
    #: the domain of calendar UIDs (:func:`commskit.policy.message_id_domain`)
    domain: str


@dataclass
class EventMailReport:
    """One event mail job's outcome (``events remind --json`` prints a list of them)."""

    event: str
    kind: str
    job_id: str
    #: messages handed to the transport in this run
    sent: int = 0
    #: registrants not mailed in this run: sent before, suppressed, or failed
    skipped: int = 0
    #: the registrants the job was for
    recipients: int = 0
    dry_run: bool = False
    #: why nothing was sent ("" when the job ran): e.g. "no registrants"
    note: str = ""
    #: the send report, when the job ran
    report: SendReport | None = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "kind": self.kind,
            "job_id": self.job_id,
            "sent": self.sent,
            "skipped": self.skipped,
            "recipients": self.recipients,
            "dry_run": self.dry_run,
            "note": self.note,
        }


def job_id(event: str, kind: str, tag: str | int) -> str:
    """Return the send-log id of an event mail job: ``event:NAME:KIND:TAG``."""
    return f"event:{event}:{kind}:{tag}"


# --- the texts ---------------------------------------------------------------------------------


_EVENT_VALUE = re.compile(r"\{\{-?\s*event\.([A-Za-z_]+)\s*-?\}\}")
_NAMES = ("title", "when", "location", "at_location", "join_url", "note")


def _literal(value: str) -> str:
    """Return ``value`` as text Jinja prints as it is (event values are data, never code)."""
    if "{" not in value and "}" not in value:
        return value
    # inside {% raw %} only "{% endraw %}" ends it: no "{%" at all cannot end it early
    return "{% raw %}" + value.replace("{%", "{ %") + "{% endraw %}"


def _fill(text: str, values: Mapping[str, str], path: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(
                f"unknown event value {name!r}",
                path=path,
                hint=f"An event mail may print event.{', event.'.join(_NAMES)}",
            )
        return _literal(values[name])

    return _EVENT_VALUE.sub(replace, text)


def template_path(setup: EventMailSetup, kind: str, language: str) -> Path:
    """Return ``templates/events/KIND.LANG.md``: the workspace's own, else the shipped one."""
    name = Path("events") / f"{kind}.{language}.md"
    own = templates_folder(setup.campaigns) / name
    return own if own.is_file() else shipped_templates() / name


def _values(campaign: Campaign, spec: EventSpec, language: str, note: str) -> dict[str, str]:
    view = event_view(campaign, language) or {}
    where = spec.location
    at = {"fr": f", lieu : {where}", "en": f", at {where}"}[language] if where else ""
    return {
        "title": spec.title or spec.name,
        "when": str(view.get("when", "")),
        "location": where,
        "at_location": at,
        "join_url": spec.join_url or spec.url or where,
        "note": note,
    }


def compile_mail(
    setup: EventMailSetup,
    spec: EventSpec,
    kind: str,
    language: str,
    *,
    campaign_id: str,
    note: str = "",
) -> CompiledCampaign:
    """Compile one event mail text for one language (the event's stored UID and SEQUENCE)."""
    path = template_path(setup, kind, language)
    campaigns = setup.campaigns
    base = load_campaign(path, ws_root=campaigns.root, default_language=language)
    campaign = dataclasses.replace(
        base, id=campaign_id, event=spec, list_name=setup.list_name, audience=None
    )
    values = _values(campaign, spec, language, note)
    campaign = dataclasses.replace(
        campaign,
        subject=_fill(campaign.subject, values, path),
        preheader=_fill(campaign.preheader, values, path),
        body=_fill(campaign.body, values, path),
    )
    compiled = compile_campaign(
        campaigns, campaign, calendar_method=CANCEL if kind == "cancel" else REQUEST
    )
    # one text file is one language: never a campaign of several variants
    return cast("CompiledCampaign", compiled)


class ByLanguage:
    """The compiled texts of one event mail, one per language; each recipient gets theirs.

    What the send runner needs of a compiled campaign (``fingerprint``, ``check``,
    ``message_for``, ``check_recipient``), dispatched on ``contact.language``.
    """

    def __init__(self, compiled: Mapping[str, CompiledCampaign]) -> None:
        self.compiled = dict(compiled)
        digest = hashlib.sha256()
        for language in sorted(self.compiled):
            digest.update(f"{language}\0{self.compiled[language].fingerprint}\0".encode())
        self.fingerprint = digest.hexdigest()

    def for_contact(self, contact: Any) -> CompiledCampaign:
        """Return the text of the contact's language (French when it has none we ship)."""
        language = str(getattr(contact, "language", "") or "").split("-")[0].lower()
        return self.compiled.get(language) or self.compiled[LANGUAGES[0]]

    def check(self, contact: Any = None) -> Sequence[Any]:
        if contact is not None:
            return self.for_contact(contact).check(contact)
        return [issue for c in self.compiled.values() for issue in c.check(None)]

    def message_for(self, contact: Any, **kwargs: Any) -> bytes:
        return self.for_contact(contact).message_for(contact, **kwargs)

    def check_recipient(self, contact: Any, **kwargs: Any) -> Sequence[Any]:
        return self.for_contact(contact).check_recipient(contact, **kwargs)


# --- running one job ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """How to run the jobs of one call: dry run, consent, progress."""

    dry_run: bool = False
    yes: bool = True
    progress: Progress | None = None
    confirm: Callable[[PreflightReport], bool] | None = None


def _contacts(setup: EventMailSetup, ids: Sequence[int]) -> list[Contact]:
    book = setup.sending.contacts
    found = [book.get_by_id(i) for i in ids]
    return [c for c in found if c is not None]


def _send(
    setup: EventMailSetup,
    spec: EventSpec,
    kind: str,
    campaign_id: str,
    ids: Sequence[int],
    run: _Run,
    *,
    note: str = "",
) -> EventMailReport:
    """Run one event mail job for the contacts ``ids`` (nothing when there is nobody)."""
    result = EventMailReport(spec.name, kind, campaign_id, dry_run=run.dry_run)
    recipients = _contacts(setup, ids)
    result.recipients = len(recipients)
    if not recipients:
        result.note = "no registrants to mail"
        return result
    compiled = ByLanguage(
        {
            language: compile_mail(setup, spec, kind, language, campaign_id=campaign_id, note=note)
            for language in LANGUAGES
        }
    )
    sending = setup.sending
    job = make_job(
        sending.contacts,
        sending.secret(),
        campaign_id=campaign_id,
        compiled=compiled,
        recipients=recipients,
        list_name=setup.list_name,
        subject=compiled.compiled[LANGUAGES[0]].campaign.subject,
    )
    # the texts follow the event file: a re-run after an edit sends the new text to the rest
    options = SendOptions(dry_run=run.dry_run, yes=run.yes, allow_changed=True)
    settings = sending.settings
    refuse_example_sender(settings.transport, sending.root, settings.sender.from_, options)
    report = job_runner(sending, job).run(options, progress=run.progress, confirm=run.confirm)
    result.report = report
    result.sent = report.sent
    result.skipped = result.recipients - (report.preflight.to_send if run.dry_run else report.sent)
    return result


def _finished(result: EventMailReport) -> bool:
    """Whether a job reached everyone it could (so the change counts as announced)."""
    report = result.report
    if result.dry_run:
        return False
    if report is None:
        return True  # nobody to tell
    return report.stopped is None and report.retry_later == 0 and report.unknown == 0


# --- the use cases -----------------------------------------------------------------------------


def _spec_and_record(setup: EventMailSetup, name: str) -> tuple[EventSpec, EventRecord]:
    spec = load(setup.folder, name, default_timezone=setup.default_timezone)
    record = stored_event(setup.sending.store.events, spec, domain=setup.domain)
    return spec, record


def send_confirmations(
    setup: EventMailSetup,
    name: str | None = None,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[EventMailReport]:
    """Send the confirmation to every registrant who has none yet (one event, or all).

    Events that are over or cancelled are passed over. An event file that does not load is
    skipped when all events are done (``events list`` reports it); named, it raises.
    """
    from ..clock import now as clock_now

    moment = now or clock_now()
    repo = setup.sending.store.events
    names = [name] if name else [r.name for r in repo.all()]
    reports: list[EventMailReport] = []
    for event in names:
        try:
            spec, record = _spec_and_record(setup, event)
        except EventError:
            if name:
                raise
            continue  # a broken or removed file: `events list` reports it
        if record.cancelled_at or spec.end <= moment:
            continue
        ids = repo.registered_without(record.id, job_id(event, "confirmation", ""))
        if not ids and not name:
            continue
        campaign_id = job_id(event, "confirmation", record.sequence)
        reports.append(
            _send(setup, spec, "confirmation", campaign_id, ids, _Run(dry_run, True, progress))
        )
    return reports


def due_reminder(spec: EventSpec, now: dt.datetime) -> str | None:
    """Return the reminder due at ``now`` (its text, e.g. ``PT1H``), or None.

    Due: its offset before the start is reached and the event has not started. When several
    are due (a cron that did not run for a day), only the one nearest the start is: a
    registrant never gets "tomorrow" an hour before.
    """
    if now >= spec.start:
        return None
    due = [
        (offset, text)
        for offset, text in zip(spec.reminders, spec.reminder_texts, strict=True)
        if spec.start - offset <= now
    ]
    return min(due)[1] if due else None


def _remindable(
    setup: EventMailSetup, name: str | None = None
) -> Iterator[tuple[EventSpec, EventRecord]]:
    """Yield (spec, stored record) of each event that reminders go to: invited (someone
    registered) and not cancelled. A broken file is skipped (``events list`` reports it) unless
    it is the one ``name`` asks for."""
    repo = setup.sending.store.events
    names = [name] if name else [path.stem for path in list_events(setup.folder)]
    for event in names:
        try:
            spec = load(setup.folder, event, default_timezone=setup.default_timezone)
        except EventError:
            if name:
                raise
            continue
        record = repo.get(spec.name)
        if record is not None and not record.cancelled_at:
            yield spec, record


def reminder_moments(
    setup: EventMailSetup, after: dt.datetime, until: dt.datetime
) -> list[dt.datetime]:
    """Return the moments in (``after``, ``until``] at which a reminder falls due: each
    offset before the start of each event reminders go to (what ``run --dry-run --until``
    foresees)."""
    moments: set[dt.datetime] = set()
    for spec, _record in _remindable(setup):
        starts = (spec.start - offset for offset in spec.reminders)
        moments.update(m.astimezone(dt.UTC) for m in starts if after < m <= until)
    return sorted(moments)


def send_reminders(
    setup: EventMailSetup,
    name: str | None = None,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[EventMailReport]:
    """Send the reminders that are due (:func:`due_reminder`) to each event's registrants."""
    from ..clock import now as clock_now

    moment = now or clock_now()
    repo = setup.sending.store.events
    reports: list[EventMailReport] = []
    for spec, record in _remindable(setup, name):
        text = due_reminder(spec, moment)
        if text is None:
            continue
        ids = repo.registered_ids(record.id)
        campaign_id = job_id(spec.name, "reminder", text)
        reports.append(
            _send(setup, spec, "reminder", campaign_id, ids, _Run(dry_run, True, progress))
        )
    return reports


def update_event(
    setup: EventMailSetup,
    name: str,
    *,
    dry_run: bool = False,
    yes: bool = False,
    progress: Progress | None = None,
    confirm: Callable[[PreflightReport], bool] | None = None,
) -> EventMailReport:
    """Store an event file's changes and mail the registrants an update (SEQUENCE + 1).

    A change of time, place or join URL bumps the SEQUENCE and is mailed; a new title,
    deadline or capacity alone is stored without a mail. A run that stopped (crash, Ctrl-C,
    an outage) leaves the change unannounced: running ``events update`` again finishes the
    same job, so each registrant gets one update. A dry run stores nothing.
    """
    spec, record = _spec_and_record(setup, name)
    if record.cancelled_at:
        raise EventError(
            f"event {name!r} was cancelled on {record.cancelled_at[:10]}: nothing to update",
            path=spec.path,
            hint="Create a new event file for a new date",
        )
    repo = setup.sending.store.events
    changes = pending_changes(record, spec)
    if changes and not dry_run:
        record = sync_event(repo, spec, domain=setup.domain)
    campaign_id = job_id(name, "update", record.sequence + (1 if dry_run and changes else 0))
    result = EventMailReport(name, "update", campaign_id, dry_run=dry_run)
    moved = bool(changes) and changes[0] in ("start", "end", "location", "join_url")
    if not (record.unannounced or (dry_run and moved)):
        result.note = "no change to announce" if not changes else "stored; nothing to mail"
        return result
    result = _send(
        setup,
        spec,
        "update",
        campaign_id,
        repo.registered_ids(record.id),
        _Run(dry_run, yes, progress, confirm),
    )
    if _finished(result):
        repo.set_announced(record.id, record.sequence)
    return result


def cancel_event(
    setup: EventMailSetup,
    name: str,
    *,
    note: str = "",
    dry_run: bool = False,
    yes: bool = False,
    progress: Progress | None = None,
    confirm: Callable[[PreflightReport], bool] | None = None,
) -> EventMailReport:
    """Cancel an event and mail its registrants METHOD:CANCEL with ``note``.

    The event is marked cancelled first (registrations close, SEQUENCE + 1); running it again
    after a crash finishes the same mail job and bumps nothing. A dry run changes nothing.
    """
    spec, record = _spec_and_record(setup, name)
    repo = setup.sending.store.events
    if not dry_run:
        repo.cancel(record.id, note.strip())
        found = repo.get(spec.name)
        assert found is not None
        record = found
    sequence = record.sequence + (0 if record.cancelled_at else 1)
    campaign_id = job_id(name, "cancel", sequence)
    result = _send(
        setup,
        spec,
        "cancel",
        campaign_id,
        repo.registered_ids(record.id),
        _Run(dry_run, yes, progress, confirm),
        note=record.cancel_note if not dry_run else note.strip(),
    )
    if _finished(result):
        repo.set_announced(record.id, record.sequence)
    return result


__all__ = [
    "KINDS",
    "ByLanguage",
    "EventMailReport",
    "EventMailSetup",
    "cancel_event",
    "due_reminder",
    "job_id",
    "send_confirmations",
    "send_reminders",
    "update_event",
]
