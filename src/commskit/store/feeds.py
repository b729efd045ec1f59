"""SQL for the veille stage: feed fetch state, items, marked digests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..feeds.parse import FeedItem
    from .db import Store


@dataclass(frozen=True, slots=True)
class FeedState:
    """What fetching learnt about one feed (a ``feeds`` row); times are UTC ISO 8601 text."""

    url: str
    name: str
    effective_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_fetch: str | None = None
    last_success: str | None = None
    last_status: int | None = None
    error_count: int = 0
    last_error: str | None = None
    not_before: str | None = None
    deactivated: str | None = None  # the reason (e.g. 410 Gone); None = active
    title: str | None = None
    site_url: str | None = None
    language: str | None = None  # the BCP 47 tag the feed declares ("en-US"), if any


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One stored feed item (an ``items`` row): the fields of
    :class:`~commskit.feeds.parse.FeedItem` (checked by a test), read-only, lists as tuples."""

    id: str
    feed_url: str
    feed_name: str
    guid: str | None
    link: str
    canonical_url: str | None
    title: str
    title_key: str
    content_hash: str | None
    summary_html: str
    summary_text: str
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    published: datetime
    date_flag: str | None
    first_seen: datetime
    duplicate_of: str | None
    duplicate_reason: str | None


@dataclass(frozen=True, slots=True)
class DedupeCandidate:
    """The comparison keys of a kept item, for linking new duplicates to it."""

    id: str
    feed_url: str
    guid: str | None
    canonical_url: str | None
    content_hash: str | None
    title_key: str
    published: datetime


@dataclass(frozen=True, slots=True)
class MarkedDigest:
    """A digest recorded as sent (``digests`` row); start/end/created are UTC ISO 8601 text."""

    id: int
    name: str
    start: str
    end: str
    created: str
    item_count: int


_R = TypeVar("_R")


#: each record's fields, which are the columns it is read from (computed once, not per row)
_FIELDS: dict[type[Any], tuple[str, ...]] = {
    record: tuple(f.name for f in fields(record))
    for record in (FeedState, StoredItem, DedupeCandidate, MarkedDigest)
}


def _columns(record: type[Any]) -> tuple[str, ...]:
    return _FIELDS[record]


#: Columns of ``feeds`` a fetch may update (all but the key).
FEED_STATE_COLUMNS = frozenset(_columns(FeedState)) - {"url"}
ITEM_COLUMNS = _columns(StoredItem)
_JSON_LISTS = frozenset({"authors", "tags"})
_DATETIMES = frozenset({"published", "first_seen"})


def _select(record: type[Any]) -> str:
    """Return the SELECT list reading ``record``'s fields, in order (quoted: "end" is a keyword)."""
    return ", ".join(f'"{name}"' for name in _columns(record))


def _record(record: type[_R], row: Sequence[Any]) -> _R:
    """Build ``record`` from a row selected with :func:`_select` (JSON lists and times decoded)."""
    values = dict(zip(_columns(record), row, strict=True))
    for name in _JSON_LISTS & values.keys():
        values[name] = tuple(json.loads(values[name]))
    for name in _DATETIMES & values.keys():
        values[name] = datetime.fromisoformat(values[name])
    return record(**values)


def _item_row(item: FeedItem) -> tuple[Any, ...]:
    """Return ``item``'s values in :data:`ITEM_COLUMNS` order, as the ``items`` table holds them."""
    values = []
    for name in ITEM_COLUMNS:
        value = getattr(item, name)
        if name in _JSON_LISTS:
            value = json.dumps(value, ensure_ascii=False)
        elif name in _DATETIMES:
            value = value.isoformat(timespec="seconds")
        values.append(value)
    return tuple(values)


_ITEMS = f"SELECT {_select(StoredItem)} FROM items"  # noqa: S608 - fixed column names


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


class FeedRepo:
    """Queries and writes for the veille stage."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """Group writes of the veille stage (see :meth:`Store.transaction`)."""
        return self.store.transaction()

    # --- feeds --------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[tuple[str, str]]) -> None:
        """Make sure each (url, name) has a state row; names follow the list file."""
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO feeds (url, name) VALUES (?, ?) "
                "ON CONFLICT(url) DO UPDATE SET name = excluded.name "
                "WHERE feeds.name != excluded.name",
                list(feeds),
            )

    def feed_states(self) -> dict[str, FeedState]:
        """Return every feed's fetch state, by list URL."""
        rows = self.conn.execute(f"SELECT {_select(FeedState)} FROM feeds")  # noqa: S608
        return {row[0]: _record(FeedState, row) for row in rows}

    def feed_languages(self) -> dict[str, str]:
        """Return the language each feed declares (a BCP 47 tag), by list URL; feeds that
        declare none are left out."""
        rows = self.conn.execute("SELECT url, language FROM feeds WHERE language IS NOT NULL")
        return {row[0]: row[1] for row in rows}

    def update_feed(self, url: str, **values: Any) -> None:
        """Update fetch-state columns of one feed."""
        unknown = set(values) - FEED_STATE_COLUMNS
        if unknown:
            raise ValueError(f"unknown feed columns: {sorted(unknown)}")
        if not values:
            return
        assignments = ", ".join(f"{column} = ?" for column in values)
        self.conn.execute(
            f"UPDATE feeds SET {assignments} WHERE url = ?",  # noqa: S608 - columns are allow-listed
            (*values.values(), url),
        )

    def reset_feed(self, url: str) -> bool:
        """Clear a feed's errors, back-off and deactivation; return False if it is unknown."""
        cursor = self.conn.execute(
            "UPDATE feeds SET error_count = 0, last_error = NULL, not_before = NULL,"
            " deactivated = NULL WHERE url = ?",
            (url,),
        )
        return cursor.rowcount > 0

    def feed_item_counts(self) -> dict[str, int]:
        """Return how many items each feed brought (duplicates included)."""
        rows = self.conn.execute("SELECT feed_url, COUNT(*) FROM items GROUP BY feed_url")
        return {row[0]: int(row[1]) for row in rows}

    # --- items --------------------------------------------------------------------------------

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Return which of ``ids`` are already stored."""
        found: set[str] = set()
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(f"SELECT id FROM items WHERE id IN ({marks})", tuple(chunk))  # noqa: S608
            found.update(row[0] for row in rows)
        return found

    def dedupe_candidates(self, since: str) -> list[DedupeCandidate]:
        """Return kept (non-duplicate) items seen or published since ``since``, for dedupe."""
        rows = self.conn.execute(
            f"SELECT {_select(DedupeCandidate)} "  # noqa: S608 - fixed column names
            "FROM items WHERE duplicate_of IS NULL AND (first_seen >= ? OR published >= ?) "
            "ORDER BY first_seen, rowid",
            (since, since),
        )
        return [_record(DedupeCandidate, row) for row in rows]

    def insert_items(self, items: Sequence[FeedItem]) -> None:
        """Store new items (ids already present are left untouched)."""
        rows = [_item_row(item) for item in items]
        columns = ", ".join(ITEM_COLUMNS)
        marks = ", ".join("?" * len(ITEM_COLUMNS))
        self.conn.executemany(
            f"INSERT OR IGNORE INTO items ({columns}) VALUES ({marks})",  # noqa: S608
            rows,
        )

    def window_items(self, start: str, end: str, late_start: str) -> list[StoredItem]:
        """Return kept items published in [start, end], or seen then and dated ≥ late_start.

        Bounds are inclusive: times are stored to the second, and a fetch and a digest often
        share one (repeats across marked digests are excluded by item id, not by time).
        """
        rows = self.conn.execute(
            f"{_ITEMS} WHERE duplicate_of IS NULL AND published <= ? AND ("
            " published >= ? OR (first_seen >= ? AND first_seen <= ? AND published >= ?))"
            " ORDER BY published DESC, rowid",
            (end, start, start, end, late_start),
        )
        return [_record(StoredItem, row) for row in rows]

    def duplicates_of(self, ids: Sequence[str]) -> dict[str, list[StoredItem]]:
        """Return the duplicates linked to each of ``ids``, in the order they were seen."""
        out: dict[str, list[StoredItem]] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"{_ITEMS} WHERE duplicate_of IN ({marks}) ORDER BY first_seen, rowid",
                tuple(chunk),
            )
            for row in rows:
                item = _record(StoredItem, row)
                out.setdefault(item.duplicate_of or "", []).append(item)
        return out

    def recent_items(self, limit: int) -> list[StoredItem]:
        """Return the latest kept items (for `rules test --stored`)."""
        rows = self.conn.execute(
            f"{_ITEMS} WHERE duplicate_of IS NULL ORDER BY published DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [_record(StoredItem, row) for row in rows]

    def count_items(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    # --- digests ------------------------------------------------------------------------------

    def last_digest(self, name: str) -> MarkedDigest | None:
        """Return the latest marked digest of that name, or None."""
        row = self.conn.execute(
            f"SELECT {_select(MarkedDigest)} FROM digests WHERE name = ?"  # noqa: S608
            ' ORDER BY "end" DESC, id DESC LIMIT 1',
            (name,),
        ).fetchone()
        return None if row is None else _record(MarkedDigest, row)

    def marked_ids(self, name: str) -> set[str]:
        """Return the ids of every item a marked digest of that name already included."""
        rows = self.conn.execute(
            "SELECT di.item_id FROM digest_items di JOIN digests d ON d.id = di.digest_id "
            "WHERE d.name = ?",
            (name,),
        )
        return {row[0] for row in rows}

    def record_digest(
        self, name: str, start: str, end: str, created: str, item_ids: Sequence[str], count: int
    ) -> int:
        """Record a marked digest and the items it included; return its id."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                'INSERT INTO digests (name, start, "end", created, item_count)'
                " VALUES (?, ?, ?, ?, ?)",
                (name, start, end, created, count),
            )
            digest_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT OR IGNORE INTO digest_items (digest_id, item_id) VALUES (?, ?)",
                [(digest_id, item_id) for item_id in item_ids],
            )
        return digest_id
