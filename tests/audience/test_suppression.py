"""Suppression (unsubscribe, bounce, complaint, manual), GDPR erasure and send history."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from commskit import ContactImportError, SecretError, Workspace
from commskit.audience import make_token
from commskit.audience.contacts import fold

ADDRESS = "Zephyrine.Quillard@Erase-Me.example.org"
# only its folded copy (organization_folded) is ASCII: a byte-grep for it checks that copy goes too
ORGANISATION = "Régie des Transports Zéphyréens"
ORGANISATION_FOLDED = "regie des transports zephyreens"


@pytest.fixture
def partners(ws: Workspace, write_export) -> Workspace:
    path = write_export(
        "partners.csv",
        [
            ["Courriel", "Prénom", "Nom", "Type", "Région", "Téléphone", "Organisme"],
            [
                ADDRESS,
                "Zéphyrine",
                "Quillardeau",
                "AOM",
                "Bretagne",
                "02 98 76 54 32",
                ORGANISATION,
            ],
            ["keep@example.org", "Anne", "Garde", "AOM", "Bretagne", "", ""],
            ["other@example.org", "Paul", "Autre", "AOM", "Normandie", "", ""],
        ],
    )
    assert ws.contacts.import_file(path).imported == 3
    return ws


def _send_log(ws: Workspace) -> None:
    """Create the send log with the agreed columns, unless the send stage's migration made it."""
    ws.store.conn.execute(
        "CREATE TABLE IF NOT EXISTS send_log (campaign_id TEXT NOT NULL, contact_id INTEGER"
        " NOT NULL, email TEXT, status TEXT NOT NULL, sent_at TEXT, updated_at TEXT NOT NULL,"
        " error TEXT, message_id TEXT, PRIMARY KEY (campaign_id, contact_id))"
    )


def _insert(ws: Workspace, table: str, values: dict[str, object]) -> None:
    """Insert a row giving only the columns a test cares about (others get filler values).

    The send stage owns the real send_log schema; this keeps the audience tests independent of
    its other NOT NULL columns, and of whether its migration is present on this branch.
    """
    conn = ws.store.conn
    row = dict(values)
    for _, name, type_, notnull, default, pk in conn.execute(f'PRAGMA table_info("{table}")'):
        if name in row or not notnull or default is not None or pk:
            continue
        numeric = any(word in str(type_).upper() for word in ("INT", "REAL"))
        row[name] = 0 if numeric else f"{name}-{values.get('contact_id', '')}"
    marks = ", ".join("?" for _ in row)
    conn.execute(
        f'INSERT OR IGNORE INTO "{table}" ({", ".join(row)}) VALUES ({marks})',  # noqa: S608
        tuple(row.values()),
    )


def _log_send(ws: Workspace, campaign_id: str, contact_id: int, **values: object) -> None:
    """Record one send log row, and its campaign row when the send stage has that table."""
    _send_log(ws)
    tables = {r[0] for r in ws.store.conn.execute("SELECT name FROM sqlite_master")}
    if "campaigns" in tables:
        _insert(ws, "campaigns", {"id": campaign_id})
    row: dict[str, object] = {"campaign_id": campaign_id, "contact_id": contact_id}
    columns = {r[1] for r in ws.store.conn.execute('PRAGMA table_info("send_log")')}
    if "recipient_key" in columns:
        row["recipient_key"] = f"c{contact_id}"
    row.update(values)
    _insert(ws, "send_log", row)


def test_unsubscribe_from_one_list_or_all(partners: Workspace) -> None:
    book = partners.contacts
    assert book.suppression(ADDRESS) is None
    assert book.unsubscribe(ADDRESS.lower(), "infolettre", source="test") is True
    assert book.unsubscribe(ADDRESS, "infolettre") is False  # idempotent
    assert book.suppression(ADDRESS, "infolettre") == "unsubscribed"
    assert book.suppression(ADDRESS, "webinaires") is None
    assert book.suppression(ADDRESS) is None
    bretagne = 'region = "Bretagne"'
    assert partners.segment(bretagne).count() == 2
    assert partners.segment(bretagne, list_name="infolettre").count() == 1
    assert partners.segment(bretagne, list_name="webinaires").count() == 2
    book.unsubscribe(ADDRESS)
    assert book.suppression(ADDRESS, "webinaires") == "unsubscribed"
    assert partners.segment(bretagne).count() == 1
    assert partners.segment(bretagne, include_suppressed=True).count() == 2
    assert book.resubscribe(ADDRESS) is True
    assert book.suppression(ADDRESS, "webinaires") is None
    # without a list, resubscribe lifts the per-list entries too (issue 10 item 6)
    assert book.suppression(ADDRESS, "infolettre") is None


@pytest.mark.parametrize("reason", ["bounced", "complained", "manual"])
def test_bounce_complaint_manual_suppress_everywhere(partners: Workspace, reason: str) -> None:
    assert partners.contacts.suppress("keep@EXAMPLE.org", reason, source="dsn") is True
    assert partners.contacts.suppression("keep@example.org", "infolettre") == reason
    emails = [c.email for c in partners.segment("all")]
    assert "keep@example.org" not in emails
    # an address that is not a contact can be suppressed too (e.g. a bounce)
    assert partners.contacts.suppress("stranger@example.org", reason) is True
    assert partners.contacts.suppression("stranger@example.org") == reason


def test_unknown_reason_is_refused(partners: Workspace) -> None:
    with pytest.raises(ContactImportError, match="unknown suppression reason"):
        partners.contacts.suppress("keep@example.org", "spam-ish")


def test_globally_suppressed_rows_are_skipped_on_import(partners: Workspace, write_export) -> None:
    partners.contacts.suppress("new@example.org", "bounced")
    partners.contacts.unsubscribe("keep@example.org", "infolettre")  # one list only: still imported
    path = write_export(
        "again.csv", [["Courriel", "Nom"], ["new@example.org", "N"], ["keep@example.org", "K"]]
    )
    report = partners.contacts.import_file(path)
    assert report.updated == 1
    assert [(s.row, s.reason) for s in report.skipped] == [
        (2, "suppressed (bounced): not imported")
    ]
    assert partners.contacts.get("new@example.org") is None


def test_one_click_token_unsubscribes_from_its_list_only(partners: Workspace) -> None:
    contact = partners.contacts.get(ADDRESS)
    assert contact is not None
    token = make_token(partners.secret, contact.id, "infolettre")
    found, list_name = partners.contacts.unsubscribe_token(token)
    assert (found, list_name) == (contact, "infolettre")
    assert partners.contacts.suppression(ADDRESS, "infolettre") == "unsubscribed"
    assert partners.contacts.suppression(ADDRESS, "webinaires") is None
    assert partners.contacts.unsubscribe_token(token)[1] == "infolettre"  # idempotent


def _raw_bytes(ws: Workspace) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-journal"):
        path = Path(f"{ws.state_dir / 'state.db'}{suffix}")
        if path.exists():
            data += path.read_bytes()
    return data


def test_forget_leaves_no_trace_in_the_database_files(
    partners: Workspace, rows_in: Callable[[str], int]
) -> None:
    contact = partners.contacts.get(ADDRESS)
    assert contact is not None
    _log_send(
        partners,
        "2026-11-infolettre",
        contact.id,
        email=contact.email,
        status="sent",
        sent_at="2026-11-03T09:00:00",
        updated_at="2026-11-03T09:00:00",
        message_id="<m1@x>",
    )
    keep = partners.contacts.get("keep@example.org")
    assert keep is not None
    _log_send(
        partners,
        "2026-11-infolettre",
        keep.id,
        email=keep.email,
        status="sent",
        sent_at="2026-11-03T09:00:01",
        updated_at="2026-11-03T09:00:01",
        message_id="<m2@x>",
    )
    partners.contacts.unsubscribe(ADDRESS, "infolettre", source=f"reply from {ADDRESS}")
    # the data is really there before
    raw = _raw_bytes(partners)
    assert ADDRESS.encode() in raw or ADDRESS.lower().encode() in raw
    assert ORGANISATION_FOLDED.encode() in raw  # the folded copy segments read
    assert partners.segment('organization contains "ZEPHYREENS"').count() == 1

    report = partners.contacts.forget(ADDRESS.upper().replace("EXAMPLE", "example"))
    assert report.found is True
    assert report.deleted["send_log"] == 1
    partners.close()  # closing checkpoints nothing by itself: forget() already did

    raw = _raw_bytes(partners)
    for needle in (
        ADDRESS,
        ADDRESS.lower(),
        "Zephyrine.Quillard",
        "erase-me.example.org",
        "Zéphyrine",
        "Quillardeau",
        "02 98 76 54 32",
        ORGANISATION,
        ORGANISATION_FOLDED,
        "zephyreens",
    ):
        variants = {needle, needle.lower(), fold(needle)}
        for encoded in {variant.encode("utf-8") for variant in variants}:
            assert encoded not in raw, f"{needle!r} still in the database files"
    # the other contacts and their history are untouched
    assert rows_in("contacts") == 2
    assert rows_in("send_log") == 1
    assert partners.contacts.suppression(ADDRESS) == "erased"
    assert partners.contacts.suppression(ADDRESS, "infolettre") == "erased"
    assert partners.contacts.get(ADDRESS) is None
    assert partners.segment("all", include_suppressed=True).count() == 2


def test_forgotten_address_is_refused_on_import_and_kept_out_of_segments(
    partners: Workspace, write_export
) -> None:
    partners.contacts.forget(ADDRESS)
    path = write_export(
        "reimport.csv",
        [
            ["Courriel", "Prénom", "Région"],
            [ADDRESS.lower(), "Z", "Bretagne"],
            ["keep@example.org", "Anne", "Bretagne"],
        ],
    )
    report = partners.contacts.import_file(path)
    assert report.imported == 0
    assert [(s.row, s.reason) for s in report.skipped] == [
        (2, "erased at the person's request (GDPR): import refused")
    ]
    assert partners.contacts.get(ADDRESS) is None
    assert [c.email for c in partners.segment('region = "Bretagne"', include_suppressed=True)] == [
        "keep@example.org"
    ]
    # an erasure cannot be turned back into a plain unsubscribe or resubscribed
    partners.contacts.unsubscribe(ADDRESS)
    assert partners.contacts.resubscribe(ADDRESS) is False
    assert partners.contacts.suppression(ADDRESS) == "erased"


def test_forget_an_unknown_address_still_blocks_it(partners: Workspace) -> None:
    report = partners.contacts.forget("never@seen.example.org")
    assert report.found is False
    assert partners.contacts.suppression("never@seen.example.org") == "erased"


def test_history_reads_the_send_log_when_it_exists(partners: Workspace) -> None:
    details = partners.contacts.show(ADDRESS)
    assert details.history == []  # no send_log table yet: tolerated
    assert details.suppressions == []
    contact = details.contact
    _log_send(
        partners,
        "2026-12-infolettre",
        contact.id,
        status="failed",
        sent_at=None,
        updated_at="2026-12-01T10:00:00",
        error="550 5.1.1 unknown user",
        message_id="<b@x>",
    )
    _log_send(
        partners,
        "2026-11-infolettre",
        contact.id,
        status="sent",
        sent_at="2026-11-03T09:00:00",
        updated_at="2026-11-03T09:00:00",
        message_id="<a@x>",
    )
    history = partners.contacts.show(ADDRESS).history
    assert [(h["campaign_id"], h["status"]) for h in history] == [
        ("2026-12-infolettre", "failed"),  # not sent: sorted first (NULL sent_at)
        ("2026-11-infolettre", "sent"),
    ]
    assert history[0]["error"] == "550 5.1.1 unknown user"
    assert set(history[0]) == {
        "campaign_id",
        "status",
        "sent_at",
        "updated_at",
        "error",
        "delivery",
    }


def test_another_secret_is_refused(partners: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    root = partners.root
    partners.close()
    monkeypatch.setenv("COMMSKIT_SECRET", "another-secret-of-enough-length")
    other = Workspace.open(root)
    try:
        with pytest.raises(SecretError, match="not the one this state database was built with"):
            other.contacts.get(ADDRESS)
    finally:
        other.close()


def test_secure_delete_is_on(partners: Workspace) -> None:
    partners.contacts.count()
    assert partners.store.conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    conn = sqlite3.connect(partners.state_dir / "state.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM suppressions").fetchone()[0] == 0
    finally:
        conn.close()


def test_basis_problem_follows_the_list_settings(partners: Workspace, write_export) -> None:
    path = write_export(
        "bases.csv",
        [["Courriel", "Base légale"], ["c@example.org", "consentement"], ["p@example.org", ""]],
    )
    partners.contacts.import_file(path)
    consent = partners.contacts.get("c@example.org")
    none = partners.contacts.get("p@example.org")
    assert consent is not None
    assert none is not None
    partners.settings = dataclasses.replace(
        partners.settings,
        lists={
            "infolettre": {"bases": ["public-mission", "consent"]},
            "prospection": {"basis": "professional"},
        },
    )
    assert partners.contacts.basis_problem(consent, "infolettre") is None
    assert partners.contacts.basis_problem(consent) is None
    problem = partners.contacts.basis_problem(consent, "prospection")
    assert problem == "legal basis consent is not accepted for list prospection (professional)"
    assert partners.contacts.basis_problem(none, "infolettre") == "no legal basis recorded"


def test_forget_a_non_ascii_address(ws: Workspace, write_export) -> None:
    # SQLite's own lower() leaves "É" alone: erasure must not depend on it
    address = "Élodie.Ümlaut@Exämple.FR"
    path = write_export(
        "accents.csv", [["Courriel", "Prénom"], [address, "Élodie"], ["z@example.org", "Z"]]
    )
    assert ws.contacts.import_file(path).imported == 2
    stored = ws.contacts.get(address)
    assert stored is not None
    assert fold(stored.email).encode() in _raw_bytes(ws)  # email_folded, for segments
    report = ws.contacts.forget(address.lower())
    assert report.found is True
    assert report.deleted["contacts"] == 1
    assert ws.contacts.get(address) is None
    raw = _raw_bytes(ws)
    for needle in (
        stored.email,
        stored.email.lower(),
        fold(stored.email),
        "Élodie.Ümlaut",
        "Ümlaut",
    ):
        assert needle.encode("utf-8") not in raw
    assert ws.contacts.count() == 1


def test_token_of_an_erased_contact_changes_nothing(partners: Workspace) -> None:
    contact = partners.contacts.get(ADDRESS)
    assert contact is not None
    token = make_token(partners.secret, contact.id, "infolettre")
    partners.contacts.forget(ADDRESS)
    assert partners.contacts.unsubscribe_token(token) == (None, "infolettre")
    assert partners.contacts.suppression(ADDRESS, "infolettre") == "erased"
