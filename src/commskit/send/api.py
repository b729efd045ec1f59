"""Wire the runner to a workspace: campaigns from compose, contacts from audience, the store.

These functions are what :class:`commskit.Workspace`'s send methods call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import TransportSettings
from ..errors import PreflightError
from ..store.sends import LogRow, SendRepo
from .runner import (
    CampaignRunner,
    CompiledLike,
    PreflightReport,
    Progress,
    SendContext,
    SendJob,
    SendOptions,
    SendReport,
    default_throttle,
)
from .transports import make_transport

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

    return SendJob(
        campaign_id=campaign_id,
        compiled=compiled,
        recipients=recipients,
        list_name=list_name,
        subject=subject,
        suppression=contacts.suppression,
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
    from ..compose.sample import sample_contact

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
    veille_now = _parse_time(first["created_at"]) if first is not None else None
    compiled = campaign.compile(ws, veille_now=veille_now)
    job = workspace_job(
        ws,
        campaign_id=campaign.id,
        compiled=compiled,
        recipients=recipients,
        list_name=campaign.list_name,
        subject=campaign.subject,
        sample=sample_contact(
            options.test_address or "camille.martin@example.org", language=campaign.language
        ),
    )
    if expression:
        job.suppression = _with_legal_basis(ws, expression, campaign.list_name, job.suppression)
    runner = workspace_runner(ws, job, from_=campaign.from_)
    return runner.run(options, progress=progress, confirm=confirm)


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
            problems[contact.email.lower()] = reason

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


def campaign_status(ws: Workspace, campaign_id: str | None = None) -> list[dict[str, Any]]:
    """Return per-campaign counts (pending, sent, failed, suppressed, unknown, ...)."""
    repo = ws.store.sends
    ids = [campaign_id] if campaign_id else repo.campaign_ids()
    out = []
    for cid in ids:
        row = repo.campaign(cid)
        if row is None:
            raise PreflightError(
                f"campaign {cid!r} has never been sent",
                hint="Run `commskit status` to list the campaigns with a send log",
            )
        counts = repo.counts(cid)
        out.append(
            {
                "campaign": cid,
                "subject": row["subject"],
                "started_at": row["started_at"],
                "finished_at": row["finished_at"],
                "total": sum(counts.values()),
                "retry_later": repo.transient_failures(cid),
                **counts,
            }
        )
    return out


REPORT_COLUMNS = (
    "contact_id",
    "email",
    "status",
    "error",
    "smtp_code",
    "permanent",
    "attempts",
    "message_id",
    "sent_at",
    "updated_at",
)


def campaign_report(ws: Workspace, campaign_id: str) -> Iterator[dict[str, Any]]:
    """Yield one row per recipient of a campaign (streams; see REPORT_COLUMNS)."""
    if ws.store.sends.campaign(campaign_id) is None:
        raise PreflightError(
            f"campaign {campaign_id!r} has never been sent",
            hint="Run `commskit status` to list the campaigns with a send log",
        )
    return ws.store.sends.rows(campaign_id)


def contact_history(ws: Workspace, contact: Contact | int) -> list[dict[str, Any]]:
    """Return a contact's sends: campaign_id, contact_id, status, sent_at, updated_at, error."""
    contact_id = contact if isinstance(contact, int) else contact.id
    return ws.store.sends.history(contact_id)
