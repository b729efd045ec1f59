"""Bad data is stopped at the door: control characters, SMTPUTF8 addresses, missing legal basis.

Issue 10 item 1: a CR/LF in a first name or a non-ASCII local part was accepted at import and then
aborted every send; import now cleans control characters (with a note naming row and address)
and says which addresses need an SMTPUTF8 relay. Issue 11 item 7: C0 controls never reach the
store, whether from a file or the ContactBook API. Issue 10 item 3: contacts imported without a
legal basis are counted, with the fix, and ``[contacts] default_basis`` supplies one.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from commskit import ConfigError, Workspace

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _stored_values(ws: Workspace) -> list[str]:
    conn = sqlite3.connect(ws.state_dir / "state.db")
    try:
        rows = conn.execute("SELECT * FROM contacts").fetchall()
        rows += conn.execute("SELECT * FROM contact_tags").fetchall()
        rows += conn.execute("SELECT * FROM suppressions").fetchall()
    finally:
        conn.close()
    return [str(value) for row in rows for value in row]


def test_control_characters_are_cleaned_with_a_note(ws: Workspace, write_export) -> None:
    path = write_export(
        "messy.csv",
        [
            ["Courriel", "Prénom", "Nom", "Organisme", "Étiquettes", "Commentaire"],
            [
                "a@example.org",
                "An\r\nne",
                "Le\x01 Goff",
                "Brest\x85Métropole",
                "pi\x07lote",
                "x\ty",
            ],
            ["b@example.org", "Paul", "Durand", "Lorient", "", ""],
        ],
    )
    report = ws.contacts.import_file(path, basis="public-mission", source="Grist\x1b[31m")
    assert report.imported == 2
    anne = ws.contacts.get("a@example.org")
    assert anne is not None
    assert (anne.first_name, anne.last_name, anne.organization) == (
        "An ne",
        "Le Goff",
        "Brest Métropole",
    )
    assert anne.tags == ("pilote",)
    assert dict(anne.attributes) == {"commentaire": "x y"}
    assert anne.basis_source == "Grist[31m"
    assert [v for v in _stored_values(ws) if CONTROL.search(v)] == []
    notes = [(n.row, n.email, n.message) for n in report.notes]
    assert len(notes) == 1
    row, email, message = notes[0]
    assert (row, email) == (2, "a@example.org")
    assert "control characters removed" in message
    for name in ("first_name", "last_name", "organization", "tags", "commentaire"):
        assert name in message


def test_non_ascii_local_part_is_imported_with_an_smtputf8_note(
    ws: Workspace, write_export, run_cli
) -> None:
    path = write_export(
        "idn.csv",
        [
            ["Courriel", "Prénom"],
            ["élodie@collectivité.example.org", "Élodie"],
            ["plain@collectivité.example.org", "Plain"],
        ],
    )
    report = ws.contacts.import_file(path, basis="consent")
    assert report.imported == 2
    a_label = "collectivité".encode("idna").decode("ascii")
    assert [(n.row, n.email) for n in report.notes] == [(2, f"élodie@{a_label}.example.org")]
    assert "SMTPUTF8" in report.notes[0].message
    # the CLI names row and address
    again = run_cli("contacts", "import", str(path), "--basis", "consent")
    assert again.exit_code == 0, again.output
    assert re.search(rf"2\s+élodie@{a_label}\.example\.org\s+.*SMTPUTF8", again.output)
    data = json.loads(run_cli("contacts", "import", str(path), "--json").stdout)
    assert data["notes"][0]["row"] == 2
    assert "SMTPUTF8" in data["notes"][0]["note"]


def test_api_writes_strip_control_characters(ws: Workspace) -> None:
    ws.contacts.suppress("x@example.org", "bounced", source="DSN\x00\x1b 2026")
    ws.contacts.unsubscribe("y@example.org", "infolettre", source="reply\r\nBcc: evil")
    (entry,) = ws.store.audience.suppressions_of(ws.contacts.hash("x@example.org"))
    assert entry.source == "DSN 2026"
    (entry,) = ws.store.audience.suppressions_of(ws.contacts.hash("y@example.org"))
    assert entry.source == "reply Bcc: evil"


def test_missing_basis_is_counted_with_the_fix(ws: Workspace, write_export, run_cli) -> None:
    path = write_export(
        "sans-base.csv",
        [["Courriel", "Prénom"], *([f"p{i}@example.org", f"P{i}"] for i in range(20))],
    )
    report = ws.contacts.import_file(path)
    assert report.imported == 20
    assert report.without_basis == 20
    result = run_cli("contacts", "import", str(path))
    assert result.exit_code == 0
    line = next(line for line in result.output.splitlines() if "legal basis" in line)
    assert "20 contact(s) have no legal basis" in line
    assert "--basis" in line
    assert "[contacts] default_basis" in line
    data = json.loads(run_cli("contacts", "import", str(path), "--json").stdout)
    assert data["without_basis"] == 20
    # the fix: --basis on the next import fills them; nothing is said any more
    fixed = run_cli("contacts", "import", str(path), "--basis", "public-mission")
    assert "updated 20" in fixed.output
    assert "legal basis" not in fixed.output
    assert ws.contacts.get("p3@example.org").basis == "public-mission"  # type: ignore[union-attr]


def test_default_basis_setting_fills_the_basis(tmp_path: Path, write_export) -> None:
    ws = Workspace.init(tmp_path / "ws2")
    config = ws.root / "commskit.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[contacts]\ndefault_basis = "consentement"\n',
        encoding="utf-8",
    )
    ws.close()
    ws = Workspace.open(ws.root)
    try:
        assert ws.settings.contacts.default_basis == "consent"
        path = write_export("p.csv", [["Courriel"], ["a@example.org"]])
        report = ws.contacts.import_file(path)
        assert report.without_basis == 0
        assert ws.contacts.get("a@example.org").basis == "consent"  # type: ignore[union-attr]
        # --basis wins over the setting
        path2 = write_export("q.csv", [["Courriel"], ["b@example.org"]])
        ws.contacts.import_file(path2, basis="professional")
        assert ws.contacts.get("b@example.org").basis == "professional"  # type: ignore[union-attr]
    finally:
        ws.close()


def test_bad_default_basis_names_file_line_and_the_known_bases(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws3")
    config = ws.root / "commskit.toml"
    text = config.read_text(encoding="utf-8") + '\n[contacts]\ndefault_basis = "interet legitime"\n'
    config.write_text(text, encoding="utf-8")
    ws.close()
    with pytest.raises(ConfigError) as info:
        Workspace.open(ws.root)
    message = str(info.value)
    line = text.splitlines().index('default_basis = "interet legitime"') + 1
    assert f"commskit.toml:{line}:" in message
    assert "consent, public-mission, professional" in message
