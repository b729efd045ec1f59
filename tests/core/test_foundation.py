"""The legal bases and the ``since`` grammar are defined once, in the foundation.

config.py checks ``[contacts] default_basis`` and ``[digest] since`` with commskit.bases and
commskit.periods so that it imports no stage; the audience and feeds stages use those very
definitions (no second copy to drift), and these tests pin the grammar's behaviour.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from commskit import bases, periods
from commskit.audience import contacts
from commskit.errors import DigestError
from commskit.feeds import digest

ACCEPTED = [
    "consent",
    "Consentement",
    "opt-in",
    "Mission d’intérêt public",
    "mission de service public",
    "  Intérêt   public ",
    "Opt-out professionnel",
    "B2B",
]
REFUSED = ["intérêt légitime", "contrat", ""]


def test_the_stages_use_the_foundation_definitions() -> None:
    assert contacts.BASES is bases.BASES
    assert contacts.normalise_basis is bases.normalise_basis
    assert digest.parse_since is periods.parse_since
    assert digest.check_since is periods.check_since
    assert digest.EPOCH is periods.EPOCH


@pytest.mark.parametrize("spelling", ACCEPTED)
def test_the_same_basis_spellings(spelling: str) -> None:
    assert bases.normalise_basis(spelling) == contacts.normalise_basis(spelling)
    assert bases.normalise_basis(spelling) in bases.BASES


@pytest.mark.parametrize("spelling", REFUSED)
def test_the_same_refused_spellings(spelling: str) -> None:
    with pytest.raises(ValueError, match="is not one of") as theirs:
        contacts.normalise_basis(spelling)
    with pytest.raises(ValueError, match="is not one of") as ours:
        bases.normalise_basis(spelling)
    assert str(ours.value) == str(theirs.value)


NOW = datetime(2026, 11, 30, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "since",
    ["7d", "24h", "2w", "90m", "1.5d", "all", "2026-11-01", "2026-11-01T08:00:00+01:00"],
)
def test_the_same_since_grammar(since: str) -> None:
    assert periods.parse_since(since, NOW) == digest.parse_since(since, NOW)
    periods.check_since(since)


def test_since_dates_and_datetimes() -> None:
    assert periods.parse_since(date(2026, 11, 2), NOW) == datetime(2026, 11, 2, tzinfo=UTC)
    naive = datetime(2026, 11, 2, 9)
    assert periods.parse_since(naive, NOW) == digest.parse_since(naive, NOW)
    assert periods.parse_since("all", NOW) == periods.EPOCH == digest.EPOCH


@pytest.mark.parametrize("since", ["yesterday", "7 jours", "30j", ""])
def test_the_same_since_errors(since: str) -> None:
    with pytest.raises(DigestError) as ours:
        periods.check_since(since, what="[digest] since")
    with pytest.raises(DigestError) as theirs:
        digest.check_since(since, what="[digest] since")
    assert str(ours.value) == str(theirs.value)
    assert "[digest] since" in ours.value.message
    assert ours.value.__cause__ is not None  # the parse failure is kept as the cause


def test_last_is_left_to_the_digest() -> None:
    periods.check_since("last")
    periods.check_since(" LAST ")
