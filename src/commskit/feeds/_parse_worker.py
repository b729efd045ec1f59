"""The parse worker process: ``python -m commskit.feeds._parse_worker READ_FD WRITE_FD``.

It reads parse jobs (:class:`~commskit.feeds.parse.ParseJob`) from one
pipe and sends back ``(kind, value)`` on the other, until it reads None or the pipe closes.
Started by :mod:`commskit.feeds.parse_pool`, never imported by the package itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
from multiprocessing.connection import Connection

#: added to the worker's niceness: parsing yields the CPU to the fetching process (downloads,
#: dedupe, store), which is what the user waits on
WORKER_NICENESS = 10


def serve(inbox: Connection, outbox: Connection) -> None:
    """Parse each job received; an exception is reported for that job, the loop goes on."""
    from commskit.feeds.parse import parse_timed

    outbox.send(("ready", None))
    while True:
        try:
            job = inbox.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            outbox.send(("ok", parse_timed(job)))
        except Exception as exc:  # a parser fault is this feed's error, sent back, never a crash
            outbox.send(("error", f"{type(exc).__name__}: {exc}"[:300]))


def main(argv: list[str]) -> None:
    read_fd, write_fd = int(argv[1]), int(argv[2])
    with contextlib.suppress(OSError):  # a platform without nice: parse at the same priority
        os.nice(WORKER_NICENESS)
    serve(Connection(read_fd, writable=False), Connection(write_fd, readable=False))


if __name__ == "__main__":
    main(sys.argv)
