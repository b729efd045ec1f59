"""Sharing a large send between processes (Linux/macOS fork).

Rendering is CPU-bound Python, so a send of thousands of messages uses one process per CPU:

- pre-flight: :class:`RenderChecker` renders every recipient in forked workers (the compiled
  campaign is inherited, recipients are pickled in chunks), reports each recipient whose own
  data cannot make a message, and re-raises the first campaign-wide error here;
- dispatch: :func:`child_main` runs in a forked child and sends the send-log rows whose id falls
  in its partition, over its own database connection, then reports its counts through a pipe.

Every forked process asks Linux to kill it when its parent dies (``PR_SET_PDEATHSIG``): a kill -9
of the command must stop the whole send and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copyreg
import ctypes
import multiprocessing as mp
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import CommskitError, RenderError, SendError

if TYPE_CHECKING:
    from .runner import CampaignRunner, SendOptions, SendReport


def _mappingproxy(data: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(data)


def _reduce_mappingproxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return _mappingproxy, (dict(proxy),)


# Contacts carry read-only attribute mappings; rendering checks ship them to forked workers.
copyreg.pickle(MappingProxyType, _reduce_mappingproxy)

_CHECK_RUNNER: CampaignRunner | None = None


@dataclass(frozen=True)
class CheckIssue:
    """A per-recipient finding, as it crosses from a pre-flight worker (picklable)."""

    level: str
    code: str
    message: str


# what a pre-flight worker sends back for a chunk: the recipients (by position) whose own data
# cannot make a message, with why; their warnings; and the first campaign-wide error, if any
ChunkResult = tuple[
    list[tuple[int, str]],
    list[tuple[int, list[CheckIssue]]],
    tuple[Any, ...] | None,
]


def check_one(runner: CampaignRunner, recipient: Any, message_id: str) -> list[CheckIssue]:
    """Render-check one recipient; return its warnings.

    Raises RenderError when the recipient's own data cannot make a message (a line break in a
    name, a domain IDNA refuses), other CommskitErrors when the campaign itself is wrong.
    """
    return [CheckIssue(i.level, i.code, i.message) for i in runner.check(recipient, message_id)]


def check_chunk(chunk: list[tuple[Any, str]]) -> ChunkResult:
    """Render a chunk of recipients in a pre-flight worker (see :data:`ChunkResult`)."""
    assert _CHECK_RUNNER is not None
    problems: list[tuple[int, str]] = []
    warnings: list[tuple[int, list[CheckIssue]]] = []
    for position, (recipient, message_id) in enumerate(chunk):
        try:
            found = check_one(_CHECK_RUNNER, recipient, message_id)
        except RenderError as exc:
            problems.append((position, exc.message))
            continue
        except CommskitError as exc:
            return problems, warnings, (type(exc), exc.message, exc.path, exc.line, exc.hint)
        if found:
            warnings.append((position, found))
    return problems, warnings, None


class RenderChecker:
    """Render every recipient once before sending, in this process or in forked workers.

    Each recipient comes with a ticket (the caller's handle on it); ``on_problem(ticket, why)``
    hears of a recipient whose own data cannot make a message, ``on_warnings(ticket, issues)``
    of its warnings, possibly later (when its chunk comes back). A campaign-wide error (an
    undefined variable) is raised.
    """

    CHUNK = 200

    def __init__(
        self,
        runner: CampaignRunner,
        *,
        parallel: int,
        on_problem: Callable[[Any, str], None],
        on_warnings: Callable[[Any, Sequence[CheckIssue]], None],
    ) -> None:
        self.runner = runner
        self.on_problem = on_problem
        self.on_warnings = on_warnings
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.pending: list[tuple[concurrent.futures.Future[ChunkResult], list[Any]]] = []
        self.chunk: list[tuple[Any, str]] = []
        self.tickets: list[Any] = []
        if parallel > 1:
            global _CHECK_RUNNER
            _CHECK_RUNNER = runner  # the forked workers inherit it
            self.pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=parallel,
                mp_context=mp.get_context("fork"),
                # a kill -9 of the command must not leave idle workers behind
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
            self.window = parallel * 3

    def check(self, ticket: Any, recipient: Any, message_id: str) -> None:
        if self.pool is None:
            try:
                found = check_one(self.runner, recipient, message_id)
            except RenderError as exc:
                self.on_problem(ticket, exc.message)
                return
            if found:
                self.on_warnings(ticket, found)
            return
        self.chunk.append((recipient, message_id))
        self.tickets.append(ticket)
        if len(self.chunk) >= self.CHUNK:
            self._submit()
            while len(self.pending) >= self.window:
                self._collect(*self.pending.pop(0))

    def _submit(self) -> None:
        assert self.pool is not None
        self.pending.append((self.pool.submit(check_chunk, self.chunk), self.tickets))
        self.chunk, self.tickets = [], []

    def finish(self) -> None:
        if self.pool is None:
            return
        if self.chunk:
            self._submit()
        while self.pending:
            self._collect(*self.pending.pop(0))

    def _collect(self, future: concurrent.futures.Future[ChunkResult], tickets: list[Any]) -> None:
        problems, warnings, error = future.result()
        for position, message in problems:
            self.on_problem(tickets[position], message)
        for position, issues in warnings:
            self.on_warnings(tickets[position], issues)
        if error is not None:
            cls, message, path, line, hint = error
            raise cls(message, path=path, line=line, hint=hint)

    def close(self) -> None:
        if self.pool is not None:
            for future, _tickets in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this child when the parent dies (kill -9 must stop the whole send)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def child_main(
    runner: CampaignRunner,
    part: int,
    processes: int,
    share: int,
    options: SendOptions,
    parent_result: SendReport,
    counters: Any,
    parent: int,
    write_end: int,
) -> None:
    """Dispatch one partition in a forked child, report its counts through a pipe, exit."""
    code = 0
    outcome: dict[str, Any] = {"error": None}
    try:
        die_with_parent(parent)
        # Ctrl-C reaches the whole process group: the parent relays it as SIGTERM, on which the
        # child stops like the parent does (in-flight messages finish and are recorded)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        assert runner.reopen is not None
        job, repo = runner.reopen()
        child = type(runner)(
            job, repo=repo, context=runner.ctx, transport_factory=runner.transport_factory
        )
        child.lease = runner.lease  # the parent's: each hand-over here confirms it too
        result = type(parent_result)(job.campaign_id, parent_result.preflight)

        def count(n: int = 1, total: int | None = None, description: str | None = None) -> None:
            counters[part] += n

        async def go() -> None:
            task = asyncio.current_task()
            if task is not None:
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
            transport = child.transport_factory()
            transport.limit_concurrency(share)
            await transport.open()
            try:
                await child._dispatch(transport, options, result, count, (part, processes))
            finally:
                await transport.close()

        try:
            asyncio.run(go())
        except CommskitError as exc:
            outcome["error"] = exc
        except asyncio.CancelledError:
            outcome["error"] = SendError("interrupted")
        outcome.update(
            sent=result.sent,
            failed=result.failed,
            unknown=result.unknown,
            suppressed_at_dispatch=result.suppressed_at_dispatch,
            stopped=result.stopped,
            stop_reason=result.stop_reason,
        )
        try:
            data = pickle.dumps(outcome)
        except Exception:
            outcome["error"] = SendError(str(outcome["error"]))
            data = pickle.dumps(outcome)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        code = 1
    os._exit(code)
