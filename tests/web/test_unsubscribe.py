"""The RFC 8058 one-click endpoint of commskit.web over real HTTP on 127.0.0.1 (the production
server, waitress, in a thread; httpx client)."""

from __future__ import annotations

import pytest

from commskit.audience.tokens import make_token


@pytest.fixture
def endpoint(served):
    return served


def first_contact(ws):
    return next(iter(ws.segment("aom-bretagne")))


def test_get_shows_a_confirmation_and_never_unsubscribes(endpoint):
    ws, base, client = endpoint
    contact = first_contact(ws)
    token = make_token(ws.secret, contact.id, "infolettre")
    for _ in range(3):  # link scanners prefetch, sometimes repeatedly
        response = client.get(f"{base}?t={token}")
        assert response.status_code == 200
        assert '<form method="post">' in response.text
        assert "Se désabonner" in response.text
        assert "Unsubscribe" in response.text
    assert ws.contacts.suppression(contact.email, "infolettre") is None


def test_post_urlencoded_one_click(endpoint):
    ws, base, client = endpoint
    contact = first_contact(ws)
    token = make_token(ws.secret, contact.id, "infolettre")
    response = client.post(
        f"{base}?t={token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert ws.contacts.suppression(contact.email, "infolettre") == "unsubscribed"
    # only that list: another list is untouched (RFC 8058 §3.1, Gmail FAQ)
    assert ws.contacts.suppression(contact.email, "webinaires") is None
    # a replay is idempotent: still 200, still one suppression
    again = client.post(f"{base}?t={token}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert ws.contacts.suppression(contact.email, "infolettre") == "unsubscribed"


def test_post_multipart_one_click_with_token_in_path(endpoint):
    ws, base, client = endpoint
    contact = first_contact(ws)
    token = make_token(ws.secret, contact.id, "infolettre")
    response = client.post(f"{base}/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert response.status_code == 200
    assert ws.contacts.suppression(contact.email, "infolettre") == "unsubscribed"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_forged_or_malformed_token_is_rejected(endpoint, method):
    ws, base, client = endpoint
    contact = first_contact(ws)
    good = make_token(ws.secret, contact.id, "infolettre")
    forged = make_token(b"another secret, not this workspace's", contact.id, "infolettre")
    for token in (forged, good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "", "%%%"):
        response = client.request(
            method,
            f"{base}?t={token}",
            data={"List-Unsubscribe": "One-Click"} if method == "POST" else None,
        )
        assert response.status_code == 400, token
    assert ws.contacts.suppression(contact.email, "infolettre") is None


def test_other_methods_are_refused_and_nothing_redirects(endpoint):
    _ws, base, client = endpoint
    response = client.put(f"{base}?t=x")
    assert response.status_code == 405
    assert "location" not in response.headers
