"""`commskit digest --fetch --since last --mark --send`: the Monday job, end to end."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import ConfigError, PreflightError, Workspace
from commskit.cli import main
from commskit.send.digest import period_key


def _run(ws: Workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(ws.root), *args])
    return result.exit_code, result.output


def _stdout(ws: Workspace, *args: str) -> str:
    result = CliRunner().invoke(main, ["-C", str(ws.root), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _outbox(ws: Workspace) -> list[Path]:
    folder = ws.root / "outbox" / "new"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_monday_job_sends_once_and_never_repeats(team_ws: Workspace) -> None:
    out = str(team_ws.root / "out" / "veille.md")
    cron = ("digest", "--fetch", "--since", "all", "--mark", "--send", "--yes", "-o", out)
    code, output = _run(team_ws, *cron)
    assert code == 0, output
    sent = _outbox(team_ws)
    assert len(sent) == 2
    message = email.message_from_bytes(sent[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == team_ws.settings.digest.subject
    assert message["List-Unsubscribe"].startswith("<https://")
    html = message.get_body(("html",))
    assert html is not None
    assert "Ministère" in html.get_content()
    assert (team_ws.root / "out" / "veille.md").read_text(encoding="utf-8").startswith("#")

    # the same cron line again: nothing new, nothing sent
    again = ("digest", "--fetch", "--since", "last", "--mark", "--send", "--yes")
    code, output = _run(team_ws, *again)
    assert code == 0, output
    assert "Nothing new" in output
    assert len(_outbox(team_ws)) == 2


def test_rerun_after_an_interrupted_send_finishes_it_without_doubles(team_ws: Workspace) -> None:
    team_ws.fetch()
    digest = team_ws.digest(since="all")
    first = team_ws.send_digest(digest, recipients=["equipe@covoiturage.example.gouv.fr"])
    assert first.sent == 1
    # same period, the full list now (as a re-run after a crash would see it)
    second = team_ws.send_digest(digest, yes=True)
    assert second.sent == 1
    assert second.counts["sent"] == 2
    assert len(_outbox(team_ws)) == 2
    recipients = sorted(
        email.message_from_bytes(p.read_bytes(), policy=policy.default)["To"].addresses[0].addr_spec
        for p in _outbox(team_ws)
    )
    assert recipients == sorted(team_ws.settings.digest.recipients)


def test_digest_json_with_send(team_ws: Workspace) -> None:
    data = json.loads(
        _stdout(team_ws, "digest", "--fetch", "--since", "all", "--send", "--yes", "--json")
    )
    assert data["send"]["sent"] == 2
    assert data["digest"]["total"] > 0


def test_no_recipients_is_a_clear_error(team_ws: Workspace) -> None:
    team_ws.fetch()
    with pytest.raises(PreflightError, match=r"no recipients.*\[digest\] recipients"):
        team_ws.send_digest(team_ws.digest(since="all"), recipients=[])


def test_period_keys() -> None:
    moment = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert period_key(moment, "week") == "2026-W48"
    assert period_key(moment, "day") == "2026-11-23"
    assert period_key(moment, "month") == "2026-11"
    with pytest.raises(ConfigError, match="period must be one of"):
        period_key(moment, "fortnight")


def test_digest_send_to_several_needs_yes_off_a_terminal(team_ws: Workspace) -> None:
    # the README says bulk sends need --yes: the cron line carries it, a forgotten one sends nothing
    code, output = _run(team_ws, "digest", "--fetch", "--since", "all", "--mark", "--send")
    assert code == 1, output
    assert "this would send 2 messages and nobody confirmed" in output
    assert "There is no terminal to confirm at: add --yes to send without asking" in output
    assert _outbox(team_ws) == []
    assert team_ws.store.sends.campaign_ids() == []
    code, output = _run(team_ws, "digest", "--since", "all", "--mark", "--send", "--yes")
    assert code == 0, output
    assert len(_outbox(team_ws)) == 2


def test_digest_send_warns_once_about_the_last_doctor_run(team_ws: Workspace) -> None:
    # the Monday cron job is a send too: a failed doctor run is said (cron mails stderr), once,
    # and the digest still goes
    record = {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ok": False,
        "problems": ["dmarc missing: _dmarc.example.gouv.fr"],
    }
    team_ws.state_dir.mkdir(parents=True, exist_ok=True)
    (team_ws.state_dir / "doctor.json").write_text(json.dumps(record), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["-C", str(team_ws.root), "digest", "--fetch", "--since", "all", "--send", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: doctor: the last run") == 1
    assert "dmarc missing: _dmarc.example.gouv.fr" in result.stderr
    assert len(_outbox(team_ws)) == 2
