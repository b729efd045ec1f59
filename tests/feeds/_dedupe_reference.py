"""The previous DuplicateIndex (full comparison, quadratic), kept verbatim as the oracle of
tests/feeds/test_dedupe_blocking.py. Do not edit: it is what the blocked index must agree with.
One change: the 8 of ``limit=8`` is the module constant LIMIT, so the test can lift the cut-off
(the blocked index examines every candidate above the cut-off score: see its docstring).
the threshold rises for short titles (short titles share most of their letters by chance) and
titles that differ in a number ("2026" / "2027", "n° 12" / "n° 13") are never merged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rapidfuzz import fuzz, process

from commskit.feeds.parse import FeedItem

LIMIT: int | None = 8
MIN_FUZZY_CHARS = 16
FULL_THRESHOLD_CHARS = 60
FUZZY_WINDOW = timedelta(days=14)
_NUMBER = re.compile(r"\d+")
# GUIDs like "1", "42" or "post-7" are only unique inside one feed
_GLOBAL_GUID = re.compile(r"^(https?://|urn:|tag:)|^[0-9a-f-]{24,}$", re.IGNORECASE)


def fuzzy_threshold(length: int, base: float) -> float:
    """Return the similarity (0–1) two titles of ``length`` characters need to be merged."""
    if length >= FULL_THRESHOLD_CHARS:
        return base
    shortfall = (FULL_THRESHOLD_CHARS - max(length, MIN_FUZZY_CHARS)) / FULL_THRESHOLD_CHARS
    return min(0.99, base + (1.0 - base) * shortfall)


def same_title(a: str, b: str, base: float) -> bool:
    """Return True when two folded titles name the same article."""
    if a == b:
        return len(a) >= MIN_FUZZY_CHARS
    if min(len(a), len(b)) < MIN_FUZZY_CHARS:
        return False
    if set(_NUMBER.findall(a)) != set(_NUMBER.findall(b)):
        return False
    needed = fuzzy_threshold(min(len(a), len(b)), base)
    return fuzz.ratio(a, b) / 100.0 >= needed


@dataclass
class _Kept:
    id: str
    feed_url: str
    published: datetime


@dataclass
class DuplicateIndex:
    """Kept items of the recent past, looked up by each dedupe key."""

    threshold: float
    guids: dict[str, _Kept] = field(default_factory=dict)
    urls: dict[str, _Kept] = field(default_factory=dict)
    hashes: dict[str, _Kept] = field(default_factory=dict)
    titles: list[str] = field(default_factory=list)
    title_owners: list[_Kept] = field(default_factory=list)

    def add(
        self,
        *,
        item_id: str,
        feed_url: str,
        guid: str | None,
        canonical_url: str | None,
        content_hash: str | None,
        title_key: str,
        published: datetime,
    ) -> None:
        """Remember a kept item so later items can be matched against it."""
        kept = _Kept(item_id, feed_url, published)
        if guid and _GLOBAL_GUID.search(guid):
            self.guids.setdefault(guid, kept)
        if canonical_url:
            self.urls.setdefault(canonical_url, kept)
        if content_hash:
            self.hashes.setdefault(content_hash, kept)
        if len(title_key) >= MIN_FUZZY_CHARS:
            self.titles.append(title_key)
            self.title_owners.append(kept)

    def find(self, item: FeedItem) -> tuple[str, str] | None:
        """Return (kept item id, layer) when ``item`` duplicates a kept item, else None."""
        if item.guid and item.guid in self.guids:
            kept = self.guids[item.guid]
            if kept.feed_url != item.feed_url:
                return kept.id, "guid"
        if item.canonical_url and item.canonical_url in self.urls:
            return self.urls[item.canonical_url].id, "url"
        if item.content_hash and item.content_hash in self.hashes:
            return self.hashes[item.content_hash].id, "content"
        if len(item.title_key) < MIN_FUZZY_CHARS or not self.titles:
            return None
        cutoff = fuzzy_threshold(len(item.title_key), self.threshold) * 100 - 10
        candidates = process.extract(
            item.title_key, self.titles, scorer=fuzz.ratio, score_cutoff=max(cutoff, 0), limit=LIMIT
        )
        for title, _score, index in candidates:
            kept = self.title_owners[index]
            if kept.feed_url == item.feed_url:
                continue  # one feed's similar titles are different posts (e.g. a series)
            if abs(kept.published - item.published) > FUZZY_WINDOW:
                continue
            if same_title(item.title_key, title, self.threshold):
                return kept.id, "title"
        return None

    def link(self, items: Iterable[FeedItem]) -> int:
        """Mark each item that duplicates a kept one (or an earlier item); return how many."""
        count = 0
        for item in items:
            found = self.find(item)
            if found:
                item.duplicate_of, item.duplicate_reason = found
                count += 1
                continue
            self.add(
                item_id=item.id,
                feed_url=item.feed_url,
                guid=item.guid,
                canonical_url=item.canonical_url,
                content_hash=item.content_hash,
                title_key=item.title_key,
                published=item.published,
            )
        return count
