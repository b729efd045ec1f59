"""The blocked fuzzy dedupe takes exactly the decisions of the full comparison it replaced.

``_dedupe_reference.py`` is the previous ``DuplicateIndex`` verbatim (every new title compared
with every kept one, quadratic): it is the oracle. Both are run on the same items, generated to be
hard (near-duplicates by typo, dropped or added word, punctuation, accents, changed numbers,
series of numbered titles, copies in the same feed, copies outside the date window) and on every
title of the shared corpus; each item's (kept item, layer) must be the same. The oracle examines
every candidate above the cut-off score (its LIMIT lifted), as the blocked index does; on the
corpus the old 8-candidate cut-off changes nothing and the literal old index is compared too.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from commskit.feeds.dedupe import COMMON_WORD_TITLES, DuplicateIndex
from commskit.feeds.parse import FeedItem, parse_feed, title_key

_SPEC = importlib.util.spec_from_file_location(
    "dedupe_reference", Path(__file__).with_name("_dedupe_reference.py")
)
assert _SPEC is not None
assert _SPEC.loader is not None
reference = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("dedupe_reference", reference)  # dataclasses look their module up
_SPEC.loader.exec_module(reference)
reference.LIMIT = None

START = datetime(2026, 11, 1, tzinfo=UTC)
STOPWORDS = [
    "de",
    "la",
    "le",
    "les",
    "des",
    "du",
    "en",
    "et",
    "a",
    "pour",
    "sur",
    "au",
    "aux",
    "un",
    "une",
    "dans",
    "par",
    "avec",
    "l",
    "d",
]
SYLLABLES = [
    "co",
    "voi",
    "tu",
    "ra",
    "ge",
    "mo",
    "bi",
    "li",
    "te",
    "ter",
    "ri",
    "toi",
    "re",
    "pri",
    "me",
    "tra",
    "jet",
    "con",
    "duc",
    "teur",
    "pas",
    "sa",
]


_CUMULATIVE = list(itertools.accumulate(1 / (rank + 8) for rank in range(4000)))


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _word(rng: random.Random, vocabulary: list[str]) -> str:
    if rng.random() < 0.45:
        return rng.choice(STOPWORDS)
    # Zipf-like: the first content words are on one title in ten (a topical veille), most rare
    return rng.choices(vocabulary, cum_weights=_CUMULATIVE[: len(vocabulary)])[0]


def _title(rng: random.Random, vocabulary: list[str]) -> str:
    words = [_word(rng, vocabulary) for _ in range(rng.randint(3, 14))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), str(rng.choice([2025, 2026, 12, 30, 100])))
    title = " ".join(words)
    return title[0].upper() + title[1:]


def _typo(rng: random.Random, text: str) -> str:
    letter = rng.choice("aeioustrn")
    if not text:
        return letter
    at = rng.randrange(len(text))
    return rng.choice(
        [
            text[:at] + text[at + 1 :],
            text[:at] + letter + text[at:],
            text[:at] + letter + text[at + 1 :],
        ]
    )


def _variant(rng: random.Random, title: str, vocabulary: list[str]) -> str:
    words = title.split()
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        change = rng.randrange(7)
        if change == 0 and len(words) > 3:
            del words[rng.randrange(len(words))]
        elif change == 1:
            words.insert(rng.randrange(len(words) + 1), _word(rng, vocabulary))
        elif change == 2:
            words[rng.randrange(len(words))] = _word(rng, vocabulary)
        elif change == 3:
            index = rng.randrange(len(words))
            words[index] = _typo(rng, words[index])
        elif change == 4:
            words.append(rng.choice(["!", ":", "…", "(vidéo)", "– mise à jour"]))
        elif change == 5:
            index = rng.randrange(len(words))
            words[index] = words[index].replace("e", "é", 1).upper()
        else:
            words = [str(int(w) + 1) if w.isdigit() else w for w in words]
    return " ".join(w for w in words if w) or title


def _item(number: int, feed: int, title: str, published: datetime) -> FeedItem:
    return FeedItem(
        id=f"item-{number}",
        feed_url=f"https://feed{feed}.example.org/rss",
        feed_name=f"Flux {feed}",
        guid=None,
        link=f"https://feed{feed}.example.org/{number}",
        canonical_url=None,
        title=title,
        title_key=title_key(title),
        content_hash=None,
        summary_html="",
        summary_text="",
        authors=[],
        tags=[],
        published=published,
        date_flag=None,
        first_seen=published,
    )


def generated_items(seed: int, count: int, feeds: int = 60) -> list[FeedItem]:
    """Return ``count`` items, about half of them near-duplicates of an earlier one."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng, 4000)
    titles: list[str] = []
    items: list[FeedItem] = []
    for number in range(count):
        roll = rng.random()
        if titles and roll < 0.45:
            title = _variant(rng, rng.choice(titles[-500:]), vocabulary)
        elif roll < 0.5:
            title = f"Lettre d'information n° {rng.randint(1, 40)} : {_word(rng, vocabulary)}"
        else:
            title = _title(rng, vocabulary)
        titles.append(title)
        published = START + timedelta(hours=rng.randint(0, 24 * 40))
        items.append(_item(number, rng.randrange(feeds), title, published))
    return items


def decisions(index_class: type, items: list[FeedItem], threshold: float = 0.88) -> list[tuple]:
    """Return each item's (id, kept item id, layer) after ``index_class(...).link(items)``."""
    copies = [
        FeedItem(**{**vars(i), "duplicate_of": None, "duplicate_reason": None}) for i in items
    ]
    index_class(threshold=threshold).link(copies)
    return [(i.id, i.duplicate_of, i.duplicate_reason) for i in copies]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_blocked_dedupe_decides_as_the_full_comparison(seed: int) -> None:
    items = generated_items(seed, 4000)
    old = decisions(reference.DuplicateIndex, items)
    new = decisions(DuplicateIndex, items)
    assert new == old
    merged = sum(1 for _, kept, _ in new if kept)
    assert merged > 500, merged  # the set really is full of near-duplicates


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
    reference.LIMIT = 8
    try:
        assert new == decisions(reference.DuplicateIndex, everything)
    finally:
        reference.LIMIT = None
    assert sum(1 for _, _, layer in new if layer == "title") > 300
