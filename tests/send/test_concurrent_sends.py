"""Two `commskit send` of one campaign at the same time never double it (issue 11 item 1)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from commskit.workspace import Workspace

CAMPAIGN = "lettre-2000"
COUNT = 2000
BUSY_EXIT = 4


def big_workspace(ws: Workspace, url: str, count: int = COUNT) -> Path:
    """A workspace with ``count`` partners, a campaign to all of them and an SMTP transport."""
    root = ws.root
    rows = ["email;first_name;organization;kind;basis"]
    rows += [
        f"p{i}@example.net;Camille;Commune {i};AOM;mission de service public" for i in range(count)
    ]
    (root / "contacts" / "big.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    ws.contacts.import_file(root / "contacts" / "big.csv")
    (root / "campaigns" / f"{CAMPAIGN}.md").write_text(
        "---\nsubject: Lettre aux partenaires\naudience: 'kind = \"AOM\"'\n---\n"
        "Bonjour {{ contact.first_name }},\n\nLes nouvelles du mois.\n",
        encoding="utf-8",
    )
    config = root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        .replace('url = "outbox:.commskit/outbox"', f'url = "{url}"')
        # a real send through SMTP refuses the shipped example sender
        .replace(
            'from = "Équipe Covoiturage du quotidien <infolettre@covoiturage.example.gouv.fr>"',
            'from = "Équipe Covoiturage <infolettre@covoiturage-test.fr>"',
        ),
        encoding="utf-8",
    )
    ws.close()
    return root


def start_send(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "commskit", "-C", str(root), "send", CAMPAIGN, "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_send(
    root: Path, env: dict[str, str], flag: str = "--yes"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commskit", "-C", str(root), "send", CAMPAIGN, flag],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def exactly_once(server, count: int = COUNT) -> None:
    by_rcpt = server.handler.by_rcpt()
    assert len(by_rcpt) == count
    doubled = {rcpt: len(copies) for rcpt, copies in by_rcpt.items() if len(copies) > 1}
    assert doubled == {}


def test_two_sends_started_together_deliver_each_message_once(
    ws, smtp_server, subprocess_env, doubles
):
    # a relay slow enough that the two runs overlap whatever the machine's load
    server = smtp_server(doubles.Script(stall_rcpt=lambda a, n: 0.002))
    root = big_workspace(ws, server.url)
    first, second = start_send(root, subprocess_env), start_send(root, subprocess_env)
    results = [(p, *p.communicate(timeout=600)) for p in (first, second)]
    exactly_once(server)
    codes = sorted(p.returncode for p, _out, _err in results)
    winner = next(r for r in results if r[0].returncode == 0)
    assert "Sent " in winner[1]
    loser = next(r for r in results if r is not winner)
    if loser[0].returncode == BUSY_EXIT:
        # it said why, in one line, and sent nothing
        lines = loser[2].strip().splitlines()
        assert lines[-1].startswith(
            "Error: campaign 'lettre-2000' is being sent by another process"
        )
        assert "Traceback" not in loser[2]
    else:  # it only got the lock after the first had finished: nothing left to send
        assert codes == [0, 0]
        assert "Sent 0 message(s)" in loser[1]
    with Workspace.open(root) as check:
        counts = check.store.sends.counts(CAMPAIGN)
        assert counts["sent"] == COUNT
        assert check.store.leases.get(f"send:{CAMPAIGN}") is None  # released at the end


def test_a_send_started_while_another_dispatches_says_who_and_exits_4(
    ws, smtp_server, subprocess_env, doubles
):
    server = smtp_server(doubles.Script(stall_rcpt=lambda a, n: 0.01))
    root = big_workspace(ws, server.url, count=1200)
    first = start_send(root, subprocess_env)
    try:
        deadline = time.monotonic() + 300
        while len(server.handler.messages) < 20 and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()
            time.sleep(0.01)
        second = run_send(root, subprocess_env)
    finally:
        _out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert second.returncode == BUSY_EXIT, second.stderr
    error = second.stderr.strip().splitlines()
    assert len(error) == 1
    assert f"pid {first.pid} on " in error[0]
    assert "being sent by another process" in error[0]
    exactly_once(server, 1200)


def test_the_lease_of_a_killed_send_is_taken_over_at_once(ws, smtp_server, subprocess_env, doubles):
    server = smtp_server(doubles.Script(stall_rcpt=lambda a, n: 0.01))
    root = big_workspace(ws, server.url, count=300)
    first = start_send(root, subprocess_env)
    deadline = time.monotonic() + 300
    while len(server.handler.messages) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.kill()
    first.communicate()
    with Workspace.open(root) as check:
        left = check.store.leases.get(f"send:{CAMPAIGN}")
        assert left is not None
        assert left.pid == first.pid
    again = run_send(root, subprocess_env)
    assert again.returncode == 0, again.stderr
    by_rcpt = server.handler.by_rcpt()
    assert len(by_rcpt) == 300
    # at most the messages in flight at the kill (the concurrency) arrive twice
    assert sum(len(c) - 1 for c in by_rcpt.values()) <= 4


@pytest.mark.parametrize("flag", ["--dry-run", "--test=moi@example.net"])
def test_dry_runs_and_tests_do_not_need_the_lease(ws, smtp_server, subprocess_env, flag):
    server = smtp_server()
    root = big_workspace(ws, server.url, count=5)
    with Workspace.open(root) as other:
        other.store.leases.acquire(f"send:{CAMPAIGN}", ttl=600)
        result = run_send(root, subprocess_env, flag)
    assert result.returncode == 0, result.stderr
