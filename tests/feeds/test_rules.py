"""Topic rules: accent/case-insensitive keywords, prefixes, regexes, excludes, errors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import RuleError
from commskit.cli import main
from commskit.feeds.rules import load_rules


def _rules(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "topics.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


RULES = """
[[topic]]
id = "vehicules"
title = "Véhicules"
keywords = ["vehicule", "covoitur*", "voie réservée"]
exclude = ["poids lourd"]
regex = ['\\bVE\\b']

[[topic]]
id = "auteurs"
title = "Par auteur"
keywords = ["Agnès Dupré"]
fields = ["author"]
"""


def test_keywords_ignore_case_and_accents(tmp_path: Path) -> None:
    rules = _rules(tmp_path, RULES)
    [match] = rules.match(title="Le VÉHICULE du futur")
    assert match.topic == "vehicules"
    assert match.hits == (("title", "vehicule"),)
    assert rules.match(title="Les covoitureurs bretons")[0].hits == (("title", "covoitur*"),)
    assert rules.match(title="Une voie-réservée sur la rocade")
    assert rules.match(title="Les véhicules") == []  # whole words only (no prefix star)
    assert rules.match(title="Recovoiturage") == []


def test_regex_exclude_and_fields(tmp_path: Path) -> None:
    rules = _rules(tmp_path, RULES)
    assert [m.topic for m in rules.match(title="Le VE gagne du terrain")] == ["vehicules"]
    assert rules.match(title="Un véhicule poids lourd", summary="") == []
    assert [m.topic for m in rules.match(title="x", authors=["agnes dupre"])] == ["auteurs"]
    assert rules.match(title="Agnès Dupré parle") == []  # author rule only looks at authors
    summary = rules.match(title="Titre", summary="un nouveau véhicule")
    assert summary[0].hits == (("summary", "vehicule"),)


def test_feed_default_topics_apply_unless_excluded(tmp_path: Path) -> None:
    rules = _rules(tmp_path, RULES)
    [default] = rules.match(title="Sans mot-clé", feed_topics=["vehicules"])
    assert default.from_feed
    assert rules.match(title="Un poids lourd", feed_topics=["vehicules"]) == []


def test_invalid_regex_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(RuleError) as err:
        _rules(tmp_path, '[[topic]]\nid = "x"\ntitle = "X"\nregex = [\'(unclosed\']\n')
    assert str(err.value).startswith(f"{tmp_path / 'topics.toml'}:4: invalid regex '(unclosed'")


def test_bad_topic_definitions(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="needs an id"):
        _rules(tmp_path, '[[topic]]\ntitle = "Sans id"\n')
    with pytest.raises(RuleError, match="defined twice"):
        _rules(tmp_path, '[[topic]]\nid = "a"\n[[topic]]\nid = "a"\n')
    with pytest.raises(RuleError, match=r"topics.toml:2: invalid TOML"):
        _rules(tmp_path, "[[topic]]\nid = \n")


def test_score_ranks_matches_weight_and_recency(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    rules = _rules(tmp_path, RULES)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    strong = rules.match(title="véhicule et covoiturage", summary="véhicule")
    weak = rules.match(title="x", summary="véhicule")
    kwargs = {"now": now, "half_life_days": 7.0}
    assert rules.score(strong, feed_weight=1, published=now, **kwargs) > rules.score(
        weak, feed_weight=1, published=now, **kwargs
    )
    fresh = rules.score(weak, feed_weight=1, published=now, **kwargs)
    week_old = rules.score(weak, feed_weight=1, published=now - timedelta(days=7), **kwargs)
    assert week_old == pytest.approx(fresh / 2, rel=0.01)
    assert rules.score(weak, feed_weight=2, published=now, **kwargs) == pytest.approx(2 * fresh)


def test_rules_test_command_on_text_and_stored(make_ws, samples) -> None:
    ws = make_ws([{"name": "Presse", "url": (samples / "presse.xml").as_uri()}])
    ws.fetch()
    env = {"COMMSKIT_FEEDS_SOURCES": "lists/*.toml", "COMMSKIT_FEEDS_ALLOW_PRIVATE_NETWORKS": "1"}
    runner = CliRunner()
    text = runner.invoke(
        main,
        ["-C", str(ws.root), "rules", "test", "Une prime pour les covoitureurs", "--json"],
        env=env,
    )
    assert text.exit_code == 0, text.output
    [result] = json.loads(text.stdout)
    assert {t["topic"] for t in result["topics"]} == {"covoiturage", "incitations"}
    stored = runner.invoke(
        main, ["-C", str(ws.root), "rules", "test", "--stored", "--topic", "mobilites"], env=env
    )
    assert stored.exit_code == 0, stored.output
    assert "car express" in stored.stdout
    assert "Festival" in stored.stdout  # shown with no topic, so one sees what is not matched
    none = runner.invoke(main, ["-C", str(ws.root), "rules", "test"], env=env)
    assert none.exit_code == 2


def test_tables_show_feed_text_literally(feed_server, make_ws, rss) -> None:
    title = "Covoiturage [/b] [bold red]crochets[/bold red]"
    url = feed_server.add("/f.xml", body=rss("F", [{"title": title, "guid": "1"}]))
    ws = make_ws([{"name": "Flux [/i]", "url": url}])
    ws.fetch()
    env = {"COMMSKIT_FEEDS_SOURCES": "lists/*.toml", "COMMSKIT_FEEDS_ALLOW_PRIVATE_NETWORKS": "1"}
    stored = CliRunner().invoke(main, ["-C", str(ws.root), "rules", "test", "--stored"], env=env)
    assert stored.exit_code == 0, stored.output
    assert "[/b]" in stored.stdout
    assert "[bold red]crochets" in stored.stdout.replace("\n", "")
    fetched = CliRunner().invoke(main, ["-C", str(ws.root), "fetch", "--force"], env=env)
    assert fetched.exit_code == 0, fetched.output
    assert "Flux [/i]" in fetched.stdout
