"""store/sends.py hands out typed, frozen records: no sqlite3.Row, no dict, no row["col"]."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from commskit.send import SendOptions
from commskit.store.sends import CampaignRecord, HistoryRow, RecipientExample, ReportRow

CAMPAIGN = "2026-11-infolettre"


def _typed(value: object) -> None:
    assert not isinstance(value, (sqlite3.Row, dict)), type(value)


def test_send_repo_returns_records_not_rows(ws, make_runner, people, tmp_path) -> None:
    recipients = people(3)
    make_runner(recipients, suppressed={recipients[2].email: "unsubscribed"}).run(
        SendOptions(yes=True)
    )
    repo = ws.store.sends

    campaign = repo.campaign(CAMPAIGN)
    _typed(campaign)
    assert isinstance(campaign, CampaignRecord)
    assert campaign.id == CAMPAIGN
    assert campaign.fingerprint == "fp-1"
    assert campaign.subject == "Infolettre"
    assert campaign.finished_at is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        campaign.fingerprint = "changed"  # type: ignore[misc]

    rows = list(repo.rows(CAMPAIGN))
    assert [type(r) for r in rows] == [ReportRow] * 3
    assert [r.status for r in rows] == ["sent", "sent", "suppressed"]
    assert rows[0].message_id.startswith(f"<{CAMPAIGN}.")

    history = repo.history(recipients[0].id)
    assert [type(h) for h in history] == [HistoryRow]
    assert history[0].campaign_id == CAMPAIGN
    assert history[0].status == "sent"

    found = repo.not_mailed(CAMPAIGN)
    count, example = found["suppressed-global"]
    assert count == 1
    assert isinstance(example, RecipientExample)
    assert example.email == recipients[2].email
    assert example.error == "unsubscribed"
    assert repo.first_permanent_failure(CAMPAIGN) is None


def test_public_report_and_history_stay_dicts(ws, make_runner, people) -> None:
    # the Workspace API keeps handing scripts plain dicts (docs/python-api.md)
    make_runner(people(2)).run(SendOptions(yes=True))
    report = list(ws.send_report(CAMPAIGN))
    assert report
    assert all(isinstance(r, dict) for r in report)
    assert report[0]["status"] == "sent"
    history = ws.send_history(people(1)[0].id)
    assert history[0]["campaign_id"] == CAMPAIGN
