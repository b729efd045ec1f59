"""A relay outage mid-send, off a terminal: progress in the log, exit status 3, and a re-run
that sends the rest at the configured rate (issue 10 item 4).

The relay (aiosmtpd on loopback) starts refusing everything (421) after a few messages. What
made the re-run crawl at 3/s with ``rate_per_second = 20`` was the outage run's per-message
back-off, carried over in the send log: each failed row came due at its own jittered time and
the re-run released them one by one. These tests check the state the re-run starts with (rows
backed off into the future) and that it does not wait for those times, without timing anything.
"""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from commskit import Workspace
from commskit.send import SendOptions

CAMPAIGN = "2026-11-infolettre"
SENDER = "Équipe Covoiturage du quotidien <infolettre@mobilites-territoires.fr>"
AUDIENCE = 'kind = "AOM"'
YES = SendOptions(yes=True)
ALIVE_FOR = 10  # messages the relay accepts before it dies
RELAY_FAILURES_IN_A_ROW = 10  # commskit.send.runner.RELAY_FAILURES_IN_A_ROW (checked below)


class DyingRelay:
    """Accepts ``limit`` recipients, then answers every transaction with 421 (shutting down)."""

    def __init__(self, port: int, limit: int | None) -> None:
        self.limit = limit
        self.accepted = 0
        self.rcpts: list[str] = []
        self.refused = 0
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            if self.limit is not None and self.accepted >= self.limit:
                self.refused += 1
                return "421 4.3.2 service shutting down"
            self.accepted += 1
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.rcpts.extend(envelope.rcpt_tos)
        return "250 2.0.0 queued"


@pytest.fixture
def port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _send(
    ws: Workspace, port: int, python: str, env: dict[str, str]
) -> subprocess.CompletedProcess:
    args = [python, "-m", "commskit", "-C", str(ws.root), "send", CAMPAIGN, "--yes"]
    args += ["--audience", AUDIENCE, "--transport", f"smtp://127.0.0.1:{port}", "--json"]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=240, check=False)


def test_outage_then_rerun(partners, port, python, subprocess_env) -> None:
    ws = partners
    total = ws.segment(AUDIENCE).count()
    assert total > ALIVE_FOR + 2 * RELAY_FAILURES_IN_A_ROW
    env = {
        **subprocess_env,
        "COMMSKIT_FROM": SENDER,
        "COMMSKIT_TRANSPORT_RATE_PER_SECOND": "50",
        # production-like back-off, shortened so that the old behaviour would end within the test
        "COMMSKIT_TRANSPORT_RETRY_BASE": "1",
        "COMMSKIT_TRANSPORT_RETRY_WAIT": "20",
        "COMMSKIT_PROGRESS_INTERVAL": "0",  # a line per message: this test counts lines, not time
    }
    relay = DyingRelay(port, ALIVE_FOR)
    relay.controller.start()
    try:
        first = _send(ws, port, python, env)
    finally:
        relay.controller.stop()
    # off a terminal the log shows the send moving, then why it stopped; exit 3 = run again later
    progress = [
        line for line in first.stderr.splitlines() if line.startswith(f"Sending {CAMPAIGN}:")
    ]
    assert len(progress) >= 3, first.stderr
    assert f"/{total}" in progress[-1]
    assert first.returncode == 3, first.stderr
    report = json.loads(first.stdout)
    assert report["sent"] == ALIVE_FOR
    assert "the relay failed 10 times in a row (421 " in report["stopped"]
    assert relay.refused >= RELAY_FAILURES_IN_A_ROW
    assert "Traceback" not in first.stderr
    # the outage did not burn every recipient's retries: most were never tried
    counts = ws.store.sends.counts(CAMPAIGN)
    assert counts["sent"] == ALIVE_FOR
    assert counts["failed"] >= RELAY_FAILURES_IN_A_ROW
    assert counts["pending"] == total - ALIVE_FOR - counts["failed"]
    assert counts["pending"] > 2 * counts["failed"]
    # the state the re-run starts with: the failed rows are backed off into the future
    due_now = ws.store.sends.due(CAMPAIGN, now=0.0, limit=total)
    assert [r for r in due_now if r.status == "failed"] == []
    assert ws.store.sends.next_retry_at(CAMPAIGN) is not None

    back = DyingRelay(port, None)
    back.controller.start()
    try:
        second = _send(ws, port, python, env)
    finally:
        back.controller.stop()
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    # everything left went out in the first pass, paced by the throttle only: no waiting for
    # the outage run's retry times
    assert again["sent"] == total - ALIVE_FOR
    assert again["retry_wait"] == 0
    assert again["stopped"] is None
    assert sorted(relay.rcpts + back.rcpts) == sorted(c.email for c in ws.segment(AUDIENCE))
    assert ws.store.sends.counts(CAMPAIGN)["sent"] == total
    from commskit.send import runner

    assert runner.RELAY_FAILURES_IN_A_ROW == RELAY_FAILURES_IN_A_ROW


def test_a_new_run_retries_temporary_failures_at_once(
    ws, make_runner, people, smtp_server, doubles
):
    """A row an earlier run backed off (its next try an hour away) is due in the next run."""
    down = {"p2@example.net"}
    server = smtp_server(
        doubles.Script(rcpt=lambda a, n: "451 4.3.0 try again later" if a in down else None)
    )
    first = make_runner(people(3), server.url, retry_base=3600.0, retry_wait=0.0).run(YES)
    assert (first.sent, first.retry_later) == (2, 1)
    assert ws.store.sends.due(CAMPAIGN, now=0.0) == []  # backed off into the future
    down.clear()
    second = make_runner(people(3), server.url, retry_base=3600.0, retry_wait=0.0).run(YES)
    assert (second.sent, second.retry_later, second.retry_wait) == (1, 0, 0)
    assert len(server.handler.by_rcpt()["p2@example.net"]) == 1


def test_progress_lines_are_rate_limited() -> None:
    from commskit.cli._common import ProgressLines

    now = [0.0]
    lines: list[str] = []
    progress = ProgressLines("Sending x", None, lines.append, interval=5.0, clock=lambda: now[0])
    progress(0, total=100, description="Sending x")
    assert lines == ["Sending x: 0/100"]
    for _ in range(40):  # many messages within the interval: no line
        now[0] += 0.1
        progress(1)
    assert len(lines) == 1
    now[0] += 1.0  # 5 s since the first line
    progress(1)
    assert lines[-1] == "Sending x: 41/100, 8/s"
    now[0] += 1.0
    progress(59)  # the last message always gets its line
    assert lines[-1].startswith("Sending x: 100/100")
    assert len(lines) == 3


def test_progress_interval_comes_from_the_environment(monkeypatch) -> None:
    from commskit.cli._common import ProgressLines

    monkeypatch.setenv("COMMSKIT_PROGRESS_INTERVAL", "0.5")
    assert ProgressLines("x", 1, lambda _line: None).interval == 0.5
    monkeypatch.setenv("COMMSKIT_PROGRESS_INTERVAL", "soon")
    assert ProgressLines("x", 1, lambda _line: None).interval == 5.0
