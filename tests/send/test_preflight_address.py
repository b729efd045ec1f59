"""Pre-flight's fast address check agrees with email-validator (result and error message)."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from commskit.send.preflight import _normalized

ADDRESSES = [
    "Jean.Dupont@Example.FR",
    "a@b.co",
    "Ab+c@EXAMPLE.org",
    "x@exámple.fr",
    "zoé@example.fr",
    "a..b@example.fr",
    ".a@example.fr",
    "a@-x.fr",
    "a@x-.fr",
    "toto@localhost",
    "ab@x_y.fr",
    "a@example..fr",
    "a@192.168.0.1",
    "a" * 65 + "@example.fr",
    "a@" + "b" * 250 + ".fr",
    " lea@example.fr",
    "Léa <lea@example.fr>",
    "",
    "@example.fr",
]


def _outcome(func: object) -> str:
    assert callable(func)
    try:
        return "ok " + str(func())
    except EmailNotValidError as exc:
        return f"error {exc}"


@pytest.mark.parametrize("address", ADDRESSES)
def test_fast_path_matches_email_validator(address: str) -> None:
    expected = _outcome(lambda: validate_email(address, check_deliverability=False).normalized)
    assert _outcome(lambda: _normalized(address)) == expected
