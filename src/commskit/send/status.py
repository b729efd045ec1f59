"""What a send did and would do, read from the send log: status counts, reports, checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..store.sends import RecipientExample, ReportRow, SendRepo
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
    ``last_started_at`` the latest's.
    """
    out = []
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
