"""`check` and `send` judge a campaign the same way (issue 10 item 2).

Both check the real recipients: the partners' own columns (``contact.attributes``) exist there and
not on a made-up sample contact; an http:// unsubscribe URL is an error for both; a personalised
subject too long for inboxes is reported for the recipients it concerns.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main
from commskit.errors import PreflightError, TemplateError

POPULATION = """\
---
subject: "Infolettre de novembre"
template: newsletter
audience: aom-bretagne
list: infolettre
language: fr
---
Bonjour {{ contact.first_name }},

Votre territoire compte {{ contact.attributes['population'] }} habitants.

[Se désabonner]({{ unsubscribe_url }})
"""

LONG_SUBJECT = """\
---
subject: "{{ contact.organization }} : les nouvelles du covoiturage du quotidien"
template: newsletter
audience: aom-bretagne
list: infolettre
language: fr
---
Bonjour {{ contact.first_name }},

[Se désabonner]({{ unsubscribe_url }})
"""


def _check(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["-C", str(ws.root), "check", *args, "--json"], env=env)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _codes(data: dict) -> dict[str, str]:
    issues = data["issues"]
    assert isinstance(issues, list)
    return {i["code"]: i["level"] for i in issues}


def test_partner_columns_pass_check_and_send(partners: Workspace) -> None:
    ws = partners
    ws.path("campaigns/population.md").write_text(POPULATION, encoding="utf-8")
    code, data = _check(ws, "population")
    assert code == 0, data
    assert data["ok"] is True
    assert data["audience"]["recipients"] == 17  # type: ignore[index]
    # send agrees: the pre-flight renders the real recipients, who all have the column
    report = ws.send("population", yes=True)
    assert report.sent == 17
    message = next(ws.path(".commskit/outbox/new").iterdir()).read_bytes()
    assert b"habitants" in message


def test_a_recipient_without_the_column_fails_both_naming_the_contact(partners) -> None:
    ws = partners
    ws.path("campaigns/population.md").write_text(POPULATION, encoding="utf-8")
    victim = next(iter(ws.segment("aom-bretagne")))
    with ws.store.transaction():
        ws.store.conn.execute("UPDATE contacts SET attributes = '{}' WHERE id = ?", (victim.id,))
    code, data = _check(ws, "population")
    assert code == 1
    messages = " ".join(i["message"] for i in data["issues"])  # type: ignore[attr-defined]
    assert victim.email in messages
    assert f"#{victim.id}" in messages
    with pytest.raises(TemplateError, match=victim.email):
        ws.send("population", dry_run=True)


def test_http_unsubscribe_url_is_an_error_for_both(partners) -> None:
    url = "http://lettres.example.org/u"
    ws = Workspace.open(partners.root, overrides={"unsubscribe": {"url": url}})
    code, data = _check(ws, "2026-11-infolettre", env={"COMMSKIT_UNSUBSCRIBE_URL": url})
    assert code == 1
    assert _codes(data).get("unsubscribe-url-not-https") == "error"
    with pytest.raises(PreflightError, match="unsubscribe-url-not-https"):
        ws.send("2026-11-infolettre", dry_run=True)
    ws.close()


def test_long_personal_subject_is_reported_per_recipient_by_both(partners) -> None:
    ws = partners
    ws.path("campaigns/long.md").write_text(LONG_SUBJECT, encoding="utf-8")
    suffix = " : les nouvelles du covoiturage du quotidien"
    long_ones = [c for c in ws.segment("aom-bretagne") if len(c.organization + suffix) > 78]
    assert long_ones, "the demo data must have some long organisation names"
    assert len(long_ones) < 17, "and some short ones"
    code, data = _check(ws, "long")
    assert code == 0
    checked = [i for i in data["issues"] if i["code"] == "subject-long"]  # type: ignore[attr-defined]
    assert len(checked) == 1
    assert f"({len(long_ones)} recipient(s), e.g." in checked[0]["message"]
    dry = ws.send("long", dry_run=True)
    sent = [w for w in dry.preflight.warnings if w.startswith("subject-long:")]
    assert sent == [f"subject-long: {checked[0]['message']}"]


def test_without_an_audience_check_uses_the_sample_contact(partners) -> None:
    ws = partners
    ws.path("campaigns/sans.md").write_text(
        POPULATION.replace("audience: aom-bretagne\n", ""), encoding="utf-8"
    )
    code, data = _check(ws, "sans")
    # the sample contact has no partner columns: the variable is reported, as before
    assert code == 1
    assert _codes(data).get("undefined-variable") == "error"
    assert data["audience"] is None
