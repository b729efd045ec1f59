"""Parse feed bytes with feedparser and normalise each entry into a :class:`FeedItem`.

Field sizes are capped *before* parsing: feedparser's author regex is quadratic on long values
(feedparser#562: a 48 KB ``<author>`` takes ~10 s), so short-by-nature elements are cut to
``max_field_chars`` in the raw bytes first. The caller also time-boxes the parse.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import html
import io
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser

from .text import collapse, fold, plain_text, sanitise_html, strip_controls, truncate
from .urls import canonical_url, clean_link

#: Elements whose text is short by nature; longer values are cut before feedparser sees them.
SHORT_ELEMENTS = (
    "author",
    "name",
    "email",
    "uri",
    "creator",
    "contributor",
    "managingEditor",
    "webMaster",
    "title",
    "category",
    "guid",
    "id",
    "link",
    "pubDate",
    "published",
    "updated",
    "date",
    "subject",
    "publisher",
)
_SHORT_RUN_TEMPLATE = (
    rb"(<(?:[A-Za-z][\w.-]*:)?(?:"
    + b"|".join(e.encode() for e in SHORT_ELEMENTS)
    + rb")(?:\s[^<>]{0,2000})?>(?:<!\[CDATA\[)?)([^<\]]{%d,})"
)
# feedparser flags these even on a good feed (a file without HTTP headers, a wrong charset label)
_HARMLESS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
SUMMARY_TEXT_CHARS = 600
SUMMARY_HTML_CHARS = 3000
MIN_HASHED_TEXT = 80
# before this, a date is a feed bug (epoch 0, year 1) rather than a real publication date
EARLIEST_DATE = datetime(1995, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)


@dataclass
class FeedItem:
    """One normalised entry, ready to store. Text fields are plain; ``summary_html`` is clean."""

    id: str
    feed_url: str
    feed_name: str
    guid: str | None
    link: str
    canonical_url: str | None
    title: str
    title_key: str
    content_hash: str | None
    summary_html: str
    summary_text: str
    authors: list[str]
    tags: list[str]
    published: datetime
    date_flag: str | None
    first_seen: datetime
    duplicate_of: str | None = None
    duplicate_reason: str | None = None


@dataclass
class ParsedFeed:
    """What one parse gave: the feed's own title/link, its items, and a problem if it had one."""

    title: str = ""
    site_url: str = ""
    language: str = ""  # the BCP 47 tag the feed declares ("en-US"), "" when none or invalid
    items: list[FeedItem] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None


def cap_fields(body: bytes, max_chars: int) -> bytes:
    """Cut over-long text in short-by-nature elements (author, title, …) to ``max_chars`` bytes."""

    def cut(match: re.Match[bytes]) -> bytes:
        text = match.group(2)[:max_chars]
        # don't leave half a UTF-8 sequence or half an entity at the cut
        while text and 0x80 <= text[-1] <= 0xBF:
            text = text[:-1]
        if text and text[-1] >= 0xC0:
            text = text[:-1]
        amp = text.rfind(b"&")
        if amp != -1 and b";" not in text[amp:]:
            text = text[:amp]
        return match.group(1) + text

    if max_chars <= 0:
        return body
    return _short_run(max_chars).sub(cut, body)


@functools.cache
def _short_run(max_chars: int) -> re.Pattern[bytes]:
    return re.compile(_SHORT_RUN_TEMPLATE.replace(b"%d", str(max_chars).encode()))


class EntityRefused(ValueError):
    """A feed's DOCTYPE declares entities whose expansion is unbounded (nested, or too big)."""


#: the most characters a feed's own entity references may expand to, all together
MAX_ENTITY_EXPANSION = 1024 * 1024
MAX_ENTITIES = 64
_CHAR_REF = re.compile(rb"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});")
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(%\s+)?([^\s%;&<>\"']+)\s+(.*)>\Z", re.DOTALL)
_EXTERNAL_ID = re.compile(
    rb"""\s*(?:PUBLIC\s+(?:"[^"]*"|'[^']*')\s+(?:"[^"]*"|'[^']*')|SYSTEM\s+(?:"[^"]*"|'[^']*'))\s*"""
)
# how a document that is not ASCII-compatible starts (BOM, or "<" in a wider unit, or EBCDIC)
_WIDE_STARTS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"Lo\xa7\x94", "cp037"),
)


_DECLARATION = re.compile(rb"""<!(?:[^"'>]|"[^"]*"|'[^']*')*>""")


def _skip_misc(data: bytes, pos: int) -> int:
    """Skip whitespace, comments and processing instructions from ``pos``; return the new index."""
    while pos < len(data):
        if data[pos] in b" \t\r\n":
            pos += 1
        elif data.startswith(b"<?", pos):
            end = data.find(b"?>", pos)
            return len(data) if end == -1 else _skip_misc(data, end + 2)
        elif data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
            return len(data) if end == -1 else _skip_misc(data, end + 3)
        else:
            return pos
    return pos


def guard_entities(body: bytes) -> bytes:
    """Return ``body`` with its DOCTYPE reduced to entities whose expansion is bounded.

    feedparser keeps any internal entity with a plain value, and its lenient fallback parser
    expands each reference itself: one 100 KB entity referenced 50,000 times is 5 GB. Here an
    entity survives only with a short literal value (or one character reference) whose
    references, all counted, stay under :data:`MAX_ENTITY_EXPANSION`; an entity that refers to
    others, or would exceed that, makes the whole feed refused (:class:`EntityRefused`).
    External and parameter entities are dropped (never loaded, as before).
    """
    if _is_wide(body):
        return body
    pos = _skip_misc(body, 3 if body.startswith(b"\xef\xbb\xbf") else 0)
    if body[pos : pos + 9].upper() != b"<!DOCTYPE":
        return body
    name_match = re.match(rb"<!DOCTYPE\s+([^\s\[>]+)", body[pos:], re.IGNORECASE)
    if name_match is None:
        return body
    cursor = pos + name_match.end()
    external = _EXTERNAL_ID.match(body, cursor)
    external_id = b""
    if external is not None and external.end() > cursor:
        external_id = b" " + external.group(0).strip()
        cursor = external.end()
    kept: list[tuple[bytes, bytes]] = []
    cursor = _skip_misc(body, cursor)
    if body[cursor : cursor + 1] == b"[":
        subset_found = _internal_subset(body, cursor + 1)
        if subset_found is None:
            return body
        kept, cursor = subset_found
    end = body.find(b">", cursor)
    if end == -1:
        return body
    _check_expansion(body, kept)
    subset = b""
    if kept:
        lines = b"".join(b'<!ENTITY %s "%s">\n' % (n, v) for n, v in kept)
        subset = b" [\n" + lines + b"]"
    doctype = b"<!DOCTYPE " + name_match.group(1) + external_id + subset + b">"
    return body[:pos] + doctype + body[end + 1 :]


def _is_wide(body: bytes) -> bool:
    """Return whether ``body`` is not ASCII-compatible (refused if it declares entities)."""
    head = body[:4]
    for start, codec in _WIDE_STARTS:
        if head.startswith(start):
            text = body.decode(codec, errors="replace")
            if re.search(r"<!ENTITY", text, re.IGNORECASE):
                raise EntityRefused(f"entity declarations in a {codec} feed are refused")
            return True
    return False


def _internal_subset(body: bytes, cursor: int) -> tuple[list[tuple[bytes, bytes]], int] | None:
    """Read a DOCTYPE's ``[…]`` from just after ``[``: the entities kept and the index after
    ``]``; None when it is not a subset any parser will use (never closed, broken markup)."""
    kept: list[tuple[bytes, bytes]] = []
    while True:
        cursor = _skip_misc(body, cursor)
        if cursor >= len(body):
            return None  # never closed: not a DOCTYPE any parser will use
        if body[cursor : cursor + 1] == b"]":
            return kept, cursor + 1
        if body.startswith(b"<!", cursor):
            markup = _DECLARATION.match(body, cursor)
            if markup is None:
                return None
            declaration = markup.group(0)
            cursor = markup.end()
            entity = _ENTITY_DECL.match(declaration)
            if entity is not None and not entity.group(1):
                kept.extend(_bounded_entity(body, entity.group(2), entity.group(3)))
            continue
        cursor += 1  # a parameter-entity reference or stray text: dropped with the rest


def _check_expansion(body: bytes, kept: list[tuple[bytes, bytes]]) -> None:
    """Refuse too many entities, or references that would expand beyond the cap."""
    if len(kept) > MAX_ENTITIES:
        raise EntityRefused(f"the feed's DOCTYPE declares more than {MAX_ENTITIES} entities")
    total = sum(len(value) * body.count(b"&" + name + b";") for name, value in kept)
    if total > MAX_ENTITY_EXPANSION:
        raise EntityRefused(
            f"the feed's DOCTYPE entities would expand to {total:,} characters "
            f"(over {MAX_ENTITY_EXPANSION:,}): an entity-expansion attack?"
        )


def _bounded_entity(body: bytes, name: bytes, rest: bytes) -> list[tuple[bytes, bytes]]:
    """Return [(name, value)] for an internal entity worth keeping, [] to drop it, or refuse."""
    rest = rest.strip()
    if not rest or rest[:1] not in (b'"', b"'") or rest[-1:] != rest[:1]:
        return []  # external (SYSTEM/PUBLIC) or malformed: dropped, as feedparser does
    value = rest[1:-1]
    if b"&" in value or b"%" in value:
        if _CHAR_REF.fullmatch(value):
            return [(name, value)]
        raise EntityRefused(
            f"the feed's DOCTYPE declares entity {name.decode(errors='replace')!r} that refers "
            "to other entities (nested expansion is refused)"
        )
    if b"<" in value or b'"' in value:
        return []  # markup in an entity: not kept (feeds don't need it)
    return [(name, value)]


#: a BCP 47 language tag as feeds write it ("en", "en-us", "fr_FR", "zh-Hant-TW")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


def language_tag(value: object) -> str:
    """Return a feed's declared language as a BCP 47 tag in its usual case ("en-us" → "en-US",
    "fr_FR" → "fr-FR"), or "" when it declares none or something that is not a tag."""
    text = str(value or "").strip()
    if not _LANGUAGE_TAG.fullmatch(text):
        return ""
    primary, *rest = re.split(r"[-_]", text)
    subtags = [primary.lower()]
    for sub in rest:
        if len(sub) == 2 and sub.isalpha():
            subtags.append(sub.upper())  # a region
        elif len(sub) == 4 and sub.isalpha():
            subtags.append(sub.title())  # a script
        else:
            subtags.append(sub.lower())
    return "-".join(subtags)


def title_key(title: str) -> str:
    """Return the folded, punctuation-free form of a title used for fuzzy comparison."""
    return collapse(re.sub(r"[^\w]+", " ", fold(title)))


def _struct_to_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _published(entry: Mapping[str, Any], now: datetime) -> tuple[datetime, str | None]:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        if key in entry and entry.get(key):
            when = _struct_to_dt(entry[key])
            if when is None or when < EARLIEST_DATE:
                return now, "bogus"
            if when > now + FUTURE_SLACK:
                return now, "future"
            return when, None
    if any(entry.get(k) for k in ("published", "updated", "created")):
        return now, "bogus"
    return now, "missing"


def _summary(entry: Mapping[str, Any], base_url: str) -> tuple[str, str]:
    """Return (summary_html, summary_text) from the description, else the first content."""
    detail = entry.get("summary_detail") or {}
    value = entry.get("summary") or ""
    kind = detail.get("type", "text/html") if isinstance(detail, Mapping) else "text/html"
    if not value and entry.get("content"):
        first = entry["content"][0]
        value = first.get("value", "") or ""
        kind = first.get("type", "text/html")
    text = plain_text(value)
    if kind == "text/plain":
        return (
            f"<p>{html.escape(truncate(text, SUMMARY_TEXT_CHARS))}</p>" if text else ""
        ), truncate(text, SUMMARY_TEXT_CHARS)
    base = str(detail.get("base") or "") if isinstance(detail, Mapping) else ""
    clean = sanitise_html(value, base or base_url)
    if len(clean) > SUMMARY_HTML_CHARS:
        # cutting HTML mid-tag is unsafe: fall back to the (escaped) text excerpt
        clean = f"<p>{html.escape(truncate(text, SUMMARY_TEXT_CHARS))}</p>"
    return clean, truncate(text, SUMMARY_TEXT_CHARS)


def _authors(entry: Mapping[str, Any], max_chars: int) -> list[str]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        if isinstance(author, Mapping):
            name = author.get("name") or author.get("email") or ""
            names.append(truncate(plain_text(str(name)), 200))
    if not names and entry.get("author"):
        names.append(truncate(plain_text(str(entry["author"])[:max_chars]), 200))
    return [n for n in dict.fromkeys(names) if n]


def item_id(feed_url: str, guid: str | None, canonical: str | None, content: str) -> str:
    """Return the stable id of an item: feed URL + GUID, else canonical link, else content hash."""
    if guid:
        basis = f"guid\0{feed_url}\0{guid}"
    elif canonical:
        basis = f"url\0{feed_url}\0{canonical}"
    else:
        basis = f"content\0{feed_url}\0{content}"
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    feed_name: str,
    base_url: str,
    headers: Mapping[str, str] | None = None,
    max_field_chars: int = 4096,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse ``body`` and return its normalised items (never raises on bad feed content)."""
    now = now or datetime.now(UTC)
    if body.lstrip()[:1] == b"{":
        return _parse_json_feed(
            body,
            feed_url=feed_url,
            feed_name=feed_name,
            base_url=base_url,
            now=now,
            max_field_chars=max_field_chars,
        )
    try:
        body = guard_entities(body)
    except EntityRefused as refused:
        return ParsedFeed(error=f"refused: {refused}")
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    response_headers.setdefault("content-location", base_url)
    parsed = feedparser.parse(
        io.BytesIO(cap_fields(body, max_field_chars)),
        response_headers=response_headers,
        # nh3 sanitises every HTML field we keep, far faster than feedparser's pure-Python
        # sanitiser (which would run first for nothing)
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    result = ParsedFeed(
        title=plain_text(strip_controls(str(parsed.feed.get("title", ""))))[:300],
        site_url=clean_link(strip_controls(str(parsed.feed.get("link", "")))),
        language=language_tag(parsed.feed.get("language")),
    )
    entries = parsed.get("entries") or []
    exc = parsed.get("bozo_exception")
    if not entries:
        if parsed.get("version"):
            result.warning = "the feed has no items"
        elif parsed.get("bozo") and not isinstance(exc, _HARMLESS):
            result.error = f"not a readable feed: {collapse(str(exc))[:200]}"
        else:
            result.error = "not an RSS or Atom feed (no feed structure found)"
        return result
    if parsed.get("bozo") and not isinstance(exc, _HARMLESS):
        if _cut_short(body):
            result.error = (
                f"the feed is cut short ({len(body):,} bytes, no closing </rss>, </feed> or "
                "</rdf:RDF>): a truncated file or download; nothing stored, retried next time"
            )
            return result
        result.warning = f"feed is not well-formed, parsed leniently: {collapse(str(exc))[:150]}"
    seen: set[str] = set()
    skipped = 0
    for entry in entries:
        item = _normalise(
            entry,
            feed_url=feed_url,
            feed_name=feed_name,
            base_url=base_url,
            now=now,
            max_field_chars=max_field_chars,
        )
        if item is None:
            skipped += 1
            continue
        if item.id in seen:
            continue
        seen.add(item.id)
        result.items.append(item)
    if skipped:
        note = f"{skipped} entr{'y' if skipped == 1 else 'ies'} without title or link skipped"
        result.warning = f"{result.warning}; {note}" if result.warning else note
    return result


_ROOT_CLOSE = re.compile(rb"</(?:[\w.-]+:)?(?:rss|feed|rdf)\s*>", re.IGNORECASE)


def _cut_short(body: bytes) -> bool:
    """Return whether a not-well-formed feed lacks its root's closing tag near its end (the
    sign of a truncated file: a feed only malformed inside still ends with it)."""
    tail = body[-65536:]
    for start, codec in _WIDE_STARTS:
        if body[:4].startswith(start):
            width = 4 if "32" in codec else (2 if "16" in codec else 1)
            tail = body[-(65536 - 65536 % width) :].decode(codec, errors="ignore").encode()
            break
    return _ROOT_CLOSE.search(tail) is None


def _json_date(value: Any) -> time.struct_time | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).timetuple()


def _parse_json_feed(
    body: bytes,
    *,
    feed_url: str,
    feed_name: str,
    base_url: str,
    now: datetime,
    max_field_chars: int,
) -> ParsedFeed:
    """Parse a JSON Feed (jsonfeed.org 1.0/1.1), which feedparser 6 does not read."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return ParsedFeed(error=f"not a readable feed: invalid JSON ({exc})"[:250])
    except RecursionError:
        return ParsedFeed(error="not a readable feed: its JSON nests too deeply")
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        return ParsedFeed(error="not a feed: JSON without a jsonfeed.org version")
    result = ParsedFeed(
        title=plain_text(strip_controls(str(data.get("title", ""))))[:300],
        site_url=clean_link(strip_controls(str(data.get("home_page_url", "")))),
        language=language_tag(data.get("language")),
    )
    feed_authors = data.get("authors") or ([data["author"]] if data.get("author") else [])
    raw_items = data.get("items")
    if not isinstance(raw_items, list):
        result.error = "not a readable feed: JSON Feed without items"
        return result
    seen: set[str] = set()
    for raw in raw_items:
        if not isinstance(raw, dict):
            continue
        html_body = raw.get("summary") or raw.get("content_html")
        entry: dict[str, Any] = {
            "id": str(raw.get("id", ""))[:max_field_chars],
            "title": str(raw.get("title", ""))[:max_field_chars],
            "link": urljoin(base_url, str(raw.get("url") or raw.get("external_url") or "")),
            "published_parsed": _json_date(raw.get("date_published")),
            "updated_parsed": _json_date(raw.get("date_modified")),
            "authors": [
                {"name": str(a.get("name", ""))[:max_field_chars]}
                for a in (
                    raw.get("authors")
                    or ([raw["author"]] if raw.get("author") else None)
                    or feed_authors
                )
                if isinstance(a, dict)
            ],
            "tags": [{"term": str(t)} for t in raw.get("tags") or [] if isinstance(t, str)],
        }
        if html_body:
            entry["summary"] = str(html_body)
            entry["summary_detail"] = {"type": "text/html"}
        elif raw.get("content_text"):
            entry["summary"] = str(raw["content_text"])
            entry["summary_detail"] = {"type": "text/plain"}
        item = _normalise(
            entry,
            feed_url=feed_url,
            feed_name=feed_name,
            base_url=base_url,
            now=now,
            max_field_chars=max_field_chars,
        )
        if item is not None and item.id not in seen:
            seen.add(item.id)
            result.items.append(item)
    if not result.items:
        result.warning = "the feed has no items"
    return result


def _without_controls(value: Any) -> Any:
    """Return a feedparser value (str, list, dict) with control characters stripped from text."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, Mapping):
        return {k: _without_controls(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_controls(v) for v in value]
    return value


_TEXT_KEYS = ("title", "link", "id", "guid", "summary", "content", "author", "authors", "tags")


def _normalise(
    entry: Mapping[str, Any],
    *,
    feed_url: str,
    feed_name: str,
    base_url: str,
    now: datetime,
    max_field_chars: int,
) -> FeedItem | None:
    # at the door: no control character reaches the store (one broke every newsletter)
    entry = {**entry, **{k: _without_controls(entry[k]) for k in _TEXT_KEYS if k in entry}}
    raw_link = str(entry.get("link") or "")
    link = clean_link(raw_link)
    canonical = canonical_url(raw_link) if link else None
    guid_value = entry.get("id") or entry.get("guid") or ""
    guid = collapse(str(guid_value))[:500] or None
    summary_html, summary_text = _summary(entry, link or base_url)
    title = truncate(plain_text(str(entry.get("title") or "")), 300)
    if not title:
        title = truncate(summary_text, 120) if summary_text else ""
    if not title and not link:
        return None
    published, flag = _published(entry, now)
    folded_text = collapse(fold(summary_text))
    content_hash = (
        hashlib.sha256(folded_text.encode()).hexdigest()[:20]
        if len(folded_text) >= MIN_HASHED_TEXT
        else None
    )
    tags = []
    for tag in entry.get("tags") or []:
        term = tag.get("term") or tag.get("label") if isinstance(tag, Mapping) else None
        if term:
            tags.append(truncate(plain_text(str(term)), 80))
    return FeedItem(
        id=item_id(feed_url, guid, canonical, f"{title}\0{summary_text}"),
        feed_url=feed_url,
        feed_name=feed_name,
        guid=guid,
        link=link,
        canonical_url=canonical,
        title=title or link,
        title_key=title_key(title or link),
        content_hash=content_hash,
        summary_html=summary_html,
        summary_text=summary_text,
        authors=_authors(entry, max_field_chars),
        tags=[t for t in dict.fromkeys(tags) if t][:20],
        published=published,
        date_flag=flag,
        first_seen=now,
    )


@dataclass(frozen=True)
class ParseJob:
    """The arguments of one :func:`parse_feed` call, as a parse worker receives them."""

    body: bytes
    feed_url: str
    feed_name: str
    base_url: str
    headers: Mapping[str, str] | None = None
    max_field_chars: int = 4096
    now: datetime | None = None


def parse_timed(job: ParseJob) -> tuple[ParsedFeed, float]:
    """Run :func:`parse_feed` on ``job`` and return its result with the seconds it took."""
    start = time.perf_counter()
    result = parse_feed(
        job.body,
        feed_url=job.feed_url,
        feed_name=job.feed_name,
        base_url=job.base_url,
        headers=job.headers,
        max_field_chars=job.max_field_chars,
        now=job.now,
    )
    return result, time.perf_counter() - start
