"""Fixtures for render tests: a compiled shipped campaign and Contact-shaped recipients."""

from __future__ import annotations

from typing import Any

import pytest

from commskit import Workspace
from commskit.compose.sample import SampleContact
from commskit.render.compiled import CompiledCampaign


@pytest.fixture
def newsletter(ws: Workspace) -> CompiledCampaign:
    """The shipped November newsletter, compiled (no veille items in a fresh workspace)."""
    return ws.compile(ws.campaign("2026-11-infolettre"))


@pytest.fixture
def make_contact() -> Any:
    """Build Contact-shaped objects (contract 2) until the audience stage lands."""

    def build(email: str = "camille.martin@example.org", **fields: Any) -> SampleContact:
        fields.setdefault("first_name", "Camille")
        fields.setdefault("last_name", "Martin")
        fields.setdefault("organization", "Rennes Métropole")
        fields.setdefault("id", 7)
        return SampleContact(email=email, **fields)

    return build
