"""The 1,168 French mobility authorities (Cerema 2023) as a partner list, with synthetic emails."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from commskit import Workspace

pytestmark = pytest.mark.corpus


@pytest.fixture
def aom_rows(corpus: Path) -> list[dict[str, str]]:
    path = corpus / "territoires" / "aom-cerema-2023" / "aom_2023.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1168
    return rows


@pytest.fixture
def aom_workspace(ws: Workspace, aom_rows: list[dict[str, str]], write_export) -> Workspace:
    """Import the AOMs as a `;`-separated Windows-1252 export, as a French spreadsheet would."""
    table = [
        [
            "Courriel",
            "Organisme",
            "Région",
            "Département",
            "Forme juridique",
            "Population",
            "N° SIREN",
        ]
    ]
    for row in aom_rows:
        table.append(
            [
                f"contact@aom-{row['N° SIREN']}.example.org",
                row["Nom de l’AOM"],
                row["Région"],
                row["Nom département"],
                row["Forme juridique"],
                row["Population"],
                row["N° SIREN"],
            ]
        )
    path = write_export("aom.csv", table, delimiter=";", encoding="cp1252")
    report = ws.contacts.import_file(path, kind="AOM", basis="public-mission", source="Cerema")
    assert (report.imported, report.skipped, report.encoding) == (1168, [], "windows-1252")
    return ws


def test_counts_by_region_match_the_source(
    aom_workspace: Workspace, aom_rows: list[dict[str, str]]
) -> None:
    expected = Counter(row["Région"] for row in aom_rows)
    assert len(expected) > 10
    for region, count in expected.items():
        quoted = region.replace('"', '\\"')
        assert aom_workspace.segment(f'region = "{quoted}"').count() == count, region
    assert aom_workspace.segment('kind = "AOM"').count() == 1168


def test_counts_by_legal_form_match_the_source(
    aom_workspace: Workspace, aom_rows: list[dict[str, str]]
) -> None:
    expected = Counter(row["Forme juridique"] for row in aom_rows)
    for form, count in expected.items():
        assert aom_workspace.segment(f'attr("Forme juridique") = "{form}"').count() == count, form
        assert aom_workspace.segment(f'attributes.forme_juridique = "{form}"').count() == count


def test_combined_and_numeric_segments_match_the_source(
    aom_workspace: Workspace, aom_rows: list[dict[str, str]]
) -> None:
    west = {"Bretagne", "Normandie"}
    expected = sum(
        1
        for r in aom_rows
        if r["Région"] in west
        and r["Forme juridique"] in ("CA", "CU", "Métropole")
        and int(r["Population"]) > 100_000
    )
    got = aom_workspace.segment(
        'region in ("Bretagne", "Normandie") and attr("forme_juridique") in ("CA", "CU", '
        '"Métropole") and attr("population") > 100000'
    ).count()
    assert got == expected > 0
    accents = sum(1 for r in aom_rows if r["Région"] == "Île-de-France")
    assert aom_workspace.segment('region ~ "ILE-DE-FRANCE"').count() == accents
    not_cc = sum(1 for r in aom_rows if r["Forme juridique"] != "CC")
    assert aom_workspace.segment('not attr("forme_juridique") = "CC"').count() == not_cc


def test_the_aom_list_as_xlsx_imports_like_the_csv(
    aom_workspace: Workspace, aom_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    """Issue 10 item 9: the same 1,168 AOMs saved from Excel, numbers as number cells."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Courriel", "Organisme", "Région", "Département", "Population", "N° SIREN"])
    for row in aom_rows:
        population = row["Population"].replace(" ", "")
        sheet.append(
            [
                f"contact@aom-{row['N° SIREN']}.example.org",
                row["Nom de l’AOM"],
                row["Région"],
                row["Nom département"],
                int(population) if population.isdigit() else population,
                int(row["N° SIREN"]),
            ]
        )
    path = tmp_path / "aom.xlsx"
    workbook.save(path)
    other = Workspace.init(tmp_path / "xlsx")
    try:
        report = other.contacts.import_file(path, kind="AOM", basis="public-mission")
        assert (report.format, report.imported, report.skipped) == ("xlsx", 1168, [])
        for contact in aom_workspace.contacts.list():
            again = other.contacts.get(contact.email)
            assert again is not None, contact.email
            assert (again.organization, again.region, again.department) == (
                contact.organization,
                contact.region,
                contact.department,
            )
            assert again.attributes["n_siren"] == contact.attributes["n_siren"]
            assert again.attributes["population"] == contact.attributes["population"].replace(
                " ", ""
            )
    finally:
        other.close()
