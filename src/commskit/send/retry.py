"""What to do after one delivery attempt: a pure decision (no clock, no randomness, no I/O).

The dispatch pool calls :func:`decide` with the transport's result, the row's history and the
settings, then records the verdict; the time and the jitter are arguments, so every branch is
unit-tested without a server or a database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .transports import DeliveryResult

#: The longest back-off between two attempts, whatever the attempt count.
MAX_DELAY = 6 * 3600.0


class Verdict(enum.Enum):
    """What the send log records for one attempt."""

    SENT = "sent"
    RETRY = "retry"  # a temporary failure: try again at ``Decision.at``
    PERMANENT = "permanent"  # never again (unless --retry-failed)
    UNKNOWN = "unknown"  # the server may have the message: resend only with --retry-unknown


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one attempt, the reason to record, and when to retry (RETRY only)."""

    verdict: Verdict
    reason: str = ""
    at: float | None = None
    hard_bounce: bool = False  # the server said the address does not exist


def decide(
    outcome: DeliveryResult,
    *,
    attempts: int,
    first_attempt_at: float | None,
    now: float,
    retry_base: float,
    max_retry_age: float,
    jitter: float = 1.0,
) -> Decision:
    """Return the decision for an attempt whose transport result is ``outcome``.

    ``attempts`` counts this one; ``first_attempt_at`` is when the first one was made (None:
    this is it). A temporary failure is retried after ``retry_base × 2^(attempts-1)`` seconds
    (at most :data:`MAX_DELAY`) times ``jitter`` (the caller draws it in [0.5, 1], so retries
    do not arrive in one burst), until ``max_retry_age`` seconds after the first attempt.
    """
    if outcome.outcome == "sent":
        return Decision(Verdict.SENT)
    if outcome.outcome == "unknown":
        return Decision(Verdict.UNKNOWN, outcome.reason)
    reason = f"{outcome.code} {outcome.reason}" if outcome.code else outcome.reason
    if outcome.outcome == "permanent":
        return Decision(Verdict.PERMANENT, reason, hard_bounce=outcome.hard_bounce)
    first = first_attempt_at if first_attempt_at is not None else now
    if now - first > max_retry_age:
        return Decision(Verdict.PERMANENT, f"gave up after retrying: {reason}")
    delay = min(retry_base * 2 ** (attempts - 1), MAX_DELAY) * jitter
    return Decision(Verdict.RETRY, reason, at=now + delay)
