"""Sharing a large send between processes (Linux/macOS fork).

Rendering is CPU-bound Python, so a send of thousands of messages uses one process per CPU:

- pre-flight: :class:`RenderChecker` renders every recipient in forked workers (the compiled
  campaign is inherited, recipients are pickled in chunks), reports each recipient whose own
  data cannot make a message, and re-raises the first campaign-wide error here;
- dispatch: :func:`dispatch_in_processes` forks children that each run a
  :class:`~.dispatch.DispatchPool` over the send-log rows whose id falls in their partition, on
  their own database connection, and report their counts through a pipe; a child's unexpected
  exception reaches the parent with its traceback (:class:`~commskit.errors.SendingProcessError`).

Every forked process asks Linux to kill it when its parent dies (``PR_SET_PDEATHSIG``): a kill -9
of the command must stop the whole send and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copyreg
import multiprocessing as mp
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CommskitError, RenderError, SendError, SendingProcessError
from ..forking import die_with_parent
from ..progress import Progress
from .report import PreflightReport, SendOptions, SendReport

if TYPE_CHECKING:
    from .dispatch import DispatchPool
    from .job import CheckIssueLike
    from .transports import Transport


class RecipientChecker(Protocol):
    """What a pre-flight worker renders with (a :class:`~.messages.MessageBuilder`)."""

    def check(self, recipient: Any, message_id: str) -> Sequence[CheckIssueLike]:
        """Raise what rendering this recipient would raise; return its own warnings."""
        ...


def _mappingproxy(data: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(data)


def _reduce_mappingproxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return _mappingproxy, (dict(proxy),)


# Contacts carry read-only attribute mappings; rendering checks ship them to forked workers.
copyreg.pickle(MappingProxyType, _reduce_mappingproxy)

_CHECK_BUILDER: RecipientChecker | None = None  # inherited by the forked pre-flight workers


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


def check_one(builder: RecipientChecker, recipient: Any, message_id: str) -> list[CheckIssue]:
    """Render-check one recipient; return its warnings.

    Raises RenderError when the recipient's own data cannot make a message (a line break in a
    name, a domain IDNA refuses), other CommskitErrors when the campaign itself is wrong.
    """
    return [CheckIssue(i.level, i.code, i.message) for i in builder.check(recipient, message_id)]


def check_chunk(chunk: list[tuple[Any, str]]) -> ChunkResult:
    """Render a chunk of recipients in a pre-flight worker (see :data:`ChunkResult`)."""
    assert _CHECK_BUILDER is not None
    problems: list[tuple[int, str]] = []
    warnings: list[tuple[int, list[CheckIssue]]] = []
    for position, (recipient, message_id) in enumerate(chunk):
        try:
            found = check_one(_CHECK_BUILDER, recipient, message_id)
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
        builder: RecipientChecker,
        *,
        parallel: int,
        on_problem: Callable[[Any, str], None],
        on_warnings: Callable[[Any, Sequence[CheckIssue]], None],
    ) -> None:
        self.builder = builder
        self.on_problem = on_problem
        self.on_warnings = on_warnings
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.pending: list[tuple[concurrent.futures.Future[ChunkResult], list[Any]]] = []
        self.chunk: list[tuple[Any, str]] = []
        self.tickets: list[Any] = []
        if parallel > 1:
            global _CHECK_BUILDER
            _CHECK_BUILDER = builder  # the forked workers inherit it
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
                found = check_one(self.builder, recipient, message_id)
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


def dispatch_in_processes(
    pool: DispatchPool,
    transport: Transport,
    *,
    processes: int,
    options: SendOptions,
    result: SendReport,
    progress: Progress | None,
    child_pool: Callable[[], tuple[DispatchPool, Transport]],
) -> None:
    """Dispatch with ``processes`` processes, each taking the rows whose id ≡ k (mod n).

    This process runs ``pool`` (partition 0, and the lease's renewal); each forked child calls
    ``child_pool()`` for its own pool over a fresh database connection (a SQLite connection must
    not cross a fork) and its own transport. The total in flight stays the transport's
    concurrency (each process takes a share), so a kill -9 still leaves at most that many
    messages ambiguous. Children die with the parent (PR_SET_PDEATHSIG), so killing the command
    kills the whole send. A child's counts are added to ``result``; its error is raised here.
    """
    share = -(-transport.concurrency // processes)
    counters = mp.get_context("fork").RawArray("q", processes)
    parent = os.getpid()
    children: list[tuple[int, int]] = []
    for part in range(1, processes):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns
            os.close(read_end)
            _child(
                child_pool,
                part,
                processes,
                share,
                options,
                result.preflight,
                counters,
                parent,
                write_end,
            )
        os.close(write_end)
        children.append((pid, read_end))
    error: BaseException | None = None
    try:
        asyncio.run(
            _parent_part(pool, transport, share, options, result, progress, counters, processes)
        )
    except BaseException as exc:  # stop the children, wait for them, then report it
        error = exc
        for pid, _read_end in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    child_error = _collect_children(children, result)
    if error is not None:
        raise error
    if child_error is not None:
        details = getattr(child_error, "details", "")
        if details:
            # as concurrent.futures does: the child's traceback, as text, is the cause
            raise child_error from ChildTraceback(details)
        raise child_error


class ChildTraceback(Exception):
    """The traceback of a forked sending process, as text (the ``__cause__`` of its error)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0]) if self.args else ""


async def _parent_part(
    pool: DispatchPool,
    transport: Transport,
    share: int,
    options: SendOptions,
    result: SendReport,
    progress: Progress | None,
    counters: Any,
    processes: int,
) -> None:
    """Dispatch partition 0 here, renew the lease, and show the progress of every process."""
    transport.limit_concurrency(share)
    keeper = asyncio.create_task(pool.lease.keep()) if pool.lease is not None else None
    await transport.open()

    async def poll() -> None:
        shown = 0
        while True:
            done = sum(counters)
            if progress is not None and done > shown:
                progress(done - shown)
                shown = done
            await asyncio.sleep(0.2)

    def count(n: int = 1, total: int | None = None, description: str | None = None) -> None:
        counters[0] += n

    poller = None
    if progress is not None:
        poller = asyncio.create_task(poll())
        total = result.preflight.to_send
        progress(0, total=total, description=f"Sending {pool.job.campaign_id}")
    try:
        await pool.run(transport, options, result, count, (0, processes))
    finally:
        await transport.close()
        for task in (poller, keeper):
            if task is not None:
                task.cancel()


def _collect_children(children: list[tuple[int, int]], result: SendReport) -> CommskitError | None:
    """Wait for every child, add its counts to ``result``; return the first child's error."""
    error: CommskitError | None = None
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _pid, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if not data or code != 0:
            # no report at all: killed (or exited) before it could write one
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            found: CommskitError = SendError(
                f"a sending process stopped unexpectedly ({how}); its messages are recorded "
                "as far as they went",
                hint="Run the same command again to finish the campaign",
            )
        else:
            outcome = pickle.loads(data)  # noqa: S301 - written by our own forked child
            for name in ("sent", "failed", "unknown", "suppressed_at_dispatch"):
                setattr(result, name, getattr(result, name) + outcome[name])
            if outcome["stopped"] and result.stopped is None:
                result.stopped = outcome["stopped"]
                result.stop_reason = outcome["stop_reason"]
            found = outcome["error"]
        if error is None:
            error = found
    return error


def _child(
    child_pool: Callable[[], tuple[DispatchPool, Transport]],
    part: int,
    processes: int,
    share: int,
    options: SendOptions,
    preflight: PreflightReport,
    counters: Any,
    parent: int,
    write_end: int,
) -> None:
    """Dispatch one partition in a forked child, report through the pipe, exit (never returns)."""
    code = 0
    try:
        die_with_parent(parent)
        # Ctrl-C reaches the whole process group: the parent relays it as SIGTERM, on which the
        # child stops like the parent does (in-flight messages finish and are recorded)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        pool, transport = child_pool()
        result = SendReport(pool.job.campaign_id, preflight)

        def count(n: int = 1, total: int | None = None, description: str | None = None) -> None:
            counters[part] += n

        async def go() -> None:
            task = asyncio.current_task()
            if task is not None:
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
            transport.limit_concurrency(share)
            await transport.open()
            try:
                await pool.run(transport, options, result, count, (part, processes))
            finally:
                await transport.close()

        error: CommskitError | None = None
        try:
            asyncio.run(go())
        except CommskitError as exc:
            error = exc
        except asyncio.CancelledError:
            error = SendError("interrupted")
        except Exception as exc:  # not ours to expect: the parent reports it with its traceback
            error = crash_error(exc)
        _report(write_end, result, error)
    except BaseException:  # nothing may escape a forked child but its exit code
        code = 1
    os._exit(code)


def crash_error(exc: BaseException) -> SendingProcessError:
    """Return the error a parent raises for a child's unexpected exception (its traceback kept)."""
    summary = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(summary) > 200:
        summary = summary[:197] + "..."
    return SendingProcessError(
        f"a sending process stopped on {summary}; its messages are recorded as far as they went",
        details="".join(traceback.format_exception(exc)),
        hint="Run again with COMMSKIT_DEBUG=1 for its traceback; once the cause is fixed, the "
        "same command finishes the campaign",
    )


def _report(write_end: int, result: SendReport, error: CommskitError | None) -> None:
    """Write a child's counts and error to the parent (an error that cannot be pickled as it
    is goes as a SendError with its message)."""
    outcome: dict[str, Any] = {
        "error": error,
        "sent": result.sent,
        "failed": result.failed,
        "unknown": result.unknown,
        "suppressed_at_dispatch": result.suppressed_at_dispatch,
        "stopped": result.stopped,
        "stop_reason": result.stop_reason,
    }
    try:
        data = pickle.dumps(outcome)
    except Exception:  # an exception object pickle refuses: keep its message
        outcome["error"] = SendError(str(error))
        data = pickle.dumps(outcome)
    with os.fdopen(write_end, "wb") as pipe:
        pipe.write(data)
