"""Blog drafts: feed text is safe Markdown (issue 11 item 11), no leftovers (issue 10 item 5)."""

from __future__ import annotations

from typing import Any

import lxml.html
import pytest
from markdown_it import MarkdownIt

from commskit import Workspace
from commskit.errors import TemplateError

HOSTILE = [
    {
        "title": "[x](javascript:alert(1)) et ![pixel](https://tracker.example/p.gif)",
        "url": "https://a.example/x) [y](javascript:alert(2)",
    },
    {
        "title": "Titre normal",
        "url": "javascript:alert(3)",
        "summary_text": "Voir [ici](javascript:alert(4)) ![](https://tracker.example/q.gif) "
        "<script>x</script>",
    },
    {
        "title": "# Pas un titre",
        "url": 'https://b.example/a b<c>"d"{{e}}',
        "summary_text": "ligne\n\n# titre\n---\n- liste\n1. un\n> citation\n    code",
    },
    {
        "title": "{{ 7*7 }} {% if true %}oui{% endif %}",
        "url": "https://c.example/ok",
        "summary_text": "La prime s'étend aux « covoitureurs » & co, 30 % de plus",
    },
]


def _html(markdown: str) -> Any:
    return lxml.html.fragment_fromstring(
        MarkdownIt("commonmark").render(markdown), create_parent="div"
    )


def _post_body(post: str) -> str:
    return post.split("---\n", 2)[2]


@pytest.mark.parametrize("kind", ["campaign", "digest"])
def test_feed_text_is_escaped_markdown_with_only_http_links(
    ws: Workspace, make_digest: Any, make_item: Any, kind: str
) -> None:
    items = [make_item(60 + i, score=100.0 - i, **fields) for i, fields in enumerate(HOSTILE)]
    digest = make_digest(0, extra=items)
    if kind == "campaign":
        post = ws.campaign_post(ws.campaign("2026-11-infolettre"), digest=digest)
    else:
        post = ws.digest_post(digest)
    body = _post_body(post)
    doc = _html(body)
    assert doc.findall(".//img") == []
    assert doc.findall(".//script") == []
    hrefs = [a.get("href") for a in doc.iter("a")]
    feed_links = [h for h in hrefs if "example/" in h and "covoiturage" not in h]
    assert all(h.startswith("https://") for h in hrefs), hrefs
    # one link per item that has an http(s) URL, none opened by a ")" inside a URL
    assert len(feed_links) == 3, feed_links
    assert not [h for h in hrefs if ":" in h.split("//", 1)[0].replace("https:", "")]
    assert doc.findall(".//h1") == []
    assert doc.findall(".//blockquote") == []
    assert doc.findall(".//pre") == []
    text = doc.text_content()
    assert "[x](javascript:alert(1)) et ![pixel](https://tracker.example/p.gif)" in text
    assert "# Pas un titre" in text
    assert "s'étend aux « covoitureurs » & co, 30 % de plus" in text
    assert "{{ 7*7 }} {% if true %}oui{% endif %}" in text
    # Liquid (Jekyll) and Hugo see no {{ or {% in the Markdown itself, and no entity is left
    assert "{{" not in body
    assert "{%" not in body
    assert "&#" not in body


def _campaign(ws: Workspace, text: str) -> Any:
    ws.path("campaigns/perso.md").write_text(text, encoding="utf-8")
    return ws.campaign("perso")


def test_personal_tag_without_fallback_is_refused_with_its_line(ws: Workspace) -> None:
    campaign = _campaign(
        ws,
        "---\nsubject: Bonjour\n---\nBonjour {{ contact.first_name }},\n\n"
        "Un grand merci à **{{ contact.organization }}** pour sa participation.\n",
    )
    with pytest.raises(TemplateError) as info:
        ws.campaign_post(campaign)
    assert info.value.path == str(campaign.path)
    assert info.value.line == 6
    assert "{{ contact.organization }}" in str(info.value)


def test_personal_subject_needs_a_title_or_a_fallback(ws: Workspace) -> None:
    text = '---\nsubject: "Infolettre pour {{ contact.organization }}"\n---\nCorps.\n'
    campaign = _campaign(ws, text)
    with pytest.raises(TemplateError) as info:
        ws.campaign_post(campaign)
    assert (info.value.path, info.value.line) == (str(campaign.path), 2)
    assert "title" in str(info.value)
    titled = _campaign(ws, text.replace("---\nCorps", "title: Infolettre de novembre\n---\nCorps"))
    assert "title: Infolettre de novembre\n" in ws.campaign_post(titled)
    fallback = _campaign(
        ws, text.replace("contact.organization }}", "contact.organization or 'vous' }}")
    )
    assert "title: Infolettre pour vous\n" in ws.campaign_post(fallback)


def test_neutral_forms_render_and_entities_decode(ws: Workspace) -> None:
    campaign = _campaign(
        ws,
        "---\nsubject: Bonjour\n---\nBonjour {{ contact.first_name }},\n\n"
        "Hello {{ contact.first_name|title }} !\n\n"
        "Pour {{ contact.organization or 'votre territoire' }}, l'aide s'étend.\n\n"
        "{% if contact.organization %}Pour {{ contact.organization }}.{% endif %}\n"
        "Colonne : {{ contact.attributes.population or 'inconnue' }}.\n",
    )
    body = _post_body(ws.campaign_post(campaign))
    assert body.startswith("\nBonjour,\n\nHello !\n\nPour votre territoire, l'aide s'étend.")
    assert "Colonne : inconnue." in body
    assert "{{" not in body
    assert "&#" not in body


def test_shipped_campaigns_still_make_posts(ws: Workspace, make_digest: Any) -> None:
    letter = ws.campaign("2026-11-infolettre")
    for campaign in (letter, ws.campaign("2026-12-webinaire"), letter.variant("en")):
        post = ws.campaign_post(campaign, digest=make_digest(2))
        assert "{{" not in post
        assert "&#" not in post
