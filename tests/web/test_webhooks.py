"""Provider webhooks (issue 17 item 3) through the production server (waitress): the providers'
documented sample payloads (tests/web/webhooks/*.json, each with its source URL), re-addressed to
a message really sent to the outbox, are recorded once in the send log and the suppression list;
forged (wrong secret), replayed (old time) or malformed posts are refused and record nothing."""

from __future__ import annotations

import copy
import email
import email.policy
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from commskit.clock import now
from commskit.web import create_app, make_server
from commskit.workspace import Workspace

SAMPLES = Path(__file__).parent / "webhooks"
PINNED = "2026-12-15T09:00:00+01:00"
TOKEN = "brevo-test-token-1234567890"
PASSWORD = "mailjet-test-password-123"


def sample(name: str) -> Any:
    data = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    assert data["source"].startswith("https://")
    return copy.deepcopy(data["payload"])


@dataclass
class Hooks:
    ws: Workspace
    base: str
    client: httpx.Client
    sent: list[tuple[str, str]]  # (recipient, Message-ID)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.ws.state_dir / "state.db")) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def hooks(partners: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    monkeypatch.setenv("COMMSKIT_NOW", PINNED)
    monkeypatch.setenv("COMMSKIT_BREVO_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("COMMSKIT_MAILJET_WEBHOOK_PASSWORD", PASSWORD)
    partners.send("2026-11-infolettre", yes=True)
    sent = []
    for path in sorted((partners.state_dir / "outbox" / "new").iterdir()):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        sent.append((str(msg["Delivered-To"]).lower(), str(msg["Message-ID"])))
    assert len(sent) >= 3
    server = make_server(create_app(partners), "127.0.0.1", 0, settings=partners.settings.web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        yield Hooks(partners, f"127.0.0.1:{server.port}", client, sent)
    server.shutdown()
    thread.join(10)


def brevo_post(h: Hooks, payload: Any, token: str = TOKEN) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return h.client.post(
        f"http://{h.base}/webhooks/brevo", content=json.dumps(payload), headers=headers
    )


def mailjet_post(h: Hooks, payload: Any, password: str = PASSWORD) -> httpx.Response:
    # Mailjet's documented form: basic auth in the webhook URL
    return h.client.post(
        f"http://commskit:{password}@{h.base}/webhooks/mailjet", content=json.dumps(payload)
    )


def readdressed_brevo(name: str, rcpt: str, message_id: str) -> Any:
    payload = sample(name)
    payload.update(email=rcpt, ts_event=int(now().timestamp()) - 60)
    payload["message-id"] = message_id
    return payload


def suppression(h: Hooks, rcpt: str) -> list[tuple[str, str]]:
    details = h.ws.contacts.show(rcpt)
    return [(s.reason, s.list_name) for s in details.suppressions]


def test_brevo_hard_bounce_suppresses_once_and_shows_in_history(hooks: Hooks) -> None:
    rcpt, message_id = hooks.sent[0]
    payload = readdressed_brevo("brevo_hard_bounce.json", rcpt, message_id)
    first = brevo_post(hooks, payload)
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] == 1
    assert first.json()["suppressed"] == 1
    assert suppression(hooks, rcpt) == [("bounced", "")]
    history = hooks.ws.contacts.show(rcpt).history
    assert [h["delivery"] for h in history] == ["bounced"]
    # the provider retries the same post: acknowledged, nothing counted twice
    again = brevo_post(hooks, payload)
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert again.json()["recorded"] == 0
    assert hooks.rows("SELECT COUNT(*) FROM bounce_events") == [(1,)]
    assert hooks.rows("SELECT COUNT(*) FROM webhook_events") == [(1,)]


def test_brevo_delivered_is_recorded_in_the_send_log(hooks: Hooks) -> None:
    rcpt, message_id = hooks.sent[1]
    response = brevo_post(hooks, readdressed_brevo("brevo_delivered.json", rcpt, message_id))
    assert response.status_code == 200
    assert [h["delivery"] for h in hooks.ws.contacts.show(rcpt).history] == ["delivered"]
    assert suppression(hooks, rcpt) == []
    others = hooks.rows("SELECT COUNT(*) FROM send_log WHERE delivery IS NOT NULL")
    assert others == [(1,)]


@pytest.mark.parametrize(
    "token", ["", "wrong-token", TOKEN[:-1]], ids=["missing", "wrong", "prefix"]
)
def test_forged_brevo_posts_are_refused_and_never_recorded(hooks: Hooks, token: str) -> None:
    rcpt, message_id = hooks.sent[0]
    payload = readdressed_brevo("brevo_hard_bounce.json", rcpt, message_id)
    response = brevo_post(hooks, payload, token=token)
    assert response.status_code == 401
    assert TOKEN not in response.text
    assert hooks.rows("SELECT COUNT(*) FROM webhook_events") == [(0,)]
    assert suppression(hooks, rcpt) == []


def test_replayed_old_post_is_refused(hooks: Hooks) -> None:
    rcpt, message_id = hooks.sent[0]
    payload = readdressed_brevo("brevo_hard_bounce.json", rcpt, message_id)
    payload["ts_event"] = int(now().timestamp()) - hooks.ws.settings.web.webhook_max_age - 10
    response = brevo_post(hooks, payload)
    assert response.status_code == 400
    assert "replay" in response.json()["error"]
    future = readdressed_brevo("brevo_hard_bounce.json", rcpt, message_id)
    future["ts_event"] = int(now().timestamp()) + 3600
    assert brevo_post(hooks, future).status_code == 400
    assert hooks.rows("SELECT COUNT(*) FROM webhook_events") == [(0,)]
    assert suppression(hooks, rcpt) == []


@pytest.mark.parametrize("body", [b"not json", b"{}", b"[]", b'[{"event": "bounce"}]'])
def test_malformed_posts_get_400(hooks: Hooks, body: bytes) -> None:
    response = hooks.client.post(
        f"http://{hooks.base}/webhooks/brevo",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 400
    assert hooks.rows("SELECT COUNT(*) FROM webhook_events") == [(0,)]


def test_mailjet_grouped_events_with_basic_auth_in_the_url(hooks: Hooks) -> None:
    (sent_rcpt, sent_id), (spam_rcpt, spam_id) = hooks.sent[0], hooks.sent[1]
    events = sample("mailjet_grouped.json")
    stamp = int(now().timestamp()) - 30
    events[0].update(email=sent_rcpt, CustomID=sent_id, time=stamp)
    events[1].update(email=spam_rcpt, CustomID=spam_id, time=stamp)
    response = mailjet_post(hooks, events)
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 2
    assert [h["delivery"] for h in hooks.ws.contacts.show(sent_rcpt).history] == ["delivered"]
    assert suppression(hooks, spam_rcpt) == [("complained", "")]
    assert suppression(hooks, sent_rcpt) == []
    assert mailjet_post(hooks, events, password="guess").status_code == 401


def test_mailjet_bounce_about_no_message_of_ours_suppresses_nobody(hooks: Hooks) -> None:
    rcpt, _message_id = hooks.sent[2]
    payload = sample("mailjet_bounce.json")  # CustomID "helloworld": not one of our messages
    payload.update(email=rcpt, time=int(now().timestamp()))
    response = mailjet_post(hooks, payload)
    assert response.status_code == 200
    assert response.json()["unmatched"] == 1
    assert response.json()["suppressed"] == 0
    assert suppression(hooks, rcpt) == []
    assert hooks.rows("SELECT send_log_id FROM webhook_events") == [(None,)]


def test_endpoint_is_off_without_its_secret(hooks: Hooks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMMSKIT_BREVO_WEBHOOK_TOKEN")
    rcpt, message_id = hooks.sent[0]
    payload = readdressed_brevo("brevo_hard_bounce.json", rcpt, message_id)
    assert brevo_post(hooks, payload, token="").status_code == 404
    assert hooks.client.get(f"http://{hooks.base}/webhooks/brevo").status_code == 405


def test_brevo_message_id_without_angle_brackets_matches_and_sent_is_ignored(
    hooks: Hooks,
) -> None:
    # the documented Sent ("request") sample carries its message-id without angle brackets
    rcpt, message_id = hooks.sent[1]
    sent = sample("brevo_sent.json")
    assert not sent["message-id"].startswith("<")
    sent.update(email=rcpt, ts_event=int(now().timestamp()) - 60)
    sent["message-id"] = message_id.strip("<>")
    ignored = brevo_post(hooks, sent)
    assert ignored.status_code == 200
    assert ignored.json()["ignored"] == 1
    delivered = readdressed_brevo("brevo_delivered.json", rcpt, message_id.strip("<>"))
    response = brevo_post(hooks, delivered)
    assert response.json()["unmatched"] == 0
    assert [h["delivery"] for h in hooks.ws.contacts.show(rcpt).history] == ["delivered"]


def test_brevo_batch_larger_than_max_body_is_accepted(hooks: Hooks) -> None:
    # Brevo's batched webhooks post up to 500 events at once: far over the pages' max_body
    rcpt, message_id = hooks.sent[0]
    stamp = int(now().timestamp()) - 60
    batch = []
    for n in range(500):
        event = readdressed_brevo("brevo_delivered.json", rcpt, message_id)
        event.update(ts_event=stamp - n, subject="x" * 100)
        batch.append(event)
    body = json.dumps(batch)
    assert hooks.ws.settings.web.max_body < len(body) <= hooks.ws.settings.web.webhook_max_body
    response = brevo_post(hooks, batch)
    assert response.status_code == 200, response.text[:200]
    assert response.json()["recorded"] == 500
    too_big = hooks.client.post(
        f"http://{hooks.base}/desinscription",
        content=b"x" * (hooks.ws.settings.web.max_body + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert too_big.status_code == 413  # the pages keep their own limit
