"""The public archive's own pages: an index per list and language, an Atom feed, a home page.

Pure functions from :class:`ArchiveEntry` records to bytes: no clock, no file system, so the
same entries always give the same bytes (``commskit archive`` re-run writes nothing new). The
campaign pages themselves are the messages rendered for nobody (``commskit.app.archive``).
French first: the home page lists each list's French archive before its English one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from ..compose.environment import strings_for

#: the home page's words, per language (the pages are static: no template engine needed)
_WORDS = {
    "fr": {
        "archive": "Archives",
        "feed": "Flux Atom",
        "none": "Aucun message publié pour l'instant.",
        "home": "Toutes les archives",
        "language": "Français",
    },
    "en": {
        "archive": "Archive",
        "feed": "Atom feed",
        "none": "No message published yet.",
        "home": "Every archive",
        "language": "English",
    },
}

_STYLE = (
    "body{font-family:Arial,Helvetica,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
    "color:#1e1e1e;line-height:1.5}a{color:#000091}a:focus{outline:3px solid #000091;"
    "outline-offset:2px}time{color:#3a3a3a}"
)


@dataclass(frozen=True)
class ArchiveEntry:
    """One published message: a campaign in one language, sent to a public list."""

    list_name: str
    language: str
    campaign_id: str
    subject: str
    summary: str  # the preheader
    sent_at: dt.datetime  # the campaign's first send (UTC)

    @property
    def path(self) -> str:
        """Return the page's path in the site: ``LIST/LANG/CAMPAIGN.html``."""
        return f"{self.list_name}/{self.language}/{self.campaign_id}.html"


def words(language: str) -> dict[str, str]:
    """Return the archive pages' words in ``language`` (French for any other)."""
    return _WORDS.get(language, _WORDS["fr"])


def _page(language: str, title: str, body: str, feed: str = "") -> bytes:
    alternate = (
        f'<link rel="alternate" type="application/atom+xml" href="{escape(feed)}">' if feed else ""
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n{alternate}\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    ).encode()


def _date(entry: ArchiveEntry) -> str:
    return entry.sent_at.strftime(strings_for(entry.language)["date_format"])


def list_index(title: str, language: str, entries: Sequence[ArchiveEntry]) -> bytes:
    """Return a list's index in one language: its messages, newest first, and its feed."""
    w = words(language)
    items = "".join(
        f'<li><a href="{escape(e.campaign_id)}.html">{escape(e.subject)}</a> '
        f'<time datetime="{e.sent_at.date().isoformat()}">{escape(_date(e))}</time></li>\n'
        for e in entries
    )
    listing = f"<ul>\n{items}</ul>\n" if entries else f"<p>{escape(w['none'])}</p>\n"
    body = (
        f"<h1>{escape(w['archive'])} — {escape(title)}</h1>\n{listing}"
        f'<p><a href="atom.xml">{escape(w["feed"])}</a> · '
        f'<a href="../../index.html">{escape(w["home"])}</a></p>\n'
    )
    return _page(language, f"{w['archive']} — {title}", body, feed="atom.xml")


def home(sections: Sequence[tuple[str, str, str]]) -> bytes:
    """Return the site's home page from (list name, language, list title), French first."""
    fr, en = words("fr"), words("en")
    items = "".join(
        f'<li lang="{escape(lang)}"><a href="{escape(name)}/{escape(lang)}/index.html">'
        f"{escape(title)}</a> ({escape(words(lang)['language'])})</li>\n"
        for name, lang, title in sections
    )
    body = (
        f'<h1>{escape(fr["archive"])} <span lang="en">/ {escape(en["archive"])}</span></h1>\n'
        f"<ul>\n{items}</ul>\n"
    )
    return _page("fr", f"{fr['archive']} / {en['archive']}", body)


def atom_feed(
    title: str,
    language: str,
    entries: Sequence[ArchiveEntry],
    *,
    base_url: str,
    feed_id: str,
    author: str,
) -> bytes:
    """Return a list's Atom feed (RFC 4287) in one language; ``updated`` is its newest entry.

    With no ``base_url`` the links are relative to the feed and the ids ``urn:`` names.
    """
    root = f"{base_url.rstrip('/')}/" if base_url else ""
    updated = max((e.sent_at for e in entries), default=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{xml_escape(language)}">\n',
        f"<title>{xml_escape(title)}</title>\n<id>{xml_escape(feed_id)}</id>\n",
        f"<updated>{_stamp(updated)}</updated>\n",
        f"<author><name>{xml_escape(author)}</name></author>\n",
    ]
    for e in entries:
        href = f"{root}{e.path}" if root else f"{e.campaign_id}.html"
        entry_id = href if root else f"urn:commskit:{e.list_name}:{e.language}:{e.campaign_id}"
        parts += [
            "<entry>\n",
            f"<title>{xml_escape(e.subject)}</title>\n",
            f'<link rel="alternate" type="text/html" href={quoteattr(href)}/>\n',
            f"<id>{xml_escape(entry_id)}</id>\n",
            f"<updated>{_stamp(e.sent_at)}</updated>\n",
            f"<published>{_stamp(e.sent_at)}</published>\n",
            f"<summary>{xml_escape(e.summary or e.subject)}</summary>\n",
            "</entry>\n",
        ]
    parts.append("</feed>\n")
    return "".join(parts).encode()


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
