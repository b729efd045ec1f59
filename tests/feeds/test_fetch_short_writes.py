"""Storing a large feed keeps write transactions short: the dedupe runs before any write and the
items go in batches, so another process writing meanwhile gets the lock within its wait (a real
second SQLite connection, ``BEGIN IMMEDIATE`` with a short timeout, in a loop during the fetch)."""

from __future__ import annotations

import sqlite3
import threading


def test_another_writer_gets_the_lock_while_a_big_feed_is_stored(feed_server, make_ws, rss) -> None:  # type: ignore[no-untyped-def]
    items = [
        {
            "title": f"Compte rendu {n} de la réunion du comité de suivi sur la ligne {n * 7}",
            "link": f"https://example.org/cr/{n}",
            "guid": f"https://example.org/cr/{n}",
        }
        for n in range(3000)
    ]
    url = feed_server.add("/big.xml", body=rss("Gros flux", items))
    # parse_timeout: the machine running the tests may be busy; parsing speed is not the point
    ws = make_ws(
        [{"name": "Gros flux", "url": url}], max_bytes=64 * 1024 * 1024, parse_timeout=300.0
    )
    path = ws.store.path
    done = threading.Event()
    attempts: list[str] = []

    def other_writer() -> None:
        conn = sqlite3.connect(path, timeout=1.0, isolation_level=None)
        try:
            while not done.is_set():
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("COMMIT")
                    attempts.append("ok")
                except sqlite3.OperationalError as exc:
                    attempts.append(str(exc))
        finally:
            conn.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        report = ws.fetch()
    finally:
        done.set()
        writer.join()
    assert report.results[0].status == "ok", report.results[0].error
    assert report.new_items == 3000
    assert attempts  # the other writer really ran during the fetch
    assert set(attempts) == {"ok"}, [a for a in attempts if a != "ok"][:3]
