"""The send commands at CLI level: happy paths and bad input (one line, exit 1, log unchanged)."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
from click.testing import CliRunner

from commskit.cli import main

CAMPAIGN = "2026-11-infolettre"
# a sender of our own: the shipped example one is refused outside the outbox (issue 10)
SENDER = "Équipe Covoiturage du quotidien <infolettre@mobilites-territoires.fr>"


def run(ws, *args, env=None):
    runner = CliRunner()
    env = {"COMMSKIT_FROM": SENDER, **(env or {})}
    return runner.invoke(main, ["-C", str(ws.root), *args], env=env)


def assert_one_line_error(result, text):
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("Error: ")
    assert text in errors[0]
    assert "Traceback" not in result.output


def log_is_empty(ws):
    return ws.send_status() == [] and ws.store.sends.counts(CAMPAIGN)["pending"] == 0


@pytest.mark.parametrize(
    ("transport", "env", "message"),
    [
        ("carrier-pigeon://roof", {}, "Known schemes: outbox, smtp, smtps, smtp+starttls"),
        ("smtp+starttls://lettres@127.0.0.1:2525", {}, "set COMMSKIT_SMTP_PASSWORD"),
        ("smtp://smtp.example.org:25", {}, "refusing plaintext SMTP"),
    ],
)
def test_bad_transport_is_one_line_and_changes_nothing(partners, transport, env, message):
    result = run(partners, "send", CAMPAIGN, "--yes", "--transport", transport, env=env)
    assert_one_line_error(result, message)
    assert log_is_empty(partners)


def test_unreachable_host(partners, doubles):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(partners, "send", CAMPAIGN, "--yes", "--transport", f"smtp://127.0.0.1:{port}")
    assert_one_line_error(result, "cannot reach smtp://127.0.0.1")
    assert log_is_empty(partners)


def test_empty_segment(partners):
    result = run(partners, "send", CAMPAIGN, "--yes", "--audience", 'region = "Nulle-part"')
    assert_one_line_error(result, "selects nobody")
    assert log_is_empty(partners)


def test_bulk_send_without_yes_and_without_a_terminal(partners):
    result = run(partners, "send", CAMPAIGN)
    assert_one_line_error(
        result,
        "this would send 17 messages and nobody confirmed. There is no terminal to confirm at: "
        "add --yes to send without asking",
    )
    assert log_is_empty(partners)


def test_unknown_campaign(partners):
    result = run(partners, "send", "n-existe-pas", "--yes")
    assert result.exit_code == 1
    assert "Error:" in result.stderr
    assert log_is_empty(partners)


def test_send_status_report_over_smtp(partners, smtp_server, tmp_path):
    server = smtp_server()
    result = run(partners, "send", CAMPAIGN, "--yes", "--transport", server.url)
    assert result.exit_code == 0, result.output
    assert "Sent 17 message(s)" in result.stdout
    assert len(server.handler.messages) == 17
    again = run(partners, "send", CAMPAIGN, "--yes", "--transport", server.url, "--json")
    data = json.loads(again.stdout)
    assert data["sent"] == 0
    assert data["preflight"]["already_sent"] == 17
    assert len(server.handler.messages) == 17
    status = json.loads(run(partners, "status", "--json").stdout)
    assert status[0]["campaign"] == CAMPAIGN
    assert status[0]["sent"] == 17
    out = tmp_path / "report.csv"
    assert run(partners, "report", CAMPAIGN, "--csv", "-o", str(out)).exit_code == 0
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 17
    assert {r["status"] for r in rows} == {"sent"}
    assert all(r["message_id"].startswith(f"<{CAMPAIGN}.") for r in rows)


def test_dry_run_and_test_address(partners):
    dry = run(partners, "send", CAMPAIGN, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "17 message(s) would be sent" in dry.stdout
    assert log_is_empty(partners)
    test = run(partners, "send", CAMPAIGN, "--test", "moi@example.org")
    assert test.exit_code == 0, test.output
    assert log_is_empty(partners)
    assert len(list(partners.path(".commskit/outbox/new").iterdir())) == 1


def test_status_of_an_unknown_campaign(partners):
    result = run(partners, "status", "jamais-envoyee")
    assert_one_line_error(result, "has never been sent")


def test_real_process_exit_status(partners, python, subprocess_env):
    result = subprocess.run(
        [
            python,
            "-m",
            "commskit",
            "-C",
            str(partners.root),
            "send",
            CAMPAIGN,
            "--yes",
            "--transport",
            "nope:x",
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: unknown transport scheme 'nope'")
    assert "Traceback" not in result.stderr
