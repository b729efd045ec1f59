"""A campaign's veille section is reproducible when its window end is pinned (resumed sends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commskit import Workspace
from commskit.compose.veille import veille_items


def _offline(ws: Workspace) -> Workspace:
    return Workspace.open(ws.root, overrides={"feeds": {"sources": ["feeds/samples/*.toml"]}})


def test_pinned_veille_is_stable_and_follows_the_pin(ws: Workspace) -> None:
    offline = _offline(ws)
    offline.fetch()
    campaign = offline.campaign("2026-11-infolettre")
    pin = datetime(2026, 11, 20, 12, tzinfo=UTC)

    first = veille_items(campaign, offline.veille_digest(campaign, now=pin))
    again = veille_items(campaign, offline.veille_digest(campaign, now=pin))
    assert first
    assert [i.id for i in first] == [i.id for i in again]
    assert all(i.published is None or i.published <= pin for i in first)

    # a window ending before every sample item holds none of them
    earlier = offline.veille_digest(campaign, now=pin - timedelta(days=400))
    assert veille_items(campaign, earlier) == []

    compiled = offline.compile(campaign, veille_now=pin)
    assert compiled.fingerprint == offline.compile(campaign, veille_now=pin).fingerprint
    offline.close()
