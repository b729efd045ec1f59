"""The veille contracts (issue 12): the application layer runs on explicit pieces (no Workspace),
the feed repository hands out typed records, and an edited TOML file is checked cleanly."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from commskit.cli import main
from commskit.store import Store

NOW = datetime.now(UTC)


def _fetched(make_ws, samples):  # type: ignore[no-untyped-def]
    ws = make_ws(
        [
            {
                "name": "Ministère",
                "url": (samples / "ministere.xml").as_uri(),
                "topics": ["mobilites"],
            },
            {"name": "Presse", "url": (samples / "presse.xml").as_uri()},
            {"name": "Observatoire", "url": (samples / "observatoire.xml").as_uri()},
        ]
    )
    ws.fetch()
    return ws


def test_app_veille_runs_on_explicit_pieces(make_ws, samples) -> None:  # type: ignore[no-untyped-def]
    """No Workspace: the root, settings sections and the feed repository are enough."""
    from commskit.app import veille

    ws = _fetched(make_ws, samples)
    settings = ws.settings
    with Store(ws.state_dir / "state.db") as store:
        lists = veille.feed_lists(ws.root, settings.feeds)
        assert [f.name for f in lists.feeds] == ["Ministère", "Presse", "Observatoire"]
        ours = veille.digest(
            ws.root,
            settings.feeds,
            settings.digest,
            store.feeds,
            language=settings.workspace.language,
            since="all",
            now=NOW,
        )
        theirs = ws.digest(since="all", now=NOW)
        assert ours.total > 0
        assert ours.to_dict() == theirs.to_dict()
        statuses = veille.feed_status(ws.root, settings.feeds, store.feeds)
        assert {s.state for s in statuses} == {"active"}
        assert sum(s.items for s in statuses) == store.feeds.count_items()


def _typed(value: object) -> bool:
    frozen = dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen  # type: ignore[attr-defined]
    named_tuple = isinstance(value, tuple) and hasattr(type(value), "_fields")
    return not isinstance(value, sqlite3.Row) and bool(frozen or named_tuple)


def test_feed_repository_returns_typed_records(make_ws, samples) -> None:  # type: ignore[no-untyped-def]
    ws = _fetched(make_ws, samples)
    digest = ws.digest(since="all", mark=True)
    repo = ws.store.feeds
    states = repo.feed_states()
    assert states
    assert all(_typed(s) for s in states.values())
    [state] = [s for url, s in states.items() if url.endswith("ministere.xml")]
    assert state.error_count == 0
    assert state.last_success
    assert state.etag.startswith("file:")
    recent = repo.recent_items(5)
    assert recent
    assert all(_typed(r) for r in recent)
    assert isinstance(recent[0].authors, tuple)
    assert recent[0].published.tzinfo is not None
    window = repo.window_items("1970-01-01T00:00:00+00:00", "2100-01-01T00:00:00+00:00", "1970")
    assert {r.id for r in window} >= {i.id for i in digest.items}
    candidates = repo.dedupe_candidates("1970-01-01")
    assert candidates
    assert all(_typed(c) for c in candidates)
    duplicates = repo.duplicates_of([r.id for r in window])
    assert all(_typed(d) for group in duplicates.values() for d in group)
    last = repo.last_digest(digest.name)
    assert last is not None
    assert _typed(last)
    assert last.item_count == digest.total
    assert last.end == digest.end.isoformat(timespec="seconds")


def test_feeds_add_to_a_broken_list_is_a_one_line_error(tmp_path: Path) -> None:
    """The target of --to need not be a selected list: it is checked before it is edited."""
    root = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(root)]).exit_code == 0
    broken = root / "broken.toml"
    broken.write_text('# mine\n[[feed]]\nname = "A"\nurl = \n', encoding="utf-8")
    result = runner.invoke(
        main, ["-C", str(root), "feeds", "add", "https://ex.org/rss.xml", "--to", "broken.toml"]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "Internal error" not in result.output
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert f"{broken}:4:" in line, line
    assert "invalid TOML" in line, line
    assert broken.read_text(encoding="utf-8") == '# mine\n[[feed]]\nname = "A"\nurl = \n'


def test_import_into_broken_rules_names_the_file(tmp_path: Path, samples: Path) -> None:
    """New topics are appended to the rules file only once it reads as TOML."""
    root = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(root)]).exit_code == 0
    opml = tmp_path / "in.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        '<outline text="Nouveau"><outline type="rss" text="X" xmlUrl="https://x.example.org/rss"/>'
        "</outline></body></opml>",
        encoding="utf-8",
    )
    rules = root / "other-topics.toml"
    rules.write_text("[[topic]\n", encoding="utf-8")
    result = runner.invoke(
        main,
        ["-C", str(root), "feeds", "import", str(opml), "--to", "feeds/imported.toml"],
        env={"COMMSKIT_FEEDS_RULES": str(rules)},
    )
    assert result.exit_code == 1, result.output
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert f"{rules}:1:" in line, line
    assert rules.read_text(encoding="utf-8") == "[[topic]\n"
    assert not (root / "feeds" / "imported.toml").exists()


def test_stored_items_have_the_fields_of_parsed_items() -> None:
    """One field list: the store reads back exactly what a parse produces (and writes)."""
    from commskit.feeds.parse import FeedItem
    from commskit.store.feeds import ITEM_COLUMNS, StoredItem

    parsed = [f.name for f in dataclasses.fields(FeedItem)]
    assert [f.name for f in dataclasses.fields(StoredItem)] == parsed
    assert list(ITEM_COLUMNS) == parsed


def test_feed_and_topic_arrays_of_non_tables_are_one_line_errors(tmp_path: Path) -> None:
    """`feed = [1, 2]` or `topic = [1]` parse as TOML but hold no blocks: named, not a crash."""
    root = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(root)]).exit_code == 0
    mine = root / "feeds" / "veille.toml"
    mine.write_text("feed = [1, 2]\n", encoding="utf-8")
    result = runner.invoke(main, ["-C", str(root), "feeds", "list"])
    assert result.exit_code == 1, result.output
    assert "Internal error" not in result.output
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert f"{mine}:" in line, line
    assert "[[feed]]" in line, line
    mine.unlink()
    rules = root / "feeds" / "topics.toml"
    rules.write_text('topic = [1, "x"]\n', encoding="utf-8")
    result = runner.invoke(main, ["-C", str(root), "feeds", "list"])
    assert result.exit_code == 1, result.output
    assert "Internal error" not in result.output
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert f"{rules}:" in line, line
    assert "[[topic]]" in line, line
