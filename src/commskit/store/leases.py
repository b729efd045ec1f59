"""Leases: named locks in the state database, each with an owner, a process and an expiry.

A run that must be the only one doing something (sending one campaign; later the ``commskit run``
scheduler) takes a lease with :meth:`LeaseRepo.acquire`, renews it while it works, confirms it
inside the transaction of every step that must not happen twice, and releases it at the end. The
claim is one ``BEGIN IMMEDIATE`` transaction, so two processes starting at the same instant cannot
both get it.

A lease whose holder stopped without releasing it (kill -9, a crash, a power cut) is taken over
once it has expired, or at once when its process is provably gone: same host, and no such pid (or
a zombie). A live process on another host, or one whose pid cannot be checked, keeps its lease
until it expires.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LeaseHeldError, LeaseLostError
from .db import utcnow

if TYPE_CHECKING:
    from .db import Store


@dataclass(frozen=True)
class Lease:
    """One lease as the store holds it."""

    name: str
    owner: str
    pid: int
    host: str
    since: str  # ISO 8601 UTC, when the holder took it
    expires_at: float  # unix time

    def describe(self) -> str:
        """Return "pid 1234 on host, since 2026-11-24 10:02:03 UTC" for messages."""
        since = self.since.replace("T", " ").removesuffix("+00:00")
        return f"pid {self.pid} on {self.host}, since {since} UTC"


def this_host() -> str:
    """Return the name leases record for this machine."""
    return socket.gethostname() or "localhost"


def process_gone(pid: int) -> bool:
    """Return True when no process ``pid`` runs on this machine, or it is a zombie.

    Only a provable absence counts: a process we may not signal (another user's) is alive.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # Linux: a killed process not yet reaped by its parent is a zombie ('Z')
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


class LeaseRepo:
    """Take, renew, confirm and release leases (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def get(self, name: str) -> Lease | None:
        """Return the stored lease called ``name``, live or not, or None."""
        row = self.conn.execute(
            "SELECT name, owner, pid, host, since, expires_at FROM leases WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else Lease(*row)

    def holder(self, name: str, *, now: float | None = None) -> Lease | None:
        """Return the live lease called ``name`` (not expired, holder not provably gone)."""
        lease = self.get(name)
        if lease is None or self._stale(lease, time.time() if now is None else now):
            return None
        return lease

    def acquire(self, name: str, *, ttl: float, now: float | None = None) -> Lease:
        """Take the lease ``name`` for ``ttl`` seconds, or raise LeaseHeldError naming its holder.

        A stale lease (expired, or its process gone) is taken over.
        """
        now = time.time() if now is None else now
        lease = Lease(
            name=name,
            owner=secrets.token_hex(8),
            pid=os.getpid(),
            host=this_host(),
            since=utcnow(),
            expires_at=now + ttl,
        )
        with self.store.transaction() as conn:  # BEGIN IMMEDIATE: one claimant decides at a time
            current = self.get(name)
            if current is not None and not self._stale(current, now):
                raise LeaseHeldError(
                    f"{name} is held by another process ({current.describe()})",
                    pid=current.pid,
                    host=current.host,
                    since=current.since,
                )
            conn.execute(
                "INSERT INTO leases (name, owner, pid, host, since, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET owner = excluded.owner,"
                " pid = excluded.pid, host = excluded.host, since = excluded.since,"
                " expires_at = excluded.expires_at",
                (lease.name, lease.owner, lease.pid, lease.host, lease.since, lease.expires_at),
            )
        return lease

    def renew(self, lease: Lease, *, ttl: float, now: float | None = None) -> Lease:
        """Push the lease's expiry to now + ``ttl``; raise LeaseLostError if it was taken over."""
        expires_at = (time.time() if now is None else now) + ttl
        cur = self.conn.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
            (expires_at, lease.name, lease.owner),
        )
        if cur.rowcount == 0:
            raise self.lost(lease)
        return Lease(lease.name, lease.owner, lease.pid, lease.host, lease.since, expires_at)

    def confirm(self, lease: Lease) -> None:
        """Raise LeaseLostError unless ``lease`` is still ours.

        Call it inside the transaction of a step that must not happen twice: the write lock that
        transaction holds keeps anyone from taking the lease over before it commits.
        """
        row = self.conn.execute(
            "SELECT 1 FROM leases WHERE name = ? AND owner = ?", (lease.name, lease.owner)
        ).fetchone()
        if row is None:
            raise self.lost(lease)

    def release(self, lease: Lease) -> None:
        """Give the lease up (nothing happens if it was already taken over)."""
        self.conn.execute(
            "DELETE FROM leases WHERE name = ? AND owner = ?", (lease.name, lease.owner)
        )

    @staticmethod
    def _stale(lease: Lease, now: float) -> bool:
        if lease.expires_at <= now:
            return True
        return lease.host == this_host() and lease.pid != os.getpid() and process_gone(lease.pid)

    def lost(self, lease: Lease) -> LeaseLostError:
        """Return the error saying ``lease`` was taken over, and by whom."""
        current = self.get(lease.name)
        who = f" by {current.describe()}" if current is not None else ""
        return LeaseLostError(
            f"{lease.name} was taken over{who} after this process stopped renewing it",
            hint="Nothing more is done by this run; the other process goes on",
        )
