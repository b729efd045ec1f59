"""Veille items from a feed in another language than the message carry ``lang`` (issue 13 item 7).

A screen reader reads an English title with French phonetics unless the element says
``lang="en"`` (WCAG 3.1.2, language of parts). The feed's language (RSS ``<language>``, Atom
``xml:lang``) is stored with the feed; the digest and a campaign's veille section put it on the
item's title and summary when it differs from the message's language. The plain-text part has
no markup and is unchanged.
"""

from __future__ import annotations

import dataclasses
import email
from datetime import UTC, datetime, timedelta
from email import policy
from email.utils import format_datetime
from typing import Any

import lxml.html
import pytest

from commskit import Workspace
from commskit.feeds import Digest
from commskit.feeds.digest_formats import to_html
from commskit.feeds.parse import language_tag

EN_TITLES = ("Carpooling lanes open on the ring road", "Bike-sharing figures for October")
FR_TITLES = ("Une aire de covoiturage ouvre à Vitré", "Le covoiturage du quotidien progresse")


def _when(days_ago: float) -> str:
    return format_datetime(datetime.now(UTC) - timedelta(days=days_ago), usegmt=True)


def _rss(name: str, language: str, titles: tuple[str, ...]) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>https://{name}.example.org/{n}</link>"
        f"<guid>https://{name}.example.org/{n}</guid><pubDate>{_when(n + 1)}</pubDate>"
        f"<description>{title} (covoiturage, summary {n}).</description></item>"
        for n, title in enumerate(titles)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{name}</title><link>https://{name}.example.org/</link>"
        f"<description>test</description><language>{language}</language>{items}"
        "</channel></rss>"
    ).encode()


def _two_feeds(feed_server: Any, make_ws: Any) -> Workspace:
    en = feed_server.add("/en.xml", body=_rss("en", "en-us", EN_TITLES))
    fr = feed_server.add("/fr.xml", body=_rss("fr", "fr-FR", FR_TITLES))
    ws: Workspace = make_ws(
        [
            {"name": "English", "url": en, "topics": ["mobilites"]},
            {"name": "Français", "url": fr, "topics": ["mobilites"]},
        ]
    )
    report = ws.fetch()
    assert not report.failed, report.failed
    return ws


def _lang_of(html: str, text: str) -> str:
    """Return the language in force for the (innermost) element whose text holds ``text``."""
    doc = lxml.html.document_fromstring(html)
    found = [el for el in doc.iter() if text in (el.text or "")]
    assert found, f"{text!r} is not in the HTML"
    langs = found[-1].xpath("ancestor-or-self::*[@lang][1]/@lang")
    return str(langs[0]) if langs else ""


def _parts(raw: bytes) -> tuple[str, str]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def _digest_message(ws: Workspace, digest: Digest) -> bytes:
    return ws.compile_digest(digest).message_for(
        None,
        to="equipe@covoiturage.example.gouv.fr",
        message_id="<veille.lang@covoiturage.example.gouv.fr>",
        unsubscribe_url="https://covoiturage.example.gouv.fr/desinscription",
    )


def test_digest_marks_only_the_english_items(feed_server: Any, make_ws: Any) -> None:
    ws = _two_feeds(feed_server, make_ws)
    digest = ws.digest(since="all")
    assert digest.total == 4
    text, html = _parts(_digest_message(ws, digest))
    for title in EN_TITLES:
        assert _lang_of(html, title) == "en-US", title
        assert _lang_of(html, f"{title} (covoiturage") == "en-US", title  # the summary too
    for title in FR_TITLES:
        # French items in a French message: no attribute of their own, the document's lang
        assert _lang_of(html, title) == "fr", title
    assert html.count('lang="en-US"') == 2 * len(EN_TITLES)  # title and summary, nothing else

    # the plain-text part is the same as for a digest whose feeds declare no language
    unmarked = dataclasses.replace(
        digest,
        sections=[
            dataclasses.replace(s, items=[dataclasses.replace(i, language="") for i in s.items])
            for s in digest.sections
        ],
    )
    plain, plain_html = _parts(_digest_message(ws, unmarked))
    assert 'lang="en' not in plain_html
    assert text == plain
    for title in (*EN_TITLES, *FR_TITLES):
        assert title in text

    # the standalone HTML page format marks the same items
    page = to_html(digest)
    assert _lang_of(page, EN_TITLES[0]) == "en-US"
    assert _lang_of(page, FR_TITLES[0]) == "fr"
    ws.close()


def test_an_english_campaign_marks_the_french_items(feed_server: Any, make_ws: Any) -> None:
    ws = _two_feeds(feed_server, make_ws)
    campaign = ws.campaign("2026-11-infolettre").variant("en")
    assert campaign.language == "en"
    digest = ws.veille_digest(campaign)
    assert digest is not None
    html = ws.compile(campaign).message_for(
        None,
        to="someone@example.org",
        message_id="<c.lang@covoiturage.example.gouv.fr>",
        unsubscribe_url="https://covoiturage.example.gouv.fr/unsubscribe",
    )
    _text, page = _parts(html)
    shown = [t for t in (*EN_TITLES, *FR_TITLES) if t in page]
    assert any(t in shown for t in FR_TITLES), shown
    for title in shown:
        # "en-us" in the feed is the campaign's own language (en): no attribute; French items
        # in an English message say so
        assert _lang_of(page, title) == ("fr-FR" if title in FR_TITLES else "en"), title
    ws.close()


def test_feed_language_is_stored_with_the_feed(feed_server: Any, make_ws: Any) -> None:
    ws = _two_feeds(feed_server, make_ws)
    languages = {s.name: s.language for s in ws.store.feeds.feed_states().values()}
    assert languages == {"English": "en-US", "Français": "fr-FR"}
    ws.close()


@pytest.mark.parametrize(
    ("declared", "tag"),
    [
        ("en-us", "en-US"),
        ("fr_FR", "fr-FR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("EN", "en"),
        ("english please", ""),  # not a tag: ignored, never put in an attribute
        ('en" onmouseover="x', ""),
        ("", ""),
        (None, ""),
    ],
)
def test_language_tag(declared: object, tag: str) -> None:
    assert language_tag(declared) == tag
