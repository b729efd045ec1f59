"""The veille decisions behind the feed commands, on explicit inputs (no workspace, no store).

:mod:`commskit.app.veille` gathers the inputs (feed lists, topic rules, stored state) and calls
these; each function here checks or computes, and raises a one-line error naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ..errors import FeedSourceError, RuleError
from ..store.feeds import FeedState, StoredItem
from .opml import OpmlEntry, topic_for
from .rules import TopicMatch, TopicRules
from .sources import FeedSource, default_name, list_files, local_file_outside, resolve_url

DEFAULT_LIST = "feeds/veille.toml"


@dataclass
class FeedStatus:
    """A feed as `feeds list` shows it: the list entry plus what fetching learnt."""

    feed: FeedSource
    state: str  # "active", "disabled", "deactivated", "backing off", "new"
    effective_url: str | None = None
    error_count: int = 0
    last_error: str | None = None
    last_fetch: str | None = None
    last_success: str | None = None
    not_before: str | None = None
    items: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.feed.to_dict(),
            "state": self.state,
            "effective_url": self.effective_url,
            "error_count": self.error_count,
            "last_error": self.last_error,
            "last_fetch": self.last_fetch,
            "last_success": self.last_success,
            "not_before": self.not_before,
            "items": self.items,
        }


def feed_status(
    feeds: Iterable[FeedSource],
    states: Mapping[str, FeedState],
    counts: Mapping[str, int],
    now: datetime,
) -> list[FeedStatus]:
    """Return each feed with its fetch state (``states``) and stored item count (``counts``)."""
    out = []
    for feed in feeds:
        row = states.get(feed.url)
        status = FeedStatus(feed=feed, state="active" if feed.enabled else "disabled")
        if row is not None:
            status.effective_url = row.effective_url
            status.error_count = row.error_count
            status.last_error = row.last_error
            status.last_fetch = row.last_fetch
            status.last_success = row.last_success
            status.not_before = row.not_before
            if row.deactivated:
                status.state = "deactivated"
            elif row.not_before and datetime.fromisoformat(row.not_before) > now:
                status.state = "backing off"
            elif not row.last_fetch and feed.enabled:
                status.state = "new"
        elif feed.enabled:
            status.state = "new"
        status.items = counts.get(feed.url, 0)
        out.append(status)
    return out


def default_list(root: Path, sources: Sequence[str], rules_file: Path) -> Path:
    """Return the TOML list new feeds go to: the first TOML list found, else feeds/veille.toml."""
    rules_file = rules_file.resolve()
    for path in list_files(root, sources):
        if path.suffix.lower() == ".toml" and path != rules_file:
            return path
    return root / DEFAULT_LIST


def check_topic(topic_rules: TopicRules, topic: str) -> None:
    """Raise RuleError (naming the rules file and the known topics) unless ``topic`` exists."""
    if topic not in topic_rules.topics:
        raise RuleError(
            f"unknown topic {topic!r}",
            path=topic_rules.path,
            hint=f"Use one of: {', '.join(topic_rules.ids()) or '(none defined)'}",
        )


def new_feed(
    url: str,
    *,
    listed: Mapping[str, FeedSource],
    topic_rules: TopicRules,
    target: Path,
    name: str | None = None,
    topics: Sequence[str] = (),
    tags: Sequence[str] = (),
    weight: float = 1.0,
) -> FeedSource:
    """Return the feed `feeds add` appends to ``target``; refuse unknown topics, repeated URLs
    (``listed``: every listed feed by URL) and addresses that are neither web nor file."""
    for topic in topics:
        check_topic(topic_rules, topic)
    try:
        absolute = resolve_url(url, target)
    except ValueError as exc:
        raise FeedSourceError(
            str(exc), hint="Give an http(s):// or file:// URL, or a path"
        ) from exc
    if absolute.startswith("file:") and not Path(url2pathname(urlsplit(absolute).path)).exists():
        raise FeedSourceError(
            f"{url!r} is neither a web address nor an existing file",
            hint="Give the full URL, e.g. https://example.org/feed.xml, or the path of a file",
        )
    existing = listed.get(absolute)
    if existing is not None:
        raise FeedSourceError(
            f"this feed is already listed as {existing.name!r}",
            path=existing.list_path,
            line=existing.line,
        )
    return FeedSource(
        name=(name or default_name(absolute)).strip(),
        url=absolute,
        topics=tuple(topics),
        tags=tuple(tags),
        weight=weight,
        list_path=target,
        written_url=url,
    )


@dataclass
class ImportReport:
    """What `feeds import` did."""

    target: Path
    added: list[FeedSource] = field(default_factory=list)
    already_listed: list[str] = field(default_factory=list)
    new_topics: list[tuple[str, str]] = field(default_factory=list)
    # file:// outlines outside the workspace, not imported
    refused: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "added": [f.to_dict() for f in self.added],
            "already_listed": self.already_listed,
            "new_topics": [{"id": i, "title": t} for i, t in self.new_topics],
            "refused": self.refused,
        }


def plan_import(
    entries: Iterable[OpmlEntry],
    *,
    topic_rules: TopicRules,
    listed: Mapping[str, FeedSource],
    root: Path,
    target: Path,
) -> ImportReport:
    """Decide what importing OPML ``entries`` into ``target`` adds (nothing is written here).

    Categories that match no topic (by id or title) become new topics (``new_topics``); URLs
    already ``listed`` are passed over, file:// outlines outside ``root`` refused.
    """
    report = ImportReport(target=target)
    new_topics: dict[str, str] = {}
    for entry in entries:
        if local_file_outside(entry.url, root):
            report.refused.append(entry.url)
            continue
        if entry.url in listed or any(f.url == entry.url for f in report.added):
            report.already_listed.append(entry.url)
            continue
        topic_ids = []
        for label in entry.categories:
            topic_id = topic_for(label, topic_rules)
            if topic_id not in topic_rules.topics and topic_id not in new_topics:
                new_topics[topic_id] = label
            topic_ids.append(topic_id)
        report.added.append(
            FeedSource(
                name=entry.name,
                url=entry.url,
                topics=tuple(dict.fromkeys(topic_ids)),
                tags=entry.tags,
                weight=entry.weight,
                list_path=target,
                written_url=entry.url,
            )
        )
    report.new_topics = list(new_topics.items())
    return report


@dataclass
class RuleTest:
    """Which topics a text (or a stored item) matches, and through which keywords."""

    title: str
    matches: list[TopicMatch]
    item_id: str | None = None
    feed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "item_id": self.item_id,
            "feed": self.feed,
            "topics": [
                {
                    "topic": m.topic,
                    "from_feed": m.from_feed,
                    "hits": [{"field": f, "pattern": p} for f, p in m.hits],
                }
                for m in self.matches
            ],
        }


def try_rules(
    topic_rules: TopicRules,
    text: str | None = None,
    *,
    items: Iterable[StoredItem] = (),
    feeds: Mapping[str, FeedSource] | None = None,
    topic: str | None = None,
) -> list[RuleTest]:
    """Try the topic rules on a text and on stored ``items`` (``feeds``: listed feeds by URL,
    for their default topics); ``topic`` keeps only that topic's matches."""
    if topic is not None:
        check_topic(topic_rules, topic)
    results: list[RuleTest] = []
    if text is not None:
        matches = topic_rules.match(title=text, summary=text)
        results.append(RuleTest(text, matches))
    for row in items:
        feed = (feeds or {}).get(row.feed_url)
        matches = topic_rules.match(
            title=row.title,
            summary=row.summary_text,
            authors=list(row.authors),
            feed_topics=feed.topics if feed else (),
        )
        results.append(RuleTest(row.title, matches, row.id, row.feed_name))
    if topic is not None:
        for result in results:
            result.matches = [m for m in result.matches if m.topic == topic]
    return results


def find_feed(feeds: Iterable[FeedSource], name_or_url: str) -> FeedSource:
    """Return the feed whose name or URL (as written or absolute) is ``name_or_url``."""
    wanted = name_or_url.strip()
    matches = [
        f
        for f in feeds
        if wanted in (f.url, f.written_url) or f.name.casefold() == wanted.casefold()
    ]
    if not matches:
        raise FeedSourceError(
            f"no feed named or at {wanted!r} in the feed lists",
            hint="See `commskit feeds list --urls` for the names and URLs",
        )
    if len(matches) > 1:
        raise FeedSourceError(
            f"{len(matches)} feeds match {wanted!r}",
            hint="Give the feed's URL instead of its name",
        )
    return matches[0]


def check_removable(feed: FeedSource) -> tuple[Path, int]:
    """Return the TOML list and line of ``feed``'s block; OPML lists are not edited."""
    if feed.list_path is None or feed.list_path.suffix.lower() != ".toml" or feed.line is None:
        raise FeedSourceError(
            f"{feed.name!r} comes from an OPML list, which commskit does not edit",
            path=feed.list_path,
            hint="Remove it from that file, or import it into a TOML list first",
        )
    return feed.list_path, feed.line
