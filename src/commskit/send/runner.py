"""The campaign runner: ties pre-flight, the lease, the transport and the dispatch pool together.

The runner sees the rest of commskit through :class:`~.job.SendJob` (a compiled message,
re-iterable recipients, a suppression callable): that is what lets a veille digest go through the
same engine as a newsletter. The send stage's seams, one module each:

- :mod:`.job` — what a send is made of (SendJob, SendContext, the compiled-campaign protocol);
- :mod:`.identity` — log keys, tokens, Message-IDs, envelope sender, unsubscribe link;
- :mod:`.messages` — the final bytes of one recipient's message;
- :mod:`.preflight` — every recipient checked before anything is written;
- :mod:`.lease` — one run at a time per campaign;
- :mod:`.dispatch` — the pool handing due rows to the transport; :mod:`.retry` — what a failure
  means (a pure function); :mod:`.parallel` — the same with forked processes;
- :mod:`.report` — what pre-flight and a run report; :mod:`.transports` — where messages go.

Order of a run (see docs/sending.md):

1. fingerprint check against the first send (CampaignChangedError unless allowed);
2. pre-flight, streamed (:func:`.preflight.run_preflight`); nothing is written before it passes;
3. confirmation (``yes`` or the ``confirm`` callback) for more than one recipient;
4. the campaign's lease (``send:<campaign id>`` in the store) is claimed: a second run of the same
   campaign stops here with CampaignBusyError naming the holder (and, as a courtesy, before its
   pre-flight when the lease is already held then);
5. the transport is opened (a bad URL, password or host fails here, the log still unchanged);
6. the recipients enter the send log; then the dispatch pool sends each due row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ..config import Settings
from ..errors import CampaignChangedError, NobodyConfirmedError, PreflightError, SendError
from ..progress import Progress
from ..render.mime import prefix_subject
from ..store.sends import SendRepo
from .dispatch import RELAY_FAILURES_IN_A_ROW, DispatchPool
from .identity import Identity
from .job import CheckIssueLike, CompiledLike, SendContext, SendJob
from .lease import CampaignLease
from .messages import MessageBuilder
from .parallel import dispatch_in_processes
from .preflight import PlannedRows, run_preflight
from .report import (
    NEEDS_ACTION,
    NOT_MAILED,
    NotMailed,
    PreflightReport,
    SendOptions,
    SendReport,
    StopReason,
    describe_recipient,
    reason_code,
)
from .throttle import Throttle, since_iso
from .transports import DeliveryResult, Transport

# the names callers imported from here before the send stage was split along its seams
__all__ = [
    "NEEDS_ACTION",
    "NOT_MAILED",
    "RELAY_FAILURES_IN_A_ROW",
    "TEST_PREFIX",
    "CampaignRunner",
    "CheckIssueLike",
    "CompiledLike",
    "NotMailed",
    "PreflightReport",
    "SendContext",
    "SendJob",
    "SendOptions",
    "SendReport",
    "StopReason",
    "default_throttle",
    "describe_recipient",
    "reason_code",
]

#: What a test copy's subject starts with, so nobody mistakes it for the real send.
TEST_PREFIX = "[TEST] "


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
        self.identity = Identity(job, context)
        self.builder = MessageBuilder(self.identity)
        self.transport_factory = transport_factory
        self.throttle_factory = throttle_factory
        # Several sending processes (forked after pre-flight) share the dispatch when the machine
        # has cores to spare: rendering is CPU-bound Python. ``reopen`` rebuilds, in a child, the
        # job and repo over a fresh database connection (a SQLite connection must not cross fork).
        self.processes = processes
        self.reopen = reopen
        self.parallel_threshold = parallel_threshold
        # the lease is renewed every third of its ttl while the run dispatches; a run that stops
        # renewing (hung, suspended) can be taken over after it, one that died at once too
        self.lease = CampaignLease(repo, job.campaign_id, ttl=lease_ttl)

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
    ) -> tuple[PreflightReport, PlannedRows]:
        """Check everything before anything is sent (:func:`.preflight.run_preflight`)."""
        return run_preflight(
            self.job,
            self.identity,
            self.builder,
            self.repo,
            options,
            collect=collect,
            strict=strict,
            workers=self._parallel_preflight(),
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
        if not (options.dry_run or options.test_address):
            self.lease.refuse_if_busy()
        resumed = self.check_fingerprint(options)
        report, rows = self.preflight(
            options, collect=not (options.dry_run or options.test_address)
        )
        result = SendReport(
            self.job.campaign_id, report, dry_run=options.dry_run, test_address=options.test_address
        )
        if options.test_address:
            return self._send_test(options.test_address, result)
        if not options.dry_run:
            if not self._confirmed(options, report, confirm):
                result.stopped = "cancelled before sending"
                result.stop_reason = StopReason.CANCELLED
                return result
            self.lease.claim()
            try:
                self._send(rows, resumed, options, result, progress)
            finally:
                self.lease.release()
        result.counts = self.repo.counts(self.job.campaign_id)
        result.elapsed = time.monotonic() - started
        return result

    def _confirmed(
        self,
        options: SendOptions,
        report: PreflightReport,
        confirm: Callable[[PreflightReport], bool] | None,
    ) -> bool:
        """Return whether to go on; raise when there is nobody to send to or to confirm."""
        if report.total == 0:
            raise PreflightError(
                f"campaign {self.job.campaign_id!r} has no recipients",
                hint="Check the campaign's audience (segment) with `commskit segment`",
            )
        to_send = report.to_send
        if options.limit is not None:
            to_send = min(to_send, options.limit)
        if to_send <= 1 or options.yes:
            return True
        if confirm is None:
            raise NobodyConfirmedError(
                f"this would send {to_send} messages and nobody confirmed",
                hint="Add --yes to send without asking",
            )
        return confirm(report)

    def _send(
        self,
        rows: PlannedRows,
        resumed: bool,
        options: SendOptions,
        result: SendReport,
        progress: Progress | None,
    ) -> None:
        """Open the transport, log the recipients and dispatch (in one or several processes)."""
        transport = self.transport_factory()
        result.transport = transport.description
        throttle = self.throttle_factory(self.repo) if self.throttle_factory is not None else None
        pool = DispatchPool(self.job, self.repo, self.ctx, lease=self.lease, throttle=throttle)
        to_send = result.preflight.to_send
        processes = self._process_count(options, to_send)
        if processes > 1:

            async def probe() -> None:
                await transport.open()
                await transport.close()

            asyncio.run(probe())
            self.lease.renew()
            self._log_recipients(rows, resumed, options, transport.description)
            dispatch_in_processes(
                pool,
                transport,
                processes=processes,
                options=options,
                result=result,
                progress=progress,
                child_pool=self._child_pool,
            )
        else:
            asyncio.run(
                self._dispatch_here(pool, transport, rows, resumed, options, result, progress)
            )
        pool.finish(result)

    def _child_pool(self) -> tuple[DispatchPool, Transport]:
        """Build, in a forked sending process, its pool over a fresh connection, and transport."""
        assert self.reopen is not None
        job, repo = self.reopen()
        # the parent's lease: each hand-over in the child confirms it too
        lease = CampaignLease(repo, job.campaign_id, ttl=self.lease.ttl, held=self.lease.held)
        return DispatchPool(job, repo, self.ctx, lease=lease), self.transport_factory()

    async def _dispatch_here(
        self,
        pool: DispatchPool,
        transport: Transport,
        rows: PlannedRows,
        resumed: bool,
        options: SendOptions,
        result: SendReport,
        progress: Progress | None,
    ) -> None:
        keeper = asyncio.create_task(self.lease.keep())
        try:
            await transport.open()
            try:
                self.lease.renew()
                self._log_recipients(rows, resumed, options, transport.description)
                await pool.run(transport, options, result, progress)
            finally:
                await transport.close()
        finally:
            keeper.cancel()

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
        self, rows: PlannedRows, resumed: bool, options: SendOptions, transport: str
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
            raise PreflightError(f"--test address {address!r} is invalid: {exc}") from exc
        if reason_code(self.job.suppression(address, self.job.list_name) or "") == "erased":
            raise PreflightError(
                f"{address} was erased at the person's request (GDPR): no message may go to it",
                hint="Send the test copy to another address",
            )
        token, message_id = self.identity.test_message_id(address)
        data = self.builder.render(_readdressed(sample, address), message_id, test=True)
        data = prefix_subject(data, TEST_PREFIX)
        transport = self.transport_factory()
        result.transport = transport.description

        async def go() -> DeliveryResult:
            await transport.open()
            try:
                return await transport.send(
                    self.identity.envelope_from(token), address, data, message_id=message_id
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


def default_throttle(settings: Settings) -> Callable[[SendRepo], Throttle]:
    """Return a factory building the settings' throttle with the quotas already used today."""

    def build(repo: SendRepo) -> Throttle:
        return Throttle(
            settings.transport,
            sent_last_hour=repo.count_sent_since(since_iso(3600)),
            sent_last_day=repo.count_sent_since(since_iso(86400)),
        )

    return build
