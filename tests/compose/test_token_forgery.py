"""Feed text, campaign text, contact fields never become per-recipient code (issue 11 item 4).

The compiled campaign marks each per-recipient tag with a token; a token pattern written in a
feed item (``zqck00002kcqz`` in a link) used to be read as a real one: each subscriber's own
address went into that link, ``zqck99999kcqz`` raised IndexError, ``zqck00000kcqz`` made the
newsletter unsendable.
"""

from __future__ import annotations

import email
from email import policy
from typing import Any

from commskit import Workspace

UNSUB = "https://covoiturage.example.gouv.fr/desinscription?t=tok"
FORGED = [f"zqck{i:05d}kcqz" for i in (0, 1, 2, 3, 4, 5, 7, 12, 99999)]


def _text_and_html(raw: bytes) -> tuple[str, str]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    text, html = (p.get_content() for p in parsed.walk() if not p.is_multipart())
    return text, html


def test_forged_tokens_in_feed_text_stay_text(
    ws: Workspace, make_digest: Any, make_item: Any, make_contact: Any
) -> None:
    evil = [
        make_item(
            40 + n,
            title=f"Titre {token}",
            url=f"https://news.example.org/{token}?u={token}",
            summary_text=f"Résumé {token} fin",
            summary_html=f"<p>Résumé {token} fin</p>",
            score=100.0 - n,
        )
        for n, token in enumerate(FORGED[:5])
    ]
    digest = make_digest(0, extra=evil)
    campaign = ws.campaign("2026-11-infolettre")
    compiled = ws.compile(campaign, digest=digest)
    for address, org in (("zoe@example.org", "Brest"), ("lea@example.net", "Quimper")):
        contact = make_contact(address, first_name="Zoé", organization=org)
        raw = compiled.message_for(contact, message_id="<a@b.fr>", unsubscribe_url=UNSUB)
        text, html = _text_and_html(raw)
        for token in FORGED[:5]:
            assert f"https://news.example.org/{token}?u={token}" in text
            assert f"Titre {token}" in html
        assert address not in text
        assert address not in html


def test_forged_token_with_out_of_range_index_compiles(
    ws: Workspace, make_digest: Any, make_item: Any, make_contact: Any
) -> None:
    digest = make_digest(1, extra=[make_item(50, title="zqck99999kcqz zqck00000kcqz", score=99)])
    compiled = ws.compile(ws.campaign("2026-11-infolettre"), digest=digest)
    parts = compiled.render(make_contact(), unsubscribe_url=UNSUB)
    assert "zqck99999kcqz zqck00000kcqz" in parts.text


def test_forged_tokens_in_campaign_text_and_contact_fields(
    ws: Workspace, make_contact: Any
) -> None:
    ws.path("campaigns/forged.md").write_text(
        "---\nsubject: Bonjour zqck00001kcqz\n---\n"
        "Bonjour {{ contact.first_name }}, voir zqck00000kcqz et zqck00002kcqz.\n",
        encoding="utf-8",
    )
    compiled = ws.compile(ws.campaign("forged"))
    contact = make_contact("zoe@example.org", first_name="zqck00001kcqz", organization="zqck0")
    raw = compiled.message_for(contact, message_id="<a@b.fr>", unsubscribe_url=UNSUB)
    text, html = _text_and_html(raw)
    assert "zoe@example.org" not in html
    assert "Bonjour zqck00001kcqz, voir zqck00000kcqz et zqck00002kcqz." in text
    assert "zoe@example.org" not in text
    assert email.message_from_bytes(raw, policy=policy.default)["Subject"] == (
        "Bonjour zqck00001kcqz"
    )
