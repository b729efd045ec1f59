"""``commskit run``: the one cron line that sends whatever is due, once, under one lock.

Due work comes from a short list of *sources* (:data:`DueSource`), each a function of (now,
horizon, dry_run) returning the items it sent or, dry, would send until the horizon:
scheduled campaigns (``send_at:`` / ``send --at``) and sequence steps here; the Workspace
composes the list, so event reminders and confirmations join it as two more functions.
Everything goes through the send engine (send windows, rate limits, exactly-once send log).

Two overlapping runs: the first takes the lease ``commskit run`` (store/leases.py), the other
raises :class:`~commskit.errors.RunLockedError` (exit status 4) and does nothing. A run killed
with -9 leaves a lease whose process is gone: the next run takes it over at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CommskitError, LeaseHeldError, RunLockedError
from ..send.report import SendOptions
from . import sequences as seq
from .sending import send_campaign

if TYPE_CHECKING:
    from ..compose.campaign import Campaign
    from ..compose.sequence import SequenceSpec
    from ..progress import Progress
    from ..store import Store
    from .sending import SendSetup

#: the lease two runs compete for
RUN_LEASE = "commskit run"
#: seconds the lease lasts without renewal (a run renews it between sources)
RUN_TTL = 3600.0


@dataclass(frozen=True)
class RunItem:
    """One message a run sent, or (dry) would send: a line of the timeline."""

    when: datetime
    source: str  # "campaign", "sequence", or an added source's name
    name: str  # the campaign or sequence
    email: str
    step: int | None = None
    campaign: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "when": self.when.isoformat(timespec="seconds"),
            "source": self.source,
            "name": self.name,
            "step": self.step,
            "campaign": self.campaign or self.name,
            "email": self.email,
        }


@dataclass
class SourceResult:
    """What one source did: the items, the messages actually sent, notes for the user."""

    items: list[RunItem] = field(default_factory=list)
    sent: int = 0
    notes: list[str] = field(default_factory=list)
    #: dry run: messages it would send that are counted in ``notes``, not listed as items
    #: (event mails: a job per event, not a line per registrant)
    foreseen: int = 0


#: (now, horizon, dry_run) -> what was (would be) sent
DueSource = Callable[[datetime, datetime, bool], SourceResult]


@dataclass
class RunReport:
    now: datetime
    until: datetime
    dry_run: bool
    items: list[RunItem] = field(default_factory=list)
    sent: int = 0
    notes: list[str] = field(default_factory=list)
    #: dry run: event mails it would send (each job in ``notes``), beside ``items``
    foreseen: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(timespec="seconds"),
            "until": self.until.isoformat(timespec="seconds"),
            "dry_run": self.dry_run,
            "sent": self.sent,
            "foreseen": self.foreseen,
            "items": [item.to_dict() for item in self.items],
            "notes": list(self.notes),
        }


def run(
    store: Store,
    sources: Sequence[tuple[str, DueSource]],
    *,
    now: datetime,
    until: datetime | None = None,
    dry_run: bool = False,
) -> RunReport:
    """Run every source once, under the run lock unless ``dry_run`` (which sends nothing)."""
    horizon = until if (dry_run and until is not None) else now
    report = RunReport(now, horizon, dry_run)
    leases = store.leases
    lease = None
    if not dry_run:
        try:
            lease = leases.acquire(RUN_LEASE, ttl=RUN_TTL)
        except LeaseHeldError as exc:
            raise RunLockedError(
                f"another commskit run is working ({exc.message.split('(', 1)[-1].rstrip(')')})",
                hint="Nothing was done; the next cron run goes on where that one stops",
            ) from exc
    try:
        for name, source in sources:
            result = source(now, horizon, dry_run)
            report.items.extend(result.items)
            report.sent += result.sent
            report.foreseen += result.foreseen
            report.notes.extend(f"{name}: {note}" for note in result.notes)
            if lease is not None:
                lease = leases.renew(lease, ttl=RUN_TTL)
    finally:
        if lease is not None:
            leases.release(lease)
    report.items.sort(key=lambda i: (i.when, i.source, i.name, i.step or 0, i.email))
    return report


# --- the sources -----------------------------------------------------------------------------


def sequence_source(
    setup: SendSetup, specs: Sequence[SequenceSpec], progress: Progress | None = None
) -> DueSource:
    """The sequence steps due: each sequence advanced in turn (app/sequences.py)."""

    def due(now: datetime, horizon: datetime, dry_run: bool) -> SourceResult:
        result = SourceResult()
        for spec in specs:
            if spec.paused:
                continue
            done = seq.advance(
                setup, spec, now=now, horizon=horizon, dry_run=dry_run, progress=progress
            )
            result.sent += done.sent
            result.notes.extend(done.stopped)
            result.items.extend(
                RunItem(p.due_at, "sequence", p.sequence, p.email, p.step, p.campaign)
                for p in done.planned
            )
        return result

    return due


def scheduled_campaigns(
    setup: SendSetup,
    campaigns: Sequence[Campaign],
    progress: Progress | None = None,
    *,
    broken: Sequence[str] = (),
) -> DueSource:
    """The campaigns whose ``send_at:`` (or ``send --at``) has come and that no run sent yet.

    ``broken``: notes on scheduled campaign files that do not load, repeated by every run.
    """

    def due(now: datetime, horizon: datetime, dry_run: bool) -> SourceResult:
        result = SourceResult(notes=list(broken))
        schedules = {s.campaign: s for s in setup.store.sequences.schedules()}
        for campaign in campaigns:
            schedule = schedules.get(campaign.id)
            if schedule is not None and schedule.done_at is not None:
                continue
            at = _parse(schedule.send_at) if schedule is not None else campaign.send_at
            if at is None or at > horizon or not campaign.audience:
                continue
            try:
                _send_scheduled(setup, campaign, at, result, now=now, dry_run=dry_run)
            except CommskitError as exc:  # one campaign that cannot go is reported, not fatal
                result.notes.append(f"{campaign.id}: {exc}")
        return result

    del progress
    return due


def _send_scheduled(
    setup: SendSetup,
    campaign: Campaign,
    at: datetime,
    result: SourceResult,
    *,
    now: datetime,
    dry_run: bool,
) -> None:
    assert campaign.audience is not None
    if dry_run:
        people = setup.contacts.segment(campaign.audience, list_name=campaign.list_name, now=now)
        result.items.extend(RunItem(at, "campaign", campaign.id, c.email) for c in people)
        return
    report = send_campaign(setup, campaign, options=SendOptions(yes=True))
    result.sent += report.sent
    if report.stopped:
        result.notes.append(f"{campaign.id}: {report.stopped} (the next run goes on)")
        return
    setup.store.sequences.schedule_done(campaign.id, at=_iso(now))


def schedule(setup: SendSetup, campaign: Campaign, at: datetime) -> datetime:
    """Record that ``commskit run`` sends ``campaign`` at ``at`` (``send NAME --at``)."""
    if not campaign.audience:
        raise CommskitError(
            f"campaign {campaign.id!r} has no audience",
            path=campaign.path,
            hint="Add 'audience: <segment>' to its front matter: a scheduled send needs one",
        )
    setup.store.sequences.schedule(campaign.id, _iso(at))
    return at


def load_campaigns(setup: SendSetup) -> tuple[list[Campaign], list[str]]:
    """Load the campaign files that may be scheduled.

    A file that does not load is left out; it is a note when it is scheduled (a ``send_at:``
    line, or ``send --at``), since no run would ever send it otherwise. Other drafts that do not
    load are for ``commskit check`` to report, not every run.
    """
    from ..compose.campaign import list_campaigns

    folder = setup.root / Path(setup.settings.paths.campaigns)
    scheduled = {s.campaign for s in setup.store.sequences.schedules() if s.done_at is None}
    loaded: list[Campaign] = []
    notes: list[str] = []
    for path in list_campaigns(folder):
        try:
            loaded.append(setup.load_campaign(path))
        except CommskitError as exc:  # a draft that does not load is not a reason to stop
            if path.stem in scheduled or _schedules_itself(path):
                notes.append(f"{path.stem} is scheduled but cannot be sent: {exc}")
    return loaded, notes


def _schedules_itself(path: Path) -> bool:
    files = sorted(path.glob("*.md")) if path.is_dir() else [path]
    for file in files:
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _SEND_AT_LINE.search(text):
            return True
    return False


_SEND_AT_LINE = re.compile(r"^send_at\s*:", re.MULTILINE)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(text: str, timezone: str, *, option: str = "--at") -> datetime:
    """Read ``2026-12-15 09:00`` (or an ISO time with its offset) as a time of the workspace's
    zone (``[events] timezone``), in UTC."""
    from zoneinfo import ZoneInfo

    from ..errors import CampaignError

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise CampaignError(
            f"{option} {text!r} is not a date and time",
            hint=f'Write the local time, e.g. {option} "2026-12-15 09:00"',
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def event_mail_source(
    send: Callable[..., Sequence[Any]],
    *,
    label: str,
    progress: Progress | None = None,
    moments: Callable[[datetime, datetime], Sequence[datetime]] | None = None,
) -> DueSource:
    """Event mails as a source: ``send`` is ``Workspace.send_event_reminders`` or
    ``send_event_confirmations`` (every event; exactly once through the send log).

    A dry run asks what is due *now*. With ``--until``, ``moments(now, horizon)`` gives the
    moments in between at which more falls due (a reminder's offset before its event), and
    each is asked too, with today's registrants; without ``moments`` (confirmations: due
    when someone registers) what falls due later is not foreseen, and the notes say so.
    """

    def due(now: datetime, horizon: datetime, dry_run: bool) -> SourceResult:
        result = SourceResult()
        seen: set[str] = set()
        for report in send(now=now, dry_run=dry_run, progress=progress):
            seen.add(report.job_id)
            if not dry_run:
                result.sent += report.sent
            would = report.recipients - report.skipped if dry_run else report.sent
            if dry_run:
                result.foreseen += would
            if would:
                verb = "would send" if dry_run else "sent"
                result.notes.append(f"{label} {report.job_id}: {verb} {would}")
        if dry_run and horizon > now:
            if moments is None:
                result.notes.append(f"{label}s falling due after now are not in this timeline")
            else:
                foreseen = _foreseen(send, label, moments(now, horizon), seen)
                result.foreseen += sum(count for count, _ in foreseen)
                result.notes.extend(text for _, text in foreseen)
        return result

    return due


def _foreseen(
    send: Callable[..., Sequence[Any]],
    label: str,
    moments: Sequence[datetime],
    seen: set[str],
) -> list[tuple[int, str]]:
    """Return (messages, note) for each job falling due at one of ``moments`` (dry runs there)."""
    notes = []
    for moment in moments:
        for report in send(now=moment, dry_run=True):
            would = report.recipients - report.skipped
            if report.job_id in seen or not would:
                continue
            seen.add(report.job_id)
            when = moment.astimezone(UTC)
            notes.append(
                (
                    would,
                    f"{label} {report.job_id}: would send {would} at {when:%Y-%m-%d %H:%M} UTC "
                    "(to today's registrants)",
                )
            )
    return notes


# --- the veille digest, when `[digest] schedule` says so ---------------------------------------

_WEEKDAYS = {
    **{
        d: i
        for i, d in enumerate(
            ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        )
    },
    **{
        d: i
        for i, d in enumerate(
            ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
        )
    },
}


def digest_moment(
    schedule: str, period: str, now: datetime, timezone: str, *, path: Path | None = None
) -> datetime:
    """Return when this period's digest is due (UTC): ``[digest] schedule`` in this period.

    ``schedule`` is ``"monday 08:00"`` (or ``"lundi 08:00"``) for a weekly digest, ``"08:00"``
    for a daily one, ``"1 08:00"`` (day of the month) for a monthly one, in ``timezone``.
    """
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from ..errors import ConfigError

    bad = ConfigError(
        f"[digest] schedule {schedule!r} does not fit period {period!r}",
        path=path,
        hint='Write e.g. schedule = "monday 08:00" (week), "08:00" (day) or "1 08:00" (month)',
    )
    *day, clock = schedule.lower().split() or [""]
    try:
        hour, minute = (int(x) for x in clock.split(":"))
        local = now.astimezone(ZoneInfo(timezone))
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError as exc:
        raise bad from exc
    if period == "week" and len(day) == 1 and day[0] in _WEEKDAYS:
        at -= timedelta(days=local.weekday() - _WEEKDAYS[day[0]])
    elif period == "month" and len(day) == 1 and day[0].isdigit() and 1 <= int(day[0]) <= 28:
        at = at.replace(day=int(day[0]))
    elif not (period == "day" and not day):
        raise bad
    return at.astimezone(UTC)


def digest_source(
    *,
    schedule: str,
    period: str,
    timezone: str,
    period_id: Callable[[datetime], str],
    done: Callable[[str], bool],
    send: Callable[[datetime], int],
    path: Path | None = None,
) -> DueSource:
    """The veille digest as a source: once its period's scheduled moment has come, ``send``
    (fetch, build, send, mark) runs until the period's job (``period_id``) is ``done``; an
    empty ``schedule`` leaves the digest to its own cron line."""

    def due(now: datetime, horizon: datetime, dry_run: bool) -> SourceResult:
        result = SourceResult()
        if not schedule:
            return result
        moment = digest_moment(schedule, period, now, timezone, path=path)
        job = period_id(now)
        if now >= moment and not done(job):
            if dry_run:
                result.notes.append(f"{job} due since {_iso(moment)}")
            else:
                result.sent += send(now)
        elif dry_run and moment > now and moment <= horizon:
            result.notes.append(f"{job} due at {_iso(moment)}")
        return result

    return due
