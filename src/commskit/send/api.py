"""Wire the runner to a workspace: campaigns from compose, contacts from audience, the store.

These functions are what :class:`commskit.Workspace`'s send methods call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import TransportSettings
from ..errors import PreflightError
from ..progress import Progress
from ..store.sends import LogRow, RecipientExample, ReportRow, SendRepo
from .runner import (
    NEEDS_ACTION,
    NOT_MAILED,
    CampaignRunner,
    CompiledLike,
    NotMailed,
    PreflightReport,
    SendContext,
    SendJob,
    SendOptions,
    SendReport,
    default_throttle,
    describe_recipient,
)
from .transports import OutboxTransport, make_transport

if TYPE_CHECKING:
    from ..audience import Contact
    from ..compose.campaign import Campaign
    from ..workspace import Workspace


def workspace_job(
    ws: Workspace,
    *,
    campaign_id: str,
    compiled: CompiledLike,
    recipients: Any,
    list_name: str | None,
    subject: str = "",
    sample: Any = None,
) -> SendJob:
    """Build a SendJob whose suppression, bounces, tokens and look-ups use the workspace."""
    from ..audience.tokens import make_token

    contacts = ws.contacts
    secret = ws.secret

    def hard_bounce(email: str, reason: str) -> None:
        contacts.suppress(email, "bounced", source=f"send {campaign_id}: {reason}"[:200])

    def lookup(row: LogRow) -> Any:
        if row.contact_id is None:
            return _Address(row.email or "")
        return contacts.get_by_id(row.contact_id)

    def suppression(email: str, list_: str | None) -> str | None:
        reason = contacts.suppression(email, list_)
        if reason is None:
            return None
        if reason == "erased":
            return NotMailed(reason, "erased")
        # an entry for every list wins over the list's own: a second look only when suppressed
        scope = "suppressed-list" if list_ and contacts.suppression(email) is None else None
        return NotMailed(reason, scope or "suppressed-global")

    return SendJob(
        campaign_id=campaign_id,
        compiled=compiled,
        recipients=recipients,
        list_name=list_name,
        subject=subject,
        suppression=suppression,
        on_hard_bounce=hard_bounce,
        make_token=lambda contact_id, list_: make_token(secret, contact_id, list_),
        lookup=lookup,
        sample=sample,
    )


def workspace_runner(ws: Workspace, job: SendJob, *, from_: str = "") -> CampaignRunner:
    """Build the runner for a job with the workspace's settings, store and transport."""
    settings = ws.settings
    context = SendContext.from_settings(settings, ws.secret, from_=from_)

    def reopen() -> tuple[SendJob, SendRepo]:
        # runs in a forked sending process: a new connection, the same compiled campaign
        from ..workspace import Workspace

        fresh = Workspace(ws.root, settings)
        again = workspace_job(
            fresh,
            campaign_id=job.campaign_id,
            compiled=job.compiled,
            recipients=(),
            list_name=job.list_name,
            subject=job.subject,
        )
        return again, fresh.store.sends

    return CampaignRunner(
        job,
        repo=ws.store.sends,
        context=context,
        transport_factory=lambda: make_transport(
            settings.transport.url, settings=settings.transport, root=ws.root
        ),
        throttle_factory=default_throttle(settings),
        processes=sending_processes(settings.transport),
        reopen=reopen,
    )


def sending_processes(transport: TransportSettings) -> int:
    """Return how many processes share a large send (1 when a rate limit or window applies)."""
    paced = any(
        (
            transport.rate_per_second,
            transport.rate_per_minute,
            transport.rate_per_hour,
            transport.rate_per_day,
            transport.window.strip(),
        )
    )
    if paced:  # one process owns the token buckets and quotas
        return 1
    if transport.processes > 0:
        return transport.processes
    return max(1, min(os.cpu_count() or 1, 4))


def send_campaign(
    ws: Workspace,
    campaign: Campaign | str | os.PathLike[str],
    *,
    options: SendOptions | None = None,
    audience: str | None = None,
    progress: Progress | None = None,
    confirm: Callable[[PreflightReport], bool] | None = None,
) -> SendReport:
    """Send (or dry-run, or test) a campaign to its audience; re-running resumes.

    ``audience`` overrides the campaign's ``audience:`` (a segment name or expression).
    """
    from ..compose.campaign import Campaign

    options = options or SendOptions()
    if not isinstance(campaign, Campaign):
        campaign = ws.campaign(Path(os.fspath(campaign)))
    expression = audience or campaign.audience
    if not expression and not options.test_address:
        raise PreflightError(
            f"campaign {campaign.id!r} has no audience",
            path=campaign.path,
            hint="Add 'audience: <segment>' to its front matter, or pass --audience",
        )
    recipients: Any = []
    if expression:
        # suppressed contacts are kept in the iteration: pre-flight counts and logs them
        recipients = ws.segment(expression, include_suppressed=True, list_name=campaign.list_name)
        if not options.test_address and recipients.count() == 0:
            raise PreflightError(
                f"audience {expression!r} of campaign {campaign.id!r} selects nobody",
                path=campaign.path,
                hint="Check it with `commskit segment`, or import contacts first",
            )
    # a resumed send shows the veille items of its first part: pin the window to that start
    first = ws.store.sends.campaign(campaign.id)
    veille_now = _parse_time(first.created_at) if first is not None else None
    compiled = ws.compile(campaign, veille_now=veille_now)
    job = _campaign_job(ws, campaign, compiled, recipients, expression, options.test_address)
    refuse_example_sender(ws, campaign.from_ or ws.settings.sender.from_, options)
    runner = workspace_runner(ws, job, from_=campaign.from_)
    return runner.run(options, progress=progress, confirm=confirm)


@dataclass
class CampaignCheck:
    """What ``commskit check`` found: the issues, and whom they were checked against.

    ``audience`` is the segment the real recipients came from (None: a sample contact was
    used, because the campaign has no audience or it selects nobody, or ``to`` was given);
    ``preflight`` is the pre-flight report over those recipients, as ``send`` makes it.
    """

    campaign: str
    fingerprint: str
    issues: list[dict[str, str]]
    audience: str | None = None
    preflight: PreflightReport | None = None

    @property
    def ok(self) -> bool:
        """Return whether nothing would stop a send (warnings do not)."""
        return not any(i["level"] == "error" for i in self.issues)


def check_campaign(
    ws: Workspace,
    campaign: Campaign | str | os.PathLike[str],
    *,
    to: str | None = None,
    audience: str | None = None,
) -> CampaignCheck:
    """Check a campaign as ``send`` would: against its real audience, or one contact (``to``).

    Every recipient ``send`` would mail is rendered strictly, and the content checks run for
    the first of them (a sample contact only when there is none), so the partners' own columns
    (``contact.attributes``), the unsubscribe URL and per-recipient subject lengths are judged
    exactly as pre-flight judges them. Recipients that would not be mailed for a reason someone
    must fix (invalid data, no or refused legal basis) are listed as warnings.
    """
    from ..compose.campaign import Campaign
    from ..compose.sample import contact_for
    from ..errors import CommskitError

    if not isinstance(campaign, Campaign):
        campaign = ws.campaign(Path(os.fspath(campaign)))
    compiled = ws.compile(campaign)
    result = CampaignCheck(campaign.id, compiled.fingerprint, [])
    expression = None if to else (audience or campaign.audience)
    recipients: Any = None
    if expression:
        recipients = ws.segment(expression, include_suppressed=True, list_name=campaign.list_name)
    if recipients is None or recipients.count() == 0:
        contact = contact_for(ws.contacts, to, campaign.language) if to else None
        result.issues = [i.to_dict() for i in compiled.check(contact)]
        return result
    job = _campaign_job(ws, campaign, compiled, recipients, expression, None)
    runner = workspace_runner(ws, job, from_=campaign.from_)
    result.audience = expression
    try:
        report, _ = runner.preflight(SendOptions(dry_run=True), collect=False, strict=False)
    except CommskitError as exc:  # what stops a send at the first recipient it concerns
        result.issues.append({"level": "error", "code": "recipient-render", "message": str(exc)})
        return result
    result.preflight = report
    result.issues = list(report.checks)
    for code in NEEDS_ACTION:
        if report.not_mailed.get(code):
            result.issues.append(
                {
                    "level": "warning",
                    "code": f"recipient-{code}",
                    "message": f"{report.not_mailed[code]} recipient(s) not mailed: "
                    f"{NOT_MAILED[code]} (e.g. {report.not_mailed_examples[code]})",
                }
            )
    return result


def _campaign_job(
    ws: Workspace,
    campaign: Campaign,
    compiled: CompiledLike,
    recipients: Any,
    expression: str | None,
    test_address: str | None,
) -> SendJob:
    """Build a campaign's job: the workspace's suppression plus the legal-basis rule."""
    job = workspace_job(
        ws,
        campaign_id=campaign.id,
        compiled=compiled,
        recipients=recipients,
        list_name=campaign.list_name,
        subject=campaign.subject,
        sample=_test_sample(ws, test_address, campaign.language),
    )
    if expression:
        job.suppression = _with_legal_basis(ws, expression, campaign.list_name, job.suppression)
    return job


def _test_sample(ws: Workspace, address: str | None, language: str) -> Any:
    """Return whose data fills a --test copy: the tester's own contact, else a made-up one."""
    from ..compose.sample import sample_contact

    if not address:
        return None
    own = ws.contacts.get(address) if "@" in address else None
    return own or sample_contact(address.strip(), language=language)


def refuse_example_sender(ws: Workspace, from_: str, options: SendOptions) -> None:
    """Refuse a real send from the shipped example sender (``…@….example.gouv.fr``).

    Test copies, dry runs and the outbox transport (nothing leaves the machine) are allowed.
    """
    from ..examples import is_example_address

    url = ws.settings.transport.url
    if options.dry_run or options.test_address:
        return
    # a wrong transport URL or a missing password is the first thing to fix: say that first
    if isinstance(
        make_transport(url, settings=ws.settings.transport, root=ws.root), OutboxTransport
    ):
        return
    address = parseaddr(from_)[1] or from_
    if is_example_address(address):
        raise PreflightError(
            f"the sender {address} is the shipped example, not your team's address; nothing "
            f"was sent through {url}",
            hint='Set [sender] from = "Your team <newsletter@your-domain.fr>" (and reply_to, '
            "list_id) in commskit.toml, or COMMSKIT_FROM",
        )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_PLAIN_VALUE = re.compile(r"^[\w.-]+$")


def _with_legal_basis(
    ws: Workspace,
    expression: str,
    list_name: str | None,
    suppression: Callable[[str, str | None], str | None],
) -> Callable[[str, str | None], str | None]:
    """Add the legal-basis rule (EMAIL-CHECKLIST F.37) to a job's suppression check.

    A contact with no recorded basis, or one that ``[lists.<name>] bases`` does not accept, is
    not mailed: pre-flight counts it with the suppressed ones and the send log keeps the reason.
    The (usually few) such contacts are found with one narrowed segment query, not a pass over
    every recipient.
    """
    allowed = ws.contacts.allowed_bases(list_name)
    inner = f'segment("{expression}")' if expression in ws.settings.segments else f"({expression})"
    condition = "basis is empty"
    if allowed and all(_PLAIN_VALUE.match(b) for b in allowed):
        condition += " or basis not in (" + ", ".join(f'"{b}"' for b in allowed) + ")"
        suspects = ws.segment(f"{inner} and ({condition})", include_suppressed=True)
    elif allowed:  # unusual characters in the configured bases: check every recipient
        suspects = ws.segment(expression, include_suppressed=True)
    else:
        suspects = ws.segment(f"{inner} and ({condition})", include_suppressed=True)
    problems: dict[str, str] = {}
    for contact in suspects:
        reason = ws.contacts.basis_problem(contact, list_name)
        if reason:
            code = "no-basis" if not contact.basis else "refused-basis"
            problems[contact.email.lower()] = NotMailed(reason, code)

    def check(email: str, list_: str | None) -> str | None:
        return suppression(email, list_) or problems.get(email.lower())

    return check


@dataclass(frozen=True)
class _Address:
    """A recipient known only by address (e.g. the digest's team list): no contact row."""

    email: str
    id: None = None
    first_name: str = ""
    last_name: str = ""
    organization: str = ""
    language: str = "fr"

    @property
    def full_name(self) -> str:
        return ""


def address_recipients(addresses: list[str]) -> list[Any]:
    """Wrap plain addresses (``settings.digest.recipients``) as recipients for a SendJob."""
    return [_Address(a.strip()) for a in addresses if a.strip()]


# --- reporting ---------------------------------------------------------------------------------


def resolve_campaign_id(ws: Workspace, name: str) -> str:
    """Return the send-log id a command names: the id itself, or a campaign's path or name.

    ``status`` and ``report`` accept what ``send`` accepts (``campaigns/2026-11-infolettre.md``).
    Raises PreflightError when that campaign has never been sent.
    """
    from ..compose.campaign import find_campaign
    from ..errors import CampaignError

    repo = ws.store.sends
    if repo.campaign(name) is not None:
        return name
    try:
        found = find_campaign(ws.path(ws.settings.paths.campaigns), Path(name), root=ws.root).stem
    except CampaignError:
        found = None
    if found is None or repo.campaign(found) is None:
        raise PreflightError(
            f"campaign {name!r} has never been sent",
            hint="Run `commskit status` to list the campaigns with a send log",
        )
    return found


def campaign_status(ws: Workspace, campaign_id: str | None = None) -> list[dict[str, Any]]:
    """Return per-campaign counts (pending, sent, failed, suppressed, unknown, ...).

    Each entry also says why recipients were not mailed: ``not_mailed`` maps a category of
    :data:`commskit.send.runner.NOT_MAILED` to its count and one example, and
    ``failed_example`` shows one permanent failure. ``started_at`` is the first run's start,
    ``last_started_at`` the latest's.
    """
    repo = ws.store.sends
    ids = [resolve_campaign_id(ws, campaign_id)] if campaign_id else repo.campaign_ids()
    out = []
    for cid in ids:
        row = repo.campaign(cid)
        assert row is not None
        counts = repo.counts(cid)
        failed = repo.first_permanent_failure(cid)
        out.append(
            {
                "campaign": cid,
                "subject": row.subject,
                "started_at": row.created_at,
                "last_started_at": row.started_at,
                "finished_at": row.finished_at,
                "total": sum(counts.values()),
                "retry_later": repo.transient_failures(cid),
                **counts,
                "not_mailed": _not_mailed(repo, cid),
                "failed_example": _example(failed) if failed else None,
            }
        )
    return out


def _example(row: RecipientExample, code: str = "") -> str:
    who = describe_recipient(row.contact_id, row.email, code)
    return f"{who}: {row.error}" if row.error and code != "erased" else who


def _not_mailed(repo: SendRepo, campaign_id: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    found = repo.not_mailed(campaign_id)
    for code in (*NOT_MAILED, None):
        if code in found:
            count, row = found[code]
            key = code or "suppressed"  # rows logged before the categories existed
            out[key] = {
                "count": count,
                "label": NOT_MAILED.get(key, "suppressed or skipped"),
                "example": _example(row, key),
            }
    return out


REPORT_COLUMNS = ReportRow._fields


def campaign_report(ws: Workspace, campaign_id: str) -> Iterator[dict[str, Any]]:
    """Yield one row per recipient of a campaign (streams; see REPORT_COLUMNS).

    ``campaign_id`` may also be the campaign's path or name, as ``send`` takes it.
    """
    return (row._asdict() for row in ws.store.sends.rows(resolve_campaign_id(ws, campaign_id)))


def contact_history(ws: Workspace, contact: Contact | int) -> list[dict[str, Any]]:
    """Return a contact's sends: campaign_id, contact_id, status, sent_at, updated_at, error."""
    contact_id = contact if isinstance(contact, int) else contact.id
    return [row._asdict() for row in ws.store.sends.history(contact_id)]
