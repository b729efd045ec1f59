"""The digest: period, ranking, grouping, formats, and `--since last --mark` idempotence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from click.testing import CliRunner

from commskit import DigestError
from commskit.cli import main
from commskit.feeds import Digest, DigestItem, DigestSection, parse_since


def _when(days_ago: float) -> str:
    return format_datetime(datetime.now(UTC) - timedelta(days=days_ago), usegmt=True)


def _item(n: int, title: str, days_ago: float = 1) -> dict[str, str]:
    return {
        "title": title,
        "link": f"https://example.org/{n}",
        "guid": f"https://example.org/{n}",
        "date": _when(days_ago),
        "description": f"Résumé de l'article {n}.",
    }


def _cli(ws, *args: str):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    return runner.invoke(
        main,
        ["-C", str(ws.root), *args],
        env={
            "COMMSKIT_FEEDS_SOURCES": "lists/*.toml",
            "COMMSKIT_FEEDS_ALLOW_PRIVATE_NETWORKS": "1",
        },
        catch_exceptions=False,
    )


def test_since_last_mark_twice_then_one_new_item(feed_server, make_ws, rss) -> None:
    items = [
        _item(1, "Une aire de covoiturage ouvre à Vitré"),
        _item(2, "Le vélo à assistance électrique subventionné", days_ago=2),
    ]
    url = feed_server.add("/f.xml", body=rss("F", items))
    ws = make_ws([{"name": "F", "url": url, "topics": ["mobilites"]}])
    args = ("digest", "--fetch", "--since", "last", "--mark", "--format", "json")
    first = _cli(ws, *args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["total"] == 2
    second = _cli(ws, *args)
    assert second.exit_code == 0
    assert second.stdout == ""
    assert "Nothing new" in second.stderr
    # one new item, and one old item fetched late: only the new one appears
    feed_server.add(
        "/f.xml",
        body=rss("F", [*items, _item(3, "Nouvelle ligne de covoiturage entre Rennes et Vitré")]),
    )
    third = _cli(ws, *args)
    assert third.exit_code == 0, third.output
    titles = [i["title"] for s in json.loads(third.stdout)["sections"] for i in s["items"]]
    assert titles == ["Nouvelle ligne de covoiturage entre Rennes et Vitré"]
    assert "Nothing new" in _cli(ws, *args).stderr


def test_late_item_with_old_date_is_not_lost(feed_server, make_ws, rss) -> None:
    url = feed_server.add("/f.xml", body=rss("F", [_item(1, "Premier article sur le covoiturage")]))
    ws = make_ws([{"name": "F", "url": url, "topics": ["covoiturage"]}])
    ws.fetch()
    assert ws.digest(since="last", mark=True).total == 1
    # fetched after the mark, but dated three days ago (a feed that publishes late)
    late = _item(2, "Article publié en retard sur le covoiturage", days_ago=3)
    feed_server.add("/f.xml", body=rss("F", [_item(1, "Premier article sur le covoiturage"), late]))
    ws.fetch()
    digest = ws.digest(since="last", mark=True)
    assert [i.title for i in digest.items] == ["Article publié en retard sur le covoiturage"]
    assert ws.digest(since="last").total == 0


def test_mark_is_per_digest_name(feed_server, make_ws, rss) -> None:
    url = feed_server.add("/f.xml", body=rss("F", [_item(1, "Covoiturage : nouvelle aire")]))
    ws = make_ws([{"name": "F", "url": url, "topics": ["covoiturage"]}])
    ws.fetch()
    assert ws.digest(name="equipe", since="last", mark=True).total == 1
    assert ws.digest(name="direction", since="last", mark=True).total == 1
    assert ws.digest(name="equipe", since="last").total == 0


def test_digest_groups_by_topic_ranks_and_caps(feed_server, make_ws, rss) -> None:
    items = [
        _item(1, "Covoiturage : prime et voie réservée au covoiturage", days_ago=1),
        _item(2, "Covoiturage en zone rurale", days_ago=5),
        _item(3, "API ouverte et données ouvertes du registre", days_ago=1),
        _item(4, "Un article sur le théâtre", days_ago=1),
        _item(5, "Covoiturage : troisième article", days_ago=6),
    ]
    url = feed_server.add("/f.xml", body=rss("F", items))
    ws = make_ws([{"name": "F", "url": url}])
    ws.fetch()
    digest = ws.digest(since="7d", max_per_topic=2)
    assert [s.topic for s in digest.sections] == ["covoiturage", "numerique-public"]
    assert [s.title for s in digest.sections] == ["Covoiturage", "Numérique public"]
    covoiturage = digest.sections[0].items
    assert covoiturage[0].title.startswith("Covoiturage : prime")  # most matches, most recent
    assert len(covoiturage) == 2
    assert digest.left_out == 1
    assert digest.unmatched == 1  # the theatre article
    assert digest.total == 3
    only = ws.digest(since="7d", topics=["numerique-public"])
    assert [s.topic for s in only.sections] == ["numerique-public"]
    old = ws.digest(since="3d")
    assert all(
        i.published and i.published > datetime.now(UTC) - timedelta(days=3) for i in old.items
    )


def test_digest_contract_types(feed_server, make_ws, rss) -> None:
    url = feed_server.add("/f.xml", body=rss("F", [_item(1, "Covoiturage <b>gras</b> &amp; co")]))
    ws = make_ws([{"name": "F", "url": url, "topics": ["covoiturage"]}])
    ws.fetch()
    digest = ws.digest()
    assert isinstance(digest, Digest)
    assert digest.start.tzinfo is not None
    assert digest.end.tzinfo is not None
    section = digest.sections[0]
    assert isinstance(section, DigestSection)
    item = section.items[0]
    assert isinstance(item, DigestItem)
    assert item.title == "Covoiturage gras & co"  # plain text, not escaped
    assert item.published is not None
    assert item.published.utcoffset() == timedelta(0)
    assert item.sources == ["F"]
    assert item.topics == ["covoiturage"]
    assert item.score > 0
    data = digest.to_dict()
    json.dumps(data)
    assert data["sections"][0]["items"][0]["title"] == item.title


@pytest.mark.parametrize("fmt", ["markdown", "html", "page", "json", "text"])
def test_every_format_lists_sources_dates_links_counts(
    make_ws, samples, fmt: str, tmp_path
) -> None:
    ws = make_ws(
        [
            {
                "name": "Ministère",
                "url": (samples / "ministere.xml").as_uri(),
                "topics": ["mobilites"],
            },
            {"name": "Alerte", "url": (samples / "alertes.xml").as_uri()},
        ]
    )
    ws.fetch()
    out = tmp_path / f"digest.{fmt}"
    result = _cli(ws, "digest", "--since", "all", "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    # dates the French way: numeric in the email's item lines, in words in the other formats
    expected = {"html": "17/11/2026", "json": "2026-11-17"}.get(fmt, "17 novembre 2026")
    assert expected in text
    assert "Ministère" in text
    assert "Alerte" in text
    assert "https://mobilites.example.gouv.fr/actualites/covoiturage-bilan-2026" in text
    if fmt != "json":
        assert "Covoiturage (" in text


def test_format_follows_the_output_suffix(make_ws, samples, tmp_path) -> None:
    ws = make_ws([{"name": "M", "url": (samples / "ministere.xml").as_uri()}])
    ws.fetch()
    out = tmp_path / "veille.html"
    assert _cli(ws, "digest", "--since", "all", "-o", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_parse_since() -> None:
    now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("all", now).year == 1970
    with pytest.raises(DigestError, match="cannot understand --since"):
        parse_since("last tuesday", now)


def test_bad_since_and_unknown_topic_are_one_line_errors(make_ws) -> None:
    ws = make_ws([])
    bad = _cli(ws, "digest", "--since", "yesterday-ish")
    assert bad.exit_code == 1
    assert "cannot understand --since" in bad.stderr
    unknown = _cli(ws, "digest", "--topic", "astronomie")
    assert unknown.exit_code == 1
    assert "unknown topic 'astronomie'" in unknown.stderr
    assert "Traceback" not in unknown.output


def test_unknown_format_and_registered_format(make_ws, samples) -> None:
    from commskit.feeds import FORMATS, register_format

    ws = make_ws([{"name": "M", "url": (samples / "ministere.xml").as_uri()}])
    ws.fetch()
    bad = _cli(ws, "digest", "--since", "all", "--format", "pdf")
    assert bad.exit_code == 1
    assert "unknown digest format 'pdf'" in bad.stderr
    register_format("count", lambda digest: f"{digest.total} items\n")
    register_format(
        "where", lambda digest, workspace: f"{workspace.root.name}\n", needs_workspace=True
    )
    try:
        result = _cli(ws, "digest", "--since", "all", "--format", "count")
        assert result.exit_code == 0, result.output
        assert result.stdout == "4 items\n"
        where = _cli(ws, "digest", "--since", "all", "--format", "where")
        assert where.stdout == "ws\n"
    finally:
        del FORMATS["count"]
        del FORMATS["where"]


def test_items_of_a_removed_feed_leave_the_digest(make_ws, samples, write_list) -> None:
    ws = make_ws(
        [
            {"name": "M", "url": (samples / "ministere.xml").as_uri()},
            {"name": "N", "url": (samples / "numerique.xml").as_uri()},
        ]
    )
    ws.fetch()
    assert {s for i in ws.digest(since="all").items for s in i.sources} == {"M", "N"}
    write_list(
        ws.root / "lists" / "test.toml",
        [{"name": "N", "url": (samples / "numerique.xml").as_uri()}],
    )
    assert {s for i in ws.digest(since="all").items for s in i.sources} == {"N"}
