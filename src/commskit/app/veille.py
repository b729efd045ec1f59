"""The veille use cases: feed lists, fetch, digest, feed edits and rule tests.

Each function takes the pieces it needs — the workspace ``root`` (relative settings paths are
resolved from it), settings sections (``settings.feeds``, ``settings.digest``), the feed
repository (``store.feeds``) — gathers the inputs (topic rules, feed lists, stored state) and
calls the stages in :mod:`commskit.feeds`. Every input file is validated before the store or
another file is touched, so bad input changes nothing. :class:`commskit.Workspace` delegates
each veille method here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from ..config import DigestSettings, FeedSettings
from ..feeds import veille
from ..feeds.digest import Digest, build_digest
from ..feeds.digest import mark_digest as record_digest
from ..feeds.fetch import FetchReport, fetch_feeds
from ..feeds.opml import export_opml as opml_document
from ..feeds.opml import read_opml_entries
from ..feeds.rules import TopicRules, append_topics, load_rules
from ..feeds.sources import (
    FeedLists,
    FeedSource,
    append_feeds,
    load_feed_lists,
    remove_feed_block,
)
from ..feeds.veille import FeedStatus, ImportReport, RuleTest
from ..progress import Progress
from ..store.feeds import FeedRepo


def _at(root: Path, relative: str | os.PathLike[str]) -> Path:
    """Resolve a settings path from the workspace root (absolute and ``~`` paths as given)."""
    path = Path(relative).expanduser()
    return path if path.is_absolute() else root / path


def rules(root: Path, feeds: FeedSettings) -> TopicRules:
    """Load the topic rules (``feeds.rules``; a missing file means no topics)."""
    return load_rules(_at(root, feeds.rules))


def feed_lists(root: Path, feeds: FeedSettings, topic_rules: TopicRules | None = None) -> FeedLists:
    """Load every feed list ``feeds.sources`` selects, checking their topics exist."""
    topic_rules = topic_rules or rules(root, feeds)
    return load_feed_lists(
        root, feeds.sources, known_topics=topic_rules.ids(), skip=[_at(root, feeds.rules)]
    )


def fetch(
    root: Path,
    feeds: FeedSettings,
    digest_settings: DigestSettings,
    repo: FeedRepo,
    progress: Progress | None = None,
    *,
    force: bool = False,
) -> FetchReport:
    """Fetch every enabled listed feed into ``repo``.

    See :func:`commskit.feeds.fetch.fetch_feeds`.
    """
    lists = feed_lists(root, feeds)
    return fetch_feeds(
        repo,
        lists.feeds,
        feeds,
        progress=progress,
        force=force,
        dedupe_threshold=digest_settings.dedupe_threshold,
    )


def digest(
    root: Path,
    feeds: FeedSettings,
    settings: DigestSettings,
    repo: FeedRepo,
    *,
    language: str,
    name: str | None = None,
    since: str | datetime | date | None = None,
    topics: Sequence[str] | None = None,
    max_per_topic: int | None = None,
    mark: bool = False,
    now: datetime | None = None,
) -> Digest:
    """Build the digest from the stored items (and record it in ``repo`` when ``mark``).

    ``name``, ``since`` and ``max_per_topic`` default to the [digest] settings; ``language``
    titles the sections.
    """
    topic_rules = rules(root, feeds)
    lists = feed_lists(root, feeds, topic_rules)
    result = build_digest(
        repo,
        topic_rules,
        lists.by_url(),
        name=name or settings.name,
        since=since if since is not None else settings.since,
        default_since=settings.since,
        topics=topics,
        max_per_topic=max_per_topic if max_per_topic is not None else settings.max_per_topic,
        half_life_days=settings.recency_half_life_days,
        language=language,
        exclude_marked=mark,
        now=now,
    )
    if mark:
        record_digest(repo, result)
    return result


def mark_digest(repo: FeedRepo, digest: Digest) -> None:
    """Record ``digest`` as sent (its end time and items), for ``since="last"``."""
    record_digest(repo, digest)


def feed_status(root: Path, feeds: FeedSettings, repo: FeedRepo) -> list[FeedStatus]:
    """Return every listed feed with its fetch state and stored item count."""
    lists = feed_lists(root, feeds)
    return veille.feed_status(
        lists.feeds, repo.feed_states(), repo.feed_item_counts(), datetime.now(UTC)
    )


def _target(root: Path, feeds: FeedSettings, to: str | os.PathLike[str] | None) -> Path:
    """Return the TOML list to append to: ``to``, else the first TOML list of the sources."""
    if to:
        return _at(root, to)
    return veille.default_list(root, feeds.sources, _at(root, feeds.rules))


def add_feed(
    root: Path,
    feeds: FeedSettings,
    url: str,
    *,
    name: str | None = None,
    topics: Sequence[str] = (),
    tags: Sequence[str] = (),
    weight: float = 1.0,
    to: str | os.PathLike[str] | None = None,
) -> FeedSource:
    """Append a feed to a TOML list (comments kept); refuse unknown topics and repeated URLs."""
    topic_rules = rules(root, feeds)
    lists = feed_lists(root, feeds, topic_rules)
    target = _target(root, feeds, to)
    feed = veille.new_feed(
        url,
        listed=lists.by_url(),
        topic_rules=topic_rules,
        target=target,
        name=name,
        topics=topics,
        tags=tags,
        weight=weight,
    )
    append_feeds(target, [feed])
    return feed


def import_opml(
    root: Path,
    feeds: FeedSettings,
    path: str | os.PathLike[str],
    *,
    to: str | os.PathLike[str] | None = None,
) -> ImportReport:
    """Add an OPML file's feeds to a TOML list; its folders/categories become topics.

    Categories that match no topic (by id or title) are added to the topic rules as topics
    without keywords, so feeds keep their grouping; edit their keywords afterwards.
    """
    entries = read_opml_entries(Path(path))
    topic_rules = rules(root, feeds)
    lists = feed_lists(root, feeds, topic_rules)
    report = veille.plan_import(
        entries,
        topic_rules=topic_rules,
        listed=lists.by_url(),
        root=root,
        target=_target(root, feeds, to),
    )
    if report.new_topics:
        append_topics(topic_rules.path or _at(root, feeds.rules), report.new_topics)
    if report.added:
        append_feeds(report.target, report.added)
    return report


def export_opml(root: Path, feeds: FeedSettings, *, title: str) -> str:
    """Return every listed feed as an OPML 2.0 document titled ``title``."""
    topic_rules = rules(root, feeds)
    lists = feed_lists(root, feeds, topic_rules)
    return opml_document(lists.feeds, topic_rules, title=title)


def try_rules(
    root: Path,
    feeds: FeedSettings,
    repo: FeedRepo,
    text: str | None = None,
    *,
    stored: bool = False,
    topic: str | None = None,
    limit: int = 50,
) -> list[RuleTest]:
    """Try the topic rules on a text, or (``stored``) on the latest ``limit`` stored items."""
    topic_rules = rules(root, feeds)
    if topic is not None:
        veille.check_topic(topic_rules, topic)
    if not stored:
        return veille.try_rules(topic_rules, text, topic=topic)
    listed = feed_lists(root, feeds, topic_rules).by_url()
    return veille.try_rules(
        topic_rules, text, items=repo.recent_items(limit), feeds=listed, topic=topic
    )


def remove_feed(root: Path, feeds: FeedSettings, name_or_url: str) -> FeedSource:
    """Delete a feed from its TOML list; its stored items stay but leave future digests.

    OPML lists are not edited (export, edit and re-import them instead).
    """
    feed = veille.find_feed(feed_lists(root, feeds).feeds, name_or_url)
    path, line = veille.check_removable(feed)
    remove_feed_block(path, line)
    return feed


def reset_feed(root: Path, feeds: FeedSettings, repo: FeedRepo, name_or_url: str) -> FeedSource:
    """Clear a feed's error count, back-off and deactivation (e.g. after a 410 was fixed)."""
    feed = veille.find_feed(feed_lists(root, feeds).feeds, name_or_url)
    repo.reset_feed(feed.url)
    return feed
