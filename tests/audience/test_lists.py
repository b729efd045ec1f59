"""List names are checked, resubscribe lifts per-list entries, erased addresses never come back.

Issue 10 item 6: `contacts unsubscribe --list infoletre` (a typo) was accepted and the person
stayed on `infolettre`; `contacts resubscribe` ignored per-list entries; an erased address could
reappear in clear in the audience tables (a later suppression's source, another contact's column).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from commskit import Workspace
from commskit.errors import UnknownListError

ADDRESS = "Zephyrine.Quillard@Erase-Me.example.org"


@pytest.fixture
def partners(ws: Workspace, write_export) -> Workspace:  # type: ignore[no-untyped-def]
    path = write_export(
        "partners.csv",
        [
            ["Courriel", "Prénom", "Type", "Région", "Contact secondaire", "Source"],
            [ADDRESS, "Zéphyrine", "AOM", "Bretagne", "", ""],
            ["keep@example.org", "Anne", "AOM", "Bretagne", f"Z. Quillard <{ADDRESS}>", ""],
            ["other@example.org", "Paul", "AOM", "Normandie", "", f"formulaire {ADDRESS.lower()}"],
        ],
    )
    assert ws.contacts.import_file(path, basis="consent").imported == 3
    return ws


def _raw(ws: Workspace) -> bytes:
    ws.close()
    data = b""
    for suffix in ("", "-wal"):
        path = ws.state_dir / f"state.db{suffix}"
        if path.exists():
            data += path.read_bytes()
    return data


def test_known_lists_come_from_settings_campaigns_digest_and_store(ws: Workspace) -> None:
    known = ws.contacts.known_lists()
    # the shipped campaigns' list: fields, the digest's name, the default list
    for name in ("infolettre", "newsletter-en", "webinaires", "veille"):
        assert name in known
    ws.contacts.unsubscribe("a@example.org", "infolettre")
    assert ws.contacts.check_list("infolettre") == "infolettre"


def test_unknown_list_is_refused_with_the_known_ones(partners: Workspace, run_cli) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownListError) as info:
        partners.contacts.unsubscribe("keep@example.org", "infoletre")
    text = str(info.value)
    assert 'unknown list "infoletre". Did you mean "infolettre"?' in text
    assert "Known lists: infolettre, newsletter-en, veille, webinaires" in text
    assert partners.contacts.suppression("keep@example.org", "infoletre") is None
    for args in (
        ("contacts", "unsubscribe", "keep@example.org", "--list", "infoletre"),
        ("contacts", "suppress", "keep@example.org", "--list", "infoletre"),
        ("contacts", "resubscribe", "keep@example.org", "--list", "infoletre"),
        ("segment", "all", "--list", "infoletre"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert 'unknown list "infoletre"' in lines[0]
    assert partners.store.audience.suppressions_of(partners.contacts.hash("keep@example.org")) == []


def test_a_list_declared_in_settings_is_known(partners: Workspace, tmp_path: Path) -> None:
    config = partners.root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[lists.ateliers]\nbases = ["consent"]\n',
        encoding="utf-8",
    )
    partners.close()
    ws = Workspace.open(partners.root)
    try:
        assert ws.contacts.unsubscribe("keep@example.org", "ateliers") is True
    finally:
        ws.close()


def test_resubscribe_lifts_per_list_entries(partners: Workspace, run_cli) -> None:  # type: ignore[no-untyped-def]
    book = partners.contacts
    book.unsubscribe("keep@example.org", "infolettre")
    book.unsubscribe("keep@example.org", "webinaires")
    assert book.resubscribe("keep@example.org") is True  # without a list: every entry
    assert book.suppression("keep@example.org", "infolettre") is None
    assert book.suppression("keep@example.org", "webinaires") is None
    # one list only
    book.unsubscribe("keep@example.org", "infolettre")
    book.unsubscribe("keep@example.org", "webinaires")
    result = run_cli("contacts", "resubscribe", "keep@example.org", "--list", "infolettre")
    assert result.exit_code == 0, result.output
    assert book.suppression("keep@example.org", "infolettre") is None
    assert book.suppression("keep@example.org", "webinaires") == "unsubscribed"
    # a list entry lifted under a global one: the CLI says the person is still not mailed
    book.unsubscribe("keep@example.org")
    book.unsubscribe("keep@example.org", "infolettre")
    result = run_cli("contacts", "resubscribe", "keep@example.org", "--list", "infolettre")
    assert result.exit_code == 1
    assert "still suppressed from every list (unsubscribed)" in result.output


def test_erased_address_never_reappears_in_clear(
    partners: Workspace, write_export, run_cli
) -> None:  # type: ignore[no-untyped-def]
    report = partners.contacts.forget(ADDRESS)
    assert report.found
    # the other contacts' columns naming the person lost that value
    keep = partners.contacts.get("keep@example.org")
    other = partners.contacts.get("other@example.org")
    assert keep is not None
    assert other is not None
    assert "contact_secondaire" not in keep.attributes
    assert ADDRESS.lower() not in other.basis_source.lower()
    # later writes: a suppression with the address in its source, a re-import naming it
    assert (
        partners.contacts.unsubscribe(ADDRESS, "infolettre", source=f"reply from {ADDRESS}")
        is False
    )
    assert partners.contacts.suppress(ADDRESS, "bounced", "webinaires", source=ADDRESS) is False
    path = write_export(
        "again.csv",
        [
            ["Courriel", "Prénom", "Contact secondaire"],
            [ADDRESS, "Z", ""],
            ["new@example.org", "N", ADDRESS.upper()],
        ],
    )
    again = partners.contacts.import_file(path, basis="consent")
    assert again.imported == 1
    assert [s.row for s in again.skipped] == [2]
    (note,) = [n for n in again.notes if n.row == 3]
    assert "erased" in note.message
    assert "contact_secondaire" in note.message
    new = partners.contacts.get("new@example.org")
    assert new is not None
    assert "contact_secondaire" not in new.attributes
    export = run_cli("contacts", "export").stdout
    assert ADDRESS.lower() not in export.lower()
    raw = _raw(partners).lower()
    for needle in (ADDRESS.lower(), "zephyrine.quillard", "erase-me.example.org"):
        assert needle.encode() not in raw, needle
    conn = sqlite3.connect(partners.state_dir / "state.db")
    try:
        entries = conn.execute("SELECT list_name, reason FROM suppressions").fetchall()
    finally:
        conn.close()
    assert entries == [("", "erased")]
