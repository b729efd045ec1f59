"""`send` warns once per run when the last `commskit doctor` run failed or is over a week old."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from commskit import Workspace
from commskit.app.doctor import RECORD_FILE, doctor_warning, record_run
from commskit.send import SendOptions
from commskit.send.doctor import DoctorReport, Finding

_spec = importlib.util.spec_from_file_location("dns_zone", Path(__file__).with_name("dns_zone.py"))
assert _spec is not None
assert _spec.loader is not None
dns_zone = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dns_zone)

CAMPAIGN = "2026-11-infolettre"
FROM = "Équipe Covoiturage du quotidien <infolettre@covoiturage.example.gouv.fr>"
GOOD = """
covoiturage.example.gouv.fr. 300 IN TXT "v=spf1 mx -all"
covoiturage.example.gouv.fr. 300 IN MX 10 mx.covoiturage.example.gouv.fr.
_dmarc.covoiturage.example.gouv.fr. 300 IN TXT "v=DMARC1; p=none"
"""


@pytest.fixture
def partners(ws: Workspace) -> Workspace:
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    return ws


@pytest.fixture(scope="module")
def dns() -> Iterator[Any]:
    server = dns_zone.LoopbackDNS(GOOD).start()
    try:
        yield server
    finally:
        server.stop()


def doctor_notes(warnings: list[str]) -> list[str]:
    return [w for w in warnings if w.startswith("doctor:")]


def dry_run(ws: Workspace) -> list[str]:
    return doctor_notes(ws.send(CAMPAIGN, options=SendOptions(dry_run=True)).preflight.warnings)


def test_never_run_and_passed_runs_give_no_warning(partners: Workspace, dns: Any) -> None:
    assert dry_run(partners) == []
    dns.set_zone(GOOD)
    assert partners.doctor(nameserver=dns.nameserver).ok
    record = json.loads((partners.state_dir / RECORD_FILE).read_text(encoding="utf-8"))
    assert record["ok"] is True
    assert record["problems"] == []
    assert dry_run(partners) == []


def test_failed_run_warns_once_naming_the_problems(partners: Workspace, dns: Any) -> None:
    dns.set_zone(GOOD.replace("_dmarc.", "_nothing."))
    assert not partners.doctor(nameserver=dns.nameserver).ok
    (notice,) = dry_run(partners)
    assert "found problems" in notice
    assert "dmarc missing: _dmarc.covoiturage.example.gouv.fr" in notice
    # fixed: the next doctor run clears the warning
    dns.set_zone(GOOD)
    partners.doctor(nameserver=dns.nameserver)
    assert dry_run(partners) == []


def test_a_run_older_than_a_week_warns(partners: Workspace) -> None:
    report = DoctorReport("ex.org", "ex.org", [Finding("spf", "ex.org", "ok", "fine")])
    record_run(partners.state_dir, report, now=datetime.now(UTC) - timedelta(days=8))
    (notice,) = dry_run(partners)
    assert "over a week ago" in notice
    record_run(partners.state_dir, report, now=datetime.now(UTC) - timedelta(days=6))
    assert dry_run(partners) == []


def test_damaged_record_warns_and_never_stops_the_send(partners: Workspace) -> None:
    (partners.state_dir / RECORD_FILE).write_text("{not json", encoding="utf-8")
    (notice,) = dry_run(partners)
    assert "unreadable" in notice
    assert doctor_warning(partners.state_dir) == notice


def test_confirmation_shows_the_warning_once(partners: Workspace) -> None:
    report = DoctorReport("ex.org", "ex.org", [Finding("mx", "ex.org", "missing", "no MX")])
    record_run(partners.state_dir, report)
    shown: list[list[str]] = []
    result = partners.send(
        CAMPAIGN,
        options=SendOptions(),
        confirm=lambda pre: shown.append(list(pre.warnings)) or False,
    )
    assert len(shown) == 1
    assert len(doctor_notes(shown[0])) == 1
    assert len(doctor_notes(result.preflight.warnings)) == 1


def test_cli_send_prints_the_warning_once(
    partners: Workspace, python: str, subprocess_env: dict[str, str]
) -> None:
    report = DoctorReport("ex.org", "ex.org", [Finding("spf", "ex.org", "wrong", "+all")])
    record_run(partners.state_dir, report)
    result = subprocess.run(
        [python, "-m", "commskit", "-C", str(partners.root), "send", CAMPAIGN, "--dry-run"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: doctor: the last run") == 1
    assert "spf wrong: ex.org" in result.stderr
