"""SQL for the veille stage: feed fetch state, items, marked digests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..feeds.parse import FeedItem
    from .db import Store

#: Columns of ``feeds`` a fetch may update.
FEED_STATE_COLUMNS = frozenset(
    {
        "name",
        "effective_url",
        "etag",
        "last_modified",
        "last_fetch",
        "last_success",
        "last_status",
        "error_count",
        "last_error",
        "not_before",
        "deactivated",
        "title",
        "site_url",
    }
)

ITEM_COLUMNS = (
    "id",
    "feed_url",
    "feed_name",
    "guid",
    "link",
    "canonical_url",
    "title",
    "title_key",
    "content_hash",
    "summary_html",
    "summary_text",
    "authors",
    "tags",
    "published",
    "date_flag",
    "first_seen",
    "duplicate_of",
    "duplicate_reason",
)


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


class FeedRepo:
    """Queries and writes for the veille stage."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

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

    def feed_states(self) -> dict[str, sqlite3.Row]:
        """Return every feed's fetch state, by list URL."""
        return {row["url"]: row for row in self.conn.execute("SELECT * FROM feeds")}

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

    def dedupe_candidates(self, since: str) -> list[sqlite3.Row]:
        """Return kept (non-duplicate) items seen or published since ``since``, for dedupe."""
        return list(
            self.conn.execute(
                "SELECT id, feed_url, guid, canonical_url, content_hash, title_key, published "
                "FROM items WHERE duplicate_of IS NULL AND (first_seen >= ? OR published >= ?) "
                "ORDER BY first_seen, rowid",
                (since, since),
            )
        )

    def insert_items(self, items: Sequence[FeedItem]) -> None:
        """Store new items (ids already present are left untouched)."""
        rows = [
            (
                item.id,
                item.feed_url,
                item.feed_name,
                item.guid,
                item.link,
                item.canonical_url,
                item.title,
                item.title_key,
                item.content_hash,
                item.summary_html,
                item.summary_text,
                json.dumps(item.authors, ensure_ascii=False),
                json.dumps(item.tags, ensure_ascii=False),
                item.published.isoformat(timespec="seconds"),
                item.date_flag,
                item.first_seen.isoformat(timespec="seconds"),
                item.duplicate_of,
                item.duplicate_reason,
            )
            for item in items
        ]
        columns = ", ".join(ITEM_COLUMNS)
        marks = ", ".join("?" * len(ITEM_COLUMNS))
        self.conn.executemany(
            f"INSERT OR IGNORE INTO items ({columns}) VALUES ({marks})",  # noqa: S608
            rows,
        )

    def window_items(self, start: str, end: str, late_start: str) -> list[sqlite3.Row]:
        """Return kept items published in [start, end], or seen then and dated ≥ late_start.

        Bounds are inclusive: times are stored to the second, and a fetch and a digest often
        share one (repeats across marked digests are excluded by item id, not by time).
        """
        return list(
            self.conn.execute(
                "SELECT * FROM items WHERE duplicate_of IS NULL AND published <= ? AND ("
                " published >= ? OR (first_seen >= ? AND first_seen <= ? AND published >= ?))"
                " ORDER BY published DESC, rowid",
                (end, start, start, end, late_start),
            )
        )

    def duplicates_of(self, ids: Sequence[str]) -> dict[str, list[sqlite3.Row]]:
        """Return the duplicates linked to each of ``ids``, in the order they were seen."""
        out: dict[str, list[sqlite3.Row]] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT * FROM items WHERE duplicate_of IN ({marks}) ORDER BY first_seen, rowid",  # noqa: S608
                tuple(chunk),
            )
            for row in rows:
                out.setdefault(row["duplicate_of"], []).append(row)
        return out

    def recent_items(self, limit: int) -> list[sqlite3.Row]:
        """Return the latest kept items (for `rules test --stored`)."""
        return list(
            self.conn.execute(
                "SELECT * FROM items WHERE duplicate_of IS NULL "
                "ORDER BY published DESC, rowid DESC LIMIT ?",
                (limit,),
            )
        )

    def count_items(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    # --- digests ------------------------------------------------------------------------------

    def last_digest(self, name: str) -> sqlite3.Row | None:
        """Return the latest marked digest of that name, or None."""
        row = self.conn.execute(
            'SELECT * FROM digests WHERE name = ? ORDER BY "end" DESC, id DESC LIMIT 1', (name,)
        ).fetchone()
        return row if isinstance(row, sqlite3.Row) else None

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
