"""The veille operations a :class:`~commskit.Workspace` offers (it delegates here).

Each function validates every input file (feed lists, topic rules) before touching the store, so
bad input changes nothing stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ..errors import FeedSourceError
from ..progress import Progress
from .digest import Digest, build_digest, mark_digest
from .fetch import FetchReport, fetch_feeds
from .opml import export_opml, read_opml_entries, topic_for
from .rules import TopicMatch, TopicRules, append_topics, load_rules
from .sources import (
    FeedLists,
    FeedSource,
    append_feeds,
    list_files,
    load_feed_lists,
    local_file_outside,
    resolve_url,
)

if TYPE_CHECKING:
    from ..workspace import Workspace

DEFAULT_LIST = "feeds/veille.toml"


def rules(ws: Workspace) -> TopicRules:
    """Load the workspace's topic rules (settings.feeds.rules)."""
    return load_rules(ws.path(ws.settings.feeds.rules))


def feed_lists(ws: Workspace, topic_rules: TopicRules | None = None) -> FeedLists:
    """Load every feed list selected by settings.feeds.sources, checking topics exist."""
    topic_rules = topic_rules or rules(ws)
    return load_feed_lists(
        ws.root,
        ws.settings.feeds.sources,
        known_topics=topic_rules.ids(),
        skip=[ws.path(ws.settings.feeds.rules)],
    )


def fetch(ws: Workspace, progress: Progress | None = None, *, force: bool = False) -> FetchReport:
    """Fetch every enabled feed into the store; see :func:`commskit.feeds.fetch.fetch_feeds`."""
    lists = feed_lists(ws)
    return fetch_feeds(
        ws.store,
        lists.feeds,
        ws.settings.feeds,
        progress=progress,
        force=force,
        dedupe_threshold=ws.settings.digest.dedupe_threshold,
    )


def digest(
    ws: Workspace,
    name: str | None = None,
    since: str | datetime | date | None = None,
    topics: Sequence[str] | None = None,
    max_per_topic: int | None = None,
    *,
    mark: bool = False,
    now: datetime | None = None,
) -> Digest:
    """Build the digest (and record it when ``mark``)."""
    settings = ws.settings.digest
    topic_rules = rules(ws)
    lists = feed_lists(ws, topic_rules)
    name = name or settings.name
    result = build_digest(
        ws.store,
        topic_rules,
        lists.by_url(),
        name=name,
        since=since if since is not None else settings.since,
        default_since=settings.since,
        topics=topics,
        max_per_topic=max_per_topic if max_per_topic is not None else settings.max_per_topic,
        half_life_days=settings.recency_half_life_days,
        language=ws.settings.workspace.language,
        exclude_marked=mark,
        now=now,
    )
    if mark:
        mark_digest(ws.store, result)
    return result


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


def feed_status(ws: Workspace) -> list[FeedStatus]:
    """Return every listed feed with its fetch state."""
    lists = feed_lists(ws)
    states: dict[str, sqlite3.Row] = ws.store.feeds.feed_states()
    counts = ws.store.feeds.feed_item_counts()
    now = datetime.now(UTC)
    out = []
    for feed in lists.feeds:
        row = states.get(feed.url)
        status = FeedStatus(feed=feed, state="active" if feed.enabled else "disabled")
        if row is not None:
            status.effective_url = row["effective_url"]
            status.error_count = int(row["error_count"])
            status.last_error = row["last_error"]
            status.last_fetch = row["last_fetch"]
            status.last_success = row["last_success"]
            status.not_before = row["not_before"]
            if row["deactivated"]:
                status.state = "deactivated"
            elif row["not_before"] and datetime.fromisoformat(row["not_before"]) > now:
                status.state = "backing off"
            elif not row["last_fetch"] and feed.enabled:
                status.state = "new"
        elif feed.enabled:
            status.state = "new"
        status.items = counts.get(feed.url, 0)
        out.append(status)
    return out


def default_list(ws: Workspace) -> Path:
    """Return the TOML list new feeds go to: the first TOML list found, else feeds/veille.toml."""
    rules_file = ws.path(ws.settings.feeds.rules).resolve()
    for path in list_files(ws.root, ws.settings.feeds.sources):
        if path.suffix.lower() == ".toml" and path != rules_file:
            return path
    return ws.path(DEFAULT_LIST)


def add_feed(
    ws: Workspace,
    url: str,
    *,
    name: str | None = None,
    topics: Sequence[str] = (),
    tags: Sequence[str] = (),
    weight: float = 1.0,
    to: str | Path | None = None,
) -> FeedSource:
    """Append a feed to a TOML list (comments kept); refuse unknown topics and repeated URLs."""
    topic_rules = rules(ws)
    lists = feed_lists(ws, topic_rules)
    target = ws.path(to) if to else default_list(ws)
    unknown = [t for t in topics if t not in topic_rules.topics]
    if unknown:
        from ..errors import RuleError

        raise RuleError(
            f"unknown topic {unknown[0]!r}",
            path=topic_rules.path,
            hint=f"Use one of: {', '.join(topic_rules.ids()) or '(none defined)'}",
        )
    try:
        absolute = resolve_url(url, target)
    except ValueError as exc:
        raise FeedSourceError(
            str(exc), hint="Give an http(s):// or file:// URL, or a path"
        ) from None
    if absolute.startswith("file:") and not Path(url2pathname(urlsplit(absolute).path)).exists():
        raise FeedSourceError(
            f"{url!r} is neither a web address nor an existing file",
            hint="Give the full URL, e.g. https://example.org/feed.xml, or the path of a file",
        )
    existing = lists.by_url().get(absolute)
    if existing is not None:
        raise FeedSourceError(
            f"this feed is already listed as {existing.name!r}",
            path=existing.list_path,
            line=existing.line,
        )
    from .sources import default_name

    feed = FeedSource(
        name=(name or default_name(absolute)).strip(),
        url=absolute,
        topics=tuple(topics),
        tags=tuple(tags),
        weight=weight,
        list_path=target,
        written_url=url,
    )
    append_feeds(target, [feed])
    return feed


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


def import_opml(ws: Workspace, path: str | Path, *, to: str | Path | None = None) -> ImportReport:
    """Add an OPML file's feeds to a TOML list; its folders/categories become topics.

    Categories that match no topic (by id or title) are added to the topic rules as topics
    without keywords, so feeds keep their grouping; edit their keywords afterwards.
    """
    source = Path(path)
    entries = read_opml_entries(source)
    topic_rules = rules(ws)
    lists = feed_lists(ws, topic_rules)
    target = ws.path(to) if to else default_list(ws)
    report = ImportReport(target=target)
    listed = lists.by_url()
    new_topics: dict[str, str] = {}
    feeds: list[FeedSource] = []
    for entry in entries:
        if local_file_outside(entry.url, ws.root):
            report.refused.append(entry.url)
            continue
        if entry.url in listed or any(f.url == entry.url for f in feeds):
            report.already_listed.append(entry.url)
            continue
        topic_ids = []
        for label in entry.categories:
            topic_id = topic_for(label, topic_rules)
            if topic_id not in topic_rules.topics and topic_id not in new_topics:
                new_topics[topic_id] = label
            topic_ids.append(topic_id)
        feeds.append(
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
    if new_topics:
        rules_path = topic_rules.path or ws.path(ws.settings.feeds.rules)
        append_topics(rules_path, list(new_topics.items()))
    if feeds:
        append_feeds(target, feeds)
    report.added = feeds
    report.new_topics = list(new_topics.items())
    return report


def export(ws: Workspace) -> str:
    """Return every listed feed as an OPML 2.0 document."""
    topic_rules = rules(ws)
    lists = feed_lists(ws, topic_rules)
    return export_opml(lists.feeds, topic_rules, title=ws.settings.workspace.name)


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
    ws: Workspace,
    text: str | None = None,
    *,
    stored: bool = False,
    topic: str | None = None,
    limit: int = 50,
) -> list[RuleTest]:
    """Try the topic rules on a text, or on the latest stored items."""
    import json

    topic_rules = rules(ws)
    if topic is not None and topic not in topic_rules.topics:
        from ..errors import RuleError

        raise RuleError(
            f"unknown topic {topic!r}",
            path=topic_rules.path,
            hint=f"Use one of: {', '.join(topic_rules.ids()) or '(none defined)'}",
        )
    results: list[RuleTest] = []
    if text is not None:
        matches = topic_rules.match(title=text, summary=text)
        results.append(RuleTest(text, matches))
    if stored:
        lists = feed_lists(ws, topic_rules).by_url()
        for row in ws.store.feeds.recent_items(limit):
            feed = lists.get(row["feed_url"])
            matches = topic_rules.match(
                title=row["title"],
                summary=row["summary_text"],
                authors=json.loads(row["authors"]),
                feed_topics=feed.topics if feed else (),
            )
            results.append(RuleTest(row["title"], matches, row["id"], row["feed_name"]))
    if topic is not None:
        for result in results:
            result.matches = [m for m in result.matches if m.topic == topic]
    return results


def find_feed(ws: Workspace, name_or_url: str) -> FeedSource:
    """Return the listed feed whose name or URL (as written or absolute) is ``name_or_url``."""
    lists = feed_lists(ws)
    wanted = name_or_url.strip()
    matches = [
        f
        for f in lists.feeds
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


def remove_feed(ws: Workspace, name_or_url: str) -> FeedSource:
    """Delete a feed from its TOML list; its stored items stay but leave future digests.

    OPML lists are not edited (export, edit and re-import them instead).
    """
    from .sources import remove_feed_block

    feed = find_feed(ws, name_or_url)
    if feed.list_path is None or feed.list_path.suffix.lower() != ".toml" or feed.line is None:
        raise FeedSourceError(
            f"{feed.name!r} comes from an OPML list, which commskit does not edit",
            path=feed.list_path,
            hint="Remove it from that file, or import it into a TOML list first",
        )
    remove_feed_block(feed.list_path, feed.line)
    return feed


def reset_feed(ws: Workspace, name_or_url: str) -> FeedSource:
    """Clear a feed's error count, back-off and deactivation (e.g. after a 410 was fixed)."""
    feed = find_feed(ws, name_or_url)
    ws.store.feeds.reset_feed(feed.url)
    return feed
