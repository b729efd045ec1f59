"""What every page of commskit.web answers, over real HTTP (waitress in a thread): the security
headers, HEAD, 405 with Allow, no redirect on odd paths, a log without tokens, and the CSRF
helper the forms will use."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from commskit.audience.tokens import make_token
from commskit.web import csrf
from commskit.web.app import PAGES, WebApp, WebContext, create_app
from commskit.web.server import make_server
from commskit.workspace import Workspace


def a_token(ws: Workspace) -> str:
    contact = next(iter(ws.segment("aom-bretagne")))
    return make_token(ws.secret, contact.id, "infolettre")


def assert_secure_headers(response: httpx.Response, *, forms: bool = False) -> None:
    """The headers every answer carries; ``forms``: a page with a form may set its CSRF cookie."""
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "location" not in response.headers
    cookie = response.headers.get("set-cookie")
    if forms and cookie is not None:
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
    else:
        assert cookie is None


@pytest.mark.parametrize("kind", ["good", "forged"])
def test_every_answer_has_the_headers_and_the_inline_style_is_the_one_allowed(served, kind):
    ws, base, client = served
    token = a_token(ws) if kind == "good" else "forged"
    for response in (client.get(f"{base}?t={token}"), client.put(f"{base}?t={token}")):
        assert_secure_headers(response)
        style = re.search(r"<style>(.*?)</style>", response.text, re.DOTALL)
        assert style, response.text
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in response.headers["content-security-policy"]
        assert "http" not in style.group(1)  # nothing fetched from elsewhere
        assert not re.search(r"""(src|href)=["']?https?:""", response.text)
    assert response.status_code == 405


def test_every_page_has_the_headers_and_fetches_nothing_from_elsewhere(served):
    """The sign-up, event, registration, preference and error pages, not only the one-click."""
    from commskit.audience.tokens import make_link_token

    ws, base, client = served
    root = base.removesuffix("/desinscription")
    contact = next(iter(ws.segment("aom-bretagne")))
    events = sorted(p.stem for p in (ws.root / "events").glob("*.toml"))
    assert events, "the workspace ships an event"
    paths = [
        "/abonnement/infolettre",
        "/abonnement/nope",
        "/preferences/" + make_link_token(ws.secret, "preferences", contact.id),
        "/preferences/forged",
        f"/evenements/{events[0]}",
        f"/evenements/{events[0]}/inscription/"
        + make_link_token(ws.secret, "event", contact.id, events[0]),
        f"/evenements/{events[0]}/inscription/forged",
    ]
    statuses = set()
    for path in paths:
        response = client.get(root + path)
        statuses.add(response.status_code)
        assert_secure_headers(response, forms=True)
        assert not re.search(r"""(src|href|action)=["']?https?:""", response.text), path
    assert statuses >= {200, 400, 404}


def test_head_is_a_get_without_body_and_other_methods_get_405_with_allow(served):
    ws, base, client = served
    token = a_token(ws)
    head = client.head(f"{base}?t={token}")
    assert head.status_code == 200
    assert head.content == b""
    for method in ("PUT", "DELETE", "PATCH"):
        refused = client.request(method, f"{base}?t={token}")
        assert refused.status_code == 405
        assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    contact = next(iter(ws.segment("aom-bretagne")))
    assert ws.contacts.suppression(contact.email, "infolettre") is None


def test_odd_paths_never_redirect(served):
    ws, base, client = served
    token = a_token(ws)
    root = base.rsplit("/", 1)[0]
    for url in (f"{base}/?t={token}", f"{root}//desinscription?t={token}", f"{root}/?t={token}"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "location" not in response.headers


def test_robots_are_kept_out_and_a_favicon_is_not_an_invalid_link(served):
    _ws, base, client = served
    root = base.rsplit("/", 1)[0]
    robots = client.get(f"{root}/robots.txt")
    assert robots.status_code == 200
    assert robots.text == "User-agent: *\nDisallow: /\n"
    assert_secure_headers(robots)
    assert client.get(f"{root}/favicon.ico").status_code == 404
    # a POST falls to the one-click catch-all, which finds no token there
    assert client.post(f"{root}/robots.txt").status_code == 400


def test_the_access_log_never_holds_a_token_or_a_query(served, caplog):
    ws, base, client = served
    token = a_token(ws)
    with caplog.at_level(logging.INFO, logger="commskit.web"):
        client.get(f"{base}?t={token}")
        client.post(f"{base}/{token}", data={"List-Unsubscribe": "One-Click"})
        client.post(f"{base}?t={token[:-3]}", data={"List-Unsubscribe": "One-Click"})
    lines = [r.getMessage() for r in caplog.records if r.name == "commskit.web"]
    assert lines == ["GET unsubscribe 200", "POST unsubscribe 200", "POST unsubscribe 400"]
    assert token[:20] not in caplog.text


def test_a_body_over_max_body_is_refused_with_413_by_the_app_too(partners):
    """A WSGI server other than waitress may pass a big body on: the app bounds it itself."""
    from werkzeug.test import Client

    app = create_app(partners)
    token = a_token(partners)
    response = Client(app).post(
        f"/desinscription?t={token}",
        data={"List-Unsubscribe": "One-Click", "pad": "x" * (partners.settings.web.max_body + 1)},
    )
    assert response.status_code == 413
    assert (
        partners.contacts.suppression(
            next(iter(partners.segment("aom-bretagne"))).email, "infolettre"
        )
        is None
    )


# --- the CSRF helper, on a form page of a test module served like the real ones ------------------


def _form(context: WebContext, request: Request) -> Response:
    secret = context.secret()
    if request.method == "POST":
        ok = csrf.check(secret, request, "essai")
        return Response("ok" if ok else "refused", status=200 if ok else 400)
    response = Response()
    value = csrf.issue(secret, request, response, "essai")
    response.set_data(f'<form method="post"><input name="{csrf.FIELD}" value="{value}"></form>')
    return response


FORM_PAGE = SimpleNamespace(
    ROUTES=[(Rule("/essai", endpoint="essai", methods=["GET", "POST"]), _form)]
)


@contextmanager
def serving(ws: Workspace, page: SimpleNamespace, **settings: str) -> Iterator[str]:
    """Serve the real pages plus ``page`` on waitress; yield the base URL."""
    app = WebApp(create_app(ws).context, pages=(page, *PAGES))
    web = dataclasses.replace(ws.settings.web, **settings)
    server = make_server(app, "127.0.0.1", 0, settings=web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def form_site(partners: Workspace) -> Iterator[str]:
    with serving(partners, FORM_PAGE) as base:
        yield f"{base}/essai"


def test_csrf_accepts_its_own_form_and_refuses_forgeries(form_site):
    with httpx.Client(timeout=30) as browser:
        page = browser.get(form_site)
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        value = re.search(r'value="([^"]+)"', page.text).group(1)
        assert browser.post(form_site, data={csrf.FIELD: value}).status_code == 200
        # a second visit keeps the cookie: the same field value still works
        browser.get(form_site)
        assert browser.post(form_site, data={csrf.FIELD: value}).status_code == 200
        refused = [
            browser.post(form_site, data={}),  # no field
            browser.post(form_site, data={csrf.FIELD: value[:-2] + "AA"}),  # altered
            browser.post(
                form_site, data={csrf.FIELD: value}, headers={"Sec-Fetch-Site": "cross-site"}
            ),
            browser.post(
                form_site, data={csrf.FIELD: value}, headers={"Origin": "https://evil.example"}
            ),
        ]
        assert [r.status_code for r in refused] == [400] * 4
    with httpx.Client(timeout=30) as stranger:  # the field without the cookie it belongs to
        assert stranger.post(form_site, data={csrf.FIELD: value}).status_code == 400


# --- forwarded headers: believed from the configured proxy only -----------------------------------


def _whoami(context: WebContext, request: Request) -> Response:
    return Response(f"{request.remote_addr} {request.scheme} {request.host}")


WHOAMI_PAGE = SimpleNamespace(ROUTES=[(Rule("/qui", endpoint="qui"), _whoami)])
FORWARDED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "lettres.example.org",
}


@pytest.mark.parametrize(
    ("proxy", "seen"),
    [
        ("", "127.0.0.1 http 127.0.0.1"),
        ("127.0.0.1", "203.0.113.9 https lettres.example.org"),
        ("192.0.2.1", "127.0.0.1 http 127.0.0.1"),  # another proxy's word is not taken
    ],
)
def test_forwarded_headers_only_from_the_trusted_proxy(partners, proxy, seen):
    with serving(partners, WHOAMI_PAGE, trusted_proxy=proxy) as base:
        answer = httpx.get(f"{base}/qui", headers=FORWARDED, timeout=30).text
    address, scheme, host = answer.split(" ")
    assert f"{address} {scheme} {host.split(':')[0]}" == seen  # the port of 127.0.0.1 varies
