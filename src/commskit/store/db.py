"""SQLite connection, migrations and transactions."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreReadOnlyError,
)
from ..filemodes import create_private_file, private_dir

if TYPE_CHECKING:
    from .activity import ActivityRepo
    from .audience import AudienceRepo
    from .events import EventRepo
    from .feeds import FeedRepo
    from .inbox import InboxRepo
    from .leases import LeaseRepo
    from .sends import SendRepo
    from .sequences import SequenceRepo
    from .signups import SignupRepo


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


# SQLite's primary result codes (https://sqlite.org/rescode.html) for the faults we name
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    3,
    5,
    6,
    8,
    10,
    11,
    13,
    14,
    26,
)


def _read_only_fs(folder: Path) -> bool:
    for candidate in (folder, *folder.parents):
        try:
            return bool(os.statvfs(candidate).f_flag & os.ST_RDONLY)
        except OSError:
            continue
    return False


def _disk_full(folder: Path) -> bool:
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free == 0
        except OSError:
            continue
    return False


def describe_error(exc: BaseException, path: Path, *, lock_timeout: float) -> StoreError | None:
    """Return the StoreError saying what a SQLite fault is (locked, full, read-only, corrupt).

    None for anything else (a programming error, such as a constraint violation, stays itself).
    """
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    folder = path.parent
    if primary in (_BUSY, _LOCKED):
        return StoreLockedError(
            f"the state database is locked by another process (waited {lock_timeout:g} s)",
            path=path,
            hint="Let the other commskit command finish and run this one again, or wait longer "
            "with [store] lock_timeout (COMMSKIT_STORE_LOCK_TIMEOUT)",
        )
    if primary == _FULL or (primary == _IOERR and _disk_full(folder)):
        return StoreFullError(
            "the disk holding the state database is full; nothing of this command was kept",
            path=path,
            hint="Free some disk space, then run the same command again",
        )
    if primary in (_READONLY, _CANTOPEN, _PERM, _IOERR) and _read_only_fs(folder):
        return StoreReadOnlyError(
            "the workspace is on a read-only file system: the state database cannot be written",
            path=path,
            hint="Run commskit where the workspace's state folder is writable",
        )
    if primary in (_READONLY, _PERM):
        return StoreReadOnlyError(
            f"the state database is read-only ({exc})",
            path=path,
            hint="Check the permissions of the file and of its folder",
        )
    if primary in (_CORRUPT, _NOTADB):
        return StoreCorruptError(
            f"the state database is corrupted ({exc})",
            path=path,
            hint="Restore a backup of the file, or move it aside to start afresh (contacts, "
            "suppressions and the send log are in it)",
        )
    if primary == _IOERR:
        return StoreError(f"cannot read or write the state database: {exc}", path=path)
    if primary == _CANTOPEN:
        return StoreError(
            f"cannot open the state database: {exc}",
            path=path,
            hint="Check that its folder exists and is writable",
        )
    return None


class _Connection(sqlite3.Connection):
    """A connection whose faults (locked, disk full, read-only, corrupt) raise StoreErrors."""

    describe: Callable[[BaseException], StoreError | None] = staticmethod(lambda exc: None)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            known = self.describe(exc)
            if known is None:
                raise  # not a fault we name: the sqlite3 error itself, its traceback intact
            raise known from exc

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as exc:
            known = self.describe(exc)
            if known is None:
                raise  # not a fault we name: the sqlite3 error itself, its traceback intact
            raise known from exc


class Store:
    """One workspace's SQLite database (WAL mode), migrated to the latest schema on open.

    ``timeout`` is how long a write waits for another process's lock before StoreLockedError.
    """

    def __init__(self, path: Path | str, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._local = threading.local()
        self._conn = self._connect()
        self.migrate()

    def _connect(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":
            try:
                # 0700/0600 whatever the umask; SQLite gives -wal and -shm the database's mode
                private_dir(self.path.parent)
                create_private_file(self.path)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the state folder: {exc.strerror}", path=self.path.parent
                ) from exc
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,
                factory=_Connection,
            )
            conn.describe = self.describe_error
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
        except sqlite3.DatabaseError as exc:
            known = self.describe_error(exc)
            if known is not None:
                raise known from exc
            raise StoreError(
                f"cannot open the state database: {exc}",
                path=self.path,
                hint="Check the file is a commskit state database and is not corrupted",
            ) from exc
        return conn

    @property
    def lock_timeout(self) -> float:
        """Seconds a write waits for another process's lock (``[store] lock_timeout``)."""
        return self._timeout

    def describe_error(self, exc: BaseException) -> StoreError | None:
        """Return the StoreError naming a SQLite fault of this database, or None."""
        return describe_error(exc, self.path, lock_timeout=self._timeout)

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
            self._conn.execute("COMMIT")
        except BaseException:
            # SQLite itself rolls back on some faults (disk full): a second ROLLBACK would hide
            # the real error behind "cannot rollback - no transaction is active"
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error, StoreError):
                    self._conn.execute("ROLLBACK")
            raise
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
            ) from exc
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

    @cached_property
    def events(self) -> EventRepo:
        from .events import EventRepo

        return EventRepo(self)

    @cached_property
    def activity(self) -> ActivityRepo:
        from .activity import ActivityRepo

        return ActivityRepo(self)

    @cached_property
    def sequences(self) -> SequenceRepo:
        from .sequences import SequenceRepo

        return SequenceRepo(self)

    @cached_property
    def inbox(self) -> InboxRepo:
        from .inbox import InboxRepo

        return InboxRepo(self)

    @cached_property
    def signups(self) -> SignupRepo:
        from .signups import SignupRepo

        return SignupRepo(self)


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
