"""Parse feeds in child processes, killed when a parse overruns its time box.

A thread cannot be stopped: a parse abandoned at its timeout went on using CPU and memory, and
kept the process from exiting until it finished (minutes, for a hostile feed). A process can be
killed: at the timeout its worker is killed and the next parse gets a fresh one. The parse runs
in another process, so it also stops competing with the downloads for the GIL.

The time box counts from when the job reaches a ready worker: starting a worker and waiting for
a free one are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from .parse import ParsedFeed, ParseJob

#: seconds a new worker may take to start (an interpreter and the parse modules, on a busy host)
STARTUP_TIMEOUT = 120.0
# where the commskit package lives, for a worker started from a checkout (bench/, tests)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class ParseFailed(Exception):
    """The worker could not give a result: the parse raised, or the worker died."""


class _Worker:
    """One parse process and the pipes to it. Its methods block: call them from a thread.

    A plain subprocess rather than multiprocessing's "spawn", which re-imports the caller's
    ``__main__``: a user's script without an ``if __name__ == "__main__"`` guard would run again
    in every worker.
    """

    def __init__(self) -> None:
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "commskit.feeds._parse_worker",
                    str(to_child),
                    str(from_child),
                ],
                pass_fds=(to_child, from_child),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # the library never prints, its workers neither
            )
        except OSError as exc:
            for fd in (to_child, from_parent, to_parent, from_child):
                os.close(fd)
            raise ParseFailed(f"cannot start a parse worker: {exc.strerror}") from exc
        os.close(to_child)
        os.close(from_child)
        self.outbox = Connection(from_parent, readable=False)
        self.inbox = Connection(to_parent, writable=False)
        if not self.inbox.poll(STARTUP_TIMEOUT):
            self.kill()
            raise ParseFailed(f"the parse worker did not start within {STARTUP_TIMEOUT:g} s")
        try:
            self.inbox.recv()
        except EOFError as exc:
            self.kill()
            raise ParseFailed(
                f"the parse worker exited at start (exit code {self.process.returncode})"
            ) from exc

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def parse(self, job: ParseJob, timeout: float) -> tuple[ParsedFeed, float]:
        self.outbox.send(job)
        if not self.inbox.poll(timeout):
            self.kill()
            raise TimeoutError
        try:
            kind, value = self.inbox.recv()
        except EOFError as exc:
            self.kill()
            raise ParseFailed(
                f"the parse worker died (exit code {self.process.returncode})"
            ) from exc
        if kind == "error":
            raise ParseFailed(value)
        result: tuple[ParsedFeed, float] = value
        return result

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._close_pipes()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.outbox.send(None)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        self.outbox.close()
        self.inbox.close()


def default_workers() -> int:
    """Return how many parse processes to run: one per core, two at most.

    The workers run at a lower scheduling priority (``_parse_worker.WORKER_NICENESS``), so on
    two cores a second one uses the CPU the fetching process leaves idle without starving its
    downloads, dedupe and store (bench/veille_bench.py: the first fetch of 1,000 feeds went from
    32.9 to 21.0 s on an idle machine; bench/fetch_bench.py is no slower).
    """
    return max(1, min(2, os.cpu_count() or 1))


class ParsePool:
    """Up to ``size`` parse processes, started on first use; :meth:`close` stops them all."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or default_workers()
        self.idle: list[_Worker] = []
        self.every: list[_Worker] = []
        self.starting: list[asyncio.Task[_Worker]] = []
        self._slots: asyncio.Semaphore | None = None

    def warm_up(self) -> None:
        """Start one worker in the background (it starts while the first feeds download)."""
        if not self.every and not self.starting:
            self.starting.append(asyncio.ensure_future(asyncio.to_thread(self._start)))

    def _start(self) -> _Worker:
        worker = _Worker()
        self.every.append(worker)
        return worker

    async def run(self, job: ParseJob, timeout: float) -> tuple[ParsedFeed, float]:
        """Parse in a worker; raise TimeoutError (the worker was killed) or ParseFailed."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            if self.idle:
                worker = self.idle.pop()
            elif self.starting:
                worker = await self.starting.pop()
            else:
                worker = await asyncio.to_thread(self._start)
            try:
                return await asyncio.to_thread(worker.parse, job, timeout)
            finally:
                if worker.alive:
                    self.idle.append(worker)

    async def aclose(self) -> None:
        """Stop every worker, including one still starting."""
        for task in self.starting:
            with contextlib.suppress(ParseFailed):
                await task
        self.starting.clear()
        self.close()

    def close(self) -> None:
        """Stop every worker (killing any still busy)."""
        for worker in self.every:
            if worker.alive:
                worker.close()
        self.idle.clear()
        self.every.clear()
