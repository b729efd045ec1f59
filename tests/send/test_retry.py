"""The retry decision is a pure function: every branch checked without a server or a clock."""

from __future__ import annotations

import pytest

from commskit.send.retry import MAX_DELAY, Decision, Verdict, decide
from commskit.send.transports import DeliveryResult

NOW = 1_000_000.0


def _decide(outcome: DeliveryResult, **kwargs: float) -> Decision:
    args = {
        "attempts": 1,
        "first_attempt_at": None,
        "now": NOW,
        "retry_base": 60.0,
        "max_retry_age": 3600.0,
        "jitter": 1.0,
    }
    args.update(kwargs)
    return decide(outcome, **args)  # type: ignore[arg-type]


def test_sent_and_unknown() -> None:
    assert _decide(DeliveryResult("sent", 250, "ok")).verdict is Verdict.SENT
    unknown = _decide(DeliveryResult("unknown", reason="connection lost after DATA"))
    assert unknown == Decision(Verdict.UNKNOWN, "connection lost after DATA")


def test_permanent_failure_and_hard_bounce() -> None:
    bounce = _decide(DeliveryResult("permanent", 550, "5.1.1 no such user"))
    assert bounce == Decision(Verdict.PERMANENT, "550 5.1.1 no such user", hard_bounce=True)
    policy = _decide(DeliveryResult("permanent", 554, "5.7.1 rejected by policy"))
    assert policy.verdict is Verdict.PERMANENT
    assert not policy.hard_bounce


@pytest.mark.parametrize(
    ("attempts", "jitter", "delay"),
    [(1, 1.0, 60.0), (2, 1.0, 120.0), (4, 0.5, 240.0), (30, 1.0, MAX_DELAY)],
)
def test_temporary_failure_backs_off_exponentially(attempts, jitter, delay) -> None:
    found = _decide(
        DeliveryResult("transient", 451, "4.3.0 try later"),
        attempts=attempts,
        jitter=jitter,
        first_attempt_at=NOW - 10,
        max_retry_age=10 * MAX_DELAY,
    )
    assert found == Decision(Verdict.RETRY, "451 4.3.0 try later", at=NOW + delay)


def test_temporary_failure_gives_up_after_the_maximum_age() -> None:
    outcome = DeliveryResult("transient", reason="connect: refused")
    within = _decide(outcome, first_attempt_at=NOW - 3600.0)
    assert within.verdict is Verdict.RETRY
    too_old = _decide(outcome, first_attempt_at=NOW - 3600.5)
    assert too_old == Decision(Verdict.PERMANENT, "gave up after retrying: connect: refused")
