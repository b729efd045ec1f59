"""Bad input: a one-line error naming the file (and line), exit 1, no traceback, store unchanged."""

from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from commskit.cli import main

ENV = {"COMMSKIT_FEEDS_SOURCES": "lists/*.toml", "COMMSKIT_FEEDS_ALLOW_PRIVATE_NETWORKS": "1"}


@pytest.fixture
def fetched_ws(make_ws, samples):  # type: ignore[no-untyped-def]
    """A workspace that fetched the samples once, so the store has rows to protect."""
    ws = make_ws(
        [
            {
                "name": "Ministère",
                "url": (samples / "ministere.xml").as_uri(),
                "topics": ["mobilites"],
            },
            {"name": "Presse", "url": (samples / "presse.xml").as_uri()},
        ]
    )
    ws.fetch()
    ws.digest(since="all", mark=True)
    ws.close()
    return ws


def _check_one_line_error(result, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert expected in lines[0], lines[0]


def test_broken_commskit_toml(fetched_ws, db_snapshot, subprocess_env, python) -> None:
    db = fetched_ws.state_dir / "state.db"
    before = db_snapshot(db)
    config = fetched_ws.root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[digest\nname = 1\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [python, "-m", "commskit", "-C", str(fetched_ws.root), "digest", "--fetch", "--mark"],
        capture_output=True,
        text=True,
        env={**subprocess_env, **ENV},
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert f"{config}:" in line
    assert "invalid TOML" in line
    assert db_snapshot(db) == before


def test_feed_entry_without_url(fetched_ws, db_snapshot) -> None:
    db = fetched_ws.state_dir / "state.db"
    before = db_snapshot(db)
    listing = fetched_ws.root / "lists" / "test.toml"
    listing.write_text(
        listing.read_text(encoding="utf-8") + '\n[[feed]]\nname = "Oubli"\ntopics = []\n',
        encoding="utf-8",
    )
    lines = listing.read_text(encoding="utf-8").splitlines()
    line = len(lines) - lines[::-1].index("[[feed]]")
    for args in (["fetch"], ["digest", "--since", "last", "--mark"], ["feeds", "list"]):
        result = CliRunner().invoke(main, ["-C", str(fetched_ws.root), *args], env=ENV)
        _check_one_line_error(result, f"{listing}:{line}: feed entry without url")
    assert db_snapshot(db) == before


def test_unknown_topic_in_a_feed(fetched_ws, db_snapshot) -> None:
    db = fetched_ws.state_dir / "state.db"
    before = db_snapshot(db)
    listing = fetched_ws.root / "lists" / "test.toml"
    text = listing.read_text(encoding="utf-8").replace('"mobilites"', '"mobilite"')
    listing.write_text(text, encoding="utf-8")
    line = next(i + 1 for i, row in enumerate(text.splitlines()) if row.startswith("topics ="))
    result = CliRunner().invoke(main, ["-C", str(fetched_ws.root), "fetch"], env=ENV)
    _check_one_line_error(result, f"{listing}:{line}: unknown topic 'mobilite'")
    assert "Use one of:" in result.stderr
    assert db_snapshot(db) == before


def test_invalid_regex_in_topic_rules(fetched_ws, db_snapshot) -> None:
    db = fetched_ws.state_dir / "state.db"
    before = db_snapshot(db)
    rules = fetched_ws.root / "feeds" / "topics.toml"
    rules.write_text(
        rules.read_text(encoding="utf-8") + "\n[[topic]]\nid = \"x\"\nregex = ['[a-']\n",
        encoding="utf-8",
    )
    line = len(rules.read_text(encoding="utf-8").splitlines())
    result = CliRunner().invoke(
        main, ["-C", str(fetched_ws.root), "digest", "--since", "last", "--mark"], env=ENV
    )
    _check_one_line_error(result, f"{rules}:{line}: invalid regex '[a-'")
    assert db_snapshot(db) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<opml><body><outline text='x'", "not a readable OPML file"),
        (b"\xff\xfe\x00garbage", "not a readable OPML file"),
        (b"<html><body>not opml</body></html>", "not an OPML file"),
    ],
)
def test_unreadable_opml(fetched_ws, db_snapshot, tmp_path, content: bytes, expected: str) -> None:
    db = fetched_ws.state_dir / "state.db"
    before = db_snapshot(db)
    listing = fetched_ws.root / "lists" / "test.toml"
    list_before = listing.read_text(encoding="utf-8")
    rules = fetched_ws.root / "feeds" / "topics.toml"
    rules_before = rules.read_text(encoding="utf-8")
    bad = tmp_path / "abonnements.opml"
    bad.write_bytes(content)
    result = CliRunner().invoke(
        main, ["-C", str(fetched_ws.root), "feeds", "import", str(bad)], env=ENV
    )
    _check_one_line_error(result, f"{bad}")
    assert expected in result.stderr
    missing = CliRunner().invoke(
        main,
        ["-C", str(fetched_ws.root), "feeds", "import", str(tmp_path / "absent.opml")],
        env=ENV,
    )
    _check_one_line_error(missing, "absent.opml")
    assert db_snapshot(db) == before
    assert listing.read_text(encoding="utf-8") == list_before
    assert rules.read_text(encoding="utf-8") == rules_before
