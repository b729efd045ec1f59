"""`feeds remove` edits only the feed's own block; `feeds reset` brings a dead feed back."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main

LIST = """\
# Our feeds (this comment stays)

[[feed]]
name = "Un"
url = "https://un.example.org/rss"
topics = ["covoiturage"]

# the second one
[[feed]]
name = "Deux"
url = "https://deux.example.org/rss"

[[feed]]
name = "Trois"
url = "https://trois.example.org/rss"
"""


def _ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    (root / "feeds" / "veille.toml").write_text(LIST, encoding="utf-8")
    return Workspace.open(root)


def test_remove_by_name_keeps_everything_else(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    result = CliRunner().invoke(main, ["-C", str(ws.root), "feeds", "remove", "Deux"])
    assert result.exit_code == 0, result.output
    text = (ws.root / "feeds" / "veille.toml").read_text(encoding="utf-8")
    assert "deux.example.org" not in text
    assert "# the second one" not in text  # its own comment goes with it
    assert "\n\n\n" not in text
    assert "# Our feeds (this comment stays)" in text
    assert 'name = "Un"' in text
    assert 'name = "Trois"' in text
    assert [f.name for f in ws.feed_lists().feeds if "example.org" in f.url] == ["Un", "Trois"]


def test_remove_first_keeps_the_next_blocks_comment(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    ws.remove_feed("Un")
    text = (ws.root / "feeds" / "veille.toml").read_text(encoding="utf-8")
    assert "un.example.org" not in text
    assert '# the second one\n[[feed]]\nname = "Deux"' in text


def test_remove_last_and_by_url(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    ws.remove_feed("https://trois.example.org/rss")
    names = [f.name for f in ws.feed_lists().feeds if "example.org" in f.url]
    assert names == ["Un", "Deux"]


def test_remove_unknown_is_a_one_line_error(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    before = (ws.root / "feeds" / "veille.toml").read_bytes()
    result = CliRunner().invoke(main, ["-C", str(ws.root), "feeds", "remove", "Quatre"])
    assert result.exit_code == 1
    assert "no feed named or at 'Quatre'" in result.output
    assert result.output.count("\n") == 1
    assert (ws.root / "feeds" / "veille.toml").read_bytes() == before


def test_reset_reactivates_a_gone_feed(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    ws.store.feeds.sync_feeds([("https://un.example.org/rss", "Un")])
    ws.store.feeds.update_feed(
        "https://un.example.org/rss", deactivated="410 Gone", error_count=4, last_error="410 Gone"
    )
    status = {s.feed.name: s for s in ws.feed_status()}
    assert status["Un"].state == "deactivated"
    result = CliRunner().invoke(main, ["-C", str(ws.root), "feeds", "reset", "Un"])
    assert result.exit_code == 0, result.output
    status = {s.feed.name: s for s in ws.feed_status()}
    assert status["Un"].state != "deactivated"
    assert status["Un"].error_count == 0
