"""Unsubscribe tokens: opaque, short, signed per (contact, list)."""

from __future__ import annotations

import base64

import pytest

from commskit import TokenError
from commskit.audience.tokens import make_token, verify_token

SECRET = b"a-workspace-secret-of-32-bytes!!"


@pytest.mark.parametrize("contact_id", [0, 1, 127, 128, 1234, 99_999, 2**40])
def test_round_trip(contact_id: int) -> None:
    token = make_token(SECRET, contact_id, "infolettre")
    assert verify_token(SECRET, token) == (contact_id, "infolettre")


def test_short_url_safe_and_opaque() -> None:
    token = make_token(SECRET, 1234, "infolettre")
    assert 22 <= len(token) <= 32
    assert token.replace("-", "").replace("_", "").isalnum()
    assert make_token(SECRET, 1234, "infolettre") == token  # deterministic: same link each send
    assert make_token(SECRET, 1235, "infolettre") != token
    assert make_token(b"another-secret-of-32-bytes!!!!!!", 1234, "infolettre") != token
    unicode_list = make_token(SECRET, 5, "réseau-référents")
    assert verify_token(SECRET, unicode_list) == (5, "réseau-référents")


def test_token_for_another_list_is_rejected() -> None:
    token = make_token(SECRET, 42, "infolettre")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    # swap the list name inside the payload, keep the MAC: must not verify as the other list
    forged_raw = raw.replace(b"infolettre", b"webinaires")
    forged = base64.urlsafe_b64encode(forged_raw).rstrip(b"=").decode()
    with pytest.raises(TokenError):
        verify_token(SECRET, forged)
    assert verify_token(SECRET, token)[1] == "infolettre"


def test_every_single_character_change_is_rejected() -> None:
    token = make_token(SECRET, 4242, "infolettre")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, char in enumerate(token):
        for replacement in ("A", "z", "_"):
            if replacement == char:
                continue
            tampered = token[:index] + replacement + token[index + 1 :]
            with pytest.raises(TokenError):
                verify_token(SECRET, tampered)
        assert char in alphabet


@pytest.mark.parametrize(
    "token",
    ["", "x", "not a token", "%%%%", "AAAA", "A" * 500, "abc=", "Zm9v\n", "ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ"],
)
def test_malformed_tokens_are_rejected(token: str) -> None:
    with pytest.raises(TokenError, match="invalid unsubscribe token"):
        verify_token(SECRET, token)


def test_wrong_secret_and_truncation_are_rejected() -> None:
    token = make_token(SECRET, 7, "infolettre")
    with pytest.raises(TokenError):
        verify_token(b"another-secret-of-32-bytes!!!!!!", token)
    for cut in (1, 2, 5):
        with pytest.raises(TokenError):
            verify_token(SECRET, token[:-cut])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="list_name"):
        make_token(SECRET, 1, "")
    with pytest.raises(ValueError, match="contact_id"):
        make_token(SECRET, -1, "infolettre")
