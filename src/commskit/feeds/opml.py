"""OPML import and export: outline folders and ``category`` attributes ↔ topics.

Export puts each feed under the folder of its first topic and lists all its topics in the standard
``category`` attribute (``/covoiturage,/mobilites``), so import → export → import keeps names,
URLs and topics. Tags and weights travel in the extra attributes ``commskitTags`` and
``commskitWeight`` (OPML allows any attribute; other readers ignore them).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from ..errors import FeedSourceError
from .rules import TopicRules
from .sources import FeedSource, default_name, resolve_url
from .text import fold


@dataclass(frozen=True)
class OpmlEntry:
    """One feed outline: its name, URL and the categories (label) it sits in."""

    name: str
    url: str
    written_url: str
    categories: tuple[str, ...]
    tags: tuple[str, ...] = ()
    weight: float = 1.0


def slugify(label: str) -> str:
    """Return a topic id for a folder label: "Mobilités douces" → "mobilites-douces"."""
    slug = re.sub(r"[^a-z0-9]+", "-", fold(label)).strip("-")
    return slug or "divers"


def read_opml_entries(path: Path) -> list[OpmlEntry]:
    """Parse an OPML file into feed entries; raise FeedSourceError naming the file and line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FeedSourceError(f"cannot read the OPML file: {exc.strerror}", path=path) from exc
    try:
        # expat (used by ElementTree) refuses external entities and caps entity expansion
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise FeedSourceError(
            f"not a readable OPML file ({exc.msg if hasattr(exc, 'msg') else exc})",
            path=path,
            line=line,
            hint="Export the OPML again from your feed reader",
        ) from exc
    if root.tag.lower() != "opml":
        raise FeedSourceError(
            f"not an OPML file (root element <{root.tag}>)",
            path=path,
            hint="Give a file exported as OPML by a feed reader",
        )
    body = root.find("body")
    if body is None:
        raise FeedSourceError("OPML file without <body>", path=path)
    entries: list[OpmlEntry] = []

    def walk(node: ET.Element, folders: tuple[str, ...]) -> None:
        for outline in node.findall("outline"):
            attrs = {k.lower(): v for k, v in outline.attrib.items()}
            label = (attrs.get("title") or attrs.get("text") or "").strip()
            xml_url = (attrs.get("xmlurl") or "").strip()
            if xml_url:
                try:
                    url = resolve_url(xml_url, path)
                except ValueError:
                    continue  # e.g. a podcast `itpc:` URL: nothing commskit can fetch
                categories = _categories(attrs.get("category", "")) or folders[-1:]
                tags = tuple(t for t in (attrs.get("commskittags") or "").split(",") if t)
                try:
                    weight = float(attrs.get("commskitweight") or 1.0)
                except ValueError:
                    weight = 1.0
                entries.append(
                    OpmlEntry(
                        name=label or default_name(url),
                        url=url,
                        written_url=xml_url,
                        categories=categories,
                        tags=tags,
                        weight=weight,
                    )
                )
            walk(outline, (*folders, label) if label and not xml_url else folders)

    walk(body, ())
    return entries


def _categories(value: str) -> tuple[str, ...]:
    out = []
    for part in value.split(","):
        segments = [s for s in part.strip().split("/") if s.strip()]
        if segments:
            out.append(segments[-1].strip())
    return tuple(out)


def topic_for(label: str, rules: TopicRules) -> str:
    """Return the topic id a category label stands for (by id, or by title), else its slug."""
    slug = slugify(label)
    if label in rules.topics:
        return label
    if slug in rules.topics:
        return slug
    for topic in rules.topics.values():
        if slugify(topic.title) == slug or (topic.title_en and slugify(topic.title_en) == slug):
            return topic.id
    return slug


def read_opml(path: Path, *, known_topics: Iterable[str] | None = None) -> list[FeedSource]:
    """Read an OPML file used as a feed list: known categories become topics, others tags."""
    known = set(known_topics) if known_topics is not None else None
    feeds = []
    for entry in read_opml_entries(path):
        slugs = [c if known is not None and c in known else slugify(c) for c in entry.categories]
        topics = tuple(s for s in slugs if known is None or s in known)
        tags = tuple(dict.fromkeys([*entry.tags, *(s for s in slugs if s not in topics)]))
        feeds.append(
            FeedSource(
                name=entry.name,
                url=entry.url,
                topics=topics,
                tags=tags,
                weight=entry.weight,
                list_path=path,
                written_url=entry.written_url,
            )
        )
    return feeds


def export_opml(feeds: Sequence[FeedSource], rules: TopicRules, *, title: str = "commskit") -> str:
    """Return an OPML 2.0 document listing ``feeds``, one folder per (first) topic."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC), usegmt=True)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for feed in feeds:
        parent = body
        if feed.topics:
            first = feed.topics[0]
            if first not in folders:
                label = rules.title(first)
                folders[first] = ET.SubElement(body, "outline", text=label, title=label)
            parent = folders[first]
        attrs = {
            "type": "rss",
            "text": feed.name,
            "title": feed.name,
            "xmlUrl": feed.url,
        }
        if feed.topics:
            attrs["category"] = ",".join(f"/{t}" for t in feed.topics)
        if feed.tags:
            attrs["commskitTags"] = ",".join(feed.tags)
        if feed.weight != 1.0:
            attrs["commskitWeight"] = f"{feed.weight:g}"
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
