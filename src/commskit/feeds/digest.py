"""The veille digest: new items of a period, grouped by topic, ranked, duplicates folded in.

``since`` is a duration (``7d``, ``24h``, ``2w``, ``90m``), a date (``2026-11-01``), a datetime,
``"all"`` (everything stored) or ``"last"`` (the end of the last *marked* digest of that name;
settings.digest.since on the first run). Marking records the digest's end time and the ids of
the items it included: ``since="last"`` and ``mark=True`` never include an item twice, even one
fetched late with an old date.

An item is in the period when it was published in it. With ``since="last"`` it is also in when it
was first fetched in the period with a publication date at most :data:`LATE_GRACE` older than the
start: a feed that publishes late is not lost, a newly added feed's archive does not flood the
digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..errors import DigestError
from ..periods import EPOCH as EPOCH  # the since grammar, in the foundation for config too
from ..periods import check_since as check_since
from ..periods import parse_since as parse_since
from ..store.feeds import FeedRepo, StoredItem
from .rules import TopicMatch, TopicRules
from .sources import FeedSource

LATE_GRACE = timedelta(days=7)


@dataclass
class DigestItem:
    """One entry of the digest. ``title`` is plain text (escape it); ``summary_html`` is clean."""

    id: str
    title: str
    url: str
    published: datetime | None
    summary_html: str
    summary_text: str
    sources: list[str]
    also_in: list[str]
    topics: list[str]
    score: float
    authors: list[str]
    duplicate_ids: list[str] = field(default_factory=list)
    #: the BCP 47 tag its feed declares ("en-US"); "" when the feed declares none
    language: str = ""

    def lang_in(self, language: str) -> str:
        """Return the ``lang`` attribute this item needs inside a message in ``language``."""
        return other_language(self.language, language)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "published": self.published.isoformat(timespec="seconds") if self.published else None,
            "summary_html": self.summary_html,
            "summary_text": self.summary_text,
            "sources": self.sources,
            "also_in": self.also_in,
            "topics": self.topics,
            "score": self.score,
            "authors": self.authors,
        }


def other_language(tag: str, language: str) -> str:
    """Return ``tag`` (an item's BCP 47 language) when it is another language than the
    message's ``language`` ("en-US" in a French message), else "" ("fr-FR" in a French
    message, or no tag): what an item's ``lang`` attribute must say."""
    primary = tag.split("-", 1)[0].lower()
    return tag if primary and primary != language.split("-", 1)[0].lower() else ""


@dataclass
class DigestSection:
    """The items of one topic, best first."""

    topic: str
    title: str
    items: list[DigestItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "title": self.title,
            "count": len(self.items),
            "items": [i.to_dict() for i in self.items],
        }


@dataclass
class Digest:
    """A veille digest: the period, its sections and counts."""

    name: str
    start: datetime
    end: datetime
    sections: list[DigestSection] = field(default_factory=list)
    total: int = 0
    # items of the period that matched no topic (see `commskit rules test --stored`)
    unmatched: int = 0
    # items beyond max_per_topic, left out
    left_out: int = 0
    language: str = "fr"
    marked: bool = False

    @property
    def items(self) -> list[DigestItem]:
        """Return every item, section by section."""
        return [item for section in self.sections for item in section.items]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description (datetimes as ISO 8601 UTC)."""
        return {
            "name": self.name,
            "start": self.start.isoformat(timespec="seconds"),
            "end": self.end.isoformat(timespec="seconds"),
            "total": self.total,
            "unmatched": self.unmatched,
            "left_out": self.left_out,
            "sections": [s.to_dict() for s in self.sections],
        }


def build_digest(
    repo: FeedRepo,
    rules: TopicRules,
    feeds: Mapping[str, FeedSource],
    *,
    name: str,
    since: str | datetime | date,
    default_since: str,
    topics: Sequence[str] | None = None,
    max_per_topic: int | None = None,
    half_life_days: float = 7.0,
    language: str = "fr",
    exclude_marked: bool = False,
    now: datetime | None = None,
) -> Digest:
    """Select, rank and group the items of a period (see the module docstring).

    Items already in a marked digest of that name are left out when ``since`` is ``"last"`` or
    ``exclude_marked`` is set (as it is when the new digest will itself be marked).
    """
    now = now or datetime.now(UTC)
    wanted = _wanted_topics(rules, topics)
    since_last = isinstance(since, str) and since.strip().lower() == "last"
    if since_last:
        last = repo.last_digest(name)
        start = (
            datetime.fromisoformat(last.end)
            if last is not None
            else parse_since(default_since, now)
        )
    else:
        start = parse_since(since, now)
    exclude = repo.marked_ids(name) if since_last or exclude_marked else set()
    if start >= now:
        raise DigestError(f"the period starts in the future ({start:%Y-%m-%d %H:%M} UTC)")
    digest = Digest(name=name, start=start, end=now, language=language)
    # Only "since last" takes late items: an explicit window means "published in it".
    late_start = max(start - LATE_GRACE, EPOCH) if since_last else start
    rows = repo.window_items(_iso(start), _iso(now), _iso(late_start))
    rows = [r for r in rows if r.id not in exclude]
    duplicates = repo.duplicates_of([r.id for r in rows])
    languages = repo.feed_languages()
    sections: dict[str, DigestSection] = {}
    for row in rows:
        dups = [d for d in duplicates.get(row.id, []) if d.id not in exclude]
        if not any(m.feed_url in feeds for m in (row, *dups)):
            continue  # its feed was removed from the lists: the user no longer wants it
        item, matches = _digest_item(row, dups, rules, feeds, now, half_life_days)
        item.language = languages.get(row.feed_url, "")
        if wanted:
            matches = [m for m in matches if m.topic in wanted]
        if not matches:
            if not wanted:
                digest.unmatched += 1
            continue
        primary = max(
            matches, key=lambda m: (m.strength * _weight(rules, m.topic), -_order(rules, m.topic))
        )
        section = sections.get(primary.topic)
        if section is None:
            section = sections[primary.topic] = DigestSection(
                primary.topic, rules.title(primary.topic, language)
            )
        section.items.append(item)
    _rank(digest, sorted(sections.values(), key=lambda s: _order(rules, s.topic)), max_per_topic)
    return digest


def _wanted_topics(rules: TopicRules, topics: Sequence[str] | None) -> list[str]:
    """Return the topics asked for, once each; DigestError naming the first unknown one."""
    wanted = list(dict.fromkeys(topics or []))
    for topic in wanted:
        if topic not in rules.topics:
            raise DigestError(
                f"unknown topic {topic!r}",
                hint=f"Use one of: {', '.join(rules.ids()) or '(no topics defined)'}",
            )
    return wanted


def _rank(digest: Digest, ordered: list[DigestSection], max_per_topic: int | None) -> None:
    """Sort each section best first, cut it at ``max_per_topic`` and fill the digest's counts."""
    limit = max_per_topic if max_per_topic and max_per_topic > 0 else None
    for section in ordered:
        section.items.sort(key=lambda i: (-i.score, -(i.published or EPOCH).timestamp(), i.title))
        if limit is not None and len(section.items) > limit:
            digest.left_out += len(section.items) - limit
            del section.items[limit:]
    digest.sections = [s for s in ordered if s.items]
    digest.total = sum(len(s.items) for s in digest.sections)


def mark_digest(repo: FeedRepo, digest: Digest) -> int:
    """Record ``digest`` as sent: its end time and every item (and merged duplicate) it holds."""
    ids: list[str] = []
    for item in digest.items:
        ids.append(item.id)
        ids.extend(item.duplicate_ids)
    digest.marked = True
    return repo.record_digest(
        digest.name,
        _iso(digest.start),
        _iso(digest.end),
        _iso(datetime.now(UTC)),
        ids,
        digest.total,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _weight(rules: TopicRules, topic: str) -> float:
    found = rules.topics.get(topic)
    return found.weight if found else 1.0


def _order(rules: TopicRules, topic: str) -> int:
    ids = rules.ids()
    return ids.index(topic) if topic in ids else len(ids)


def _digest_item(
    row: StoredItem,
    dups: Sequence[StoredItem],
    rules: TopicRules,
    feeds: Mapping[str, FeedSource],
    now: datetime,
    half_life_days: float,
) -> tuple[DigestItem, list[TopicMatch]]:
    group = [row, *dups]
    feed_topics: list[str] = []
    weight = 0.0
    for member in group:
        feed = feeds.get(member.feed_url)
        if feed is not None:
            feed_topics.extend(feed.topics)
            weight = max(weight, feed.weight)
    weight = weight or 1.0
    authors = list(row.authors)
    matches = rules.match(
        title=row.title,
        summary=row.summary_text,
        authors=authors,
        feed_topics=dict.fromkeys(feed_topics),
    )
    published = row.published
    sources = list(dict.fromkeys(m.feed_name for m in group))
    also_in: list[str] = []
    for dup in dups:
        label = dup.link if dup.link and dup.link != row.link else dup.feed_name
        if label not in also_in:
            also_in.append(label)
    item = DigestItem(
        id=row.id,
        title=row.title,
        url=row.link,
        published=None if row.date_flag == "missing" else published,
        summary_html=row.summary_html,
        summary_text=row.summary_text,
        sources=sources,
        also_in=also_in,
        topics=[m.topic for m in matches],
        score=rules.score(
            matches, feed_weight=weight, published=published, now=now, half_life_days=half_life_days
        ),
        authors=authors,
        duplicate_ids=[d.id for d in dups],
    )
    return item, matches
