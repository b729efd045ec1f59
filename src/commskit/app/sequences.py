"""Follow-up sequences: who enters, who leaves and why, which step is due, and its send.

A sequence advances only when ``commskit run`` asks (:func:`advance`): the entry audience is
evaluated at that moment (new partners enter), the exit clauses remove whom they select, and each
member's next step is due at entry + the delays (the schedule, not the moment the previous step
actually left, so a late cron run never pushes the rest back). A due step is the campaign
``seq:NAME:STEP`` of the send engine, sent to the members it is due for: the send log makes it
exactly-once per contact and step, and kill -9 safe. ``dry_run`` with a later ``horizon`` plans the
whole timeline without writing or sending anything, assuming nobody replies in between.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audience.segments import compile_segment
from ..compose.sequence import SequenceSpec, load_sequence
from ..errors import CampaignError, SequenceError
from ..send.report import SendOptions
from ..store.sequences import Member, StepRow
from .sending import send_to_contacts

if TYPE_CHECKING:
    from ..progress import Progress
    from ..store.sequences import SequenceRepo
    from .sending import SendSetup

COMPLETED = "completed"


@dataclass(frozen=True)
class Planned:
    """One step due for one contact: a line of ``run --dry-run`` and a message a run sends."""

    sequence: str
    step: int
    campaign: str
    contact_id: int
    email: str
    due_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": "sequence",
            "sequence": self.sequence,
            "step": self.step,
            "campaign": self.campaign,
            "contact_id": self.contact_id,
            "email": self.email,
            "due_at": self.due_at.isoformat(timespec="seconds"),
        }


@dataclass
class SequenceRun:
    """What one run did (or, dry, would do) with one sequence."""

    sequence: str
    entered: int = 0
    exited: dict[str, int] = field(default_factory=dict)
    planned: list[Planned] = field(default_factory=list)
    sent: int = 0
    stopped: list[str] = field(default_factory=list)


# --- files -----------------------------------------------------------------------------------


def sequences_folder(setup: SendSetup) -> Path:
    return setup.root / Path(setup.settings.paths.sequences).expanduser()


def _campaign_exists(setup: SendSetup) -> Callable[[str], bool]:
    def exists(name: str) -> bool:
        try:
            setup.find_campaign(Path(name))
        except CampaignError:
            return False
        return True

    return exists


def load(setup: SendSetup, name_or_path: str | Path) -> SequenceSpec:
    """Load one sequence: a name in the sequences folder, or a path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = sequences_folder(setup) / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in _files(setup)) or "none"
        raise SequenceError(
            f"no sequence {str(name_or_path)!r}",
            path=path,
            hint=f"Known sequences: {known} (docs/sequences.md)",
        )
    return load_sequence(
        path, campaign_exists=_campaign_exists(setup), segments=setup.settings.segments
    )


def load_all(setup: SendSetup) -> list[SequenceSpec]:
    """Load every sequence file; the first bad one raises (a run then sends nothing)."""
    return [load(setup, path) for path in _files(setup)]


def _files(setup: SendSetup) -> list[Path]:
    folder = sequences_folder(setup)
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


# --- the schedule ----------------------------------------------------------------------------


def due_times(spec: SequenceSpec, entered_at: datetime) -> list[datetime]:
    """Return when each step is due for a member who entered at ``entered_at``."""
    out: list[datetime] = []
    previous = entered_at
    for step in spec.steps:
        base = entered_at if step.number == 1 or step.after == "entry" else previous
        previous = base + step.delay
        out.append(previous)
    return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _done_steps(
    repo: SequenceRepo, spec: SequenceSpec, members: dict[int, Member]
) -> tuple[dict[int, set[int]], list[StepRow]]:
    """Return contact -> steps over, and the send-log outcomes not yet copied into the state."""
    done: dict[int, set[int]] = {}
    for row in repo.steps(spec.name):
        done.setdefault(row.contact_id, set()).add(row.step)
    new: list[StepRow] = []
    for step in spec.steps:
        for cid, (outcome, at) in repo.outcomes(step.campaign_id(spec.name)).items():
            steps = done.setdefault(cid, set())
            if step.number in steps or cid not in members:
                continue
            steps.add(step.number)
            due = due_times(spec, _parse(members[cid].entered_at))[step.number - 1]
            new.append(StepRow(cid, step.number, outcome, _iso(due), at))
    return done, new


def _matching(setup: SendSetup, expression: str, ids: Iterable[int], now: datetime) -> set[int]:
    compiled = compile_segment(expression, setup.settings.segments, now=now)
    return setup.store.sequences.matching(compiled.where, compiled.params, ids)


# --- one run ---------------------------------------------------------------------------------


def advance(
    setup: SendSetup,
    spec: SequenceSpec,
    *,
    now: datetime,
    horizon: datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SequenceRun:
    """Enter, exit, plan and (unless ``dry_run``) send the due steps of one sequence.

    ``horizon`` (dry runs: ``--until``) plans every step due until then, each after the
    previous; a real run sends each member at most their next step.
    """
    repo = setup.store.sequences
    result = SequenceRun(spec.name)
    members = {m.contact_id: m for m in repo.members(spec.name)}
    done, new_rows = _done_steps(repo, spec, members)
    if not dry_run:
        repo.record_steps(spec.name, new_rows)
    audience = {c.id for c in setup.contacts.segment(spec.audience, now=now) if c.id is not None}
    entering = sorted(audience - members.keys())
    result.entered = len(entering)
    if not dry_run:
        repo.enter(spec.name, entering, at=_iso(now))
    for cid in entering:
        members[cid] = Member(cid, _iso(now), None, "")
    active = _exits(setup, spec, members, done, result, now=now, dry_run=dry_run)
    result.planned, skipped = _plan(setup, spec, active, done, now=now, horizon=horizon or now)
    if dry_run:
        return result
    repo.record_steps(spec.name, skipped)
    _send_due(setup, spec, result, progress=progress)
    return result


def _exits(
    setup: SendSetup,
    spec: SequenceSpec,
    members: dict[int, Member],
    done: dict[int, set[int]],
    result: SequenceRun,
    *,
    now: datetime,
    dry_run: bool,
) -> dict[int, Member]:
    """Remove (and record) members an exit clause selects or who had every step; return the rest."""
    active = {cid: m for cid, m in members.items() if m.exited_at is None}
    last = len(spec.steps)
    leaving: list[tuple[str, set[int]]] = [
        (COMPLETED, {cid for cid in active if len(done.get(cid, ())) >= last})
    ]
    for clause in spec.exit:
        leaving.append((clause, _matching(setup, clause, active, now)))
    for reason, ids in leaving:
        ids = {cid for cid in ids if cid in active}
        if not ids:
            continue
        result.exited[reason] = len(ids)
        if not dry_run:
            setup.store.sequences.exit(spec.name, ids, reason=reason, at=_iso(now))
        for cid in ids:
            del active[cid]
    return active


def _plan(
    setup: SendSetup,
    spec: SequenceSpec,
    active: dict[int, Member],
    done: dict[int, set[int]],
    *,
    now: datetime,
    horizon: datetime,
) -> tuple[list[Planned], list[StepRow]]:
    """Return the steps due by ``horizon`` (each member's next one when horizon is now) and the
    steps skipped because their condition does not hold."""
    holds = {
        step.number: _matching(setup, step.condition, active, now)
        for step in spec.steps
        if step.condition
    }
    planned: list[Planned] = []
    skipped: list[StepRow] = []
    for cid, member in sorted(active.items()):
        dues = due_times(spec, _parse(member.entered_at))
        over = done.get(cid, set())
        for step in spec.steps:
            due = dues[step.number - 1]
            if step.number in over:
                continue
            if due > horizon:
                break
            if step.condition and cid not in holds[step.number]:
                skipped.append(StepRow(cid, step.number, "skipped", _iso(due), _iso(now)))
                continue
            contact = setup.contacts.get_by_id(cid)
            if contact is None:
                break
            planned.append(Planned(spec.name, step.number, step.campaign, cid, contact.email, due))
            if horizon <= now:
                break  # a real run: the next step waits for this one to be sent
    return planned, skipped


def _send_due(
    setup: SendSetup,
    spec: SequenceSpec,
    result: SequenceRun,
    *,
    progress: Progress | None,
) -> None:
    """Send each due step to its members through the send engine, then copy the outcomes."""
    for step in spec.steps:
        batch = [p for p in result.planned if p.step == step.number]
        if not batch:
            continue
        campaign = setup.load_campaign(Path(step.campaign))
        campaign = dataclasses.replace(campaign, id=step.campaign_id(spec.name))
        contacts = [c for p in batch if (c := setup.contacts.get_by_id(p.contact_id)) is not None]
        report = send_to_contacts(
            setup,
            campaign,
            contacts,
            audience=spec.audience,
            options=SendOptions(yes=True, allow_changed=True),
            progress=progress,
        )
        result.sent += report.sent
        if report.stopped:
            result.stopped.append(f"{campaign.id}: {report.stopped}")
    members = {m.contact_id: m for m in setup.store.sequences.members(spec.name)}
    _, new_rows = _done_steps(setup.store.sequences, spec, members)
    setup.store.sequences.record_steps(spec.name, new_rows)


# --- status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceStatus:
    """``commskit sequences list/show``: members per step, exits and why."""

    name: str
    title: str
    paused: bool
    steps: list[dict[str, Any]]
    members: int
    active: int
    exited: dict[str, int]
    contacts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def status(setup: SendSetup, spec: SequenceSpec, *, with_contacts: bool = False) -> SequenceStatus:
    """Return how many members each step reached, who is still in, who left and why."""
    repo = setup.store.sequences
    members = repo.members(spec.name)
    rows = repo.steps(spec.name)
    steps = []
    for step in spec.steps:
        mine = [r for r in rows if r.step == step.number]
        steps.append(
            {
                "step": step.number,
                "campaign": step.campaign,
                "sent": sum(r.outcome == "sent" for r in mine),
                "skipped": sum(r.outcome == "skipped" for r in mine),
                "other": sum(r.outcome not in ("sent", "skipped") for r in mine),
            }
        )
    exited: dict[str, int] = {}
    for m in members:
        if m.exited_at is not None:
            exited[m.exit_reason] = exited.get(m.exit_reason, 0) + 1
    contacts = []
    if with_contacts:
        by_contact: dict[int, list[StepRow]] = {}
        for r in rows:
            by_contact.setdefault(r.contact_id, []).append(r)
        for m in members:
            contact = setup.contacts.get_by_id(m.contact_id)
            contacts.append(
                {
                    "email": contact.email if contact else "",
                    "entered_at": m.entered_at,
                    "steps": [
                        {"step": r.step, "outcome": r.outcome, "at": r.done_at}
                        for r in by_contact.get(m.contact_id, [])
                    ],
                    "exited_at": m.exited_at,
                    "exit_reason": m.exit_reason,
                }
            )
    return SequenceStatus(
        spec.name,
        spec.title,
        spec.paused,
        steps,
        len(members),
        sum(m.exited_at is None for m in members),
        exited,
        contacts,
    )
