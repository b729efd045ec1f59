"""Link tokens (registration, preferences, sign-up) and the personal ``links`` in templates."""

from __future__ import annotations

import pytest

from commskit.audience.tokens import make_link_token, make_token, verify_link_token
from commskit.errors import TokenError
from commskit.policy import page_url, public_base

KEY = b"0123456789abcdef0123456789abcdef"


def test_a_link_token_names_its_subject_and_scope() -> None:
    token = make_link_token(KEY, "event", 42, "webinaire-dec")
    found = verify_link_token(KEY, token, "event", scope="webinaire-dec")
    assert (found.subject_id, found.scope, found.expires) == (42, "webinaire-dec", 0)


@pytest.mark.parametrize(
    ("purpose", "scope"),
    [("preferences", "webinaire-dec"), ("event", "autre-webinaire"), ("signup", None)],
)
def test_a_token_never_verifies_for_another_purpose_or_scope(
    purpose: str, scope: str | None
) -> None:
    token = make_link_token(KEY, "event", 42, "webinaire-dec")
    with pytest.raises(TokenError):
        verify_link_token(KEY, token, purpose, scope=scope)


def test_forged_truncated_and_other_key_tokens_are_refused() -> None:
    token = make_link_token(KEY, "preferences", 7)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    other_key = make_link_token(b"other", "preferences", 7)
    for bad in (flipped, token[:-3], "", "x" * 500, token + "=", other_key):
        with pytest.raises(TokenError):
            verify_link_token(KEY, bad, "preferences")
    # an unsubscribe token is signed under another domain
    with pytest.raises(TokenError):
        verify_link_token(KEY, make_token(KEY, 7, "x"), "preferences")


def test_an_expired_token_is_refused_with_its_own_message() -> None:
    token = make_link_token(KEY, "signup", 3, "infolettre", expires=1_000)
    assert verify_link_token(KEY, token, "signup", now=999).expires == 1_000
    with pytest.raises(TokenError, match="expired"):
        verify_link_token(KEY, token, "signup", now=1_001)


def test_page_urls_live_under_the_public_base() -> None:
    assert public_base("", "https://ex.org/desinscription?x=1") == "https://ex.org"
    assert public_base("https://comms.ex.org/", "https://ex.org/u") == "https://comms.ex.org"
    assert public_base("", "") == ""
    url = page_url("https://ex.org", "event_register", event="web dec", token="a/b")
    assert url == "https://ex.org/evenements/web%20dec/inscription/a%2Fb"


def test_templates_print_a_recipients_own_links(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``{{ links.preferences }}`` in a body is each recipient's own signed page."""
    from commskit import Workspace
    from commskit.audience.contacts import Contact

    ws = Workspace.init(tmp_path / "ws")
    campaign_file = ws.path("campaigns") / "liens.md"
    campaign_file.write_text(
        "---\nsubject: Liens\nlist: infolettre\n---\nVos préférences : {{ links.preferences }}\n",
        encoding="utf-8",
    )
    compiled = ws.compile(ws.campaign(campaign_file))
    texts = [
        compiled.render(Contact(id=n, email=f"p{n}@ex.org"), unsubscribe_url="u").text
        for n in (5, 6)
    ]
    tokens = [text.split("/preferences/")[1].split()[0] for text in texts]
    found = [verify_link_token(ws.secret, t, "preferences").subject_id for t in tokens]
    assert found == [5, 6]


def test_a_link_the_campaign_does_not_have_fails_at_compile_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from commskit import Workspace
    from commskit.errors import TemplateError

    ws = Workspace.init(tmp_path / "ws")
    campaign_file = ws.path("campaigns") / "liens.md"
    campaign_file.write_text(
        "---\nsubject: Liens\nlist: infolettre\n---\nInscription : {{ links.register }}\n",
        encoding="utf-8",
    )
    with pytest.raises(TemplateError, match="register"):
        ws.compile(ws.campaign(campaign_file))
