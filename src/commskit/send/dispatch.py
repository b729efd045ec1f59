"""The dispatch pool: hand each due row of the send log to the transport, crash-safely.

Each due row is re-checked against suppression, marked ``sending`` (committed, in the
transaction that confirms the campaign's lease is still ours), handed to the transport, and
marked with the outcome (:func:`.retry.decide` says what a failure means). ``concurrency``
workers share a queue; a kill -9 leaves at most that many messages ambiguous (still
``sending``), which the next run re-checks with ``Transport.delivered`` or resends under the same
Message-ID. The ``sending`` and ``sent`` marks of the workers ready at the same moment (the 50
answers of one provider batch) are committed together (:class:`_LogWriter`): one commit for a
batch, not two a message. :meth:`DispatchPool.run` is the whole of it, in this process or in a
forked one (:func:`.parallel.dispatch_in_processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from ..errors import LeaseLostError, RenderError, TransportError
from ..progress import Progress
from ..store.sends import LogRow, SendRepo
from .identity import Identity
from .job import SendContext, SendJob
from .lease import CampaignLease
from .messages import MessageBuilder
from .report import SendOptions, SendReport, StopReason, reason_code
from .retry import Verdict, decide
from .throttle import Throttle
from .transports import DeliveryResult, Transport

#: This many relay-level failures in a row (no connection, 421) mean the relay is down: stop.
RELAY_FAILURES_IN_A_ROW = 10


class DispatchPool:
    """Send a job's due rows through a transport; see the module docstring."""

    def __init__(
        self,
        job: SendJob,
        repo: SendRepo,
        context: SendContext,
        *,
        lease: CampaignLease | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.job = job
        self.repo = repo
        self.ctx = context
        self.identity = Identity(job, context)
        self.builder = MessageBuilder(self.identity)
        self.lease = lease
        self.throttle = throttle
        self._index: dict[str, Any] | None = None
        self.writer = _LogWriter(self)

    async def run(
        self,
        transport: Transport,
        options: SendOptions,
        result: SendReport,
        progress: Progress | None,
        partition: tuple[int, int] | None = None,
    ) -> None:
        """Send the due rows (those of ``partition`` = (k, n): id ≡ k mod n) through an open
        transport, adding to ``result``; retry temporary failures that come due within
        ``retry_wait``. Raises the first error that stopped the workers."""
        repo, campaign = self.repo, self.job.campaign_id
        throttle = self.throttle
        queue: asyncio.Queue[LogRow | None] = asyncio.Queue(maxsize=transport.concurrency * 4)
        state = _RunState()
        if progress is not None:
            total = result.preflight.to_send
            if options.limit is not None:
                total = min(total, options.limit)
            progress(0, total=total, description=f"Sending {campaign}")

        writer = self.writer = _LogWriter(self)
        flush = writer.flush
        workers = [
            asyncio.create_task(self._worker(queue, transport, throttle, state, result, progress))
            for _ in range(transport.concurrency)
        ]
        queued, first_pass, limit_reached = 0, True, False
        try:
            while True:
                queued, limit_reached = await self._queue_due(
                    queue, state, options, partition, queued=queued, first_pass=first_pass
                )
                # let in-flight messages finish: their transient failures may be due next pass
                await queue.join()
                flush()  # a row whose 'sent' is not committed is 'sending': due again
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

    async def _worker(
        self,
        queue: asyncio.Queue[LogRow | None],
        transport: Transport,
        throttle: Throttle | None,
        state: _RunState,
        result: SendReport,
        progress: Progress | None,
    ) -> None:
        """Deliver rows from the queue until it hands out None; the first error stops all."""
        while (row := await queue.get()) is not None:
            try:
                if not state.stopped():
                    await self._deliver(row, transport, throttle, state, result, progress)
            except Exception as exc:
                # stop everyone; the row stays 'sending' and is re-checked on the next run
                state.error = exc
                state.halt("error", StopReason.ERROR)
            finally:
                queue.task_done()
        queue.task_done()

    async def _queue_due(
        self,
        queue: asyncio.Queue[LogRow | None],
        state: _RunState,
        options: SendOptions,
        partition: tuple[int, int] | None,
        *,
        queued: int,
        first_pass: bool,
    ) -> tuple[int, bool]:
        """Put every due row on the queue (one pass over the log); return the count queued so
        far in this run and whether ``--limit`` was reached."""
        after = 0
        while not state.stopped():
            batch = self.repo.due(
                self.job.campaign_id,
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
                    return queued, True
                if state.stopped():
                    break
                queued += 1
                await queue.put(row)
            after = batch[-1].id
        return queued, False

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

    def finish(self, result: SendReport) -> None:
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
    ) -> None:
        repo = self.repo
        recipient = self._find(row)
        if await self._settled_before_sending(row, recipient, transport, result):
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
            data = self.builder.render(recipient, row.message_id)
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
        await self.writer.sending(row.id)
        try:
            outcome = await transport.send(
                self.identity.envelope_from(row.token),
                row.email or "",
                data,
                message_id=row.message_id,
            )
        except TransportError:
            repo.mark_pending(row.id)  # it never left: the next run sends it
            raise
        if outcome.outcome == "sent":
            self.writer.sent(row.id, outcome.code, outcome.provider_id)
            result.sent += 1
            state.relay_failures = 0
        else:
            self._record(row, outcome, result)
            await self._after_failure(outcome, state)
        if progress is not None:
            progress(1)

    async def _settled_before_sending(
        self, row: LogRow, recipient: Any, transport: Transport, result: SendReport
    ) -> bool:
        """Record a row that needs no sending (left the audience, suppressed since pre-flight,
        found at the destination after an interruption); return whether it was one."""
        repo, job = self.repo, self.job
        if recipient is None or not row.email:
            repo.mark_suppressed(row.id, reason="recipient no longer in the audience")
            result.suppressed_at_dispatch += 1
            return True
        # re-checked now, not at pre-flight: an unsubscribe mid-campaign must stop this message
        reason = job.suppression(row.email, job.list_name)
        if reason:
            repo.mark_suppressed(row.id, reason=reason, code=reason_code(reason))
            result.suppressed_at_dispatch += 1
            return True
        if row.status == "sending" and await transport.delivered(row.message_id):
            repo.mark_sent(row.id, note="found at the destination after an interruption")
            result.sent += 1
            return True
        return False

    async def _after_failure(self, outcome: DeliveryResult, state: _RunState) -> None:
        """Stop when the relay is down; pause this slot when the relay asks to slow down."""
        status = outcome.enhanced_status or ""
        if outcome.outcome == "transient" and (outcome.code is None or outcome.code == 421):
            # no connection, or the relay closing: the relay's trouble, not this recipient's
            state.relay_failures += 1
            if state.relay_failures >= RELAY_FAILURES_IN_A_ROW and not state.stopped():
                state.halt(
                    f"the relay failed {state.relay_failures} times in a row ({_short(outcome)})",
                    StopReason.RELAY_DOWN,
                )
        if (outcome.code == 421 or status.startswith("4.7.")) and not state.stopped():
            # the relay asks us to slow down: this connection slot pauses before its next one
            await asyncio.sleep(min(self.ctx.retry_base, 30.0))

    def _record(self, row: LogRow, outcome: DeliveryResult, result: SendReport) -> None:
        """Record an attempt's outcome as :func:`.retry.decide` judges it."""
        repo = self.repo
        decision = decide(
            outcome,
            attempts=row.attempts + 1,
            first_attempt_at=row.first_attempt_at,
            now=time.time(),
            retry_base=self.ctx.retry_base,
            max_retry_age=self.ctx.max_retry_age,
            jitter=random.uniform(0.5, 1.0),  # spreads retries: no secret
        )
        if decision.verdict is Verdict.SENT:
            repo.mark_sent(row.id, code=outcome.code, provider_id=outcome.provider_id)
            result.sent += 1
        elif decision.verdict is Verdict.UNKNOWN:
            repo.mark_unknown(row.id, reason=decision.reason)
            result.unknown += 1
        elif decision.verdict is Verdict.PERMANENT:
            repo.mark_failed(row.id, reason=decision.reason, code=outcome.code, permanent=True)
            result.failed += 1
            if decision.hard_bounce and self.job.on_hard_bounce is not None:
                self.job.on_hard_bounce(row.email or "", decision.reason)
        else:
            repo.mark_failed(
                row.id,
                reason=decision.reason,
                code=outcome.code,
                permanent=False,
                next_attempt_at=decision.at,
            )

    def _find(self, row: LogRow) -> Any:
        if self.job.lookup is not None:
            return self.job.lookup(row)
        if self._index is None:
            self._index = {self.identity.recipient_key(r): r for r in self.job.recipients}
        return self._index.get(row.recipient_key)

    # --- --test ------------------------------------------------------------------------------


class _LogWriter:
    """Commit the send log's ``sending`` and ``sent`` marks of a run in groups.

    A worker's ``sending`` mark is queued and awaited: the group of every mark queued until the
    event loop's next turn (the workers woken by one provider batch's answer, the rows they take
    next) is committed in one transaction, in the order queued, and only then does each worker
    hand its message over. A ``sent`` mark is queued without waiting; it is committed with that
    group, or at :meth:`flush`. So a worker's previous ``sent`` is committed no later than its
    next ``sending``: it never has both an uncommitted ``sent`` and a message in flight, and a
    kill still leaves at most one ambiguous row per worker (the concurrency).
    """

    def __init__(self, pool: DispatchPool) -> None:
        self.pool = pool
        self._sent: list[tuple[int, int | None, str | None]] = []
        self._sending: list[tuple[int, asyncio.Future[None]]] = []
        self._scheduled = False

    def sent(self, row_id: int, code: int | None, provider_id: str) -> None:
        """Queue a row's ``sent`` mark (committed with the next group)."""
        self._sent.append((row_id, code, provider_id or None))
        self._schedule()

    async def sending(self, row_id: int) -> None:
        """Mark a row ``sending``, committed; with a lease, only while it is still ours
        (LeaseLostError otherwise)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sending.append((row_id, future))
        self._schedule()
        await future

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        # a failed commit queues the sent marks again: the run's last flush retries them and
        # raises what stops it (an exception here would only reach the loop's log)
        with contextlib.suppress(Exception):
            self.flush()

    def flush(self) -> None:
        """Commit what is queued (at the loop's next turn, and when the workers are idle)."""
        self._scheduled = False
        sent, self._sent = self._sent, []
        sending, self._sending = self._sending, []
        if not sent and not sending:
            return
        repo, lease = self.pool.repo, self.pool.lease
        error: BaseException | None = None
        try:
            with repo.store.transaction():
                if sent:
                    repo.mark_sent_many(sent)
                if sending:
                    try:
                        repo.mark_sending_many(
                            [row_id for row_id, _future in sending],
                            now=time.time(),
                            lease=lease.held if lease is not None else None,
                        )
                    except LeaseLostError as exc:  # the sent marks are true: commit them
                        error = exc
        except Exception as exc:  # the commit failed: none of this group may be handed over
            error = exc
            self._sent[:0] = sent  # the messages were accepted: their marks are tried again
            if not sending:
                raise
        for _row_id, future in sending:
            if future.done():  # its worker was cancelled: the row stays 'sending', re-checked
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


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


def _short(outcome: DeliveryResult) -> str:
    text = f"{outcome.code} {outcome.reason}" if outcome.code else outcome.reason
    return text if len(text) <= 120 else text[:117] + "..."
