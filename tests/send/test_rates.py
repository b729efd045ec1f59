"""Bounce, complaint and unsubscribe rates per campaign, and the warning `send` gives (issue 13
item 5).

Everything is seeded through the real paths: campaigns sent to the outbox with a VERP envelope,
real DSN and ARF reports from the shared corpus read by `commskit bounces` from a Maildir (each
prefixed with the ``Delivered-To:`` line a mail server adds when it delivers to the VERP
address), and unsubscribes through the one-click token of the message each person received.
"""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import re
import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from commskit import Workspace
from commskit.cli import main
from commskit.errors import ConfigError
from commskit.send import SendOptions

CAMPAIGN = "2026-11-infolettre"
VERP = "bounces+{campaign}.{token}@bounce.example.org"
# corpus reports with one recipient each, read as sisimai reads them (tests/send/test_bounces.py)
HARD = ("lhost-gmail-01.eml", "lhost-postfix-04.eml", "lhost-sendmail-01.eml", "lhost-exim-05.eml")
SOFT = ("lhost-outlook-01.eml", "rhost-google-05.eml")
COMPLAINT = ("arf-01.eml", "arf-02.eml")


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-C", str(root), *args], env={})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fresh workspace whose envelope sender is VERP, with the 150 demo partners."""
    ws = Workspace.init(tmp_path / "ws")
    config = ws.root / "commskit.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[sender]\n", f'[sender]\nenvelope_from = "{VERP}"\n', 1), encoding="utf-8"
    )
    ws.close()
    ws = Workspace.open(tmp_path / "ws")
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"), basis="public-mission")
    ws.close()
    return tmp_path / "ws"


#: a campaign on another list than CAMPAIGN's (the shipped newsletter is bilingual, one list)
OTHER = "2026-11-newsletter-en"
OTHER_TEXT = """---
subject: "Everyday carpooling newsletter — November 2026"
template: newsletter
list: newsletter-en
language: en
---
Hello{% if contact.first_name %} {{ contact.first_name }}{% endif %}, here is the news.
"""


def send_all(root: Path, campaign: str = CAMPAIGN) -> None:
    if campaign == OTHER:
        (root / "campaigns" / f"{OTHER}.md").write_text(OTHER_TEXT, encoding="utf-8")
    result = run(root, "send", campaign, "--audience", "all", "--yes")
    assert result.exit_code == 0, result.output


class Sent:
    """One message in the outbox: who got it, its VERP envelope and its unsubscribe token."""

    def __init__(self, raw: bytes) -> None:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.rcpt = str(msg["Delivered-To"]).strip()
        self.verp = str(msg["Return-Path"]).strip().strip("<>")
        found = re.search(r"[?&]t=([^>&]+)>", str(msg["List-Unsubscribe"] or ""))
        self.token = found.group(1) if found else None


def outbox(root: Path, campaign: str) -> list[Sent]:
    """Return the outbox's messages of one campaign, in a stable order (by recipient)."""
    box = mailbox.Maildir(root / ".commskit" / "outbox", create=False)
    sent = [Sent(bytes(m)) for m in box]
    mine = [s for s in sent if s.verp.startswith(f"bounces+{campaign}.")]
    return sorted(mine, key=lambda s: s.rcpt)


def read_bounces(root: Path, corpus: Path, reports: list[tuple[str, Sent]], box: Path) -> Any:
    """Write each corpus report as delivered to the VERP address of a message; read them all."""
    folder = corpus / "bounces" / "sisimai"
    maildir = mailbox.Maildir(box, create=True)
    for name, sent in reports:
        maildir.add(f"Delivered-To: {sent.verp}\r\n".encode() + (folder / name).read_bytes())
    maildir.close()
    result = run(root, "bounces", str(box), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["unmatched"], data["unrecognised"], data["unreadable"]) == (0, 0, 0)
    return data


def unsubscribe(root: Path, sent: Sent) -> None:
    """Follow the one-click token of a message, as `commskit serve` does on a POST."""
    assert sent.token
    ws = Workspace.open(root)
    try:
        ws.contacts.unsubscribe_token(sent.token)
    finally:
        ws.close()


def status_json(root: Path, *args: str) -> list[dict[str, Any]]:
    result = run(root, "status", *args, "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


@pytest.fixture
def bounced(root: Path, corpus: Path, tmp_path: Path) -> Path:
    """150 sent; 4 hard bounces, 2 soft ones (one recipient reported twice), 1 complaint (two
    reports of it) and 3 unsubscribes, each on a different recipient."""
    send_all(root)
    sent = outbox(root, CAMPAIGN)
    assert len(sent) == 150
    reports = [(name, sent[i]) for i, name in enumerate(HARD)]
    reports += [(SOFT[0], sent[10]), (SOFT[1], sent[10]), (SOFT[0], sent[11])]
    reports += [(COMPLAINT[0], sent[20]), (COMPLAINT[1], sent[20])]
    data = read_bounces(root, corpus, reports, tmp_path / "box")
    assert (data["hard"], data["soft"], data["complaints"]) == (4, 3, 2)
    for i in (30, 31, 32):
        unsubscribe(root, sent[i])
    return root


def test_rates_are_computed_in_the_store_from_real_reports(bounced: Path) -> None:
    ws = Workspace.open(bounced)
    try:
        (rates,) = ws.store.sends.campaign_rates([CAMPAIGN]).values()
    finally:
        ws.close()
    assert rates.campaign_id == CAMPAIGN
    assert (rates.sent, rates.hard_bounces, rates.soft_bounces) == (150, 4, 2)
    assert (rates.complaints, rates.unsubscribes) == (1, 3)
    # a soft bounce and a hard one are not delivered; the complaint and unsubscribes were
    assert rates.delivered == 150 - 4 - 2
    assert rates.hard_bounce_rate == pytest.approx(4 / 150)
    assert rates.soft_bounce_rate == pytest.approx(2 / 150)
    assert rates.complaint_rate == pytest.approx(1 / 150)
    assert rates.unsubscribe_rate == pytest.approx(3 / 150)


def test_status_json_carries_the_rates_as_numbers(bounced: Path) -> None:
    (entry,) = status_json(bounced)
    rates = entry["rates"]
    assert rates == {
        "sent": 150,
        "delivered": 144,
        "hard_bounces": 4,
        "soft_bounces": 2,
        "complaints": 1,
        "unsubscribes": 3,
        "delivered_rate": pytest.approx(144 / 150),
        "hard_bounce_rate": pytest.approx(4 / 150),
        "soft_bounce_rate": pytest.approx(2 / 150),
        "complaint_rate": pytest.approx(1 / 150),
        "unsubscribe_rate": pytest.approx(3 / 150),
    }
    assert all(isinstance(v, int | float) for v in rates.values())


def test_status_text_shows_the_rates_within_100_columns(bounced: Path) -> None:
    # a second campaign that nobody bounced from: zero rates, not missing ones
    send_all(bounced, "2026-11-newsletter-en")
    result = run(bounced, "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "hard bounces" in line)
    table = lines[start : start + 3]  # the header and one line per campaign
    header = table[0].split()
    assert header == ["campaign", "delivered", "hard", "bounces", "soft", "complaints", "unsub"]
    assert max(len(line) for line in lines[: start + 3]) <= 100, result.stdout
    (line,) = [line for line in table if line.startswith(CAMPAIGN)]
    assert line.split()[1:] == [
        *("144", "of", "150"),
        *("2.7", "%", "(4)"),
        *("1.3", "%", "(2)"),
        *("0.67", "%", "(1)"),
        *("2.0", "%", "(3)"),
    ]
    (other,) = [line for line in table if line.startswith("2026-11-newsletter-en")]
    # everyone but the five suppressed (hard bounces and the complaint) got the English one
    zero = ["0.0", "%", "(0)"]
    assert other.split()[1:] == ["145", "of", "145", *zero, *zero, "0.00", "%", "(0)", *zero]


def test_report_shows_the_rates_in_its_summary_and_json(bounced: Path, tmp_path: Path) -> None:
    out = tmp_path / "envoi.csv"
    csv_run = run(bounced, "report", CAMPAIGN, "-o", str(out))
    assert csv_run.exit_code == 0, csv_run.output
    assert "Wrote 150 row(s)" in csv_run.stderr
    assert "hard bounces 4 (2.7 %)" in csv_run.stderr
    assert "complaints 1 (0.67 %)" in csv_run.stderr
    assert "unsubscribes 3 (2.0 %)" in csv_run.stderr
    # the CSV itself stays one row per recipient
    assert len(out.read_text(encoding="utf-8").splitlines()) == 151
    result = run(bounced, "report", CAMPAIGN, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["campaign"] == CAMPAIGN
    assert data["rates"]["hard_bounces"] == 4
    assert data["rates"]["complaint_rate"] == pytest.approx(1 / 150)
    assert len(data["recipients"]) == 150
    assert {r["status"] for r in data["recipients"]} == {"sent"}


def test_unsubscribe_belongs_to_the_last_message_received_on_that_list(root: Path) -> None:
    """By list and by time: the token is per (contact, list), not per campaign."""
    later = root / "campaigns" / "2026-12-infolettre.md"
    shutil.copyfile(root / "campaigns" / CAMPAIGN / "fr.md", later)
    send_all(root)
    first = {s.rcpt: s for s in outbox(root, CAMPAIGN)}
    people = sorted(first)
    early, late, other_list = people[0], people[1], people[2]
    unsubscribe(root, first[early])  # before the December issue: November's
    time.sleep(1.1)  # the store keeps times to the second
    send_all(root, "2026-12-infolettre")  # the early one is not mailed again
    send_all(root, "2026-11-newsletter-en")  # another list, sent last to everyone
    english = {s.rcpt: s for s in outbox(root, "2026-11-newsletter-en")}
    unsubscribe(root, first[late])  # November's token, after December's issue: December's
    unsubscribe(root, english[other_list])  # the English list's own campaign
    by_id = {e["campaign"]: e["rates"] for e in status_json(root)}
    assert by_id[CAMPAIGN]["unsubscribes"] == 1
    assert by_id["2026-12-infolettre"]["unsubscribes"] == 1
    assert by_id["2026-12-infolettre"]["sent"] == 149
    assert by_id["2026-11-newsletter-en"]["unsubscribes"] == 1


def test_digest_rates_from_its_plain_address_recipients(root: Path, corpus: Path, tmp_path) -> None:
    ws = Workspace.open(root)
    try:
        team = ["equipe@example.org", "camille@example.org", "dominique@example.org"]
        report = ws.send_digest(ws.digest(since="all"), recipients=team, yes=True)
        digest_id = report.campaign_id
        assert report.sent == 3
        ws.contacts.unsubscribe("camille@example.org", "veille", source="mailto")
    finally:
        ws.close()
    sent = {s.rcpt: s for s in outbox(root, digest_id)}
    read_bounces(root, corpus, [(HARD[0], sent["dominique@example.org"])], tmp_path / "box")
    (entry,) = status_json(root, digest_id)
    assert entry["rates"]["sent"] == 3
    assert entry["rates"]["hard_bounces"] == 1
    assert entry["rates"]["unsubscribes"] == 1
    assert entry["rates"]["unsubscribe_rate"] == pytest.approx(1 / 3)


def warnings_of(report: Any) -> list[str]:
    return [w for w in report.preflight.warnings if w.startswith("rates:")]


def test_send_warns_naming_the_campaign_when_over(
    root: Path, corpus: Path, tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    send_all(root)
    sent = outbox(root, CAMPAIGN)
    # 4 hard bounces of 150 = 2.7 % (> 2 %), 1 complaint = 0.67 % (> 0.1 %)
    reports = [(name, sent[i]) for i, name in enumerate(HARD)] + [(COMPLAINT[0], sent[20])]
    read_bounces(root, corpus, reports, tmp_path / "box")
    import subprocess

    result = subprocess.run(
        [python, "-m", "commskit", "-C", str(root), "send", "2026-12-webinaire", "--dry-run"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: rates:") == 1, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "warning: rates:" in line]
    assert f"{CAMPAIGN}: complaints 0.67 % (1 of 150)" in line
    assert "over [sending] max_complaint_rate 0.10 %" in line
    assert f"{CAMPAIGN}: hard bounces 2.7 % (4 of 150)" in line
    assert "over [sending] max_hard_bounce_rate 2.0 %" in line
    assert "docs/deliverability.md" in line
    assert "consent of the segment's contacts" in line
    assert "nothing was sent" in result.stdout.lower()


def test_the_warning_comes_before_anything_is_sent(
    root: Path, corpus: Path, tmp_path: Path
) -> None:
    send_all(root)
    sent = outbox(root, CAMPAIGN)
    read_bounces(root, corpus, [(COMPLAINT[0], sent[0]), (COMPLAINT[1], sent[1])], tmp_path / "b")
    ws = Workspace.open(root)
    heard: list[tuple[str, int]] = []
    try:
        report = ws.send(
            "2026-12-webinaire",
            yes=True,
            warn=lambda text: heard.append((text, len(outbox(root, "2026-12-webinaire")))),
        )
    finally:
        ws.close()
    assert report.sent > 0
    (notice,) = [(text, n) for text, n in heard if text.startswith("rates:")]
    assert notice[1] == 0  # nothing of the new campaign had left when it was said
    assert f"{CAMPAIGN}: complaints 1.33 % (2 of 150)" in notice[0]
    # a warning, not a stop; and the report carries it once
    assert warnings_of(report) == [notice[0]]


def test_no_warning_when_under_the_thresholds(root: Path, corpus: Path, tmp_path: Path) -> None:
    send_all(root)
    sent = outbox(root, CAMPAIGN)
    # 2 hard bounces of 150 = 1.3 % (< 2 %), no complaint, soft bounces never warn
    reports = [(HARD[0], sent[0]), (HARD[1], sent[1]), (SOFT[0], sent[2]), (SOFT[1], sent[3])]
    read_bounces(root, corpus, reports, tmp_path / "box")
    ws = Workspace.open(root)
    try:
        assert warnings_of(ws.send("2026-12-webinaire", dry_run=True)) == []
    finally:
        ws.close()
    result = run(root, "send", "2026-12-webinaire", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "rates:" not in result.stderr


def test_a_small_campaign_does_not_shout(root: Path, corpus: Path, tmp_path: Path) -> None:
    """1 complaint out of 17 messages (5.9 %) says more about chance than about the list."""
    result = run(root, "send", CAMPAIGN, "--yes")  # its own audience: 17 partners
    assert result.exit_code == 0, result.output
    sent = outbox(root, CAMPAIGN)
    assert len(sent) == 17
    read_bounces(root, corpus, [(COMPLAINT[0], sent[0])], tmp_path / "box")
    ws = Workspace.open(root)
    try:
        assert warnings_of(ws.send("2026-12-webinaire", dry_run=True)) == []
    finally:
        ws.close()
    # with [sending] rates_min_sent lowered to it, the same campaign is judged
    ws = Workspace.open(root, overrides={"sending": {"rates_min_sent": 10}})
    try:
        (line,) = warnings_of(ws.send("2026-12-webinaire", dry_run=True))
    finally:
        ws.close()
    assert f"{CAMPAIGN}: complaints 5.88 % (1 of 17)" in line


def test_only_the_last_campaigns_are_judged(root: Path, corpus: Path, tmp_path: Path) -> None:
    send_all(root)
    sent = outbox(root, CAMPAIGN)
    read_bounces(root, corpus, [(COMPLAINT[0], sent[0])], tmp_path / "box")
    send_all(root, "2026-11-newsletter-en")  # a clean campaign after the one complained about
    # both started within the same second, as on a fast machine: the later one is still the last
    with closing(sqlite3.connect(root / ".commskit" / "state.db")) as conn, conn:
        conn.execute("UPDATE campaigns SET started_at = '2026-11-20T09:00:00+00:00'")
    over = Workspace.open(root, overrides={"sending": {"rates_campaigns": 2}})
    once = Workspace.open(root, overrides={"sending": {"rates_campaigns": 1}})
    try:
        assert len(warnings_of(over.send("2026-12-webinaire", dry_run=True))) == 1
        assert warnings_of(once.send("2026-12-webinaire", dry_run=True)) == []
    finally:
        over.close()
        once.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_complaint_rate", "1.5", "[sending] max_complaint_rate must be between 0 and 1"),
        ("max_hard_bounce_rate", "-0.1", "[sending] max_hard_bounce_rate must be between 0 and 1"),
        ("max_complaint_rate", '"0.1 %"', "[sending] max_complaint_rate must be a number"),
        ("rates_campaigns", "0", "[sending] rates_campaigns must be greater than 0"),
        ("rates_min_sent", "0", "[sending] rates_min_sent must be greater than 0"),
    ],
)
def test_bad_settings_are_one_line_errors(root: Path, key: str, value: str, message: str) -> None:
    config = root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + f"\n[sending]\n{key} = {value}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        Workspace.open(root)
    assert message in caught.value.message
    result = run(root, "status")
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert message in line
    assert "commskit.toml" in line


def test_rate_settings_from_the_environment_are_checked(root: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Workspace.open(root, environ={"COMMSKIT_SENDING_MAX_COMPLAINT_RATE": "3"})
    assert "[sending] max_complaint_rate must be between 0 and 1" in caught.value.message
    assert "COMMSKIT_SENDING_MAX_COMPLAINT_RATE" in caught.value.message
    ws = Workspace.open(root, environ={"COMMSKIT_SENDING_MAX_COMPLAINT_RATE": "0.003"})
    try:
        assert ws.settings.sending.max_complaint_rate == 0.003
        assert ws.settings.sending.max_hard_bounce_rate == 0.02
    finally:
        ws.close()


def test_the_options_form_of_the_api_warns_too(root: Path, corpus: Path, tmp_path: Path) -> None:
    """The Python API's options= form gets the same warning as the flags."""
    send_all(root)
    sent = outbox(root, CAMPAIGN)
    read_bounces(root, corpus, [(COMPLAINT[0], sent[0])], tmp_path / "box")
    ws = Workspace.open(root)
    try:
        report = ws.send("2026-12-webinaire", options=SendOptions(dry_run=True))
    finally:
        ws.close()
    assert len(warnings_of(report)) == 1
