"""The public archive (issue 16 item 3): `commskit archive -o DIR` after a real send."""

from __future__ import annotations

import email
import email.policy
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main

CAMPAIGN = "2026-11-infolettre"
BASE = "https://covoiturage.example.gouv.fr/archives"


@pytest.fixture
def sent(ws: Workspace, set_list_setting: Any) -> Workspace:
    """The shipped bilingual newsletter sent (to the outbox) on a public list with a base_url."""
    config = ws.path("commskit.toml")
    set_list_setting(config, "infolettre", "public", "true")
    config.write_text(
        config.read_text(encoding="utf-8") + f'\n[archive]\nbase_url = "{BASE}"\n',
        encoding="utf-8",
    )
    fresh = Workspace.open(ws.root)
    fresh.contacts.import_file(fresh.path("contacts/partenaires-demo.csv"))
    report = fresh.send(CAMPAIGN, audience="all", yes=True)
    assert report.sent > 0
    yield fresh
    fresh.close()


def _messages(ws: Workspace) -> list[email.message.EmailMessage]:
    box = ws.path(".commskit/outbox/new")
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(box.iterdir())
    ]


class _Checker(HTMLParser):
    """Collect what accessibility needs of a page: lang, a title, link texts, h1, unclosed tags."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.title = ""
        self.h1 = 0
        self.empty_links = 0
        self._in: list[str] = []
        self._link_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang") or ""
        if tag == "h1":
            self.h1 += 1
        if tag == "a":
            self._link_text = ""
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and not self._link_text.strip():
            self.empty_links += 1
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title":
            self.title += data
        self._link_text += data


def test_archive_pages_feed_and_online_link(sent: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "site"
    report = sent.archive(out)
    assert report.pages == 2  # one campaign, two languages
    fr_page = out / "infolettre" / "fr" / f"{CAMPAIGN}.html"
    en_page = out / "infolettre" / "en" / f"{CAMPAIGN}.html"
    assert fr_page.is_file()
    assert en_page.is_file()
    assert "Infolettre covoiturage" in fr_page.read_text(encoding="utf-8")
    assert "Everyday carpooling newsletter" in en_page.read_text(encoding="utf-8")

    # the feed per list and language, parsed as a reader would
    feed = feedparser.parse((out / "infolettre" / "fr" / "atom.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "Infolettre Covoiturage du quotidien"
    (entry,) = feed.entries
    assert entry.title.startswith("Infolettre covoiturage du quotidien")
    assert entry.link == f"{BASE}/infolettre/fr/{CAMPAIGN}.html"
    english = feedparser.parse((out / "infolettre" / "en" / "atom.xml").read_bytes())
    assert not english.bozo
    assert english.feed.title == "Everyday carpooling newsletter"
    assert english.entries[0].link == f"{BASE}/infolettre/en/{CAMPAIGN}.html"

    # every message links to its own page, in its language
    for msg in _messages(sent):
        html = msg.get_body(preferencelist=("html",))
        assert html is not None
        content = html.get_content()
        language = "en" if 'lang="en"' in content else "fr"
        label = "View online" if language == "en" else "Voir en ligne"
        assert f'href="{BASE}/infolettre/{language}/{CAMPAIGN}.html"' in content
        assert label in content


def test_pages_are_for_nobody(sent: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "site"
    sent.archive(out)
    addresses = {c.email for c in sent.contacts.segment("all")}
    names = {c.first_name for c in sent.contacts.segment("all") if c.first_name}
    pages = sorted(out.rglob("*.html")) + sorted(out.rglob("*.xml"))
    assert len(pages) == 7  # 2 campaign pages, 2 indexes, 2 feeds and the home page
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not any(address in text for address in addresses), page
        assert not re.search(r"\b(" + "|".join(map(re.escape, names)) + r")\b", text), page
        assert "?t=" not in text  # no unsubscribe token
        assert "/preferences/" not in text  # no preference-centre token
        assert "APERCU" not in text
        assert "Se désinscrire" not in text
        assert "Unsubscribe" not in text
    greeting = (out / "infolettre" / "fr" / f"{CAMPAIGN}.html").read_text(encoding="utf-8")
    assert "Bonjour," in greeting  # the neutral branch of {% if contact.first_name %}


def test_rerun_writes_the_same_bytes_and_unpublishes(
    sent: Workspace, tmp_path: Path, set_list_setting: Any
) -> None:
    out = tmp_path / "site"
    first = sent.archive(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = sent.archive(out)
    assert first.written
    assert again.written == []
    assert again.unchanged == len(first.written)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # a list made private is unpublished: its pages go
    set_list_setting(sent.path("commskit.toml"), "infolettre", "public", "false")
    private = Workspace.open(sent.root).archive(out)
    assert f"infolettre/fr/{CAMPAIGN}.html" in private.removed
    assert not (out / "infolettre").exists() or not any((out / "infolettre").rglob("*.html"))


def test_pages_are_accessible_html(sent: Workspace, tmp_path: Path) -> None:
    """What exists on this branch: lang, title, one h1 on the site's own pages, named links."""
    out = tmp_path / "site"
    sent.archive(out)
    for page in [out / "index.html", *out.glob("infolettre/*/index.html")]:
        checker = _Checker()
        checker.feed(page.read_text(encoding="utf-8"))
        assert checker.lang in ("fr", "en"), page
        assert checker.title.strip(), page
        assert checker.h1 == 1, page
        assert checker.empty_links == 0, page
    home = (out / "index.html").read_text(encoding="utf-8")
    assert home.index("infolettre/fr/") < home.index("infolettre/en/")  # French first
    for page in out.glob(f"infolettre/*/{CAMPAIGN}.html"):
        checker = _Checker()
        checker.feed(page.read_text(encoding="utf-8"))
        assert checker.lang == page.parent.name
        assert checker.empty_links == 0, page


def test_cli_archive(sent: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "cli-site"
    result = CliRunner().invoke(main, ["-C", str(sent.root), "archive", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 page(s)" in result.stderr
    assert (out / "infolettre" / "en" / "atom.xml").is_file()


def test_nothing_public_nothing_published(ws: Workspace, tmp_path: Path) -> None:
    report = ws.archive(tmp_path / "site")
    assert report.pages == 0
    assert (tmp_path / "site" / "index.html").is_file()
