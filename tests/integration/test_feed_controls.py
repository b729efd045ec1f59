"""One control character in one feed item never breaks a digest or a newsletter (issue 11.7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main
from commskit.feeds.digest_formats import render_digest

CONTROLS = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r") + "\x7f"


def _feed(path: Path) -> None:
    date = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    # raw control bytes (not even well-formed XML: the lenient parser reads it) and a
    # numeric reference to one, in every text field
    path.write_bytes(
        (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            "<title>Flux\x01 piégé</title><link>https://ctl.example.org/</link>"
            "<item><title>Covoiturage\x01 : une aire &#1;nouvelle\x1b[31m</title>"
            "<link>https://ctl.example.org/a\x02</link><guid>ctl-1</guid>"
            f"<pubDate>{date}</pubDate><author>redaction@ctl.example.org (R\x03édaction)</author>"
            "<category>covoiturage\x04</category>"
            "<description>Le covoiturage\x05 progresse\x00 en Bretagne.</description></item>"
            "</channel></rss>"
        ).encode()
    )


def _workspace(ws: Workspace) -> Workspace:
    _feed(ws.root / "feeds" / "controls.xml")
    (ws.root / "feeds" / "controls.toml").write_text(
        '[[feed]]\nname = "Contrôles"\nurl = "controls.xml"\ntopics = ["covoiturage"]\n',
        encoding="utf-8",
    )
    return Workspace.open(ws.root, overrides={"feeds": {"sources": ["feeds/controls.toml"]}})


def test_control_characters_are_stripped_at_the_door(ws: Workspace) -> None:
    offline = _workspace(ws)
    report = offline.fetch()
    assert [r.status for r in report.results] == ["ok"], [r.to_dict() for r in report.results]
    row = offline.store.conn.execute(
        "SELECT title, link, summary_html, summary_text, authors, tags FROM items"
    ).fetchone()
    text = "".join(str(v) for v in row)
    assert not any(c in text for c in CONTROLS), repr(text)
    assert row[0].startswith("Covoiturage : une aire nouvelle")
    offline.close()


def test_newsletter_and_html_digest_render_with_such_an_item(ws: Workspace) -> None:
    offline = _workspace(ws)
    offline.fetch()
    digest = offline.digest(since="7d")
    assert digest.total == 1
    assert "Covoiturage : une aire nouvelle" in render_digest(digest, "html", offline)
    assert "Covoiturage : une aire nouvelle" in offline.render_digest_html(digest)
    offline.close()
    out = ws.root / "out" / "apercu"
    result = CliRunner().invoke(
        main,
        ["-C", str(ws.root), "render", "2026-11-infolettre", "-o", str(out)],
        env={"COMMSKIT_FEEDS_SOURCES": "feeds/controls.toml"},
    )
    assert result.exit_code == 0, result.output
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert "Covoiturage : une aire nouvelle" in html
