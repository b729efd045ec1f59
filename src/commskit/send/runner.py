"""The campaign runner: pre-flight, then crash-safe, resumable dispatch through a transport.

The runner sees the rest of commskit through a narrow seam, :class:`SendJob`: a compiled message
(``fingerprint``, ``check()``, ``message_for(...)``), re-iterable recipients (objects with ``id``
and ``email``, such as :class:`commskit.audience.Contact`) and a ``suppression(email, list)``
callable.
That is what lets a veille digest go through the same engine as a newsletter.

Order of a run (see docs/sending.md):

1. fingerprint check against the first send (CampaignChangedError unless allowed);
2. pre-flight, streamed: invalid and duplicate addresses, already-sent counts, suppression and
   legal basis (those recipients are never rendered), then every other recipient rendered
   strictly; the compose checks run on the first real recipient. A recipient whose own data
   cannot make a message (a line break in a name) is skipped with its reason; nothing is
   written before pre-flight passes;
3. confirmation (``yes`` or the ``confirm`` callback) for more than one recipient;
4. the campaign's lease (``send:<campaign id>`` in the store) is claimed: a second run of the same
   campaign stops here with CampaignBusyError naming the holder (and, as a courtesy, before its
   pre-flight when the lease is already held then);
5. the transport is opened (a bad URL, password or host fails here, the log still unchanged);
6. the recipients enter the send log; then each due row is re-checked against suppression,
   marked ``sending`` (committed, in the transaction that confirms the lease is still ours),
   handed to the transport, and marked with the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import hashlib
import hmac
import math
import multiprocessing as mp
import os
import pickle
import random
import re
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Protocol

from email_validator import EmailNotValidError, validate_email

from ..audience.contacts import _PLAIN as _PLAIN_ADDRESS
from ..audience.contacts import InvalidAddress, _validated_domain
from ..config import Settings
from ..errors import (
    CampaignBusyError,
    CampaignChangedError,
    CommskitError,
    LeaseHeldError,
    LeaseLostError,
    NobodyConfirmedError,
    PreflightError,
    RenderError,
    SendError,
    TransportError,
)

# the audience stage's own fast address check (its tests prove it agrees with email-validator)
from ..progress import Progress
from ..render.mime import prefix_subject
from ..store.leases import Lease
from ..store.sends import LogRow, NewLogRow, SendRepo
from .parallel import RenderChecker, child_main
from .throttle import Throttle, parse_duration, since_iso
from .transports import DeliveryResult, Transport

#: What a test copy's subject starts with, so nobody mistakes it for the real send.
TEST_PREFIX = "[TEST] "

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
# this many relay-level failures in a row (no connection, 421) mean the relay is down: stop
RELAY_FAILURES_IN_A_ROW = 10


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


class CheckIssueLike(Protocol):
    """One compose check finding (``level`` is "error" or "warning")."""

    @property
    def level(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...


class CompiledLike(Protocol):
    """What the runner needs from a compiled campaign (contract 3)."""

    @property
    def fingerprint(self) -> str: ...

    def check(self, contact: Any = None) -> Sequence[CheckIssueLike]:
        """Return the content findings, rendered for ``contact`` (None: a sample contact)."""
        ...

    def message_for(
        self,
        contact: Any,
        *,
        message_id: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        extra_headers: Mapping[str, str] = ...,
    ) -> bytes: ...


@dataclass
class SendJob:
    """Everything one send needs, independent of where campaigns and contacts come from."""

    campaign_id: str
    compiled: CompiledLike
    # objects with .email and .id (int, or None for a plain address); iterated more than once
    recipients: Iterable[Any]
    list_name: str | None = None
    subject: str = ""
    # reason the address must not be emailed (unsubscribed, bounced, ...), or None
    suppression: Callable[[str, str | None], str | None] = lambda email, list_name: None
    # called with (email, reason) when the server says the address does not exist
    on_hard_bounce: Callable[[str, str], None] | None = None
    # builds the opaque unsubscribe token for (contact id, list); None → no token in the URL
    make_token: Callable[[int, str], str] | None = None
    # finds a recipient again from its log row (default: index the recipients lazily)
    lookup: Callable[[LogRow], Any] | None = None
    # a sample recipient for --test when the list is empty
    sample: Any = None


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


@dataclass(frozen=True)
class SendContext:
    """Settings-derived values the runner needs (kept apart so tests can build one directly)."""

    secret: bytes
    domain: str
    envelope_from: str  # may contain {campaign} and {token} (VERP)
    unsubscribe_url: str
    unsubscribe_mailto: str | None
    feedback_id: str
    retry_base: float
    retry_wait: float
    max_retry_age: float

    @classmethod
    def from_settings(cls, settings: Settings, secret: bytes, from_: str = "") -> SendContext:
        """Derive the context from workspace settings (and the campaign's From, if any)."""
        sender = settings.sender
        from_addr = parseaddr(from_ or sender.from_)[1]
        domain = sender.domain or (from_addr.rpartition("@")[2] if "@" in from_addr else "")
        return cls(
            secret=secret,
            domain=domain or "localhost",
            envelope_from=sender.envelope_from or from_addr,
            unsubscribe_url=settings.unsubscribe.url,
            unsubscribe_mailto=settings.unsubscribe.mailto or None,
            feedback_id=sender.feedback_id,
            retry_base=settings.transport.retry_base,
            retry_wait=settings.transport.retry_wait,
            max_retry_age=parse_duration(settings.transport.max_retry_age),
        )


_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


class CampaignRunner:
    """Run one :class:`SendJob` through one transport with a send log; see the module doc."""

    def __init__(
        self,
        job: SendJob,
        *,
        repo: SendRepo,
        context: SendContext,
        transport_factory: Callable[[], Transport],
        throttle_factory: Callable[[SendRepo], Throttle] | None = None,
        processes: int = 1,
        reopen: Callable[[], tuple[SendJob, SendRepo]] | None = None,
        parallel_threshold: int = 1000,
        lease_ttl: float = 120.0,
    ) -> None:
        self.job = job
        self.repo = repo
        self.ctx = context
        self.transport_factory = transport_factory
        self.throttle_factory = throttle_factory
        # Several sending processes (forked after pre-flight) share the dispatch when the machine
        # has cores to spare: rendering is CPU-bound Python. ``reopen`` rebuilds, in a child, the
        # job and repo over a fresh database connection (a SQLite connection must not cross fork).
        self.processes = processes
        self.reopen = reopen
        self.parallel_threshold = parallel_threshold
        # the lease is renewed every third of this while the run dispatches; a run that stops
        # renewing (hung, suspended) can be taken over after it, one that died at once
        self.lease_ttl = lease_ttl
        self.lease: Lease | None = None  # held from the claim to the end of the run
        self._index: dict[str, Any] | None = None

    # --- identities --------------------------------------------------------------------------

    def recipient_key(self, recipient: Any) -> str:
        """Return the log key: ``c<id>`` for a contact, ``a<hash>`` for a plain address."""
        contact_id = getattr(recipient, "id", None)
        if contact_id is not None:
            return f"c{contact_id}"
        digest = hmac.new(self.ctx.secret, _normal(recipient.email).encode(), hashlib.sha256)
        return "a" + digest.hexdigest()[:20]

    def token(self, recipient_key: str) -> str:
        """Return the keyed per-(campaign, recipient) token used in Message-ID and VERP."""
        data = f"{self.job.campaign_id}\0{recipient_key}".encode()
        return hmac.new(self.ctx.secret, data, hashlib.sha256).hexdigest()[:16]

    def message_id(self, token: str) -> str:
        """Return the deterministic Message-ID for a recipient's token."""
        slug = _SLUG.sub("-", self.job.campaign_id).strip("-.") or "campaign"
        return f"<{slug}.{token}@{self.ctx.domain}>"

    def envelope_from(self, token: str) -> str:
        """Return the envelope sender, filling the VERP pattern when one is configured."""
        slug = _SLUG.sub("-", self.job.campaign_id).strip("-.")
        return self.ctx.envelope_from.replace("{campaign}", slug).replace("{token}", token)

    def unsubscribe_url(self, recipient: Any) -> str:
        """Return the one-click URL: ``{base}?t=<token>``, or base with ``{token}`` filled in."""
        base = self.ctx.unsubscribe_url
        contact_id = getattr(recipient, "id", None)
        if self.job.make_token is None or contact_id is None or not self.job.list_name:
            return base
        tok = self.job.make_token(int(contact_id), self.job.list_name)
        if "{token}" in base:
            return base.replace("{token}", tok)
        return f"{base}{'&' if '?' in base else '?'}t={tok}"

    def _feedback_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.ctx.feedback_id:
            headers["Feedback-ID"] = (
                f"{_SLUG.sub('-', self.job.campaign_id)}:{self.job.list_name or 'none'}:"
                f"commskit:{self.ctx.feedback_id}"
            )
        return headers

    def render(self, recipient: Any, message_id: str, *, test: bool = False) -> bytes:
        """Render the final bytes for one recipient (strict: undefined variables raise).

        A ``test`` copy gets an unsubscribe link with no valid token: clicking it in a test
        message must not unsubscribe the partner whose data filled the sample.
        """
        return self.job.compiled.message_for(
            recipient,
            message_id=message_id,
            unsubscribe_url=self._test_url() if test else self.unsubscribe_url(recipient),
            unsubscribe_mailto=self.ctx.unsubscribe_mailto,
            extra_headers=self._feedback_headers(),
        )

    def check(self, recipient: Any, message_id: str) -> list[CheckIssueLike]:
        """Raise what :meth:`render` would raise for this recipient, without building the bytes.

        Uses the compiled campaign's ``check_recipient`` (only the personal parts are evaluated)
        and falls back to a full render for a compiled object that has none. Returns that
        recipient's own warnings (e.g. a personalised subject too long for inboxes).
        """
        check_recipient = getattr(self.job.compiled, "check_recipient", None)
        if check_recipient is None:
            self.render(recipient, message_id)
            return []
        found = check_recipient(
            recipient,
            message_id=message_id,
            unsubscribe_url=self.unsubscribe_url(recipient),
            unsubscribe_mailto=self.ctx.unsubscribe_mailto,
            extra_headers=self._feedback_headers(),
        )
        return list(found or ())

    def _test_url(self) -> str:
        base = self.ctx.unsubscribe_url
        if "{token}" in base:
            return base.replace("{token}", "test-copy")
        return f"{base}{'&' if '?' in base else '?'}t=test-copy" if base else base

    # --- pre-flight --------------------------------------------------------------------------

    def check_fingerprint(self, options: SendOptions) -> bool:
        """Refuse to resume a campaign whose content changed; return True on a resume."""
        row = self.repo.campaign(self.job.campaign_id)
        if row is None:
            return False
        if row.fingerprint != self.job.compiled.fingerprint and not options.allow_changed:
            raise CampaignChangedError(
                f"campaign {self.job.campaign_id!r} changed since its first send "
                f"on {row.created_at}: recipients already sent got the old version",
                hint="Undo the change to finish the send as it started, or re-run with "
                "--allow-changed to send the new version to the others",
            )
        return True

    def preflight(
        self, options: SendOptions, *, collect: bool = True, strict: bool = True
    ) -> tuple[PreflightReport, list[NewLogRow]]:
        """Check everything before anything is sent; return the report and the rows to log.

        Suppressed, erased and no-basis recipients are counted and never rendered; every other
        one is rendered strictly. A recipient whose own data cannot make a message is skipped
        and reported (``invalid``); an error in the campaign itself (an undefined variable, a
        failed compose check) raises TemplateError or PreflightError, unless ``strict`` is false
        (``commskit check``): then it is only listed in ``report.checks``. Writes nothing. With
        ``collect`` false (dry runs) no rows are kept, so memory stays flat however long the list.
        """
        job = self.job
        report = PreflightReport(job.campaign_id)
        if not self.ctx.unsubscribe_url:
            report.warnings.append(
                "no [unsubscribe] url: messages carry no one-click unsubscribe link"
            )
        states = self.repo.statuses(job.campaign_id)
        pass_ = _PreflightPass(self, options, report, states, collect, strict)
        checker = RenderChecker(
            self,
            parallel=self._parallel_preflight(),
            on_problem=pass_.problem,
            on_warnings=pass_.warnings,
        )
        pass_.checker = checker
        try:
            for recipient in job.recipients:
                pass_.one(recipient)
            checker.finish()
        finally:
            checker.close()
        pass_.finish()
        return report, pass_.rows

    def _compose_checks(self, report: PreflightReport, contact: Any, strict: bool) -> None:
        """Run the compiled campaign's content checks, rendered for ``contact`` (a real one)."""
        issues = self.job.compiled.check(contact)
        errors = [i for i in issues if i.level == "error"]
        for issue in issues:
            report.checks.append(
                {"level": issue.level, "code": issue.code, "message": issue.message}
            )
            if issue.level != "error":
                report.warnings.append(f"{issue.code}: {issue.message}")
        if errors and strict:
            listed = "; ".join(f"{i.code}: {i.message}" for i in errors[:3])
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            raise PreflightError(
                f"the campaign fails {len(errors)} check(s): {listed}{more}",
                hint="Run `commskit check` for the details, fix them and send again",
            )

    def _parallel_preflight(self) -> int:
        if self.processes <= 1 or not hasattr(os, "fork"):
            return 1
        try:
            count = len(self.job.recipients)  # type: ignore[arg-type]
        except TypeError:
            return 1
        return self.processes if count >= self.parallel_threshold else 1

    # --- the run -----------------------------------------------------------------------------

    def run(
        self,
        options: SendOptions,
        *,
        progress: Progress | None = None,
        confirm: Callable[[PreflightReport], bool] | None = None,
    ) -> SendReport:
        """Pre-flight, confirm, open the transport, log the recipients and dispatch."""
        started = time.monotonic()
        sending = not (options.dry_run or options.test_address)
        if sending:
            self._refuse_if_busy()
        resumed = self.check_fingerprint(options)
        report, rows = self.preflight(
            options, collect=not (options.dry_run or options.test_address)
        )
        result = SendReport(
            self.job.campaign_id, report, dry_run=options.dry_run, test_address=options.test_address
        )
        if options.test_address:
            return self._send_test(options.test_address, result)
        if options.dry_run:
            result.counts = self.repo.counts(self.job.campaign_id)
            result.elapsed = time.monotonic() - started
            return result
        if report.total == 0:
            raise PreflightError(
                f"campaign {self.job.campaign_id!r} has no recipients",
                hint="Check the campaign's audience (segment) with `commskit segment`",
            )
        to_send = report.to_send
        if options.limit is not None:
            to_send = min(to_send, options.limit)
        if to_send > 1 and not options.yes:
            if confirm is None:
                raise NobodyConfirmedError(
                    f"this would send {to_send} messages and nobody confirmed",
                    hint="Add --yes to send without asking",
                )
            if not confirm(report):
                result.stopped = "cancelled before sending"
                result.stop_reason = StopReason.CANCELLED
                return result
        self._claim()
        try:
            transport = self.transport_factory()
            result.transport = transport.description
            processes = self._process_count(options, to_send)
            if processes > 1:
                self._parallel_dispatch(
                    transport, rows, resumed, options, result, progress, processes
                )
            else:
                asyncio.run(
                    self._open_and_dispatch(transport, rows, resumed, options, result, progress)
                )
        finally:
            self._release()
        result.counts = self.repo.counts(self.job.campaign_id)
        result.elapsed = time.monotonic() - started
        return result

    # --- the lease: one run at a time per campaign ----------------------------------------------

    @property
    def lease_name(self) -> str:
        """Return the name of the store lease a send of this campaign holds."""
        return f"send:{self.job.campaign_id}"

    def _busy(self, holder: str) -> CampaignBusyError:
        return CampaignBusyError(
            f"campaign {self.job.campaign_id!r} is being sent by another process ({holder}); "
            "this run sent nothing",
            hint=f"Follow it with `commskit status {self.job.campaign_id}`; once it has ended, "
            "the same command sends whatever is left",
        )

    def _refuse_if_busy(self) -> None:
        """Stop before a long pre-flight when another run already holds the campaign."""
        holder = self.repo.store.leases.holder(self.lease_name)
        if holder is not None:
            raise self._busy(holder.describe())

    def _claim(self) -> None:
        try:
            self.lease = self.repo.store.leases.acquire(self.lease_name, ttl=self.lease_ttl)
        except LeaseHeldError as exc:
            since = exc.since.replace("T", " ").removesuffix("+00:00")
            raise self._busy(f"pid {exc.pid} on {exc.host}, since {since} UTC") from None

    def _renew(self) -> None:
        if self.lease is not None:
            self.lease = self.repo.store.leases.renew(self.lease, ttl=self.lease_ttl)

    async def _keep_lease(self) -> None:
        """Renew the lease while the dispatch runs (a lost lease stops the next hand-over)."""
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            try:
                self._renew()
            except LeaseLostError:
                return
            except CommskitError:  # the store was busy or failing: try again at the next turn
                continue

    def _release(self) -> None:
        if self.lease is not None:
            lease, self.lease = self.lease, None
            with contextlib.suppress(Exception):  # the run's own error matters more
                self.repo.store.leases.release(lease)

    def _mark_sending(self, row_id: int) -> None:
        """Mark a row ``sending`` (committed); with a lease, only while it is still ours."""
        self.repo.mark_sending(row_id, now=time.time(), lease=self.lease)

    def _process_count(self, options: SendOptions, to_send: int) -> int:
        if (
            self.processes <= 1
            or self.reopen is None
            or options.limit is not None
            or to_send < self.parallel_threshold
            or not hasattr(os, "fork")
        ):
            return 1
        return self.processes

    def _log_recipients(
        self, rows: list[NewLogRow], resumed: bool, options: SendOptions, transport: str
    ) -> None:
        with self.repo.store.transaction():
            self.repo.start_campaign(
                self.job.campaign_id,
                fingerprint=self.job.compiled.fingerprint,
                list_name=self.job.list_name,
                subject=self.job.subject,
                transport=transport,
                replace_fingerprint=resumed and options.allow_changed,
            )
            self.repo.add_recipients(self.job.campaign_id, rows)
        rows.clear()

    def _parallel_dispatch(
        self,
        transport: Transport,
        rows: list[NewLogRow],
        resumed: bool,
        options: SendOptions,
        result: SendReport,
        progress: Progress | None,
        processes: int,
    ) -> None:
        """Dispatch with ``processes`` processes, each taking the rows whose id ≡ k (mod n).

        The total in flight stays the configured concurrency (each process takes a share), so
        a kill -9 still leaves at most that many messages ambiguous. Children die with the
        parent (PR_SET_PDEATHSIG), so killing the command kills the whole send.
        """

        async def probe() -> None:
            await transport.open()
            await transport.close()

        asyncio.run(probe())
        self._renew()
        self._log_recipients(rows, resumed, options, transport.description)
        share = -(-transport.concurrency // processes)
        counters = mp.get_context("fork").RawArray("q", processes)
        parent = os.getpid()
        children: list[tuple[int, int]] = []
        for part in range(1, processes):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: never returns
                os.close(read_end)
                child_main(
                    self, part, processes, share, options, result, counters, parent, write_end
                )
            os.close(write_end)
            children.append((pid, read_end))

        def count(n: int = 1, total: int | None = None, description: str | None = None) -> None:
            counters[0] += n

        async def parent_part() -> None:
            transport.limit_concurrency(share)
            keeper = asyncio.create_task(self._keep_lease())  # the lease is the parent's
            try:
                await parent_dispatch()
            finally:
                keeper.cancel()

        async def parent_dispatch() -> None:
            await transport.open()

            async def poll() -> None:
                shown = 0
                while True:
                    done = sum(counters)
                    if progress is not None and done > shown:
                        progress(done - shown)
                        shown = done
                    await asyncio.sleep(0.2)

            poller = asyncio.create_task(poll()) if progress is not None else None
            if progress is not None:
                total = result.preflight.to_send
                progress(0, total=total, description=f"Sending {self.job.campaign_id}")
            try:
                await self._dispatch(transport, options, result, count, (0, processes))
            finally:
                await transport.close()
                if poller is not None:
                    poller.cancel()

        error: BaseException | None = None
        try:
            asyncio.run(parent_part())
        except BaseException as exc:  # stop the children, wait for them, then report it
            error = exc
            for pid, _read_end in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        died = False
        for pid, read_end in children:
            with os.fdopen(read_end, "rb") as pipe:
                data = pipe.read()
            _pid, status = os.waitpid(pid, 0)
            if not data or os.waitstatus_to_exitcode(status) != 0:
                died = True
                continue
            outcome = pickle.loads(data)  # noqa: S301 - written by our own forked child
            for name in ("sent", "failed", "unknown", "suppressed_at_dispatch"):
                setattr(result, name, getattr(result, name) + outcome[name])
            if outcome["stopped"] and result.stopped is None:
                result.stopped = outcome["stopped"]
                result.stop_reason = outcome["stop_reason"]
            if outcome["error"] is not None and error is None:
                error = outcome["error"]
        if error is not None:
            raise error
        if died:
            raise SendError(
                "a sending process stopped unexpectedly; its messages are recorded as far as "
                "they went",
                hint="Run the same command again to finish the campaign",
            )
        self._finish(result)

    async def _open_and_dispatch(
        self,
        transport: Transport,
        rows: list[NewLogRow],
        resumed: bool,
        options: SendOptions,
        result: SendReport,
        progress: Progress | None,
    ) -> None:
        keeper = asyncio.create_task(self._keep_lease())
        try:
            await transport.open()
            try:
                self._renew()
                self._log_recipients(rows, resumed, options, transport.description)
                await self._dispatch(transport, options, result, progress)
            finally:
                await transport.close()
        finally:
            keeper.cancel()
        self._finish(result)

    async def _dispatch(
        self,
        transport: Transport,
        options: SendOptions,
        result: SendReport,
        progress: Progress | None,
        partition: tuple[int, int] | None = None,
    ) -> None:
        repo, campaign = self.repo, self.job.campaign_id
        throttle = self.throttle_factory(repo) if self.throttle_factory is not None else None
        queue: asyncio.Queue[LogRow | None] = asyncio.Queue(maxsize=transport.concurrency * 4)
        state = _RunState()
        if progress is not None:
            total = result.preflight.to_send
            if options.limit is not None:
                total = min(total, options.limit)
            progress(0, total=total, description=f"Sending {campaign}")

        # Each worker holds back the 'sent' mark of its last message and commits it in the same
        # transaction that marks its next message 'sending': one commit per message instead of
        # two. A worker never has both a held mark and a message in flight, so a kill still
        # leaves at most one ambiguous message per worker (= the concurrency).
        holds: list[list[tuple[int, int | None]]] = []

        def flush() -> None:
            pending = [held.pop() for held in holds if held]
            if pending:
                with repo.store.transaction():
                    for row_id, code in pending:
                        repo.mark_sent(row_id, code=code)

        async def worker() -> None:
            held: list[tuple[int, int | None]] = []
            holds.append(held)
            while (row := await queue.get()) is not None:
                try:
                    if not state.stopped():
                        await self._deliver(row, transport, throttle, state, result, progress, held)
                except Exception as exc:
                    # stop everyone; the row stays 'sending' and is re-checked on the next run
                    state.error = exc
                    state.halt("error", StopReason.ERROR)
                finally:
                    queue.task_done()
            queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(transport.concurrency)]
        queued, first_pass, limit_reached = 0, True, False
        try:
            while True:
                after = 0
                while not state.stopped() and not limit_reached:
                    batch = repo.due(
                        campaign,
                        # A new run retries every temporary failure at once: running the command
                        # again is the decision to try now. Carrying the previous run's back-off
                        # over released the rows of an outage one by one as their (jittered)
                        # times came, at a few a second whatever the configured rate.
                        now=math.inf if first_pass else time.time(),
                        after_id=after,
                        retry_failed=first_pass and options.retry_failed,
                        retry_unknown=first_pass and options.retry_unknown,
                        partition=partition,
                    )
                    if not batch:
                        break
                    for row in batch:
                        if options.limit is not None and queued >= options.limit:
                            limit_reached = True
                            break
                        if state.stopped():
                            break
                        queued += 1
                        await queue.put(row)
                    after = batch[-1].id
                # let in-flight messages finish: their transient failures may be due next pass
                await queue.join()
                flush()  # held rows are still 'sending', which the next pass would pick up
                first_pass = False
                if state.stopped() or limit_reached:
                    break
                retry_at = repo.next_retry_at(campaign)
                if retry_at is None or retry_at - time.time() > self.ctx.retry_wait:
                    break
                await self._wait_for_retries(retry_at, result, progress)
        except BaseException:
            # Ctrl-C (the task is cancelled): let the messages in flight finish and be recorded,
            # hand nothing new to the transport
            state.halt("interrupted", StopReason.INTERRUPTED)
            raise
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            flush()
        if state.error is not None:
            raise state.error
        if state.stop is not None:
            result.stopped = f"{state.stop}; the rest continues on the next run"
            result.stop_reason = state.reason
        elif limit_reached:
            result.stopped = f"--limit {options.limit} reached; run again to send the rest"
            result.stop_reason = StopReason.LIMIT

    async def _wait_for_retries(
        self, retry_at: float, result: SendReport, progress: Progress | None
    ) -> None:
        """Sleep until ``retry_at``, telling the progress callback every second (logs stay live)."""
        started = time.monotonic()
        while (left := retry_at - time.time()) > 0:
            await asyncio.sleep(min(left, 1.0))
            if progress is not None:
                progress(0)
        result.retry_wait += time.monotonic() - started

    def _finish(self, result: SendReport) -> None:
        """Record the campaign as finished when nothing is left to do or retry."""
        campaign = self.job.campaign_id
        result.retry_later = self.repo.transient_failures(campaign)
        if result.stopped is None and result.retry_later == 0:
            self.repo.finish_campaign(campaign)

    async def _deliver(
        self,
        row: LogRow,
        transport: Transport,
        throttle: Throttle | None,
        state: _RunState,
        result: SendReport,
        progress: Progress | None,
        held: list[tuple[int, int | None]],
    ) -> None:
        repo, job = self.repo, self.job
        recipient = self._find(row)
        if recipient is None or not row.email:
            repo.mark_suppressed(row.id, reason="recipient no longer in the audience")
            result.suppressed_at_dispatch += 1
            return
        # re-checked now, not at pre-flight: an unsubscribe mid-campaign must stop this message
        reason = job.suppression(row.email, job.list_name)
        if reason:
            repo.mark_suppressed(row.id, reason=reason, code=reason_code(reason))
            result.suppressed_at_dispatch += 1
            return
        if row.status == "sending" and await transport.delivered(row.message_id):
            repo.mark_sent(row.id, note="found at the destination after an interruption")
            result.sent += 1
            return
        if throttle is not None:
            stop = await throttle.acquire()
            if stop is not None:
                state.halt(stop, StopReason.THROTTLE)
                return
            if state.stopped():  # stopped while this one waited for its slot
                throttle.give_back()
                return
        try:
            data = self.render(recipient, row.message_id)
        except RenderError as exc:
            # this recipient's data changed since pre-flight and cannot make a message: it fails
            # on its own, the others go on
            if throttle is not None:
                throttle.give_back()
            repo.mark_failed(
                row.id, reason=f"cannot build the message: {exc.message}", code=None, permanent=True
            )
            result.failed += 1
            if progress is not None:
                progress(1)
            return
        if held:
            previous, code = held.pop()
            lost: LeaseLostError | None = None
            with repo.store.transaction():
                repo.mark_sent(previous, code=code)
                try:
                    self._mark_sending(row.id)
                except LeaseLostError as exc:  # the held mark is true: commit it all the same
                    lost = exc
            if lost is not None:
                raise lost
        else:
            self._mark_sending(row.id)
        try:
            outcome = await transport.send(
                self.envelope_from(row.token), row.email, data, message_id=row.message_id
            )
        except TransportError:
            repo.mark_pending(row.id)  # it never left: the next run sends it
            raise
        if outcome.outcome == "sent":
            held.append((row.id, outcome.code))
            result.sent += 1
            state.relay_failures = 0
        else:
            self._record(row, outcome, result)
            status = outcome.enhanced_status or ""
            if outcome.outcome == "transient" and (outcome.code is None or outcome.code == 421):
                # no connection, or the relay closing: the relay's trouble, not this recipient's
                state.relay_failures += 1
                if state.relay_failures >= RELAY_FAILURES_IN_A_ROW and not state.stopped():
                    state.halt(
                        f"the relay failed {state.relay_failures} times in a row "
                        f"({_short(outcome)})",
                        StopReason.RELAY_DOWN,
                    )
            if (outcome.code == 421 or status.startswith("4.7.")) and not state.stopped():
                # the relay asks us to slow down: this connection slot pauses before its next one
                await asyncio.sleep(min(self.ctx.retry_base, 30.0))
        if progress is not None:
            progress(1)

    def _record(self, row: LogRow, outcome: DeliveryResult, result: SendReport) -> None:
        repo = self.repo
        if outcome.outcome == "sent":
            repo.mark_sent(row.id, code=outcome.code)
            result.sent += 1
            return
        if outcome.outcome == "unknown":
            repo.mark_unknown(row.id, reason=outcome.reason)
            result.unknown += 1
            return
        reason = f"{outcome.code} {outcome.reason}" if outcome.code else outcome.reason
        if outcome.outcome == "permanent":
            repo.mark_failed(row.id, reason=reason, code=outcome.code, permanent=True)
            result.failed += 1
            if outcome.hard_bounce and self.job.on_hard_bounce is not None:
                self.job.on_hard_bounce(row.email or "", reason)
            return
        now = time.time()
        first = row.first_attempt_at or now
        if now - first > self.ctx.max_retry_age:
            repo.mark_failed(
                row.id,
                reason=f"gave up after retrying: {reason}",
                code=outcome.code,
                permanent=True,
            )
            result.failed += 1
            return
        attempts = row.attempts + 1
        delay = min(self.ctx.retry_base * 2 ** (attempts - 1), 6 * 3600.0)
        delay *= random.uniform(0.5, 1.0)  # jitter, so retries do not arrive in one burst
        repo.mark_failed(
            row.id, reason=reason, code=outcome.code, permanent=False, next_attempt_at=now + delay
        )

    def _find(self, row: LogRow) -> Any:
        if self.job.lookup is not None:
            return self.job.lookup(row)
        if self._index is None:
            self._index = {self.recipient_key(r): r for r in self.job.recipients}
        return self._index.get(row.recipient_key)

    # --- --test ------------------------------------------------------------------------------

    def _send_test(self, address: str, result: SendReport) -> SendReport:
        # the job's sample: the tester's own contact when known, else a made-up one; never a
        # partner's data on the tester's address
        sample = self.job.sample
        if sample is None:
            raise PreflightError(
                "no sample contact to fill the test message with",
                hint="Give the SendJob a sample recipient (SendJob.sample)",
            )
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            raise PreflightError(f"--test address {address!r} is invalid: {exc}") from None
        if reason_code(self.job.suppression(address, self.job.list_name) or "") == "erased":
            raise PreflightError(
                f"{address} was erased at the person's request (GDPR): no message may go to it",
                hint="Send the test copy to another address",
            )
        token = hashlib.sha256(f"{time.time_ns()}{address}".encode()).hexdigest()[:16]
        message_id = f"<test.{token}@{self.ctx.domain}>"
        data = self.render(_readdressed(sample, address), message_id, test=True)
        data = prefix_subject(data, TEST_PREFIX)
        transport = self.transport_factory()
        result.transport = transport.description

        async def go() -> DeliveryResult:
            await transport.open()
            try:
                return await transport.send(
                    self.envelope_from(token), address, data, message_id=message_id
                )
            finally:
                await transport.close()

        outcome = asyncio.run(go())
        if outcome.outcome != "sent":
            raise SendError(
                f"the test message to {address} was not accepted: {outcome.code or ''} "
                f"{outcome.reason}".replace("  ", " "),
                hint="Check the transport settings; nothing was recorded in the send log",
            )
        result.sent = 1
        return result


@dataclass(frozen=True)
class _Ticket:
    """A recipient whose rendering check may finish later (in a pre-flight worker)."""

    index: int | None  # its row in the rows to log, when they are kept
    key: str
    contact_id: int | None
    email: str
    token: str
    message_id: str
    state: str | None
    utf8: bool  # counted in PreflightReport.smtputf8


class _PreflightPass:
    """One pre-flight pass over a job's recipients: counts, the rows to log, who is not mailed."""

    def __init__(
        self,
        runner: CampaignRunner,
        options: SendOptions,
        report: PreflightReport,
        states: dict[str, str],
        collect: bool,
        strict: bool,
    ) -> None:
        self.runner = runner
        self.options = options
        self.report = report
        self.states = states
        self.collect = collect
        self.strict = strict
        self.rows: list[NewLogRow] = []
        self.seen: set[str] = set()
        self.checker: RenderChecker | None = None
        self.composed = False  # the compose checks ran
        self.already_sent: Any = None  # a recipient to run them with if nobody is left to send
        self.recipient_warnings: dict[str, tuple[int, str, str]] = {}  # code → count, text, who
        self.utf8_example = ""

    def one(self, recipient: Any) -> None:
        """Check one recipient and count it; queue its rendering check."""
        runner, report, options = self.runner, self.report, self.options
        job = runner.job
        if not self.collect:
            self.rows.clear()
        report.total += 1
        key = runner.recipient_key(recipient)
        email = str(getattr(recipient, "email", "") or "")
        contact_id = _id(recipient)
        state = self.states.get(key)
        token = runner.token(key)
        mid = runner.message_id(token)
        who = describe_recipient(contact_id, email)
        try:
            normal = _normalized(email)
        except EmailNotValidError as exc:
            report.count_not_mailed("invalid", f"invalid address {email!r} ({who}): {exc}")
            if state in (None, "pending"):
                self.rows.append(
                    NewLogRow(
                        key,
                        contact_id,
                        email,
                        token,
                        mid,
                        "skipped",
                        f"invalid address: {exc}",
                        "invalid",
                    )
                )
            return
        lowered = normal.lower()
        if lowered in self.seen:
            report.count_not_mailed("duplicate", f"duplicate address {email} ({who})")
            if state in (None, "pending"):
                self.rows.append(
                    NewLogRow(
                        key, contact_id, email, token, mid, "skipped", "duplicate", "duplicate"
                    )
                )
            return
        self.seen.add(lowered)
        if state == "sent":
            report.already_sent += 1
            if self.already_sent is None:
                self.already_sent = recipient
            return
        if state == "unknown" and not options.retry_unknown:
            report.unresolved += 1
            return
        if state == "failed-permanent" and not options.retry_failed:
            report.failed += 1
            return
        # suppressed, erased and no-basis recipients are counted and logged, never rendered
        reason = job.suppression(email, job.list_name)
        if reason:
            code = reason_code(reason)
            report.count_not_mailed(code, describe_recipient(contact_id, email, code))
            if state != "sending":
                kept = None if code == "erased" else email  # never an erased address in clear
                self.rows.append(
                    NewLogRow(key, contact_id, kept, token, mid, "suppressed", str(reason), code)
                )
            return
        report.to_send += 1
        utf8 = not normal.partition("@")[0].isascii()
        if utf8:
            report.smtputf8 += 1
            self.utf8_example = self.utf8_example or who
        index = len(self.rows) if self.collect else None
        self.rows.append(NewLogRow(key, contact_id, email, token, mid))
        assert self.checker is not None
        self.checker.check(
            _Ticket(index, key, contact_id, email, token, mid, state, utf8), recipient, mid
        )
        if not self.composed:
            # the content checks render a real recipient: the partners' own columns exist there
            self.composed = True
            runner._compose_checks(report, recipient, self.strict)

    def problem(self, ticket: _Ticket, message: str) -> None:
        """Skip a recipient whose own data cannot make a message, with the reason."""
        report = self.report
        report.to_send -= 1
        if ticket.utf8:
            report.smtputf8 -= 1
        who = describe_recipient(ticket.contact_id, ticket.email)
        report.count_not_mailed("invalid", f"{who}: {message}")
        if ticket.index is not None and ticket.state != "sending":
            self.rows[ticket.index] = NewLogRow(
                ticket.key,
                ticket.contact_id,
                ticket.email,
                ticket.token,
                ticket.message_id,
                "skipped",
                f"invalid contact data: {message}",
                "invalid",
            )

    def warnings(self, ticket: _Ticket, issues: Sequence[CheckIssueLike]) -> None:
        """Count a recipient's own warnings (one line per kind in the report)."""
        for issue in issues:
            who = describe_recipient(ticket.contact_id, ticket.email)
            count, text, first = self.recipient_warnings.get(issue.code, (0, issue.message, who))
            self.recipient_warnings[issue.code] = (count + 1, text, first)

    def finish(self) -> None:
        """Run the compose checks if no recipient did, and summarise the per-recipient findings."""
        report = self.report
        if not self.composed:
            self.composed = True
            self.runner._compose_checks(report, self.already_sent, self.strict)
        for code, (count, text, who) in self.recipient_warnings.items():
            # the per-recipient finding covers the one the compose checks made for one contact
            report.warnings = [w for w in report.warnings if not w.startswith(f"{code}: ")]
            report.checks = [c for c in report.checks if c["code"] != code]
            line = f"{text} ({count} recipient(s), e.g. {who})"
            report.warnings.append(f"{code}: {line}")
            report.checks.append({"level": "warning", "code": code, "message": line})
        if report.smtputf8:
            line = (
                f"{report.smtputf8} address(es) have a non-ASCII local part (e.g. "
                f"{self.utf8_example}): they go out only through a relay that offers SMTPUTF8, "
                "otherwise they are recorded as failed"
            )
            report.warnings.append(f"smtputf8: {line}")
            report.checks.append({"level": "warning", "code": "smtputf8", "message": line})


@dataclass
class _RunState:
    """What the dispatch workers share: why to stop, and the error that stopped them."""

    stop: str | None = None
    reason: StopReason | None = None
    error: Exception | None = None
    relay_failures: int = 0  # relay-level failures (no connection, 421) since the last success

    def stopped(self) -> bool:
        return self.stop is not None

    def halt(self, why: str, reason: StopReason) -> None:
        """Stop the workers for ``why``, unless something stopped them first (it is the cause)."""
        if self.stop is None:
            self.stop, self.reason = why, reason


class _Readdressed:
    """A recipient's data under another address (for --test copies of a non-dataclass)."""

    def __init__(self, recipient: Any, email: str) -> None:
        self._recipient = recipient
        self.email = email

    def __getattr__(self, name: str) -> Any:
        return getattr(self._recipient, name)


def _readdressed(recipient: Any, email: str) -> Any:
    """Return the recipient's data with ``email`` as the address (the To of a test copy)."""
    if dataclasses.is_dataclass(recipient) and not isinstance(recipient, type):
        return dataclasses.replace(recipient, email=email)
    return _Readdressed(recipient, email)


def _normalized(email: str) -> str:
    """Return email-validator's normalised address, or raise EmailNotValidError.

    A plain ASCII dot-atom address (nearly every partner) only needs its domain checked, and
    partner lists share few domains: the audience stage's cached domain check is enough, and is
    ~10× cheaper per recipient than a full ``validate_email``. The result only serves to find
    duplicates (lower-cased). Anything else, or a failure, takes the full check and its message.
    """
    match = _PLAIN_ADDRESS.match(email)
    if match is not None and len(match.group(1)) <= 64:
        try:
            domain = _validated_domain(match.group(2))
        except InvalidAddress:
            pass
        else:
            if len(match.group(1)) + 1 + len(domain) <= 254:
                return f"{match.group(1)}@{domain}"
    return str(validate_email(email, check_deliverability=False).normalized)


def _short(outcome: DeliveryResult) -> str:
    text = f"{outcome.code} {outcome.reason}" if outcome.code else outcome.reason
    return text if len(text) <= 120 else text[:117] + "..."


def _normal(email: str) -> str:
    return email.strip().lower()


def _id(recipient: Any) -> int | None:
    value = getattr(recipient, "id", None)
    return None if value is None else int(value)


def default_throttle(settings: Settings) -> Callable[[SendRepo], Throttle]:
    """Return a factory building the settings' throttle with the quotas already used today."""

    def build(repo: SendRepo) -> Throttle:
        return Throttle(
            settings.transport,
            sent_last_hour=repo.count_sent_since(since_iso(3600)),
            sent_last_day=repo.count_sent_since(since_iso(86400)),
        )

    return build
