"""Feed lists (TOML), OPML import/export round trip, `feeds add/list/export` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import FeedSourceError, RuleError
from commskit.cli import main
from commskit.feeds.opml import read_opml_entries, slugify


def _cli(ws, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        main,
        ["-C", str(ws.root), *args],
        env={
            "COMMSKIT_FEEDS_SOURCES": "lists/*.toml",
            "COMMSKIT_FEEDS_ALLOW_PRIVATE_NETWORKS": "1",
        },
    )


def test_toml_list_paths_are_relative_to_the_list(make_ws, write_list) -> None:
    ws = make_ws([])
    write_list(
        ws.root / "lists" / "local.toml",
        [
            {"name": "Local", "url": "../data/local.xml", "topics": ["covoiturage"]},
            {"name": "Off", "url": "https://example.org/off.xml", "enabled": False},
        ],
    )
    feeds = ws.feed_lists().feeds
    local = next(f for f in feeds if f.name == "Local")
    assert local.url == (ws.root / "data" / "local.xml").resolve().as_uri()
    assert local.topics == ("covoiturage",)
    assert local.line == 1
    assert not next(f for f in feeds if f.name == "Off").enabled


def test_samples_list_loads_and_fetches_offline(make_ws, samples, tmp_path) -> None:
    import shutil

    target = make_ws([]).root / "lists"
    for path in samples.iterdir():
        shutil.copy(path, target / path.name)
    (target / "test.toml").unlink(missing_ok=True)
    ws = make_ws()
    report = ws.fetch()
    assert len(report.results) >= 6
    assert all(r.status == "ok" for r in report.results), [r.to_dict() for r in report.results]
    again = ws.fetch()
    assert {r.status for r in again.results} == {"unchanged"}  # files unchanged: nothing parsed
    assert ws.digest(since="all").total >= 12


def test_opml_import_export_import_keeps_names_urls_and_topics(make_ws, tmp_path) -> None:
    ws = make_ws([])
    source = tmp_path / "reader.opml"
    source.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Abonnements</title></head><body>
  <outline text="Covoiturage" title="Covoiturage">
    <outline type="rss" text="Blog du covoiturage" xmlUrl="https://covoit.example.org/feed"/>
  </outline>
  <outline text="Vélo &amp; marche">
    <outline type="rss" text="Club vélo" xmlUrl="https://velo.example.org/rss.xml"/>
    <outline text="Sous-dossier">
      <outline type="rss" title="Piétons" xmlUrl="https://pietons.example.org/atom"/>
    </outline>
  </outline>
  <outline type="rss" text="Sans dossier" xmlUrl="https://libre.example.org/feed.xml"/>
</body></opml>""",
        encoding="utf-8",
    )
    report = ws.import_opml(source, to="lists/imported.toml")
    assert len(report.added) == 4
    assert ("velo-marche", "Vélo & marche") in report.new_topics
    assert "covoiturage" not in dict(report.new_topics)  # matched the existing topic
    ws = make_ws()
    first = {f.url: (f.name, f.topics) for f in ws.feed_lists().feeds}
    assert first["https://covoit.example.org/feed"] == ("Blog du covoiturage", ("covoiturage",))
    assert first["https://velo.example.org/rss.xml"] == ("Club vélo", ("velo-marche",))
    assert first["https://pietons.example.org/atom"] == ("Piétons", ("sous-dossier",))
    assert first["https://libre.example.org/feed.xml"] == ("Sans dossier", ())

    exported = tmp_path / "export.opml"
    result = _cli(ws, "feeds", "export", "-o", str(exported))
    assert result.exit_code == 0, result.output
    # import the export into a fresh workspace sharing the same topic rules
    ws2_root = tmp_path / "ws2"
    CliRunner().invoke(main, ["init", str(ws2_root)])
    (ws2_root / "feeds" / "veille.toml").unlink()
    (ws2_root / "feeds" / "topics.toml").write_text(
        (ws.root / "feeds" / "topics.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    from commskit import Workspace

    with Workspace.open(ws2_root) as ws2:
        again = ws2.import_opml(exported, to="feeds/imported.toml")
        assert again.new_topics == []
        second = {f.url: (f.name, f.topics) for f in ws2.feed_lists().feeds}
    assert second == first


@pytest.mark.corpus
def test_corpus_opml_files_import(corpus: Path, make_ws) -> None:
    files = sorted((corpus / "feeds" / "picofeed" / "opml").glob("*.opml"))
    assert len(files) == 4
    total = 0
    for path in files:
        entries = read_opml_entries(path)
        assert entries, path.name
        total += len(entries)
    ws = make_ws([])
    for path in files:
        ws.import_opml(path, to="lists/imported.toml")
    feeds = make_ws().feed_lists().feeds
    assert len(feeds) >= 20
    google = {e.name: e.categories for e in read_opml_entries(files[0])}
    assert google["Reflets"] == ("Presse",)
    assert any(f.topics == ("presse",) for f in feeds)


def test_slugify() -> None:
    assert slugify("Mobilités douces") == "mobilites-douces"
    assert slugify("  ") == "divers"


def test_feeds_add_appends_and_keeps_comments(make_ws) -> None:
    ws = make_ws([])
    listing = ws.root / "lists" / "test.toml"
    listing.write_text("# Ma veille\n# (commentaire à garder)\n", encoding="utf-8")
    result = _cli(
        ws,
        "feeds",
        "add",
        "https://example.org/rss.xml",
        "--name",
        'Le "Flux"',
        "--topic",
        "covoiturage",
        "--tag",
        "presse",
        "--weight",
        "1.5",
    )
    assert result.exit_code == 0, result.output
    text = listing.read_text(encoding="utf-8")
    assert text.startswith("# Ma veille\n# (commentaire à garder)\n")
    [feed] = make_ws().feed_lists().feeds
    assert (feed.name, feed.url, feed.topics, feed.tags, feed.weight) == (
        'Le "Flux"',
        "https://example.org/rss.xml",
        ("covoiturage",),
        ("presse",),
        1.5,
    )
    again = _cli(ws, "feeds", "add", "https://example.org/rss.xml")
    assert again.exit_code == 1
    assert "already listed" in again.output
    unknown = _cli(ws, "feeds", "add", "https://example.org/2.xml", "--topic", "astronomie")
    assert unknown.exit_code == 1
    assert "unknown topic 'astronomie'" in unknown.output
    assert listing.read_text(encoding="utf-8") == text


def test_feeds_list_json_shows_fetch_state(feed_server, make_ws, rss) -> None:
    ok = feed_server.add("/ok.xml", body=rss("ok", [{"title": "Un article", "guid": "1"}]))
    bad = feed_server.add("/bad.xml", status=500, body=b"")
    ws = make_ws([{"name": "ok", "url": ok}, {"name": "bad", "url": bad}])
    fetched = _cli(ws, "fetch", "--json")
    assert fetched.exit_code == 0  # a failing feed is reported, not fatal
    report = json.loads(fetched.stdout)
    assert report["failed"] == 1
    assert report["new_items"] == 1
    listed = _cli(ws, "feeds", "list", "--json")
    data = {f["name"]: f for f in json.loads(listed.stdout)}
    assert data["ok"]["state"] == "active"
    assert data["ok"]["items"] == 1
    assert data["ok"]["last_fetch"]
    assert data["bad"]["error_count"] == 1
    assert "HTTP 500" in data["bad"]["last_error"]
    table = _cli(ws, "feeds", "list")
    assert "HTTP 500" in table.stdout
    text = _cli(ws, "fetch")
    assert "failed" in text.stdout


def test_list_errors_name_file_and_line(make_ws) -> None:
    ws = make_ws([])
    listing = ws.root / "lists" / "test.toml"
    listing.write_text(
        '[[feed]]\nname = "ok"\nurl = "https://a.example.org/"\n\n[[feed]]\nname = "sans url"\n',
        encoding="utf-8",
    )
    with pytest.raises(FeedSourceError) as err:
        ws.feed_lists()
    assert str(err.value).startswith(f"{listing}:5: feed entry without url")
    listing.write_text('[[feed]]\nname = "x"\nurl = "https://a.example.org/"\ntopics = ["zzz"]\n')
    with pytest.raises(RuleError) as err2:
        ws.feed_lists()
    assert f"{listing}:4: unknown topic 'zzz'" in str(err2.value)
    listing.write_text('[[feed]]\nname = "x"\nurl = "https://a.example.org/"\ncolour = "red"\n')
    with pytest.raises(FeedSourceError, match="unknown key 'colour'"):
        ws.feed_lists()


LAUGHS = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))


def test_opml_entity_bombs_and_external_entities_are_refused(tmp_path: Path) -> None:
    import pyexpat

    if pyexpat.version_info < (2, 4, 0):
        pytest.skip("expat < 2.4 has no amplification limit")
    bomb = tmp_path / "bomb.opml"
    bomb.write_text(
        f'<?xml version="1.0"?><!DOCTYPE o [<!ENTITY lol0 "lol">{LAUGHS}]>'
        '<opml version="2.0"><body><outline text="&lol9;" xmlUrl="https://a.example.org/f"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    with pytest.raises(FeedSourceError, match="not a readable OPML file"):
        read_opml_entries(bomb)
    external = tmp_path / "xxe.opml"
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    external.write_text(
        f'<?xml version="1.0"?><!DOCTYPE o [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        '<opml version="2.0"><body><outline text="a&x;" xmlUrl="https://a.example.org/f"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    try:
        entries = read_opml_entries(external)
    except FeedSourceError:
        return  # refusing the file is fine too
    assert all("TOP-SECRET" not in e.name for e in entries)


def test_feed_entity_bomb_does_not_blow_up() -> None:
    from commskit.feeds.parse import parse_feed

    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">{LAUGHS}]>'
        '<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title>'
        "<guid>1</guid></item></channel></rss>"
    ).encode()
    # bounded, not timed: the nested declarations are refused before feedparser sees them
    parsed = parse_feed(body, feed_url="u", feed_name="n", base_url="https://e.org/")
    assert parsed.items == []
    assert parsed.error is not None
    assert "refers to other entities" in parsed.error


def test_opml_file_feeds_only_inside_the_workspace(make_ws, tmp_path) -> None:
    ws = make_ws([])
    inside = ws.root / "data" / "local.xml"
    inside.parent.mkdir()
    inside.write_text("<rss/>", encoding="utf-8")
    secret = tmp_path / "outside" / "private.xml"
    secret.parent.mkdir()
    secret.write_text("<rss/>", encoding="utf-8")
    link = ws.root / "data" / "link.xml"
    link.symlink_to(secret)  # inside by name, outside once resolved
    source = tmp_path / "reader.opml"
    source.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        f'<outline text="Inside" xmlUrl="{inside.as_uri()}"/>'
        f'<outline text="Outside" xmlUrl="{secret.as_uri()}"/>'
        f'<outline text="Link" xmlUrl="{link.as_uri()}"/>'
        '<outline text="Etc" xmlUrl="file:///etc/passwd"/>'
        '<outline text="Web" xmlUrl="https://example.org/feed.xml"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    result = _cli(ws, "feeds", "import", str(source), "--to", "lists/imported.toml")
    assert result.exit_code == 0, result.output
    assert "Refused 3 feed(s) reading a file outside the workspace" in result.output
    listed = {f.name for f in make_ws().feed_lists().feeds}
    assert listed == {"Inside", "Web"}
    # an OPML file used directly as a feed list gets the same rule, as a clear error
    (ws.root / "lists" / "reader.opml").write_text(source.read_text(), encoding="utf-8")
    with pytest.raises(FeedSourceError, match="outside the workspace"):
        make_ws(feeds=None, sources=["lists/*.opml"]).feed_lists()
