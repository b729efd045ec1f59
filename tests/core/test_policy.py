"""The one-function policies: unsubscribe links and the identifier domain."""

from __future__ import annotations

import pytest

from commskit.policy import FALLBACK_DOMAIN, message_id_domain, unsubscribe_url


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://ex.org/u", "https://ex.org/u?t=TOK"),
        ("https://ex.org/u/{token}", "https://ex.org/u/TOK"),
        ("https://ex.org/u?list=x", "https://ex.org/u?list=x&t=TOK"),
        ("https://ex.org/u?list=x#top", "https://ex.org/u?list=x&t=TOK#top"),
        ("https://ex.org/u/{token}?list=x", "https://ex.org/u/TOK?list=x"),
    ],
)
def test_unsubscribe_url_forms(base: str, expected: str) -> None:
    assert unsubscribe_url(base, "TOK") == expected


def test_unsubscribe_url_quotes_the_token() -> None:
    assert unsubscribe_url("https://ex.org/u", "a b/c") == "https://ex.org/u?t=a%20b%2Fc"
    assert unsubscribe_url("https://ex.org/u/{token}", "a/b") == "https://ex.org/u/a%2Fb"


def test_unsubscribe_url_without_token_is_the_base() -> None:
    assert unsubscribe_url("https://ex.org/u?list=x", "") == "https://ex.org/u?list=x"


@pytest.mark.parametrize(
    ("configured", "from_", "expected"),
    [
        ("mail.ex.org", "news@ex.org", "mail.ex.org"),
        ("", "news@ex.org", "ex.org"),
        ("", "Équipe <news@ex.org>", "ex.org"),
        ("", "", FALLBACK_DOMAIN),
        ("", "not an address", FALLBACK_DOMAIN),
    ],
)
def test_message_id_domain(configured: str, from_: str, expected: str) -> None:
    assert message_id_domain(configured, from_) == expected
