"""Generated feed items full of near-duplicates, for tests/feeds/test_dedupe_blocking.py and
bench/dedupe_bench.py (which also loads it into older checkouts: it needs only FeedItem and
title_key).

Two vocabularies. ``fixed`` (the first one, kept as it was): 4,000 content words, all of them on
many titles after 10,000 items, so every word's posting list in the dedupe index grows with the
item count. ``growing``: real titles' vocabulary keeps growing with the corpus (Heaps' law). The
shared corpus's 1,152 titles have 3,932 distinct words in 8,101 (V ≈ 4.2·N^0.76, N words read);
the fixed generator has 1,266 distinct words at 1,000 titles and 7,139 at 50,000 (typos
included), where the law predicts about 80,000. ``growing`` draws content words from 400,000
with a Zipf tail (weight 1/(rank + 8)^ZIPF_GROWING), which gives about 2,000 distinct words at
1,000 titles and 55,000 at 50,000: closer to real titles, still poorer (so still the harder case).
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from commskit.feeds.parse import FeedItem, title_key

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
GROWING_WORDS = 400_000
ZIPF_GROWING = 0.95
_GROWING: list[float] = []


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    longest = 4 if size <= 4000 else 6  # 22 syllables: enough distinct words either way
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, longest))))
    if size <= 4000:
        return sorted(words)
    ordered = sorted(words)
    rng.shuffle(ordered)  # rank order unrelated to spelling
    return ordered


def _word(rng: random.Random, vocabulary: list[str]) -> str:
    if rng.random() < 0.45:
        return rng.choice(STOPWORDS)
    # Zipf-like: the first content words are on one title in ten (a topical veille), most rare
    if len(vocabulary) > len(_CUMULATIVE):
        if not _GROWING:
            weights = (1 / (rank + 8) ** ZIPF_GROWING for rank in range(GROWING_WORDS))
            _GROWING.extend(itertools.accumulate(weights))
        return rng.choices(vocabulary, cum_weights=_GROWING)[0]
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


def generated_items(
    seed: int, count: int, feeds: int = 60, vocabulary: str = "fixed"
) -> list[FeedItem]:
    """Return ``count`` items, about half of them near-duplicates of an earlier one.

    ``vocabulary``: ``fixed`` (4,000 content words) or ``growing`` (Heaps' law, see above).
    """
    if vocabulary not in ("fixed", "growing"):
        raise ValueError(f"vocabulary must be fixed or growing, not {vocabulary!r}")
    rng = random.Random(seed)
    words = _vocabulary(rng, 4000 if vocabulary == "fixed" else GROWING_WORDS)
    titles: list[str] = []
    items: list[FeedItem] = []
    for number in range(count):
        roll = rng.random()
        if titles and roll < 0.45:
            title = _variant(rng, rng.choice(titles[-500:]), words)
        elif roll < 0.5:
            title = f"Lettre d'information n° {rng.randint(1, 40)} : {_word(rng, words)}"
        else:
            title = _title(rng, words)
        titles.append(title)
        published = START + timedelta(hours=rng.randint(0, 24 * 40))
        items.append(_item(number, rng.randrange(feeds), title, published))
    return items
