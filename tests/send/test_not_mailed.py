"""One recipient never blocks a campaign, and everyone not mailed is reported with why (issue 10).

The audience mixes the demo partners with five contacts that cannot or must not be mailed. Two of
them hold data that imports clean today but that the store may already contain (written through
the Python API or by an older import), so they are written into the store directly.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main
from commskit.store.db import utcnow

CAMPAIGN = "2026-11-infolettre"
SENDER = "Équipe Mobilités <lettres@mobilites-territoires.fr>"

UTF8 = "élodie@collectivité.example.org"
UTF8_STORED = "élodie@xn--collectivit-lbb.example.org"  # the domain as an A-label
CRLF = "eve@aom-retour.example.org"
UNSUBSCRIBED = "paul@aom-parti.example.org"
ERASED = "ines@aom-efface.example.org"
NO_BASIS = "sam@aom-sansbase.example.org"

CSV = (
    "email,first_name,kind,region,basis\n"
    f"{UTF8},Élodie,AOM,Bretagne,public-mission\n"
    f"{CRLF},Eve,AOM,Bretagne,public-mission\n"
    f"{UNSUBSCRIBED},Paul,AOM,Bretagne,public-mission\n"
    f"{ERASED},Inès,AOM,Bretagne,public-mission\n"
    f"{NO_BASIS},Sam,AOM,Bretagne,\n"
)


@pytest.fixture
def mixed(partners: Workspace, tmp_path: Path) -> Workspace:
    """The demo partners (17 in aom-bretagne) plus the five troublesome contacts."""
    ws = partners
    source = tmp_path / "cinq.csv"
    source.write_text(CSV, encoding="utf-8")
    report = ws.contacts.import_file(source)
    assert report.imported == 5, report.to_dict()
    store = ws.store
    with store.transaction():
        # a line break in a name, as an older import or a script could have stored it
        store.conn.execute(
            "UPDATE contacts SET first_name = ? WHERE email = ?",
            ("Eve\r\nBcc: victim@example.org", CRLF),
        )
        # an erasure whose hash matches a contact row written afterwards by another tool
        store.audience.add_suppression(
            ws.contacts.hash(ERASED), "", "erased", "an older commskit", utcnow()
        )
    ws.contacts.unsubscribe(UNSUBSCRIBED, "infolettre", source="test")
    return ws


def _demo_addresses(ws: Workspace) -> set[str]:
    new = {UTF8_STORED, CRLF, UNSUBSCRIBED, ERASED, NO_BASIS}
    return {c.email for c in ws.segment("aom-bretagne", include_suppressed=True)} - new


def _open(ws: Workspace, url: str) -> Workspace:
    overrides = {"transport": {"url": url}, "sender": {"from": SENDER}}
    return Workspace.open(ws.root, overrides=overrides)


def test_dry_run_is_not_blocked_by_any_of_them(mixed: Workspace) -> None:
    report = mixed.send(CAMPAIGN, dry_run=True)
    pre = report.preflight
    assert pre.total == 22
    # the unsubscribed, erased and no-basis contacts are never rendered; the CR/LF one is skipped
    assert pre.not_mailed == {"suppressed-list": 1, "erased": 1, "no-basis": 1, "invalid": 1}
    # the non-ASCII address goes to the transport, which decides (SMTPUTF8); pre-flight says so
    assert pre.to_send == 18
    assert any("SMTPUTF8" in w and "élodie@" in w for w in pre.warnings), pre.warnings
    invalid = pre.not_mailed_examples["invalid"]
    contact = mixed.contacts.get(CRLF)
    assert contact is not None
    assert CRLF in invalid
    assert f"#{contact.id}" in invalid
    assert "line break" in invalid


def test_the_others_are_sent_and_each_of_the_five_has_its_reason(mixed, smtp_server) -> None:
    server = smtp_server(enable_SMTPUTF8=False)
    ws = _open(mixed, server.url)
    report = ws.send(CAMPAIGN, yes=True)
    demo = _demo_addresses(ws)
    assert len(demo) == 17
    assert set(server.handler.by_rcpt()) == demo
    assert report.sent == 17
    assert report.failed == 1
    rows = {r["contact_id"]: r for r in ws.send_report(CAMPAIGN)}

    def row(address: str) -> dict[str, object]:
        contact = ws.contacts.get(address)
        assert contact is not None
        return rows[contact.id]

    assert row(UTF8)["status"] == "failed"
    assert row(UTF8)["permanent"] == 1
    assert "SMTPUTF8" in str(row(UTF8)["error"])
    assert row(CRLF)["status"] == "skipped"
    assert "line break" in str(row(CRLF)["error"])
    assert row(UNSUBSCRIBED)["status"] == "suppressed"
    assert row(NO_BASIS)["status"] == "suppressed"
    assert "legal basis" in str(row(NO_BASIS)["error"])
    assert row(ERASED)["status"] == "suppressed"
    # an erased address is never written back in clear
    assert row(ERASED)["email"] is None
    reasons = {r["reason"] for r in ws.send_report(CAMPAIGN) if r["status"] != "sent"}
    assert reasons == {"invalid", "suppressed-list", "erased", "no-basis", None}
    ws.close()


def test_cli_exit_status_and_status_breakdown(mixed, smtp_server) -> None:
    server = smtp_server(enable_SMTPUTF8=False)
    runner = CliRunner()
    env = {"COMMSKIT_FROM": SENDER}
    args = ["-C", str(mixed.root), "send", CAMPAIGN, "--yes", "--transport", server.url]
    result = runner.invoke(main, [*args, "--json"], env=env)
    # 1: some recipients failed or cannot be mailed; the user must act (docs/sending.md)
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["sent"] == 17
    assert data["preflight"]["not_mailed"] == {
        "suppressed-list": 1,
        "erased": 1,
        "no-basis": 1,
        "invalid": 1,
    }
    assert ERASED not in result.output

    status = runner.invoke(main, ["-C", str(mixed.root), "status", CAMPAIGN, "--json"], env=env)
    assert status.exit_code == 0, status.output
    entry = json.loads(status.stdout)[0]
    breakdown = entry["not_mailed"]
    assert {k: v["count"] for k, v in breakdown.items()} == {
        "suppressed-list": 1,
        "erased": 1,
        "no-basis": 1,
        "invalid": 1,
    }
    assert UNSUBSCRIBED in breakdown["suppressed-list"]["example"]
    assert NO_BASIS in breakdown["no-basis"]["example"]
    assert CRLF in breakdown["invalid"]["example"]
    assert ERASED not in json.dumps(entry)
    assert "SMTPUTF8" in entry["failed_example"]

    text = runner.invoke(main, ["-C", str(mixed.root), "status", CAMPAIGN], env=env)
    assert text.exit_code == 0, text.output
    for words in ("unsubscribed from this list", "erased", "no legal basis", "invalid"):
        assert words in text.stdout, text.stdout

    # a re-run sends nothing new and still says some recipients are not mailed
    again = runner.invoke(main, args, env=env)
    assert again.exit_code == 1, again.output
    assert len(server.handler.messages) == 17


def test_a_non_ascii_local_part_goes_out_over_smtputf8(mixed, smtp_server) -> None:
    server = smtp_server(enable_SMTPUTF8=True)
    ws = _open(mixed, server.url)
    report = ws.send(CAMPAIGN, yes=True)
    assert report.sent == 18
    assert report.failed == 0
    got = server.handler.by_rcpt()
    assert UTF8_STORED in got
    message = got[UTF8_STORED][0]
    assert "SMTPUTF8" in message.options
    # an RFC 6532 message: its headers are UTF-8 text
    parsed = email.message_from_string(message.data.decode("utf-8"), policy=email.policy.default)
    assert parsed["To"].addresses[0].addr_spec == UTF8_STORED
    ws.close()


def test_outbox_writes_a_non_ascii_local_part_as_an_smtputf8_message(mixed) -> None:
    report = mixed.send(CAMPAIGN, yes=True)
    assert report.sent == 18
    files = list(mixed.path(".commskit/outbox/new").iterdir())
    assert len(files) == 18
    raw = [f.read_bytes() for f in files]
    utf8 = [r for r in raw if "élodie".encode() in r]
    assert len(utf8) == 1
    # only the header names the address in UTF-8 (RFC 6532); the body parts stay 7-bit
    _head, _, body = utf8[0].partition(b"\r\n\r\n")
    assert body.isascii()


@pytest.mark.parametrize("processes", [1, 2])
def test_per_recipient_problems_in_serial_and_forked_preflight(
    ws, make_runner, people, doubles, processes
):
    """The forked pre-flight workers report a bad recipient like the serial path does."""
    from commskit.errors import HeaderInjectionError
    from commskit.send import SendOptions

    class Strict(doubles.CompiledDouble):  # type: ignore[misc,name-defined]
        def message_for(self, contact, **kwargs):  # type: ignore[no-untyped-def]
            if "\n" in contact.first_name:
                raise HeaderInjectionError("recipient name contains a line break or NUL character")
            return super().message_for(contact, **kwargs)

    recipients = people(450)  # over three pre-flight chunks
    bad = doubles.Person(200, "p200@example.net", first_name="Eve\r\nBcc: x@example.org")
    recipients[199] = bad
    runner = make_runner(recipients, compiled=Strict())
    runner.processes, runner.parallel_threshold = processes, 10
    assert runner._parallel_preflight() == processes
    report = runner.run(SendOptions(yes=True))
    assert report.preflight.not_mailed == {"invalid": 1}
    assert (
        "contact #200 p200@example.net: recipient name contains a line break"
        in (report.preflight.not_mailed_examples["invalid"])
    )
    assert report.sent == 449
    rows = {r["email"]: r for r in ws.send_report(CAMPAIGN)}
    assert rows["p200@example.net"]["status"] == "skipped"
    assert rows["p200@example.net"]["reason"] == "invalid"
