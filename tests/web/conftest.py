"""Fixtures for the web tests: the shipped demo partners, and the web app served by the real
production server (waitress) on a free port of 127.0.0.1 in a thread."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from commskit.web import create_app, make_server
from commskit.web.signup import join_mailers
from commskit.workspace import Workspace


@pytest.fixture
def partners(ws: Workspace) -> Workspace:
    """The test workspace with the shipped demo partners imported (17 match aom-bretagne)."""
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    return ws


@pytest.fixture
def served(partners: Workspace) -> Iterator[tuple[Workspace, str, httpx.Client]]:
    """(workspace, base URL of the one-click path, client) against a running waitress."""
    server = make_server(create_app(partners), "127.0.0.1", 0, settings=partners.settings.web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.port}/desinscription"
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        yield partners, base, client
    server.shutdown()
    thread.join(10)
    assert not thread.is_alive()


EVENT = "webinaire-tableau-de-bord"
BEFORE_EVENT = "2026-11-25T09:00:00+01:00"


@pytest.fixture
def site(
    partners: Workspace, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workspace, str, Any]]:
    """(workspace, root URL, the WSGI app) served by waitress, at a time before the event."""
    monkeypatch.setenv("COMMSKIT_NOW", BEFORE_EVENT)
    partners.settings = dataclasses.replace(
        partners.settings,
        web=dataclasses.replace(partners.settings.web, signup_limit=50),
    )
    app = create_app(partners)
    server = make_server(app, "127.0.0.1", 0, settings=partners.settings.web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield partners, f"http://127.0.0.1:{server.port}", app
    join_mailers(app.context)
    server.shutdown()
    thread.join(10)
