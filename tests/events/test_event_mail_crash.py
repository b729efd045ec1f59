"""kill -9 during `events update` and `events cancel`, then re-run: each registrant ends with
exactly one update and one cancellation (at most the one in flight is sent again, with the same
Message-ID), and nobody who was only invited gets either."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from commskit import Workspace

from .conftest import SENDER, WINTER

REGISTRANTS = 24
NOW = "2027-03-01T09:00:00+01:00"


class SlowInbox:
    """Accepts every message after a short pause, so a run can be killed mid-dispatch."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str]] = []  # (rcpt, subject, Message-ID)
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        await asyncio.sleep(0.03)
        raw = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:  # type: ignore[attr-defined]
                self.received.append((rcpt, str(message["Subject"]), str(message["Message-ID"])))
        return "250 OK"

    def count(self, subject: str) -> int:
        with self.lock:
            return sum(1 for _r, s, _m in self.received if subject in s)


@pytest.fixture
def smtp() -> tuple[SlowInbox, str]:
    inbox = SlowInbox()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{port}"
    controller.stop()


def _setup(ws: Workspace) -> list[str]:
    ws.path("events").mkdir(exist_ok=True)
    ws.path("events/hiver.toml").write_text(WINTER.replace("capacity = 2\n", ""), encoding="utf-8")
    rows = "\n".join(
        f"p{i}@aom{i}.example.org;P{i};mission de service public" for i in range(1, REGISTRANTS + 4)
    )
    ws.path("contacts/crash.csv").write_text(
        f"Courriel;Prénom;Base légale\n{rows}\n", encoding="utf-8"
    )
    ws.contacts.import_file(ws.path("contacts/crash.csv"))
    moment = ws_now()
    registered = []
    for contact in list(ws.contacts.segment("all"))[:REGISTRANTS]:
        assert ws.register_for_event("hiver", contact.id, now=moment).value == "registered"
        registered.append(contact.email)
    return registered


def ws_now():
    from commskit.clock import parse_instant

    return parse_instant(NOW, what="test")


def _run_killed(argv: list[str], env: dict[str, str], inbox: SlowInbox, subject: str) -> None:
    """Start the command, kill -9 it once a few messages went out, then run it to the end."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while inbox.count(subject) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, proc.communicate()[1].decode()  # killed mid-dispatch
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert inbox.count(subject) < REGISTRANTS
    done = subprocess.run(argv, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()


def _exactly_one_each(
    inbox: SlowInbox, subject: str, registered: list[str], in_flight: int
) -> None:
    """One message (one Message-ID) for each registrant and nobody else; only the messages in
    flight at the kill (no more than the concurrency) may have been delivered a second time."""
    by_rcpt: dict[str, set[str]] = defaultdict(set)
    deliveries = 0
    for rcpt, found, message_id in inbox.received:
        if subject in found:
            by_rcpt[rcpt].add(message_id)
            deliveries += 1
    assert sorted(by_rcpt) == sorted(registered)  # registrants only
    assert all(len(ids) == 1 for ids in by_rcpt.values())  # one message each (same Message-ID)
    assert deliveries - len(registered) <= in_flight  # the re-run resent only what was in flight


def test_kill_9_during_update_and_cancel_then_rerun(
    ws: Workspace, smtp, python, subprocess_env
) -> None:
    inbox, url = smtp
    registered = _setup(ws)
    env = {
        **subprocess_env,
        "COMMSKIT_NOW": NOW,
        "COMMSKIT_TRANSPORT": url,
        "COMMSKIT_FROM": SENDER,
    }
    base = [python, "-m", "commskit", "--workspace", str(ws.root), "events"]
    ws.path("events/hiver.toml").write_text(
        WINTER.replace("capacity = 2\n", "").replace("T10:00", "T10:30"), encoding="utf-8"
    )
    in_flight = ws.settings.transport.concurrency
    _run_killed([*base, "update", "hiver", "--yes"], env, inbox, "Changement")
    _exactly_one_each(inbox, "Changement", registered, in_flight)
    _run_killed([*base, "cancel", "hiver", "--yes", "--note", "Reporté."], env, inbox, "Annulé")
    _exactly_one_each(inbox, "Annulé", registered, in_flight)
    record = ws.store.events.get("hiver")
    assert (record.sequence, record.announced_sequence) == (2, 2)
    assert Path(ws.root).is_dir()
