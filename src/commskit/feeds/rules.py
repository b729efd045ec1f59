"""Topic rules (``feeds/topics.toml``): which topics an item belongs to, and how relevant it is.

::

    [[topic]]
    id = "covoiturage"            # used in feed lists and --topic
    title = "Covoiturage"         # section heading in the digest
    keywords = ["covoiturage", "covoitur*", "voie réservée"]
    exclude = ["blablacar bus"]   # an item matching one of these never gets this topic
    regex = ['\\bco-?voit']       # Python regexes, matched like keywords
    exclude_regex = []
    fields = ["title", "summary", "author"]   # where to look (default: all three)
    weight = 1.0                  # multiplies this topic's matches in the score

Matching ignores case and accents ("vehicule" matches "Véhicule"). A keyword matches whole words;
end it with ``*`` to match any word starting with it (``covoitur*``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import read_toml
from ..errors import RuleError
from .sources import DOCS, append_blocks, toml_value
from .text import fold

FIELDS = ("title", "summary", "author")
TOPIC_KEYS = (
    "id",
    "title",
    "title_en",
    "keywords",
    "exclude",
    "regex",
    "exclude_regex",
    "fields",
    "weight",
)
_TOPIC_HEADER = re.compile(r"^\s*\[\[\s*topic\s*\]\]")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Pattern:
    """One compiled keyword or regex, with the text the user wrote (shown by `rules test`)."""

    source: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class Topic:
    """One topic: its labels and compiled include/exclude patterns."""

    id: str
    title: str
    title_en: str = ""
    include: tuple[Pattern, ...] = ()
    exclude: tuple[Pattern, ...] = ()
    fields: tuple[str, ...] = FIELDS
    weight: float = 1.0
    line: int | None = None

    def label(self, language: str = "fr") -> str:
        """Return the display label in ``language`` (English when given, else the French title)."""
        return self.title_en if language == "en" and self.title_en else self.title


@dataclass(frozen=True)
class TopicMatch:
    """Why an item has a topic: the patterns that matched, per field (empty = feed default)."""

    topic: str
    hits: tuple[tuple[str, str], ...] = ()  # (field, pattern source)
    from_feed: bool = False

    @property
    def strength(self) -> float:
        """Return the match strength: title hits count double."""
        return sum(2.0 if f == "title" else 1.0 for f, _ in self.hits)


@dataclass
class TopicRules:
    """All topics of a workspace, in file order (which is also the digest's section order)."""

    topics: dict[str, Topic] = field(default_factory=dict)
    path: Path | None = None

    def ids(self) -> list[str]:
        return list(self.topics)

    def title(self, topic_id: str, language: str = "fr") -> str:
        topic = self.topics.get(topic_id)
        return topic.label(language) if topic else topic_id

    def match(
        self,
        *,
        title: str,
        summary: str = "",
        authors: Sequence[str] = (),
        feed_topics: Iterable[str] = (),
    ) -> list[TopicMatch]:
        """Return the topics an item belongs to (rule matches and feed defaults, minus excludes)."""
        texts = {
            "title": fold(title),
            "summary": fold(summary),
            "author": fold(" ; ".join(authors)),
        }
        defaults = set(feed_topics)
        matches: list[TopicMatch] = []
        for topic in self.topics.values():
            looked = [texts[f] for f in topic.fields]
            if any(p.regex.search(t) for p in topic.exclude for t in looked):
                continue
            hits = tuple(
                (f, p.source)
                for p in topic.include
                for f in topic.fields
                if p.regex.search(texts[f])
            )
            if hits or topic.id in defaults:
                matches.append(TopicMatch(topic.id, hits, from_feed=not hits))
        # Feed topics unknown to the rules (e.g. from an OPML folder) still group the items.
        for topic_id in feed_topics:
            if topic_id not in self.topics and all(m.topic != topic_id for m in matches):
                matches.append(TopicMatch(topic_id, (), from_feed=True))
        return matches

    def score(
        self,
        matches: Sequence[TopicMatch],
        *,
        feed_weight: float,
        published: datetime,
        now: datetime,
        half_life_days: float,
    ) -> float:
        """Return an item's rank: (1 + weighted rule matches) × source weight × recency decay."""
        relevance = 1.0 + sum(
            m.strength * (self.topics[m.topic].weight if m.topic in self.topics else 1.0)
            for m in matches
        )
        age_days = max(0.0, (now - published).total_seconds() / 86400)
        recency = math.pow(0.5, age_days / half_life_days) if half_life_days > 0 else 1.0
        return round(relevance * feed_weight * recency, 4)


def compile_keyword(keyword: str) -> re.Pattern[str]:
    """Compile a keyword (``*`` suffix = prefix match) into a whole-word, folded regex."""
    folded = fold(keyword.strip())
    prefix = folded.endswith("*")
    body = re.escape(folded.rstrip("*").strip())
    body = body.replace(r"\ ", r"[\s\-']+")  # "voie réservée" also matches "voie-réservée"
    tail = r"\w*" if prefix else ""
    return re.compile(rf"(?<!\w){body}{tail}(?!\w)")


def _line_of(text: str, needle: str, default: int | None) -> int | None:
    for i, line in enumerate(text.splitlines()):
        if needle and needle in line:
            return i + 1
    return default


def load_rules(path: Path) -> TopicRules:
    """Read the topic rules file; a missing file means no topics. Errors name file and line."""
    if not path.exists():
        return TopicRules(path=path)
    data, text = read_toml(path, error=RuleError, what="the topic rules", docs=DOCS)
    headers = [i + 1 for i, line in enumerate(text.splitlines()) if _TOPIC_HEADER.match(line)]
    extra = sorted(k for k in data if k != "topic")
    if extra:
        raise RuleError(
            f"unknown table or key {extra[0]!r}",
            path=path,
            line=_line_of(text, extra[0], None),
            hint="The topic rules file holds only topic blocks",
        )
    raw_topics = data.get("topic", [])
    if not isinstance(raw_topics, list):
        raise RuleError("`topic` must be an array of tables (topic blocks)", path=path)
    rules = TopicRules(path=path)
    for index, raw in enumerate(raw_topics):
        line = headers[index] if index < len(headers) else None
        topic = _build_topic(raw, path=path, text=text, line=line)
        if topic.id in rules.topics:
            raise RuleError(f"topic {topic.id!r} is defined twice", path=path, line=line)
        rules.topics[topic.id] = topic
    return rules


def _strings(raw: Mapping[str, Any], key: str, *, path: Path, line: int | None) -> list[str]:
    value = raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{key} must be a list of strings", path=path, line=line)
    return [v for v in value if v.strip()]


def _build_topic(raw: object, *, path: Path, text: str, line: int | None) -> Topic:
    if not isinstance(raw, dict):
        raise RuleError(
            f"`topic` holds {type(raw).__name__} values, not [[topic]] blocks",
            path=path,
            line=line or _line_of(text, "topic", None),
            hint='Write each topic as a [[topic]] block with id = "…"',
        )
    unknown = sorted(set(raw) - set(TOPIC_KEYS))
    if unknown:
        raise RuleError(
            f"unknown key {unknown[0]!r} in topic block",
            path=path,
            line=_line_of(text, unknown[0], line),
            hint=f"Known keys: {', '.join(TOPIC_KEYS)}",
        )
    topic_id = raw.get("id")
    if not isinstance(topic_id, str) or not _ID.match(topic_id):
        raise RuleError(
            "each topic block needs an id made of lower-case letters, digits, - or _",
            path=path,
            line=line,
        )
    title = raw.get("title", topic_id)
    if not isinstance(title, str):
        raise RuleError("title must be a string", path=path, line=line)
    fields = _strings(raw, "fields", path=path, line=line) or list(FIELDS)
    for name in fields:
        if name not in FIELDS:
            raise RuleError(
                f"unknown field {name!r} in topic {topic_id!r}",
                path=path,
                line=_line_of(text, "fields", line),
                hint=f"Use some of: {', '.join(FIELDS)}",
            )
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise RuleError(
            f"weight of topic {topic_id!r} must be a positive number", path=path, line=line
        )

    def regexes(key: str) -> list[Pattern]:
        out = []
        for source in _strings(raw, key, path=path, line=line):
            try:
                # patterns run on folded text: fold them too, so "véhicule" in a regex still works
                compiled = re.compile(fold(source), re.IGNORECASE)
            except re.error as exc:
                raise RuleError(
                    f"invalid regex {source!r} in topic {topic_id!r}: {exc.msg}",
                    path=path,
                    line=_line_of(text, source[:30], line),
                    hint="Fix the pattern (Python re syntax; in TOML, use 'single quotes')",
                ) from exc
            out.append(Pattern(source, compiled))
        return out

    include = [
        Pattern(k, compile_keyword(k)) for k in _strings(raw, "keywords", path=path, line=line)
    ]
    exclude = [
        Pattern(k, compile_keyword(k)) for k in _strings(raw, "exclude", path=path, line=line)
    ]
    return Topic(
        id=topic_id,
        title=title,
        title_en=str(raw.get("title_en", "")),
        include=(*include, *regexes("regex")),
        exclude=(*exclude, *regexes("exclude_regex")),
        fields=tuple(fields),
        weight=float(weight),
        line=line,
    )


def append_topics(path: Path, topics: Sequence[tuple[str, str]]) -> None:
    """Append empty ``[[topic]]`` blocks (id, title) to the rules file as text, keeping comments."""
    blocks = "\n".join(
        f"[[topic]]\nid = {toml_value(tid)}\ntitle = {toml_value(title)}\nkeywords = []\n"
        for tid, title in topics
    )
    append_blocks(path, blocks, error=RuleError, what="the topic rules")
