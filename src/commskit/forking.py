"""Forked child processes: work that overlaps the caller's, and children that die with it.

A large import reads and validates its file (CPU-bound Python) while it writes the previous
batch to the store (CPU-bound too, in SQLite and in Python): in one process the two add up, and
a thread would not help (one interpreter lock). :func:`iterate_in_child` runs a generator in a
forked child instead, on the other core, and hands what it yields to the caller through a pipe,
pickled. The pipe holds little, so the child stays at most about one item ahead (its memory is
bounded as the generator's own is); an error it raises is raised in the caller as it was.

Every forked process asks Linux to kill it when its parent dies (``PR_SET_PDEATHSIG``): a kill -9
of the command must stop all of it and leave nothing running behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from .errors import CommskitError, WorkerProcessError

T = TypeVar("T")

_ITEM, _ERROR, _DONE = "item", "error", "done"


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this child when the parent dies (kill -9 must stop all of it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux (no prctl): the getppid check below still catches a dead parent
    if os.getppid() != parent:
        os._exit(1)


def can_fork() -> bool:
    """Return True when :func:`iterate_in_child` would fork: the OS can, and no other thread
    runs (a thread holding a lock at the fork would leave the child waiting on it forever)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def iterate_in_child(produce: Callable[[], Iterable[T]], *, what: str) -> Iterator[T]:
    """Yield what ``produce()`` yields, computed in a forked child process.

    The items must pickle. The child starts at the first ``next()``; closing the iterator early
    stops it. A :class:`~commskit.errors.CommskitError` (or any exception) raised by the
    generator is raised here, when its turn comes, with its type, message, place and hint; any
    other exception as a :class:`WorkerProcessError` naming it, the child's traceback as its
    ``details``. ``what`` names the
    work in the error raised when the child dies without a word (killed, out of memory).
    """
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(produce, parent, write_end)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            while True:
                try:
                    tag, value = pickle.load(pipe)  # noqa: S301 - written by our own child
                except (EOFError, pickle.UnpicklingError) as exc:
                    raise _died(pid, what) from exc
                if tag == _DONE:
                    return
                if tag == _ERROR:
                    raise value
                yield value
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # done already, or closed early: nothing to keep
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _child(produce: Callable[[], Iterable[Any]], parent: int, write_end: int) -> None:
    """Run ``produce`` and send its items, then its end or its error (never returns)."""
    code = 0
    try:
        die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        with os.fdopen(write_end, "wb") as pipe:
            try:
                for item in produce():
                    pickle.dump((_ITEM, item), pipe, protocol=pickle.HIGHEST_PROTOCOL)
                    pipe.flush()
            except Exception as exc:  # raised in the parent instead
                pickle.dump((_ERROR, _portable(exc)), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            else:
                pickle.dump((_DONE, None), pipe, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # nothing may escape a forked child but its exit code
        code = 1
    os._exit(code)


def _portable(exc: Exception) -> Exception:
    """Return what the caller raises for ``exc``: a CommskitError as itself (rebuilt from its
    message, place and hint if it does not pickle), any other exception as a
    :class:`WorkerProcessError` naming it, with the child's traceback as ``details``."""
    if isinstance(exc, CommskitError):
        try:
            copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
            if type(copy) is type(exc) and str(copy) == str(exc):
                return exc
        except Exception:  # noqa: S110 - an error that does not pickle is rebuilt below
            pass
        return CommskitError(exc.message, path=exc.path, line=exc.line, hint=exc.hint)
    summary = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return WorkerProcessError(
        f"a worker process stopped on {summary}",
        details="".join(traceback.format_exception(exc)),
        hint="Run again with COMMSKIT_DEBUG=1 for its traceback",
    )


def _died(pid: int, what: str) -> CommskitError:
    with contextlib.suppress(ChildProcessError):
        _pid, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return WorkerProcessError(
            f"the process {what} stopped unexpectedly ({how})",
            hint="Nothing after the last stored batch was written; run the same command again",
        )
    return WorkerProcessError(f"the process {what} stopped unexpectedly")
