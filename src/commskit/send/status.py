"""What a send did and would do, read from the send log: status counts, reports, checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..store.sends import CampaignRates, RecipientExample, ReportRow, SendRepo
from .report import NEEDS_ACTION, NOT_MAILED, PreflightReport, describe_recipient

REPORT_COLUMNS = ReportRow._fields


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


def preflight_issues(report: PreflightReport) -> list[dict[str, str]]:
    """Return a pre-flight's content findings, then a warning per category someone must fix.

    Recipients not mailed for invalid data or a missing or refused legal basis are warnings:
    they do not stop a send, but someone must act on them.
    """
    issues = list(report.checks)
    for code in NEEDS_ACTION:
        if report.not_mailed.get(code):
            issues.append(
                {
                    "level": "warning",
                    "code": f"recipient-{code}",
                    "message": f"{report.not_mailed[code]} recipient(s) not mailed: "
                    f"{NOT_MAILED[code]} (e.g. {report.not_mailed_examples[code]})",
                }
            )
    return issues


def campaign_status(repo: SendRepo, campaign_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Return per-campaign counts (pending, sent, failed, suppressed, unknown, ...).

    Each entry also says why recipients were not mailed: ``not_mailed`` maps a category of
    :data:`commskit.send.runner.NOT_MAILED` to its count and one example, and
    ``failed_example`` shows one permanent failure. ``started_at`` is the first run's start,
    ``last_started_at`` the latest's. ``rates`` holds the bounce, complaint and unsubscribe
    counts and rates (:meth:`commskit.store.sends.CampaignRates.to_dict`).
    """
    out = []
    rates = repo.campaign_rates(campaign_ids)
    for cid in campaign_ids:
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
                "rates": rates[cid].to_dict(),
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


def rate_warning(
    recent: Sequence[CampaignRates], *, max_complaint_rate: float, max_hard_bounce_rate: float
) -> str | None:
    """Return the warning ``send`` gives when recent campaigns went over a threshold, or None.

    ``recent`` are the campaigns judged (``SendRepo.recent_rates``: the last few that sent
    enough messages for a rate to mean something); each one over ``[sending]
    max_complaint_rate`` or ``max_hard_bounce_rate`` is named with its rate and counts.
    """
    over = []
    for rates in recent:
        if rates.complaint_rate > max_complaint_rate:
            over.append(
                f"{rates.campaign_id}: complaints {percent(rates.complaint_rate, 2)} "
                f"({rates.complaints} of {rates.sent}), over [sending] max_complaint_rate "
                f"{percent(max_complaint_rate, 2)}"
            )
        if rates.hard_bounce_rate > max_hard_bounce_rate:
            over.append(
                f"{rates.campaign_id}: hard bounces {percent(rates.hard_bounce_rate, 1)} "
                f"({rates.hard_bounces} of {rates.sent}), over [sending] max_hard_bounce_rate "
                f"{percent(max_hard_bounce_rate, 1)}"
            )
    if not over:
        return None
    return (
        "rates: " + "; ".join(over) + ". Receivers slow down or block senders past such rates "
        "(Gmail: complaints over 0.3 %): clean the list (read bounces with `commskit bounces`, "
        "remove addresses nobody asked for), check the consent of the segment's contacts, "
        "and read docs/deliverability.md before sending more"
    )


def percent(rate: float, decimals: int) -> str:
    """Return a rate (a fraction of 1) as a percentage: ``percent(0.0067, 2)`` is ``0.67 %``."""
    return f"{rate * 100:.{decimals}f} %"
