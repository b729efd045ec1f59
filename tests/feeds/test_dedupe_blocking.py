"""The blocked fuzzy dedupe takes exactly the decisions of the full comparison it replaced.

``_dedupe_reference.py`` is the previous ``DuplicateIndex`` verbatim (every new title compared
with every kept one, quadratic): it is the oracle. Both are run on the same items, generated to be
hard (near-duplicates by typo, dropped or added word, punctuation, accents, changed numbers,
series of numbered titles, copies in the same feed, copies outside the date window) and on every
title of the shared corpus; each item's (kept item, layer) must be the same. The oracle examines
every candidate above the cut-off score (its LIMIT lifted), as the blocked index does; on the
corpus the old 8-candidate cut-off changes nothing and the literal old index is compared too.
Items come in generation order and grouped by feed (the order a fetch links them in), from the
fixed 4,000-word vocabulary and from the growing one (Heaps' law, as real titles).
"""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from commskit.feeds.dedupe import (
    CANDIDATE_BUDGET,
    COMMON_WORD_TITLES,
    MIN_KEYS,
    DuplicateIndex,
    _block_keys,
)
from commskit.feeds.parse import FeedItem, parse_feed


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"_{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


reference = _load("dedupe_reference")
reference.LIMIT = None
_items = _load("dedupe_items")
generated_items = _items.generated_items
_item, _variant, START = _items._item, _items._variant, _items.START


def decisions(index_class: type, items: list[FeedItem], threshold: float = 0.88) -> list[tuple]:
    """Return each item's (id, kept item id, layer) after ``index_class(...).link(items)``."""
    copies = [
        FeedItem(**{**vars(i), "duplicate_of": None, "duplicate_reason": None}) for i in items
    ]
    index_class(threshold=threshold).link(copies)
    return [(i.id, i.duplicate_of, i.duplicate_reason) for i in copies]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("vocabulary", ["fixed", "growing"])
def test_blocked_dedupe_decides_as_the_full_comparison(seed: int, vocabulary: str) -> None:
    items = generated_items(seed, 4000, vocabulary=vocabulary)
    old = decisions(reference.DuplicateIndex, items)
    new = decisions(DuplicateIndex, items)
    assert new == old
    merged = sum(1 for _, kept, _ in new if kept)
    assert merged > 500, merged  # the set really is full of near-duplicates


@pytest.mark.parametrize("vocabulary", ["fixed", "growing"])
@pytest.mark.parametrize("seed", [1, 2])
def test_grouped_by_feed_as_a_fetch_links_them(seed: int, vocabulary: str) -> None:
    """A fetch links feed after feed: a title's twin may have been kept thousands of titles
    earlier (another feed of the list), past the most recent postings of its common keys."""
    items = generated_items(seed, 4000, vocabulary=vocabulary)
    by_feed = sorted(items, key=lambda i: i.feed_url)
    new = decisions(DuplicateIndex, by_feed)
    assert new == decisions(reference.DuplicateIndex, by_feed)
    assert sum(1 for _, kept, _ in new if kept) > 500


def test_common_keys_are_left_once_the_rare_ones_brought_enough() -> None:
    """Three rare words bring 3 x 15 kept titles (over the budget): "situation", on 200 kept
    titles (a covering key, read in full before), is not read."""
    assert CANDIDATE_BUDGET <= 3 * 15
    assert MIN_KEYS <= 3
    index = DuplicateIndex(threshold=0.88)

    def keep(n: int, title: str) -> None:
        index.add(
            item_id=f"k{n}",
            feed_url="https://a.example.org/rss",
            guid=None,
            canonical_url=None,
            content_hash=None,
            title_key=title,
            published=START,
        )

    for n in range(2000):
        keep(n, f"le point sur la {'situation' if n < 200 else 'route'} {n % 3}x")
    for n in range(45):
        keep(2000 + n, f"{['alpha', 'beta', 'gamma'][n % 3]} le point {n}y")
    found = index._candidates(_block_keys("alpha beta gamma le point sur la situation"))
    assert sorted(found) == list(range(2000, 2045))


def test_common_words_alone_still_find_the_twin() -> None:
    """A title made only of words on many kept titles is still compared (its rarest words)."""
    filler = [
        _item(n, n % 50, f"Le point sur la situation des transports {n % 7}", START)
        for n in range(COMMON_WORD_TITLES * 2)
    ]
    twin = _item(10**6, 99, "Le point sur la situation des transports 3 !", START)
    old = decisions(reference.DuplicateIndex, [*filler, twin])
    new = decisions(DuplicateIndex, [*filler, twin])
    assert new == old
    assert new[-1][1] is not None


def test_lower_thresholds_decide_alike_too() -> None:
    items = generated_items(7, 2000)
    for threshold in (0.8, 0.95):
        assert decisions(DuplicateIndex, items, threshold) == decisions(
            reference.DuplicateIndex, items, threshold
        )


@pytest.mark.corpus
def test_corpus_titles_decide_alike(corpus: Path) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    items: list[FeedItem] = []
    for path in sorted(p for p in (corpus / "feeds").rglob("*") if p.is_file()):
        url = f"https://corpus.example.org/{path.relative_to(corpus)}"
        parsed = parse_feed(
            path.read_bytes(), feed_url=url, feed_name=path.name, base_url=url, now=now
        )
        items.extend(parsed.items)
    assert len(items) > 1000
    # every title also republished by another feed, retitled a little: the fuzzy layer's work
    rng = random.Random(5)
    copies = [
        _item(n, 1000 + n % 9, _variant(rng, i.title, ["covoiturage"]), i.published)
        for n, i in enumerate(items)
        if len(i.title_key) >= 16
    ]
    everything = [*items, *copies]
    new = decisions(DuplicateIndex, everything)
    assert new == decisions(reference.DuplicateIndex, everything)
    by_feed = sorted(everything, key=lambda i: i.feed_url)
    assert decisions(DuplicateIndex, by_feed) == decisions(reference.DuplicateIndex, by_feed)
    reference.LIMIT = 8
    try:
        assert new == decisions(reference.DuplicateIndex, everything)
    finally:
        reference.LIMIT = None
    assert sum(1 for _, _, layer in new if layer == "title") > 300


_SEEDED_RUN = """
import hashlib, importlib.util, sys
from dataclasses import replace
spec = importlib.util.spec_from_file_location("dedupe_items", sys.argv[1])
items_module = importlib.util.module_from_spec(spec)
sys.modules["dedupe_items"] = items_module
spec.loader.exec_module(items_module)
from commskit.feeds.dedupe import DuplicateIndex

feeds = 1000
groups = [[] for _ in range(feeds)]
for n, item in enumerate(items_module.generated_items(99, 50_000, feeds=feeds)):
    link = f"https://feed{n % feeds}.example.org/articles/{n}"
    groups[n % feeds].append(replace(
        item, id=f"id-{n}", feed_url=f"https://feed{n % feeds}.example.org/rss", guid=link,
        link=link, canonical_url=link,
        content_hash=hashlib.sha256(item.title_key.encode()).hexdigest()[:20]))
index = DuplicateIndex(threshold=0.88)
for group in groups:  # feed after feed, as a fetch links them
    index.link(group)
decided = [(i.id, i.duplicate_of, i.duplicate_reason) for group in groups for i in group]
digest = hashlib.sha256(repr(decided).encode()).hexdigest()
print(sum(1 for d in decided if d[2] == "title"), digest)
"""


def test_decisions_do_not_depend_on_the_processs_hash_seed(
    subprocess_env: dict[str, str], python: str
) -> None:
    """Python salts string hashes per process: keys on as many kept titles used to be looked up
    in a set's order, so the same 50,000 items got 6,896 title links in one process and 6,897
    in another (PYTHONHASHSEED 0 and 1). The order is the title's now."""
    generator = Path(__file__).with_name("_dedupe_items.py")
    outputs = set()
    for seed in ("0", "1"):
        result = subprocess.run(
            [python, "-c", _SEEDED_RUN, str(generator)],
            env={**subprocess_env, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1, outputs
    links = int(outputs.pop().split()[0])
    assert links > 5000, links  # a set full of near-duplicates, found by title
