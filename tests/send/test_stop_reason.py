"""Why a run stopped is a type (StopReason), not a sentence callers compare."""

from __future__ import annotations

import pytest

from commskit.config import TransportSettings
from commskit.errors import NobodyConfirmedError, PreflightError
from commskit.send import SendOptions, StopReason
from commskit.send.throttle import Throttle, since_iso

CAMPAIGN = "2026-11-infolettre"


def test_cancelled_limit_and_quota_have_their_reason(ws, make_runner, people) -> None:
    cancelled = make_runner(people(2)).run(SendOptions(), confirm=lambda report: False)
    assert cancelled.stop_reason is StopReason.CANCELLED
    assert cancelled.stopped == "cancelled before sending"  # the text users read is unchanged
    assert cancelled.to_dict()["stop_reason"] == "cancelled"

    limited = make_runner(people(4)).run(SendOptions(yes=True, limit=1))
    assert limited.stop_reason is StopReason.LIMIT
    assert "--limit 1" in (limited.stopped or "")

    def daily(repo):
        sent = repo.count_sent_since(since_iso(86400))
        return Throttle(TransportSettings(rate_per_day=2), sent_last_day=sent)

    capped = make_runner(people(4), throttle=daily).run(SendOptions(yes=True))
    assert capped.stop_reason is StopReason.THROTTLE
    assert "daily limit of 2" in (capped.stopped or "")

    done = make_runner(people(4)).run(SendOptions(yes=True))
    assert done.stop_reason is None
    assert done.stopped is None


def test_unconfirmed_bulk_send_raises_its_own_error(ws, make_runner, people) -> None:
    with pytest.raises(NobodyConfirmedError, match="nobody confirmed") as caught:
        make_runner(people(2)).run(SendOptions())
    assert isinstance(caught.value, PreflightError)  # callers catching PreflightError still do
    assert ws.store.sends.campaign(CAMPAIGN) is None
