"""Issue 10 item 9, the small ones: plurals, dates in words, languages, table rules, field names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from commskit import Workspace
from commskit.config import load_settings
from commskit.errors import ConfigError, TemplateError
from commskit.feeds.digest import Digest, DigestItem, DigestSection
from commskit.feeds.digest_formats import render_digest

UNSUB = "https://covoiturage.example.gouv.fr/desinscription?t=tok"


def _digest(language: str, *, also_in: list[str], n: int = 1) -> Digest:
    items = [
        DigestItem(
            id=f"i{i}",
            title=f"Article {i}",
            url=f"https://news.example.org/{i}",
            published=dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC),
            summary_html="<p>Résumé.</p>",
            summary_text="Résumé.",
            sources=["Source A"],
            also_in=also_in,
            topics=["covoiturage"],
            score=1.0,
            authors=[],
        )
        for i in range(n)
    ]
    return Digest(
        name="veille",
        start=dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
        end=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        sections=[DigestSection("covoiturage", "Covoiturage", items)],
        total=n,
        language=language,
    )


@pytest.mark.parametrize(
    ("language", "one", "also", "period", "day"),
    [
        (
            "fr",
            "1 article",
            "aussi dans 1 autre source",
            "du 24 novembre au 1er décembre 2026",
            "26 novembre 2026",
        ),
        (
            "en",
            "1 item",
            "also in 1 other source",
            "from 24 November to 1 December 2026",
            "26 November 2026",
        ),
    ],
)
def test_digest_counts_have_nouns_and_dates_are_words(
    ws: Workspace, language: str, one: str, also: str, period: str, day: str
) -> None:
    ws.path("commskit.toml").write_text(
        ws.path("commskit.toml")
        .read_text(encoding="utf-8")
        .replace('language = "fr"', f'language = "{language}"'),
        encoding="utf-8",
    )
    ws = Workspace.open(ws.root)
    digest = _digest(language, also_in=["https://other.example.org/1"])
    html = ws.render_digest_html(digest)
    assert f"{one} " in html or f"{one}<" in html
    assert f"{one}s" not in html
    assert also in html
    for fmt in ("text", "markdown"):
        out = render_digest(digest, fmt)
        assert period in out, out
        assert day in out
        assert "2026-11-24" not in out
        assert "(s)" not in out
    two = render_digest(_digest(language, also_in=[], n=2), "text")
    assert ("2 articles dans 1 rubrique" if language == "fr" else "2 items in 1 topic") in two


def test_unsupported_language_is_refused_with_the_supported_ones(tmp_path: Path) -> None:
    config = tmp_path / "commskit.toml"
    config.write_text('[workspace]\nname = "x"\nlanguage = "de"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={})
    assert info.value.line == 3
    assert "'de'" in str(info.value)
    assert "fr, en" in str(info.value)
    with pytest.raises(ConfigError, match="COMMSKIT_WORKSPACE_LANGUAGE"):
        load_settings(None, environ={"COMMSKIT_WORKSPACE_LANGUAGE": "de"})


def test_markdown_table_keeps_its_header_rule_in_the_text_part(
    ws: Workspace, make_contact: Any
) -> None:
    compiled = ws.compile(ws.campaign("2026-11-infolettre"))
    text = compiled.render(make_contact(), unsubscribe_url=UNSUB).text
    assert (
        "| Indicateur | Octobre | Novembre |\n"
        "| --- | ---: | ---: |\n"
        "| Trajets incités | 412 000 | 468 000 |\n"
        "| Territoires engagés | 187 | 190 |\n"
    ) in text


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("contact.nickname", "contact has no field 'nickname'"),
        ("contact.attributes.population", "contact.attributes has no column 'population'"),
        ("contact.attributes['population']", "contact.attributes has no column 'population'"),
    ],
)
def test_missing_field_names_the_campaign_line_and_the_field(
    ws: Workspace, make_contact: Any, tag: str, message: str
) -> None:
    path = ws.path("campaigns/champ.md")
    path.write_text(f"---\nsubject: Hi\n---\nBonjour,\n\nVotre valeur : {{{{ {tag} }}}}\n", "utf-8")
    compiled = ws.compile(ws.campaign("champ"))
    with pytest.raises(TemplateError) as info:
        compiled.message_for(
            make_contact("zoe@example.org"), message_id="<a@b.fr>", unsubscribe_url=UNSUB
        )
    assert (info.value.path, info.value.line) == (str(path), 6)
    assert message in str(info.value)
    assert "mappingproxy" not in str(info.value)
    assert "zoe@example.org" in str(info.value)
