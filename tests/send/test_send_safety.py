"""Safety and GDPR on the send side (issue 10 item 6), and the small fixes of item 9:
test copies, status and report."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main
from commskit.send.jobs import address_recipients

CAMPAIGN = "2026-11-infolettre"
SENDER = "Équipe Covoiturage du quotidien <infolettre@mobilites-territoires.fr>"


def run(ws: Workspace, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["-C", str(ws.root), *args], env=env or {})


def one_line_error(result, text: str) -> str:
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("Error: ")
    assert text in errors[0], errors[0]
    return errors[0]


def outbox(ws: Workspace) -> list[email.message.EmailMessage]:
    folder = ws.path(".commskit/outbox/new")
    files = sorted(folder.iterdir()) if folder.exists() else []
    return [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for f in files
    ]


def test_send_test_to_an_erased_address_is_refused(partners) -> None:
    partners.contacts.forget("moi@example.org")
    result = run(partners, "send", CAMPAIGN, "--test", "moi@example.org")
    one_line_error(result, "erased at the person's request")
    assert outbox(partners) == []


def test_digest_to_plain_addresses_never_writes_an_erased_one_back(ws, make_runner) -> None:
    erased = "ancien.collegue@example.org"
    ws.contacts.forget(erased)
    from commskit.app.sending import job_runner
    from commskit.send import SendOptions
    from commskit.send.jobs import make_job

    job = make_job(
        ws.contacts,
        ws.secret,
        campaign_id="veille-2026-W47",
        compiled=make_runner([]).job.compiled,
        recipients=address_recipients(["equipe@example.org", erased]),
        list_name="veille",
    )
    report = job_runner(ws.send_setup(), job).run(SendOptions(yes=True))
    assert report.sent == 1
    assert report.preflight.not_mailed == {"erased": 1}
    assert erased not in json.dumps(report.to_dict())
    rows = list(ws.send_report("veille-2026-W47"))
    assert {r["status"] for r in rows} == {"sent", "suppressed"}
    assert all(r["email"] != erased for r in rows)
    ws.store.checkpoint()
    state = ws.state_dir
    for path in state.glob("state.db*"):
        assert erased.encode() not in path.read_bytes(), path


def test_send_refuses_the_example_sender_outside_the_outbox(partners, smtp_server) -> None:
    server = smtp_server()
    result = run(partners, "send", CAMPAIGN, "--yes", "--transport", server.url)
    line = one_line_error(result, "infolettre@covoiturage.example.gouv.fr is the shipped example")
    assert "[sender] from" in line
    assert server.handler.messages == []
    assert partners.send_status() == []
    # a test copy is fine (the outbox too: the other tests send there with the example sender)
    test = run(partners, "send", CAMPAIGN, "--test", "moi@example.org", "--transport", server.url)
    assert test.exit_code == 0, test.output
    assert len(server.handler.messages) == 1
    # with a sender of the team's own, the real send goes
    real = run(
        partners,
        "send",
        CAMPAIGN,
        "--yes",
        "--transport",
        server.url,
        env={"COMMSKIT_FROM": SENDER},
    )
    assert real.exit_code == 0, real.output


def test_init_warns_that_the_sender_is_the_example_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "equipe")])
    assert result.exit_code == 0, result.output
    assert "the sender is the shipped example (infolettre@covoiturage.example.gouv.fr)" in (
        result.stderr
    )
    assert "[sender] from" in result.stderr


def test_test_copy_has_a_test_subject_and_no_partner_data(partners) -> None:
    first = next(iter(partners.segment("aom-bretagne")))
    result = run(partners, "send", CAMPAIGN, "--test", "moi@example.org")
    assert result.exit_code == 0, result.output
    [message] = outbox(partners)
    assert str(message["Subject"]).startswith("[TEST] Infolettre covoiturage du quotidien")
    assert message["To"].addresses[0].addr_spec == "moi@example.org"
    text = message.as_string()
    assert first.first_name not in str(message["To"])
    assert first.organization not in text


def test_test_copy_to_a_known_contact_carries_their_own_data(partners) -> None:
    contact = next(iter(partners.segment("aom-bretagne")))
    result = run(partners, "send", CAMPAIGN, "--test", contact.email)
    assert result.exit_code == 0, result.output
    [message] = outbox(partners)
    assert message["To"].addresses[0].display_name == contact.full_name
    assert str(message["Subject"]).startswith("[TEST] ")


def test_status_started_at_is_the_first_runs_start(partners) -> None:
    run(partners, "send", CAMPAIGN, "--yes", "--limit", "5")
    assert partners.store.sends.counts(CAMPAIGN)["sent"] == 5
    with partners.store.transaction():  # the first run, a week ago
        partners.store.conn.execute(
            "UPDATE campaigns SET created_at = ?, started_at = ? WHERE id = ?",
            ("2026-11-17T08:00:00+00:00", "2026-11-17T08:00:00+00:00", CAMPAIGN),
        )
    assert run(partners, "send", CAMPAIGN, "--yes").exit_code == 0
    [entry] = json.loads(run(partners, "status", "--json").stdout)
    assert entry["started_at"] == "2026-11-17T08:00:00+00:00"
    assert entry["last_started_at"] > entry["started_at"]


def test_report_json_and_campaign_paths(partners) -> None:
    assert run(partners, "send", CAMPAIGN, "--yes").exit_code == 0
    path = str(partners.path(f"campaigns/{CAMPAIGN}.md"))
    # the folder of the bilingual campaign, one of its files, or its old single-file name
    folder = str(partners.path(f"campaigns/{CAMPAIGN}"))
    for name in (path, folder, f"campaigns/{CAMPAIGN}/en.md", f"campaigns/{CAMPAIGN}.md", CAMPAIGN):
        status = run(partners, "status", name, "--json")
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)[0]["sent"] == 17
        report = run(partners, "report", name, "--json")
        assert report.exit_code == 0, report.output
        rows = json.loads(report.stdout)["recipients"]
        assert len(rows) == 17
        assert {r["status"] for r in rows} == {"sent"}
        assert all(r["message_id"].startswith(f"<{CAMPAIGN}.") for r in rows)
    unknown = run(partners, "status", "campaigns/2026-12-webinaire.md")
    one_line_error(unknown, "has never been sent")
