"""Dedupe across feeds: URL variants, redirect wrappers, near-identical titles; never dropped."""

from __future__ import annotations

import pytest

from commskit.feeds.dedupe import same_title
from commskit.feeds.parse import title_key
from commskit.feeds.urls import canonical_url, clean_link, unwrap

ARTICLE = "https://www.example.gouv.fr/actualites/bilan-covoiturage"


@pytest.mark.parametrize(
    "variant",
    [
        ARTICLE + "?utm_source=rss&utm_medium=flux",
        ARTICLE + "/?utm_campaign=lettre#haut",
        "http://example.gouv.fr/actualites/bilan-covoiturage?fbclid=abc&gclid=def",
        "https://WWW.Example.gouv.fr/actualites/bilan-covoiturage?mc_cid=1&mc_eid=2&xtor=RSS-3",
        "https://www.google.com/url?rct=j&sa=t&url=https://www.example.gouv.fr/actualites/"
        "bilan-covoiturage%3Futm_source%3Dalerte&ct=ga&usg=AOvVaw",
        "https://www.google.fr/url?q=" + ARTICLE + "&sa=U",
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.example.gouv.fr%2Factualites%2F"
        "bilan-covoiturage&h=AT0",
    ],
)
def test_url_variants_share_one_canonical_key(variant: str) -> None:
    assert (
        canonical_url(variant)
        == canonical_url(ARTICLE)
        == "example.gouv.fr/actualites/bilan-covoiturage"
    )


def test_meaningful_query_parameters_are_kept() -> None:
    assert canonical_url("https://a.org/article?id=3") != canonical_url(
        "https://a.org/article?id=4"
    )
    assert canonical_url("https://a.org/x?b=2&a=1") == canonical_url("https://a.org/x?a=1&b=2")


def test_links_shown_to_readers_are_cleaned_but_not_mangled() -> None:
    assert clean_link(ARTICLE + "?utm_source=x&page=2") == ARTICLE + "?page=2"
    assert clean_link("javascript:alert(1)") == ""
    assert clean_link("data:text/html,hi") == ""
    assert unwrap("https://mygoogle.example.com/url?q=https://a.org/").startswith(
        "https://mygoogle"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Covoiturage : la prime de 100 € prolongée jusqu'en 2027",
            "Covoiturage : la prime de 100 € prolongée jusqu’en 2027 !",
        ),
        (
            "Le covoiturage du quotidien a progressé de 30 % en un an",
            "Le covoiturage du quotidien a progresse de 30% en un an",
        ),
        (
            "Les AOM bretonnes lancent une plateforme commune de covoiturage",
            "Les AOM bretonnes lancent une plateforme commune pour le covoiturage",
        ),
    ],
)
def test_near_identical_titles_are_the_same_article(a: str, b: str) -> None:
    assert same_title(title_key(a), title_key(b), 0.88)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Covoiturage : la prime de 100 € prolongée jusqu'en 2027",
            "Covoiturage : la prime de 100 € versée aux conducteurs bretons",
        ),
        ("Bilan du covoiturage en Bretagne en 2025", "Bilan du covoiturage en Bretagne en 2026"),
        ("Lettre d'information n° 12", "Lettre d'information n° 13"),
        ("Le covoiturage progresse en Bretagne", "Le covoiturage progresse en Normandie"),
        ("Revue de presse", "Revue de presse"),  # too short to tell
    ],
)
def test_different_articles_sharing_words_are_not_merged(a: str, b: str) -> None:
    assert not same_title(title_key(a), title_key(b), 0.88)


def _rss_item(title: str, link: str, guid: str, date: str = "Tue, 17 Nov 2026 09:00:00 +0000"):  # type: ignore[no-untyped-def]
    return {"title": title, "link": link.replace("&", "&amp;"), "guid": guid, "date": date}


def test_one_article_through_two_feeds_is_one_entry_listing_both(feed_server, make_ws, rss) -> None:
    direct = feed_server.add(
        "/ministere.xml",
        body=rss(
            "Ministère",
            [_rss_item("Bilan annuel du covoiturage", ARTICLE + "?utm_source=rss", "m-1")],
        ),
    )
    wrapped = (
        "https://www.google.com/url?rct=j&sa=t&url=https://www.example.gouv.fr/actualites/"
        "bilan-covoiturage%3Futm_source%3Dgoogle%26utm_medium%3Dalerte&ct=ga&usg=x"
    )
    alerts = feed_server.add(
        "/alertes.xml",
        body=rss("Alertes", [_rss_item("Bilan du covoiturage : les chiffres", wrapped, "g-1")]),
    )
    ws = make_ws(
        [
            {"name": "Ministère", "url": direct, "topics": ["covoiturage"]},
            {"name": "Alertes", "url": alerts, "topics": ["covoiturage"]},
        ]
    )
    report = ws.fetch()
    assert report.new_items == 1
    assert sum(r.duplicates for r in report.results) == 1
    assert ws.store.feeds.count_items() == 2  # the duplicate is stored, linked, not dropped
    digest = ws.digest(since="all")
    assert digest.total == 1
    [item] = digest.items
    assert item.sources == ["Ministère", "Alertes"]
    assert item.url == ARTICLE
    assert item.also_in == ["Alertes"]


def test_near_identical_titles_from_two_feeds_are_merged(feed_server, make_ws, rss) -> None:
    a = feed_server.add(
        "/a.xml",
        body=rss(
            "A",
            [
                _rss_item(
                    "Covoiturage : la prime de 100 € prolongée jusqu'en 2027",
                    "https://a.example.org/prime",
                    "a-1",
                )
            ],
        ),
    )
    b = feed_server.add(
        "/b.xml",
        body=rss(
            "B",
            [
                _rss_item(
                    "Covoiturage : la prime de 100 € prolongée jusqu’en 2027 !",
                    "https://b.example.org/actu/prime-2027",
                    "b-1",
                ),
                _rss_item(
                    "Covoiturage : la prime de 100 € versée aux conducteurs bretons",
                    "https://b.example.org/actu/prime-versee",
                    "b-2",
                ),
            ],
        ),
    )
    ws = make_ws(
        [
            {"name": "A", "url": a, "topics": ["covoiturage"]},
            {"name": "B", "url": b, "topics": ["covoiturage"]},
        ]
    )
    ws.fetch()
    digest = ws.digest(since="all")
    titles = {i.title: i for i in digest.items}
    assert len(titles) == 2
    merged = titles["Covoiturage : la prime de 100 € prolongée jusqu'en 2027"]
    assert merged.sources == ["A", "B"]
    assert merged.also_in == ["https://b.example.org/actu/prime-2027"]
    assert titles["Covoiturage : la prime de 100 € versée aux conducteurs bretons"].sources == ["B"]


def test_shipped_samples_merge_the_alert_and_the_utm_copy(make_ws, samples) -> None:
    ws = make_ws(
        [
            {"name": "Ministère", "url": (samples / "ministere.xml").as_uri()},
            {"name": "Presse", "url": (samples / "presse.xml").as_uri()},
            {"name": "Observatoire", "url": (samples / "observatoire.xml").as_uri()},
            {"name": "Alerte", "url": (samples / "alertes.xml").as_uri()},
        ]
    )
    ws.fetch()
    items = {i.title: i for i in ws.digest(since="all").items}
    bilan = items["Le covoiturage du quotidien a progressé de 30 % en un an"]
    assert bilan.sources == ["Ministère", "Alerte"]
    prime = items["Covoiturage : la prime de 100 € versée aux conducteurs bretons"]
    assert prime.sources == ["Presse"]
