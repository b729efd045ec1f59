"""SQLite connection, migrations and transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError

if TYPE_CHECKING:
    from .audience import AudienceRepo
    from .feeds import FeedRepo
    from .leases import LeaseRepo
    from .sends import SendRepo


def utcnow() -> str:
    """Return the current UTC time as the ISO 8601 text the store keeps."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Store:
    """One workspace's SQLite database (WAL mode), migrated to the latest schema on open."""

    def __init__(self, path: Path | str, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._local = threading.local()
        self._conn = self._connect()
        self.migrate()

    def _connect(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the state folder: {exc.strerror}", path=self.path.parent
                ) from None
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open the state database: {exc}",
                path=self.path,
                hint="Check the file is a commskit state database and is not corrupted",
            ) from None
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The shared connection (autocommit mode; use :meth:`transaction` to group writes)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group writes: all of them are committed, or none (nested calls join the outer one)."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield self._conn
            finally:
                self._local.depth = depth
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded, in order; return their names."""
        applied: list[str] = []
        try:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in self._conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in _migrations():
                if version in done:
                    continue
                with self.transaction() as conn:
                    # executescript would COMMIT our transaction: run statements one by one
                    for statement in _split_sql(sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at)"
                        " VALUES (?, ?, ?)",
                        (version, name, utcnow()),
                    )
                applied.append(name)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot migrate the state database: {exc}",
                path=self.path,
                hint="Restore a backup of the file, or move it aside to start afresh",
            ) from None
        return applied

    def schema_version(self) -> int:
        row = self._conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- meta: small key/value facts about the workspace ------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- repositories, one per stage -----------------------------------------------------------

    @cached_property
    def feeds(self) -> FeedRepo:
        from .feeds import FeedRepo

        return FeedRepo(self)

    @cached_property
    def audience(self) -> AudienceRepo:
        from .audience import AudienceRepo

        return AudienceRepo(self)

    @cached_property
    def sends(self) -> SendRepo:
        from .sends import SendRepo

        return SendRepo(self)

    @cached_property
    def leases(self) -> LeaseRepo:
        from .leases import LeaseRepo

        return LeaseRepo(self)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement knows triggers)."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if not buf and line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
