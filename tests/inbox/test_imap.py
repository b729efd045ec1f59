"""commskit inbox imaps://… against a real Dovecot on loopback (the acceptance test)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from commskit.cli import main
from commskit.errors import InboxError

from .conftest import PEOPLE, SIX, Dovecot, Sent, six_messages


def _env(monkeypatch, server: Dovecot, password: str | None = None) -> None:
    monkeypatch.setenv("COMMSKIT_IMAP_PASSWORD", password or server.password)
    monkeypatch.setenv("COMMSKIT_IMAP_CAFILE", server.cafile)


def test_imaps_classifies_the_six_and_a_second_run_records_nothing(
    sent: Sent, dovecot: Dovecot, monkeypatch
):
    dovecot.append(*six_messages(sent))
    _env(monkeypatch, dovecot)
    root = str(sent.ws.root)
    sent.ws.close()
    runner = CliRunner()
    first = runner.invoke(main, ["-C", root, "inbox", dovecot.url(), "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert {(r["contact"], r["kind"]) for r in data["read"]} == {(a, k) for _m, a, k in SIX}
    assert data["problems"] == []
    # read with BODY.PEEK in a read-only folder: no flag set without --mark-seen
    assert not any(b"\\Seen" in line for line in dovecot.flags())
    second = runner.invoke(main, ["-C", root, "inbox", dovecot.url(), "--json"])
    again = json.loads(second.stdout)
    assert (again["already_read"], again["counts"]) == (6, {})
    shown = runner.invoke(main, ["-C", root, "contacts", "show", PEOPLE[0], "--json"])
    timeline = json.loads(shown.stdout)["timeline"]
    assert [t["kind"] for t in timeline][-1] == "reply"
    for address, kind in (
        (PEOPLE[1], "reply"),
        (PEOPLE[2], "auto_reply"),
        (PEOPLE[3], "registered"),
        (PEOPLE[4], "hard bounce"),
        (PEOPLE[5], "unsubscribed"),
    ):
        shown = runner.invoke(main, ["-C", root, "contacts", "show", address, "--json"])
        assert kind in [t["kind"] for t in json.loads(shown.stdout)["timeline"]], address


def test_mark_seen_flags_what_was_read(sent: Sent, dovecot: Dovecot, monkeypatch):
    messages = six_messages(sent)
    dovecot.append(messages[0])
    _env(monkeypatch, dovecot)
    sent.ws.read_inbox(dovecot.url())  # read once without --mark-seen: nothing flagged
    dovecot.append(messages[1])
    report = sent.ws.read_inbox(dovecot.url(), mark_seen=True)
    assert (sum(report.counts.values()), report.already_read) == (1, 1)
    # the message read by the earlier run is flagged too: it is in the history
    assert [b"\\Seen" in line for line in dovecot.flags()] == [True, True]


def test_wrong_password_is_one_line(ws, dovecot: Dovecot, monkeypatch):
    _env(monkeypatch, dovecot, password="pas-le-bon")
    with pytest.raises(InboxError, match="refused the login of equipe"):
        ws.read_inbox(dovecot.url())
    result = CliRunner().invoke(main, ["-C", str(ws.root), "inbox", dovecot.url()])
    assert result.exit_code == 1
    assert "refused the login" in result.stderr
    assert "Traceback" not in result.stderr


def test_untrusted_certificate_and_missing_folder(ws, dovecot: Dovecot, monkeypatch):
    monkeypatch.setenv("COMMSKIT_IMAP_PASSWORD", dovecot.password)
    monkeypatch.delenv("COMMSKIT_IMAP_CAFILE", raising=False)
    with pytest.raises(InboxError, match="not trusted"):
        ws.read_inbox(dovecot.url())
    _env(monkeypatch, dovecot)
    with pytest.raises(InboxError, match="does not exist"):
        ws.read_inbox(dovecot.url("Nulle-part"))
