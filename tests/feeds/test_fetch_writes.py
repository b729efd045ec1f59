"""How a fetch writes: feeds linked and stored a few at a time, in list order, in short
transactions (another process writes meanwhile), fetch states after the items."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from commskit.feeds.fetch import FEEDS_PER_WRITE, STORE_BATCH

NOW = datetime.now(UTC)


def _items(feed: int, count: int) -> list[dict[str, str]]:
    return [
        {
            "title": f"Article {n} du flux {feed} sur le covoiturage et la mobilité",
            "link": f"https://feed{feed}.example.org/{n}",
            "guid": f"https://feed{feed}.example.org/{n}",
            "date": format_datetime(NOW - timedelta(hours=n + 1), usegmt=True),
            "description": f"Résumé de l'article {n} du flux {feed}. " * 6,
        }
        for n in range(count)
    ]


def test_another_writer_gets_through_during_a_big_fetch(feed_server, make_ws, rss) -> None:  # type: ignore[no-untyped-def]
    """A writer with a 2 s lock timeout keeps writing while 3,000 items are linked and stored:
    no transaction of the fetch holds the database for longer than that."""
    feeds = [
        {
            "name": f"Flux {f}",
            "url": feed_server.add(f"/{f}.xml", body=rss(f"F{f}", _items(f, 100))),
        }
        for f in range(30)
    ]
    ws = make_ws(feeds)
    done = threading.Event()
    errors: list[str] = []
    writes = [0]

    def writer() -> None:
        conn = sqlite3.connect(ws.store.path, timeout=2.0, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)")
        try:
            while not done.is_set():
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT INTO probe VALUES (?)", (writes[0],))
                    conn.execute("COMMIT")
                    writes[0] += 1
                except sqlite3.OperationalError as exc:
                    errors.append(str(exc))
                    return
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        report = ws.fetch()
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert writes[0] > 0
    assert not report.failed
    assert ws.store.feeds.count_items() == 30 * 100


def test_duplicates_are_linked_across_write_batches(feed_server, make_ws, rss) -> None:  # type: ignore[no-untyped-def]
    """Feed 0 fills a write batch on its own; feed 1, written in the next batch, republishes
    one of its articles: it is linked to feed 0's copy, and every count is per feed."""
    first = _items(0, STORE_BATCH + 10)
    copy = {**first[3], "link": "https://other.example.org/copy", "guid": "copy-1"}
    feeds = [
        {"name": "A", "url": feed_server.add("/a.xml", body=rss("A", first))},
        {"name": "B", "url": feed_server.add("/b.xml", body=rss("B", [copy, *_items(7777, 2)]))},
    ]
    ws = make_ws(feeds)
    report = ws.fetch()
    a, b = report.results
    assert (a.new_items, a.duplicates) == (STORE_BATCH + 10, 0)
    assert (b.new_items, b.duplicates) == (2, 1)
    rows = ws.store.conn.execute(
        "SELECT i.duplicate_of, k.link FROM items i JOIN items k ON k.id = i.duplicate_of"
    ).fetchall()
    assert [link for _, link in rows] == ["https://feed0.example.org/3"]


def test_every_feed_state_is_written_past_a_batch_of_feeds(feed_server, make_ws, rss) -> None:  # type: ignore[no-untyped-def]
    """More feeds than FEEDS_PER_WRITE, most of them empty: each one's ETag is stored, so the
    second fetch sends it back and gets a 304 from every feed."""
    count = FEEDS_PER_WRITE * 2 + 7
    feeds = [
        {
            "name": f"Flux {f}",
            "url": feed_server.add(
                f"/{f}.xml", body=rss(f"F{f}", _items(f, 1 if f % 10 == 0 else 0)), etag=f'"{f}"'
            ),
        }
        for f in range(count)
    ]
    ws = make_ws(feeds)
    first = ws.fetch()
    assert [r.status for r in first.results] == ["ok"] * count
    assert ws.store.feeds.count_items() == len(range(0, count, 10))
    second = ws.fetch()
    assert [r.status for r in second.results] == ["unchanged"] * count
    assert all(feed_server.hits(f"/{f}.xml")[1]["if-none-match"] == f'"{f}"' for f in range(count))
