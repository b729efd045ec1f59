"""Every real-world feed in the shared corpus, served over local HTTP: items or a clear per-feed
error, never an exception, never a hang (the fetch's own timeouts bound each feed; nothing here
measures speed: that is bench/fetch_bench.py's job)."""

from __future__ import annotations

from pathlib import Path

import pytest

from commskit.feeds.parse import parse_feed


@pytest.mark.corpus
def test_every_corpus_feed_is_fetched_and_normalised(corpus: Path, feed_server, make_ws) -> None:
    files = sorted(p for p in (corpus / "feeds").rglob("*") if p.is_file())
    assert len(files) > 200
    feeds = []
    for index, path in enumerate(files):
        url = feed_server.add(
            f"/{index}/{path.name}", body=path.read_bytes(), content_type="application/xml"
        )
        feeds.append({"name": str(path.relative_to(corpus)), "url": url})
    ws = make_ws(feeds, concurrency=8, timeout=10.0)
    report = ws.fetch()
    assert len(report.results) == len(files)
    with_items = 0
    for result in report.results:
        assert result.status in {"ok", "error"}, (result.name, result.status)
        if result.status == "error":
            assert result.error, result.name
            assert "\n" not in result.error, result.name
        else:
            with_items += result.entries > 0
    # about a quarter of the corpus is broken on purpose, and feedparser's encoding cases have
    # no items; the rest are real feeds with items
    assert with_items > 100, with_items
    for result in report.results:
        if result.name.endswith(".opml"):  # a subscription list is not a feed: said clearly
            assert result.error == "not an RSS or Atom feed (no feed structure found)"
    # every stored item is normalised: plain title, an id, a UTC date
    rows = ws.store.conn.execute("SELECT title, published, summary_html FROM items").fetchall()
    assert len(rows) > 1000
    for title, published, summary_html in rows:
        assert title
        assert published.endswith("+00:00")
        assert "<script" not in summary_html.lower()


@pytest.mark.corpus
def test_each_corpus_file_parses_on_its_own(corpus: Path) -> None:
    for path in sorted((corpus / "feeds").rglob("*.xml")):
        parsed = parse_feed(
            path.read_bytes(), feed_url=path.as_uri(), feed_name=path.name, base_url=path.as_uri()
        )
        assert parsed.items or parsed.error or parsed.title is not None
