"""Normalisation: golden files for the shipped samples, dates, links, JSON Feed, shipped lists.

Golden files (tests/feeds/golden/*.json) hold each sample's normalised items. After an intended
change, regenerate them with ``UPDATE_GOLDEN=1 pytest tests/feeds/test_normalise.py`` and review
the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commskit import Workspace
from commskit.feeds.parse import cap_fields, parse_feed

GOLDEN = Path(__file__).resolve().parent / "golden"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _normalised(path: Path) -> dict[str, object]:
    base = "https://samples.example.org/" + path.name
    parsed = parse_feed(
        path.read_bytes(), feed_url=base, feed_name=path.stem, base_url=base, now=NOW
    )
    items = []
    for item in parsed.items:
        data = {k: v for k, v in vars(item).items() if k not in {"first_seen", "feed_url"}}
        data["published"] = item.published.isoformat()
        items.append(data)
    return {
        "title": parsed.title,
        "site_url": parsed.site_url,
        "error": parsed.error,
        "warning": parsed.warning,
        "items": items,
    }


SAMPLE_FILES = sorted(
    p for p in (Path(__file__).resolve().parents[2] / "feeds" / "samples").glob("*.xml")
)


def assert_matches_golden(actual: object, golden: Path) -> None:
    """Compare ``actual`` with a golden file; a missing one fails (never silently written)."""
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(actual, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if not golden.exists():
        pytest.fail(
            f"golden file {golden.name} is missing: create it with "
            "UPDATE_GOLDEN=1 pytest tests/feeds/test_normalise.py, then review it",
            pytrace=False,
        )
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert actual == expected


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_matches_golden(path: Path) -> None:
    assert_matches_golden(_normalised(path), GOLDEN / f"{path.stem}.json")


def test_a_missing_golden_file_fails_and_is_not_written(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"
    with pytest.raises(pytest.fail.Exception, match="UPDATE_GOLDEN=1"):
        assert_matches_golden({"items": []}, missing)
    assert not missing.exists()


def test_there_are_six_to_eight_samples() -> None:
    assert 6 <= len(SAMPLE_FILES) <= 8


def test_dates_missing_bogus_future() -> None:
    items = [
        ("Sans date", ""),
        ("Date absurde", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ("Dans le futur", "Fri, 01 Jan 2055 00:00:00 GMT"),
        ("Fuseau", "Wed, 18 Nov 2026 09:30:00 +0100"),
        ("Illisible", "le 3 novembre"),
    ]
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + "".join(
            f"<item><title>{title}</title><guid>{n}</guid>"
            + (f"<pubDate>{date}</pubDate>" if date else "")
            + "</item>"
            for n, (title, date) in enumerate(items)
        )
        + "</channel></rss>"
    ).encode()
    parsed = parse_feed(body, feed_url="u", feed_name="n", base_url="https://e.org/", now=NOW)
    got = {i.title: (i.published, i.date_flag) for i in parsed.items}
    assert got["Sans date"] == (NOW, "missing")
    assert got["Date absurde"] == (NOW, "bogus")
    assert got["Dans le futur"] == (NOW, "future")
    assert got["Fuseau"] == (datetime(2026, 11, 18, 8, 30, tzinfo=UTC), None)
    assert got["Illisible"] == (NOW, "bogus")


def test_relative_links_are_resolved_and_ids_are_stable() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <link>https://site.example.org/</link>
    <item><title>Relatif</title><link>/blog/article</link>
    <description>&lt;a href="../autre"&gt;lien&lt;/a&gt;</description></item>
    </channel></rss>"""
    kwargs = {
        "feed_url": "https://site.example.org/feed",
        "feed_name": "n",
        "base_url": "https://site.example.org/feed",
    }
    [item] = parse_feed(body, **kwargs).items
    assert item.link == "https://site.example.org/blog/article"
    assert 'href="https://site.example.org/autre"' in item.summary_html
    [again] = parse_feed(body, **kwargs).items
    assert again.id == item.id  # no GUID: the id comes from the canonical link


def test_json_feed_is_read(tmp_path: Path) -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Flux JSON",
            "items": [
                {
                    "id": "a1",
                    "url": "https://e.org/a?utm_source=x",
                    "title": "Covoiturage en JSON",
                    "content_html": "<p onclick='x()'>Texte <script>alert(1)</script></p>",
                    "date_published": "2026-11-18T10:00:00+01:00",
                    "authors": [{"name": "Léa"}],
                }
            ],
        }
    ).encode()
    parsed = parse_feed(body, feed_url="u", feed_name="n", base_url="https://e.org/")
    [item] = parsed.items
    assert (item.title, item.link, item.authors) == (
        "Covoiturage en JSON",
        "https://e.org/a",
        ["Léa"],
    )
    assert item.published == datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    assert item.summary_html == "<p>Texte </p>"
    bad = parse_feed(b"{not json", feed_url="u", feed_name="n", base_url="https://e.org/")
    assert bad.error
    assert bad.error.startswith("not a readable feed")


def test_cap_fields_keeps_the_document_parseable() -> None:
    body = "<rss><channel><item><title>" + "é" * 5000 + "&amp;x</title></item></channel></rss>"
    capped = cap_fields(body.encode(), 101)
    capped.decode("utf-8")  # no half character left at the cut
    assert len(capped) < 300


def test_parse_time_box(feed_server, make_ws, rss) -> None:
    items = [
        {"title": f"Article {n}", "guid": str(n), "description": "x " * 500} for n in range(300)
    ]
    url = feed_server.add("/big.xml", body=rss("Big", items))
    ok = feed_server.add("/ok.xml", body=rss("Ok", [{"title": "Un", "guid": "1"}]))
    ws = make_ws([{"name": "big", "url": url}, {"name": "ok", "url": ok}], parse_timeout=0.001)
    report = ws.fetch()
    big = next(r for r in report.results if r.name == "big")
    assert big.status == "error"
    assert "parsing took longer" in (big.error or "")


def test_progress_callback_gets_total_and_each_feed(feed_server, make_ws, rss) -> None:
    urls = [
        feed_server.add(f"/{n}.xml", body=rss("F", [{"title": f"T{n}", "guid": str(n)}]))
        for n in range(3)
    ]
    ws = make_ws([{"name": f"f{n}", "url": u} for n, u in enumerate(urls)])
    calls: list[tuple[int, int | None]] = []

    def progress(n: int = 1, total: int | None = None, description: str | None = None) -> None:
        calls.append((n, total))

    ws.fetch(progress)
    assert calls[0] == (0, 3)
    assert sum(n for n, _ in calls) == 3


def test_shipped_lists_and_rules_are_valid(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "fresh") as ws:
        rules = ws.feed_rules()
        assert {"covoiturage", "mobilites", "incitations", "numerique-public"} <= set(rules.ids())
        feeds = ws.feed_lists().feeds
        assert len(feeds) >= 15
        assert all(f.url.startswith("https://") for f in feeds)
    with Workspace.open(
        tmp_path / "fresh", overrides={"feeds": {"sources": ["feeds/samples/*.toml"]}}
    ) as ws:
        samples = ws.feed_lists().feeds
        assert 6 <= len(samples) <= 8
        assert all(f.url.startswith("file://") for f in samples)
