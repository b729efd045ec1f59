"""Find duplicates across feeds, in layers: GUID → canonical URL → content hash → fuzzy title.

A duplicate is stored linked to the item kept first (``duplicate_of``), never dropped: the digest
lists it under the kept item as "also in". Fuzzy matching compares folded titles with rapidfuzz;
the threshold rises for short titles (short titles share most of their letters by chance) and
titles that differ in a number ("2026" / "2027", "n° 12" / "n° 13") are never merged.

The fuzzy layer blocks candidates before comparing: each kept title is listed under each of its
words and pairs of neighbouring words ("prime de": a pair of common words is still rare), and a
new title is compared only with the kept titles sharing one of its keys that are rare (on at most
:data:`COMMON_WORD_TITLES` kept titles) or the rarest around each of its words, instead of with
every kept title (quadratic: 50,000 items took minutes). The lookup is bounded: the rarest keys
are read first and the commoner ones left once a few dozen candidates are in, so the number of
titles compared per item stays flat as the index grows (about 55 at 10,000, 20,000 and 50,000
items, where reading every probed key gave 117 to 161: a fixed vocabulary makes every word
common sooner or later). Reading only the most recent titles of a long list was tried and
dropped: it missed 5 twins in 50,000 items grouped by feed. rapidfuzz then scores that
narrowed set, ranked as the whole list was (score, then the order titles were kept), and the
best-ranked candidate that passes the feed, date and :func:`same_title` checks is the match, so
the decisions are those of the full comparison as long as that candidate shares a rare word or
pair with the new title (two titles within 12 % of each other's letters sharing none is what
blocking gives up). The full comparison used to examine only its 8 best-scoring candidates,
so a title could miss its twin behind 8 numbered siblings ("Lettre n° 17", "n° 33"…); every
candidate is examined now. ``tests/feeds/test_dedupe_blocking.py`` compares the two on thousands
of generated near-duplicates (two vocabularies, in generation order and grouped by feed as a fetch
links them) and on the shared corpus's titles: no decision differs.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from operator import itemgetter

from rapidfuzz import fuzz, process

from .parse import FeedItem

MIN_FUZZY_CHARS = 16
#: a word on more kept titles than this is too common to narrow the comparison down ("de", "la")
COMMON_WORD_TITLES = 64
#: a word with no rare key around it adds its rarest key if on at most this many kept titles
COVERING_KEY_TITLES = 256
#: the rarest keys of a title are looked up first; once MIN_KEYS of them brought this many
#: candidates, the commoner keys are left (they would bring more of the same, and cost grows)
CANDIDATE_BUDGET = 32
MIN_KEYS = 3
FULL_THRESHOLD_CHARS = 60
FUZZY_WINDOW = timedelta(days=14)
_NUMBER = re.compile(r"\d+")
# GUIDs like "1", "42" or "post-7" are only unique inside one feed
_GLOBAL_GUID = re.compile(r"^(https?://|urn:|tag:)|^[0-9a-f-]{24,}$", re.IGNORECASE)
#: a folded title's words and its pairs of neighbouring words, as :func:`_block_keys` splits it
_TitleKeys = tuple[list[str], list[str]]


def fuzzy_threshold(length: int, base: float) -> float:
    """Return the similarity (0–1) two titles of ``length`` characters need to be merged."""
    if length >= FULL_THRESHOLD_CHARS:
        return base
    shortfall = (FULL_THRESHOLD_CHARS - max(length, MIN_FUZZY_CHARS)) / FULL_THRESHOLD_CHARS
    return min(0.99, base + (1.0 - base) * shortfall)


def same_title(a: str, b: str, base: float) -> bool:
    """Return True when two folded titles name the same article."""
    return _same_title(a, set(_NUMBER.findall(a)), b, base)


def _same_title(a: str, numbers: set[str], b: str, base: float) -> bool:
    """:func:`same_title`, the numbers of ``a`` found once for all the titles it is checked
    against."""
    if a == b:
        return len(a) >= MIN_FUZZY_CHARS
    if min(len(a), len(b)) < MIN_FUZZY_CHARS:
        return False
    if set(_NUMBER.findall(b)) != numbers:
        return False
    needed = fuzzy_threshold(min(len(a), len(b)), base)
    return fuzz.ratio(a, b) / 100.0 >= needed


def _block_keys(title: str) -> _TitleKeys:
    """Return the words of a folded title and its pairs of neighbouring words ("prime de"):
    a pair of common words is still rare, so titles made of common words narrow down too."""
    words = title.split()
    return words, [f"{a} {b}" for a, b in pairwise(words)]


def _probed_keys(
    words: list[str], pairs: list[str], postings: dict[str, list[int]]
) -> tuple[dict[str, None], dict[str, int]]:
    """Return the keys to look up for a title of ``words`` and ``pairs`` (see
    DuplicateIndex._candidates), and the number of kept titles on each key of the title.

    A word's keys are itself and its pairs with the previous and the next word. Each key's
    postings are measured once. The probes are returned in the order the title reads (word,
    pair, word…), then the covering keys: keys on as many kept titles are looked up in that
    order, which decides which of them are read before the budget is met. (They were a set,
    whose order follows string hashing, which Python salts per process: the same fetch could
    link one title more or fewer from one run to the next.)"""
    keys = [""] * (2 * len(words) - 1)
    keys[::2] = words
    keys[1::2] = pairs
    sizes = {key: len(postings[key]) for key in keys if key in postings}
    probed = dict.fromkeys(key for key, size in sizes.items() if size <= COMMON_WORD_TITLES)
    get = sizes.get
    for word, left, right in zip(words, ["", *pairs], [*pairs, ""], strict=True):
        if word in probed or left in probed or right in probed:
            continue  # covered by a rare key (the empty string is never a key)
        size = get(word)
        if size is None:
            continue  # a word on no kept title has no pair on one either
        rarest = word  # the first of the rarest, in the order word, left pair, right pair
        if get(left, size) < size:
            rarest, size = left, sizes[left]
        if get(right, size) < size:
            rarest, size = right, sizes[right]
        if size <= COVERING_KEY_TITLES or not probed:
            probed[rarest] = None
    return probed, sizes


@dataclass(slots=True)
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
    # word -> indexes (into ``titles``, ascending) of the kept titles containing it
    words: dict[str, list[int]] = field(default_factory=dict)

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
        keys = _block_keys(title_key) if len(title_key) >= MIN_FUZZY_CHARS else None
        kept = _Kept(item_id, feed_url, published)
        self._keep(kept, guid, canonical_url, content_hash, title_key, keys)

    def _keep(
        self,
        kept: _Kept,
        guid: str | None,
        canonical_url: str | None,
        content_hash: str | None,
        title_key: str,
        keys: _TitleKeys | None,
    ) -> None:
        """Remember ``kept`` under each of its keys; ``keys`` (its title's words and pairs)
        is None for a title too short to be matched fuzzily."""
        if guid and _GLOBAL_GUID.search(guid):
            self.guids.setdefault(guid, kept)
        if canonical_url:
            self.urls.setdefault(canonical_url, kept)
        if content_hash:
            self.hashes.setdefault(content_hash, kept)
        if keys is not None:
            position = len(self.titles)
            self.titles.append(title_key)
            self.title_owners.append(kept)
            words, pairs = keys
            postings = self.words
            for key in {*words, *pairs}:
                if key in postings:
                    postings[key].append(position)
                else:  # setdefault would build an empty list for every key, new or not
                    postings[key] = [position]

    def _candidates(self, keys: _TitleKeys) -> list[int]:
        """Return the indexes (in no particular order) of the kept titles worth comparing with
        a title whose words and pairs are ``keys``.

        Every key (word or pair) on at most COMMON_WORD_TITLES kept titles is a probe, and each
        word of the title that no such key covers adds its rarest key when that one is on at
        most COVERING_KEY_TITLES (a title of common words only still gets its rarest key). The
        probes are then looked up rarest first, until at least MIN_KEYS of them have brought
        CANDIDATE_BUDGET kept titles: the commoner probes, whose lists grow with the index, are
        left, so the set compared stays about the same size whatever the index's (only a title
        whose MIN_KEYS rarest keys are all common reads long lists, as before). A kept title is
        left out only if it lacks the rarest looked-up keys, i.e. differs from the title at each
        of its rarest words and pairs (the numbers among them must be equal anyway).
        """
        found: set[int] = set()
        postings = self.words
        probed, sizes = _probed_keys(*keys, postings)
        for taken, key in enumerate(sorted(probed, key=sizes.__getitem__)):
            if taken >= MIN_KEYS and len(found) >= CANDIDATE_BUDGET:
                break
            found.update(postings[key])
        return list(found)

    def find(self, item: FeedItem) -> tuple[str, str] | None:
        """Return (kept item id, layer) when ``item`` duplicates a kept item, else None."""
        found = self._exact(item)
        if found is None and len(item.title_key) >= MIN_FUZZY_CHARS:
            found = self._fuzzy(item, _block_keys(item.title_key))
        return found

    def _exact(self, item: FeedItem) -> tuple[str, str] | None:
        """Return (kept item id, layer) when ``item`` has a kept item's GUID, URL or content."""
        if item.guid and item.guid in self.guids:
            kept = self.guids[item.guid]
            if kept.feed_url != item.feed_url:
                return kept.id, "guid"
        if item.canonical_url and item.canonical_url in self.urls:
            return self.urls[item.canonical_url].id, "url"
        if item.content_hash and item.content_hash in self.hashes:
            return self.hashes[item.content_hash].id, "content"
        return None

    def _fuzzy(self, item: FeedItem, keys: _TitleKeys) -> tuple[str, str] | None:
        """Return (kept item id, "title") when ``item``'s title, of words and pairs ``keys``,
        names the same article as a kept title of another feed, published close to it."""
        if not self.titles:
            return None
        positions = self._candidates(keys)
        if not positions:
            return None
        title_key = item.title_key
        cutoff = fuzzy_threshold(len(title_key), self.threshold) * 100 - 10
        titles = (
            itemgetter(*positions)(self.titles)
            if len(positions) > 1
            else [self.titles[positions[0]]]
        )
        candidates = process.extract(
            title_key,
            titles,
            scorer=fuzz.ratio,
            score_cutoff=max(cutoff, 0),
            limit=None,
        )
        if not candidates:
            return None
        if len(candidates) > 1:
            # rapidfuzz ranks equal scores by their order in ``titles``; rank them by the order
            # they were kept instead, as when the whole list was compared (sorting the few that
            # pass the cut-off is cheaper than sorting every candidate beforehand)
            candidates.sort(key=lambda match: (-match[1], positions[match[2]]))
        owners, feed_url, published = self.title_owners, item.feed_url, item.published
        numbers = set(_NUMBER.findall(title_key))
        for title, _score, index in candidates:
            kept = owners[positions[index]]
            if kept.feed_url == feed_url:
                continue  # one feed's similar titles are different posts (e.g. a series)
            if abs(kept.published - published) > FUZZY_WINDOW:
                continue
            if _same_title(title_key, numbers, title, self.threshold):
                return kept.id, "title"
        return None

    def link(self, items: Iterable[FeedItem]) -> int:
        """Mark each item that duplicates a kept one (or an earlier item); return how many.

        A title's words and pairs are built once, for the look-up and then for the index.
        The cyclic garbage collector is off meanwhile: the look-ups make many short-lived
        objects and no cycles, and each collection it triggers rescans every item of the fetch
        (bench/veille_bench.py, 50,000 items: dedupe 2.57 -> 2.28 s)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._link(items)
        finally:
            if collecting:
                gc.enable()

    def _link(self, items: Iterable[FeedItem]) -> int:
        count = 0
        for item in items:
            found = self._exact(item)
            keys = None
            if found is None and len(item.title_key) >= MIN_FUZZY_CHARS:
                keys = _block_keys(item.title_key)
                found = self._fuzzy(item, keys)
            if found:
                item.duplicate_of, item.duplicate_reason = found
                count += 1
                continue
            kept = _Kept(item.id, item.feed_url, item.published)
            self._keep(kept, item.guid, item.canonical_url, item.content_hash, item.title_key, keys)
        return count
