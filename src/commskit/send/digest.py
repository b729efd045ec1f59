"""Send the veille digest through the campaign engine, at most once per period.

The digest is compiled like a campaign (``ws.compile_digest``) and sent to
``[digest] recipients`` (plain addresses) and/or ``[digest] segment`` (contacts). Its send-log id
is the digest name plus the period (``veille-2026-W47`` for the default ``period = "week"``), so
the Monday cron job run twice — or re-run after a crash — finishes the send and never sends the
digest twice to anyone in the same week. A re-run may carry newer items than the interrupted one:
people already served are skipped, the others get the newer content (the fingerprint check that
protects campaigns is relaxed for digests, on purpose).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, PreflightError
from ..progress import Progress
from .api import (
    _test_sample,
    address_recipients,
    refuse_example_sender,
    workspace_job,
    workspace_runner,
)
from .runner import PreflightReport, SendOptions, SendReport

if TYPE_CHECKING:
    from ..feeds import Digest
    from ..workspace import Workspace

PERIODS = ("week", "day", "month", "run")


def period_key(moment: datetime, period: str) -> str:
    """Return the period label of ``moment``: 2026-W47, 2026-11-23, 2026-11 or a timestamp."""
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "day":
        return f"{moment:%Y-%m-%d}"
    if period == "month":
        return f"{moment:%Y-%m}"
    if period == "run":
        return f"{moment:%Y%m%dT%H%M%S}"
    raise ConfigError(
        f"[digest] period must be one of {', '.join(PERIODS)}, not {period!r}",
        hint="Fix it in commskit.toml",
    )


class _Recipients:
    """Plain addresses first, then the segment's contacts; re-iterable, as the runner needs."""

    def __init__(self, addresses: list[Any], segment: Any) -> None:
        self.addresses = addresses
        self.segment = segment

    def __iter__(self) -> Any:
        yield from self.addresses
        if self.segment is not None:
            yield from self.segment

    def count(self) -> int:
        return len(self.addresses) + (self.segment.count() if self.segment is not None else 0)


def send_digest(
    ws: Workspace,
    digest: Digest,
    *,
    recipients: list[str] | None = None,
    segment: str | None = None,
    dry_run: bool = False,
    test_address: str | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    confirm: Callable[[PreflightReport], bool] | None = None,
    yes: bool = False,
) -> SendReport:
    """Email ``digest`` to the team (settings.digest.recipients / .segment), once per period.

    As for campaigns, more than one message needs ``yes=True`` or a ``confirm`` callback.
    """
    settings = ws.settings.digest
    addresses = list(recipients if recipients is not None else settings.recipients)
    expression = segment if segment is not None else settings.segment
    if not addresses and not expression and not test_address:
        raise PreflightError(
            "the digest has no recipients",
            path=ws.path("commskit.toml"),
            hint='Set [digest] recipients = ["equipe@…"] or [digest] segment in commskit.toml',
        )
    moment = now or digest.end
    campaign_id = f"{digest.name}-{period_key(moment, settings.period)}"
    people = (
        ws.segment(expression, include_suppressed=True, list_name=digest.name)
        if expression
        else None
    )
    job_recipients = _Recipients(address_recipients(addresses), people)
    compiled = ws.compile_digest(digest, list_name=digest.name)
    job = workspace_job(
        ws,
        campaign_id=campaign_id,
        compiled=compiled,
        recipients=job_recipients,
        list_name=digest.name,
        subject=compiled.campaign.subject,
        sample=_test_sample(ws, test_address, compiled.campaign.language),
    )
    runner = workspace_runner(ws, job)
    options = SendOptions(dry_run=dry_run, test_address=test_address, yes=yes, allow_changed=True)
    refuse_example_sender(ws, compiled.campaign.from_ or ws.settings.sender.from_, options)
    return runner.run(options, progress=progress, confirm=confirm)
