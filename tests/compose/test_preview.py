"""`commskit preview`: a real HTTP server on 127.0.0.1 that re-renders when files change."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from commskit import Workspace
from commskit.app.preview import make_server


@pytest.fixture
def server(ws: Workspace) -> Iterator[str]:
    preview = ws.preview("2026-11-infolettre", to="zoe@example.org")
    httpd = make_server(preview, 0)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    host, port = httpd.server_address[:2]
    yield f"http://{host!s}:{port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_preview_serves_page_email_and_text(server: str) -> None:
    status, ctype, page = _get(server + "/")
    assert status == 200
    assert ctype.startswith("text/html")
    assert 'width="640"' in page
    assert 'width="375"' in page
    assert "Bonjour Camille," in page  # a sample contact, since the audience store is empty
    assert "Les chiffres du mois" in page  # the text part, side by side
    _, _, html = _get(server + "/email.html")
    assert "<h1" in html
    _, _, text = _get(server + "/email.txt")
    assert "Se désinscrire" in text


def test_preview_reloads_when_the_campaign_changes(ws: Workspace, server: str) -> None:
    first = json.loads(_get(server + "/version")[2])["version"]
    assert json.loads(_get(server + "/version")[2])["version"] == first  # stable when idle
    path = ws.campaign("2026-11-infolettre").path
    path.write_text(
        path.read_text(encoding="utf-8").replace("Bonne lecture", "À bientôt"), encoding="utf-8"
    )
    later = time.time() + 5
    os.utime(path, (later, later))  # mtime resolution must not hide the edit
    assert json.loads(_get(server + "/version")[2])["version"] == first + 1
    assert "À bientôt" in _get(server + "/email.html")[2]


def test_preview_shows_errors_instead_of_dying(ws: Workspace, server: str) -> None:
    path = ws.campaign("2026-11-infolettre").path
    path.write_text("---\nsubject: [broken\n---\n", encoding="utf-8")
    later = time.time() + 10
    os.utime(path, (later, later))
    version = json.loads(_get(server + "/version")[2])
    assert "invalid front matter" in version["error"]
    assert "invalid front matter" in _get(server + "/")[2]
