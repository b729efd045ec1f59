"""Text helpers for feed content: accent folding, HTML sanitising, HTML to plain text.

Feed text is data. Everything that comes out of here is either plain text (no markup at all) or
HTML cleaned by nh3 from an allow-list; neither is ever used as template source.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import urljoin, urlsplit

import nh3

#: Tags kept in summaries: enough for a readable excerpt, nothing that runs, loads or styles.
ALLOWED_TAGS = frozenset(
    {"a", "p", "br", "ul", "ol", "li", "strong", "em", "b", "i", "blockquote", "code", "pre", "q"}
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})

_SPACES = re.compile(r"\s+")
_DEAD_LINK = re.compile(r"<a (?![^>]*\bhref=)[^>]*>(.*?)</a>", re.DOTALL)
# combining marks left by NFKD decomposition (accents, cedillas, diaereses)
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


# C0 controls but tab and line feed, and DEL: removed; CR becomes a line feed
_CONTROLS: dict[int, str | None] = {
    c: None for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]
}
_CONTROLS[0x0D] = "\n"


def strip_controls(text: str) -> str:
    """Return ``text`` without C0 control characters (tab and line feed kept, CR as LF).

    They have no meaning in feed text, and one of them makes a whole newsletter fail (MJML and
    XML refuse them).
    """
    return text.translate(_CONTROLS) if not text.isprintable() else text


def fold(text: str) -> str:
    """Return ``text`` lower-cased without accents, so "Véhicule" compares equal to "vehicule"."""
    if text.isascii():
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return _COMBINING.sub("", decomposed).casefold()


def collapse(text: str) -> str:
    """Return ``text`` with runs of whitespace turned into single spaces, trimmed."""
    return _SPACES.sub(" ", text).strip()


def sanitise_html(fragment: str, base_url: str = "") -> str:
    """Return ``fragment`` cleaned to the allow-list (no script, style, on*, javascript:).

    Relative links are made absolute against ``base_url`` (a digest is read far from the feed's
    site); links that are not http(s)/mailto once resolved are dropped.
    """

    def resolve(tag: str, attribute: str, value: str) -> str | None:
        if attribute != "href":
            return value
        absolute = urljoin(base_url, value.strip()) if base_url else value.strip()
        scheme = urlsplit(absolute).scheme.lower()
        return absolute if scheme in ALLOWED_SCHEMES else None

    cleaned = nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=resolve,
    )
    # an <a> whose href was dropped is no link: keep its text only
    return _DEAD_LINK.sub(r"\1", cleaned).strip()


def html_to_text(fragment: str) -> str:
    """Return the plain text of an HTML fragment (tags dropped, script/style bodies dropped)."""
    # nh3 with no allowed tag keeps only text, still HTML-escaped; unescape it to plain text.
    block_breaks = re.sub(r"(?i)<(br|/p|/li|/div|/h\d)\b[^>]*>", " ", fragment)
    cleaned = nh3.clean(block_breaks, tags=set(), attributes={}, strip_comments=True)
    return collapse(html.unescape(cleaned))


_TAG_LIKE = re.compile(r"<[A-Za-z/!?]")


def plain_text(value: str) -> str:
    """Return a feed text field as plain text, whatever markup the feed put in it.

    Markup escaped twice (``&amp;lt;script&amp;gt;``) becomes a tag once unescaped: strip again
    until no tag-like text is left, so no output format ever carries a ``<script``.
    """
    text = value
    for _ in range(4):
        if "<" not in text and "&" not in text:
            return collapse(text)
        text = html_to_text(text)
        if not _TAG_LIKE.search(text):
            return text
    return _TAG_LIKE.sub(lambda m: "‹" + m.group(0)[1:], text)


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"
