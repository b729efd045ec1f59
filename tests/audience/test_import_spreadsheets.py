"""Spreadsheet files and the small import mistakes of issue 10 item 9.

`contacts import export.xlsx` printed zip bytes as column names; .xlsx (openpyxl, read-only) and
.ods (calamine) are now read, other binary files refused with "save as CSV"; `--map
Structure=organisation` says "did you mean organization"; `contacts forget` off a terminal says
to add --yes instead of printing only "Aborted!".
"""

from __future__ import annotations

import datetime as dt
import subprocess
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest

from commskit import ContactImportError, Workspace

HEADER = ["Courriel", "Prénom", "Organisme", "Base légale", "Date de collecte", "Population"]
ROWS: list[list[object]] = [
    [
        "contact@brest.example.org",
        "Anne",
        "Brest Métropole",
        "consentement",
        dt.date(2025, 10, 1),
        215367,
    ],
    [None, None, None, None, None, None],  # an empty row in the middle, as people leave them
    ["ops@lorient.example.org", "Paul", "Lorient Agglo", "mission de service public", None, 1.5],
]


def _xlsx(path: Path, rows: list[list[object]], title: str = "Feuil1") -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    other = workbook.create_sheet("Notes")  # only the first sheet is read
    other.append(["Courriel"])
    other.append(["notes@example.org"])
    workbook.save(path)
    return path


def _ods(path: Path, rows: list[list[object]]) -> Path:
    """Write a minimal OpenDocument spreadsheet, as LibreOffice lays it out (repeated cells)."""

    def cell(value: object) -> str:
        if value is None:
            return "<table:table-cell/>"
        if isinstance(value, dt.date):
            return (
                f'<table:table-cell office:value-type="date" office:date-value="{value}">'
                f"<text:p>{value:%d/%m/%Y}</text:p></table:table-cell>"
            )
        if isinstance(value, int | float):
            return (
                f'<table:table-cell office:value-type="float" office:value="{value}">'
                f"<text:p>{value}</text:p></table:table-cell>"
            )
        return (
            '<table:table-cell office:value-type="string">'
            f"<text:p>{escape(str(value))}</text:p></table:table-cell>"
        )

    body = "".join(
        "<table:table-row>"
        + "".join(cell(v) for v in row)
        + '<table:table-cell table:number-columns-repeated="1020"/></table:table-row>'
        for row in rows
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Feuille1">{body}'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest'
        ' xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2"><manifest:file-entry manifest:full-path="/"'
        ' manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet"
        )
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
    return path


def _check_imported(ws: Workspace) -> None:
    anne = ws.contacts.get("contact@brest.example.org")
    assert anne is not None
    assert (anne.first_name, anne.organization, anne.basis) == (
        "Anne",
        "Brest Métropole",
        "consent",
    )
    assert anne.basis_date == "2025-10-01"
    assert dict(anne.attributes) == {"population": "215367"}  # no "215367.0"
    paul = ws.contacts.get("ops@lorient.example.org")
    assert paul is not None
    assert paul.basis == "public-mission"
    assert paul.attributes["population"] == "1.5"
    assert ws.contacts.get("notes@example.org") is None


@pytest.mark.parametrize("name", ["export.xlsx", "export-mal-nommé.csv"])
def test_xlsx_is_read_with_row_numbers(ws: Workspace, tmp_path: Path, name: str) -> None:
    path = _xlsx(tmp_path / name, [HEADER, *ROWS, ["pas-une-adresse", "X", "", "", None, None]])
    report = ws.contacts.import_file(path)
    assert (report.format, report.sheet) == ("xlsx", "Feuil1")
    assert (report.imported, report.total_rows) == (2, 3)
    assert [(s.row, s.email) for s in report.skipped] == [(5, "pas-une-adresse")]
    assert not any(c.startswith("PK") for c in report.columns)
    _check_imported(ws)


def test_ods_is_read(ws: Workspace, tmp_path: Path) -> None:
    report = ws.contacts.import_file(_ods(tmp_path / "export.ods", [HEADER, *ROWS]))
    assert (report.format, report.sheet, report.imported) == ("ods", "Feuille1", 2)
    _check_imported(ws)


def test_xlsx_on_the_command_line(ws: Workspace, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    path = _xlsx(tmp_path / "export.xlsx", [HEADER, *ROWS])
    result = run_cli("contacts", "import", str(path))
    assert result.exit_code == 0, result.output
    assert 'export.xlsx: 2 rows (xlsx, sheet "Feuil1") — imported 2' in result.output
    assert "\\x" not in result.output
    assert "PK" not in result.output


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "an old Office 97 file (.xls)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\x00\x01\x02 not text", "a binary file"),
        (b"PK\x03\x04 broken", "a damaged zip archive"),
    ],
)
def test_other_binary_files_are_refused_with_save_as_csv(
    ws: Workspace, tmp_path: Path, content: bytes, kind: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(ContactImportError) as info:
        ws.contacts.import_file(path)
    assert f"is {kind}, not a CSV" in str(info.value)
    assert "save it as CSV (UTF-8)" in str(info.value)
    assert ws.contacts.count() == 0


def test_a_word_document_is_refused(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "liste.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(ContactImportError, match=r"a zip archive .*save it as CSV"):
        ws.contacts.import_file(path)


def test_unknown_map_target_suggests_the_field(ws: Workspace, write_export) -> None:
    path = write_export("p.csv", [["Courriel", "Structure"], ["a@example.org", "S"]])
    for target, field in (
        ("organisation", "organization"),
        ("prenom", "first_name"),
        ("regoin", "region"),
    ):
        with pytest.raises(ContactImportError) as info:
            ws.contacts.import_file(path, mapping={"Structure": target})
        assert f'unknown field "{target}". Did you mean "{field}"?' in str(info.value)


def test_forget_off_a_terminal_says_to_add_yes(
    ws: Workspace, write_export, python: str, subprocess_env: dict[str, str]
) -> None:
    path = write_export("p.csv", [["Courriel"], ["a@example.org"]])
    ws.contacts.import_file(path)
    ws.close()
    proc = subprocess.run(
        [python, "-m", "commskit", "-C", str(ws.root), "contacts", "forget", "a@example.org"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "add --yes to confirm without a terminal" in lines[0]
    assert "Aborted" not in proc.stderr
    assert ws.contacts.get("a@example.org") is not None  # nothing was erased
