"""commskit.forking: a generator run in a forked child, its items and errors handed back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from commskit.errors import CommskitError, ContactImportError, WorkerProcessError
from commskit.forking import can_fork, iterate_in_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (Linux, macOS)")


def _pids_then(count: int) -> Iterator[tuple[int, int]]:
    for i in range(count):
        yield i, os.getpid()


def test_items_come_in_order_from_another_process() -> None:
    items = list(iterate_in_child(lambda: _pids_then(500), what="counting"))
    assert [i for i, _ in items] == list(range(500))
    pids = {pid for _, pid in items}
    assert len(pids) == 1
    assert pids != {os.getpid()}


def test_large_items_cross_the_pipe_whole() -> None:
    # far more than a pipe holds: the child blocks until the parent reads, nothing is cut
    def produce() -> Iterator[list[str]]:
        for n in range(5):
            yield [f"{n}-{i}" * 20 for i in range(20_000)]

    got = list(iterate_in_child(produce, what="sending"))
    assert [len(batch) for batch in got] == [20_000] * 5
    assert got[4][19_999] == "4-19999" * 20


def _fails_after(count: int, error: Exception) -> Iterator[int]:
    yield from range(count)
    raise error


def test_a_commskit_error_reaches_the_caller_as_itself_after_the_items_before_it() -> None:
    error = ContactImportError("bad line", path="partenaires.csv", line=42, hint="Fix it")
    items = iterate_in_child(lambda: _fails_after(3, error), what="reading")
    assert [next(items), next(items), next(items)] == [0, 1, 2]
    with pytest.raises(ContactImportError) as caught:
        next(items)
    assert (caught.value.path, caught.value.line, caught.value.hint) == (
        "partenaires.csv",
        42,
        "Fix it",
    )
    assert str(caught.value) == str(error)


def test_an_unexpected_error_names_itself_and_keeps_the_childs_traceback() -> None:
    with pytest.raises(WorkerProcessError) as caught:
        list(iterate_in_child(lambda: _fails_after(1, ValueError("no way")), what="reading"))
    assert "ValueError: no way" in str(caught.value)
    assert "_fails_after" in caught.value.details  # the traceback, formatted in the child


class _Unpicklable(ContactImportError):
    def __init__(self, a: str, b: str) -> None:  # pickle calls cls(*args): one arg short
        super().__init__(a, path="x.csv", line=3)
        self.b = b


def test_a_commskit_error_that_does_not_pickle_keeps_its_message_and_place() -> None:
    with pytest.raises(CommskitError) as caught:
        list(iterate_in_child(lambda: _fails_after(0, _Unpicklable("one", "two")), what="x"))
    assert str(caught.value) == "x.csv:3: one"


def _dies_after(count: int) -> Iterator[int]:
    yield from range(count)
    os.kill(os.getpid(), signal.SIGKILL)
    yield -1  # never reached


def test_a_child_that_dies_is_an_error_not_a_short_result() -> None:
    items = iterate_in_child(lambda: _dies_after(2), what="reading big.csv")
    assert [next(items), next(items)] == [0, 1]  # then the end of the pipe, without "done"
    with pytest.raises(WorkerProcessError) as caught:
        next(items)
    assert "reading big.csv stopped unexpectedly (was killed by signal 9)" in str(caught.value)


def _forever() -> Iterator[int]:
    yield os.getpid()
    n = 0
    while True:
        n += 1
        yield n


def _gone(pid: int) -> bool:
    """True once ``pid`` runs no more (a zombie waiting for a reaper that is not ours counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    try:
        return any(
            line.split()[1] == "Z"
            for line in status.read_text().splitlines()[:3]
            if line.startswith("State:")
        )
    except (OSError, IndexError):
        return not status.parent.exists()


def test_closing_early_stops_the_child() -> None:
    items = iterate_in_child(_forever, what="counting")
    child = next(items)
    assert next(items) == 1
    items.close()  # type: ignore[attr-defined]
    assert _gone(child)  # killed and reaped: not even a zombie


def test_can_fork_says_no_while_another_thread_runs() -> None:
    # an earlier test may have left a daemon thread (the web app's confirmation mailer): the
    # answer must go to no while ours runs, and back to what it was once it ends
    before = can_fork()
    assert before == (threading.active_count() == 1)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        thread.join()
    assert can_fork() == before


def test_kill_9_of_the_parent_kills_the_child(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time
            from commskit.forking import iterate_in_child

            def slow():
                yield os.getpid()
                time.sleep(600)  # writes nothing: only PR_SET_PDEATHSIG can stop it early
                yield 0

            items = iterate_in_child(slow, what="waiting")
            print(next(items), flush=True)
            for _ in items:
                pass
            """
        )
    )
    with subprocess.Popen(
        [sys.executable, str(script)], env=subprocess_env, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        assert not _gone(child)
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 30  # a bound for a loaded machine, not a measure
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)
