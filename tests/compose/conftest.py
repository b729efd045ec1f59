"""Fixtures for compose tests: Digest/Contact stand-ins shaped like contracts 1 and 2.

The feeds and audience stages provide the real classes; until they land these stand-ins let the
compose code be tested against the contract, not against an implementation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from commskit import Workspace
from commskit.audience import Contact as SampleContact


@dataclass
class StandInItem:
    id: str
    title: str
    url: str
    published: dt.datetime | None
    summary_html: str
    summary_text: str
    sources: list[str]
    also_in: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    score: float = 1.0
    authors: list[str] = field(default_factory=list)
    language: str = ""  # the feed's BCP 47 tag (issue 13): "" = the feed declares none


@dataclass
class StandInSection:
    topic: str
    title: str
    items: list[StandInItem]


@dataclass
class StandInDigest:
    name: str
    start: dt.datetime
    end: dt.datetime
    sections: list[StandInSection]
    total: int


def _item(i: int, **kwargs: Any) -> StandInItem:
    values: dict[str, Any] = {
        "id": f"item-{i}",
        "title": f"Article de veille numéro {i} sur le covoiturage",
        "url": f"https://news.example.org/articles/{i}",
        "published": dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC) + dt.timedelta(days=i % 20),
        "summary_html": f"<p>Résumé <em>court</em> de l'article {i}.</p>",
        "summary_text": f"Résumé court de l'article {i}.",
        "sources": [f"Source {i}"],
        "topics": ["covoiturage"],
        "score": 10.0 - i,
    }
    values.update(kwargs)
    return StandInItem(**values)


@pytest.fixture
def make_digest() -> Callable[..., StandInDigest]:
    """Build a digest of ``n`` plain items, plus any ``extra`` items given."""

    def build(n: int = 4, extra: list[StandInItem] | None = None) -> StandInDigest:
        items = [_item(i) for i in range(1, n + 1)] + list(extra or [])
        sections = [StandInSection("covoiturage", "Covoiturage", items)]
        return StandInDigest(
            name="veille",
            start=dt.datetime(2026, 10, 25, tzinfo=dt.UTC),
            end=dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
            sections=sections,
            total=len(items),
        )

    return build


@pytest.fixture
def make_item() -> Callable[..., StandInItem]:
    return _item


@pytest.fixture
def make_contact() -> Callable[..., SampleContact]:
    def build(email: str = "camille.martin@example.org", **fields: Any) -> SampleContact:
        fields.setdefault("first_name", "Camille")
        fields.setdefault("last_name", "Martin")
        fields.setdefault("organization", "Rennes Métropole")
        fields.setdefault("id", 7)
        return SampleContact(email=email, **fields)

    return build


@pytest.fixture
def write_campaign(ws: Workspace) -> Callable[[str, str], Path]:
    """Write ``campaigns/<name>.md`` in the test workspace and return its path."""

    def write(name: str, text: str) -> Path:
        path = ws.path(f"campaigns/{name}.md")
        path.write_text(text, encoding="utf-8")
        return path

    return write
