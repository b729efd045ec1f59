"""What a send reports: why recipients are not mailed, the pre-flight report, the run's outcome.

Plain data, no I/O: pre-flight, the dispatch pool, the runner, the CLI and the application layer
all read and fill these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

#: Why a recipient is not mailed, as pre-flight, the send log and ``status`` count it.
NOT_MAILED: dict[str, str] = {
    "suppressed-list": "unsubscribed from this list",
    "suppressed-global": "suppressed for every list (unsubscribed from all, bounced, complained "
    "or by hand)",
    "erased": "erased at the person's request (GDPR)",
    "no-basis": "no legal basis recorded",
    "refused-basis": "legal basis not accepted for this list",
    "invalid": "invalid address or contact data",
    "duplicate": "duplicate address",
}
#: The categories that need someone to fix the data or the legal basis (exit status 1).
NEEDS_ACTION = ("invalid", "no-basis", "refused-basis")
_SUPPRESSION_CODES = ("suppressed-list", "suppressed-global", "erased", "no-basis", "refused-basis")


class NotMailed(str):
    """A reason not to mail someone, as ``SendJob.suppression`` returns it, with its category.

    It is the text stored in the send log; ``code`` is one of :data:`NOT_MAILED`. A plain str
    returned by a suppression callable counts as "suppressed-global" ("erased" for "erased").
    """

    code: str

    def __new__(cls, text: str, code: str) -> NotMailed:
        self = super().__new__(cls, text)
        self.code = code
        return self


def reason_code(reason: str) -> str:
    """Return the :data:`NOT_MAILED` category of a suppression reason."""
    code = getattr(reason, "code", None)
    if isinstance(code, str) and code:
        return code
    return "erased" if reason == "erased" else "suppressed-global"


def describe_recipient(contact_id: int | None, email: str | None, code: str = "") -> str:
    """Name a recipient in a report: ``contact #12 anne@example.org`` (no address if erased)."""
    if code == "erased" or not email:
        return f"contact #{contact_id}" if contact_id is not None else "an erased address"
    return f"contact #{contact_id} {email}" if contact_id is not None else email


@dataclass
class SendOptions:
    """How to run a send (the CLI flags)."""

    dry_run: bool = False
    test_address: str | None = None
    limit: int | None = None
    yes: bool = False
    retry_failed: bool = False
    retry_unknown: bool = False
    allow_changed: bool = False


@dataclass
class PreflightReport:
    """What pre-flight found; ``to_send`` is what this run would hand to the transport."""

    campaign_id: str
    total: int = 0
    to_send: int = 0
    already_sent: int = 0
    suppressed: int = 0
    invalid: int = 0
    duplicate: int = 0
    unresolved: int = 0  # unknown outcomes from an earlier run, left alone without --retry-unknown
    failed: int = 0  # permanent failures from an earlier run, left alone without --retry-failed
    warnings: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # a few invalid/duplicate addresses
    # why recipients are not mailed: NOT_MAILED category → count, and one example each
    not_mailed: dict[str, int] = field(default_factory=dict)
    not_mailed_examples: dict[str, str] = field(default_factory=dict)
    smtputf8: int = 0  # addresses to send that need SMTPUTF8 (a non-ASCII local part)
    # the compose checks' findings ({"level", "code", "message"}), and per-recipient ones
    checks: list[dict[str, str]] = field(default_factory=list)
    # a campaign in several languages: variant language → recipients to mail who get it
    languages: dict[str, int] = field(default_factory=dict)

    @property
    def needs_action(self) -> int:
        """Return how many recipients cannot be mailed until someone fixes their data or basis."""
        return sum(self.not_mailed.get(code, 0) for code in NEEDS_ACTION)

    def count_not_mailed(self, code: str, example: str) -> None:
        """Count one recipient not mailed for ``code``, keeping the first example."""
        self.not_mailed[code] = self.not_mailed.get(code, 0) + 1
        self.not_mailed_examples.setdefault(code, example)
        if code in _SUPPRESSION_CODES:
            self.suppressed += 1
        elif code == "invalid":
            self.invalid += 1
        elif code == "duplicate":
            self.duplicate += 1
        if code in ("invalid", "duplicate") and len(self.examples) < 10:
            self.examples.append(example)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**self.__dict__, "needs_action": self.needs_action}


class StopReason(enum.Enum):
    """Why a run stopped before the end (``SendReport.stop_reason``; ``stopped`` in words)."""

    CANCELLED = "cancelled"  # the confirm callback said no: nothing was sent
    LIMIT = "limit"  # --limit was reached
    THROTTLE = "throttle"  # a quota (hourly, daily) or the send window
    RELAY_DOWN = "relay-down"  # the relay failed RELAY_FAILURES_IN_A_ROW times in a row
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM
    ERROR = "error"  # an error stopped the dispatch (it is raised too)


@dataclass
class SendReport:
    """The outcome of one run of :func:`run_send`."""

    campaign_id: str
    preflight: PreflightReport
    dry_run: bool = False
    test_address: str | None = None
    transport: str = ""
    sent: int = 0  # in this run
    failed: int = 0
    retry_later: int = 0
    unknown: int = 0
    suppressed_at_dispatch: int = 0
    stopped: str | None = None  # why the run stopped before the end (quota, window, limit)
    stop_reason: StopReason | None = None  # the same, as a type to compare
    counts: dict[str, int] = field(default_factory=dict)  # whole campaign, from the send log
    elapsed: float = 0.0
    retry_wait: float = 0.0  # seconds this run waited for temporary failures to come due

    @property
    def rate(self) -> float:
        """Return the messages accepted per second in this run."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = {k: v for k, v in self.__dict__.items() if k != "preflight"}
        out["preflight"] = self.preflight.to_dict()
        out["stop_reason"] = self.stop_reason.value if self.stop_reason else None
        out["rate"] = round(self.rate, 1)
        return out
