"""Importing contact files written like real spreadsheet exports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from commskit import ContactImportError, Workspace

HEADER_FR = ["Courriel", "Prénom", "Nom", "Organisme", "Région", "Étape", "Étiquettes", "SIREN"]


def test_semicolon_windows_1252_with_courriel_column(ws: Workspace, write_export) -> None:
    path = write_export(
        "export-libreoffice.csv",
        [
            HEADER_FR,
            [
                "contact@quimper.example.org",
                "Hélène",
                "Le Bihan",
                "Quimper Cornouaille",
                "Bretagne",
                "contacté",
                "webinaire-2026; pilote",
                "200068120",
            ],
            [
                "Élodie.Durand@Saint-Lô.example.FR",
                "Élodie",
                "Durand",
                "Saint-Lô Agglo",
                "Normandie",
                "",
                "",
                "",
            ],
        ],
        delimiter=";",
        encoding="cp1252",
    )
    report = ws.contacts.import_file(path)
    assert (report.encoding, report.delimiter) == ("windows-1252", ";")
    assert (report.imported, report.updated, report.unchanged, report.skipped) == (2, 0, 0, [])
    helene = ws.contacts.get("contact@quimper.example.org")
    assert helene is not None
    assert (helene.first_name, helene.last_name, helene.organization) == (
        "Hélène",
        "Le Bihan",
        "Quimper Cornouaille",
    )
    assert helene.region == "Bretagne"
    assert helene.stage == "contacté"  # free stage values are kept as written
    assert helene.tags == ("pilote", "webinaire-2026")
    assert dict(helene.attributes) == {"siren": "200068120"}
    assert helene.full_name == "Hélène Le Bihan"
    # domain lower-cased and IDN as A-label; the local part is kept
    elodie = ws.contacts.get("élodie.durand@saint-lô.example.fr")
    assert elodie is not None
    a_label = "saint-lô".encode("idna").decode("ascii")  # Python's own IDNA codec
    assert elodie.email == f"Élodie.Durand@{a_label}.example.fr"
    assert a_label.startswith("xn--")
    assert elodie.language == "fr"


def test_utf8_bom_comma_and_english_headers(ws: Workspace, write_export) -> None:
    path = write_export(
        "google-sheets.csv",
        [
            ["E-mail", "First name", "Last name", "Organization", "Language", "Tags"],
            ["ops@example.com", "Sam", "Taylor", "Ride Co", "English", "operators"],
        ],
        delimiter=",",
        bom=True,
    )
    report = ws.contacts.import_file(path)
    assert (report.encoding, report.delimiter, report.imported) == ("utf-8-sig", ",", 1)
    contact = ws.contacts.get("ops@example.com")
    assert contact is not None
    # the BOM did not end up in the first header: the email column was recognised
    assert report.columns["E-mail"] == "email"
    assert (contact.first_name, contact.language, contact.tags) == ("Sam", "en", ("operators",))


def test_tab_separated_with_quoted_multiline_cell(ws: Workspace, write_export) -> None:
    path = write_export(
        "pipedrive.tsv",
        [
            ["Adresse mail", "Structure", "Notes"],
            ["a@one.example.org", "Un", "ligne 1\nligne 2; avec, séparateurs"],
            ["b@two.example.org", "Deux", ""],
        ],
        delimiter="\t",
    )
    report = ws.contacts.import_file(path)
    assert report.delimiter == "\t"
    assert report.imported == 2
    first = ws.contacts.get("a@one.example.org")
    assert first is not None
    assert first.attributes["notes"] == "ligne 1\nligne 2; avec, séparateurs"
    second = ws.contacts.get("b@two.example.org")
    assert second is not None
    assert second.organization == "Deux"


def test_duplicates_and_invalid_addresses_give_exact_counts(ws: Workspace, write_export) -> None:
    path = write_export(
        "messy.csv",
        [
            ["Courriel", "Nom"],
            ["one@example.org", "Un"],  # row 2
            ["not-an-address", "Deux"],  # row 3: invalid
            ["ONE@EXAMPLE.ORG", "Un bis"],  # row 4: same address, other case
            ["", "Vide"],  # row 5: no address
            ["two@example.org", "Trois"],  # row 6
            ["three@exa mple.org", "Quatre"],  # row 7: invalid
            ["two@example.org", "Trois bis"],  # row 8: duplicate
            ["", ""],  # blank line: ignored, not a skipped row
            ["Jean Dupont <jean@example.org>", "Dupont"],  # row 10: display form accepted
        ],
        delimiter=",",
    )
    report = ws.contacts.import_file(path)
    assert report.total_rows == 8
    assert (report.imported, report.updated, report.unchanged) == (3, 0, 0)
    skipped = {(s.row, s.reason.split(":")[0]) for s in report.skipped}
    assert skipped == {
        (3, "invalid address"),
        (4, "duplicate of row 2"),
        (5, "no address"),
        (7, "invalid address"),
        (8, "duplicate of row 6"),
    }
    assert ws.contacts.count() == 3
    # the first occurrence wins
    one = ws.contacts.get("one@example.org")
    assert one is not None
    assert one.last_name == "Un"
    assert ws.contacts.get("jean@example.org") is not None


def test_same_file_twice_changes_nothing(
    ws: Workspace, write_export, rows_in: Callable[[str], int]
) -> None:
    path = write_export(
        "aom.csv",
        [
            ["Courriel", "Organisme", "Étiquettes", "Population"],
            ["a@aom.example.org", "AOM A", "webinaire-2026", "1000"],
            ["b@aom.example.org", "AOM B", "", "2000"],
        ],
    )
    first = ws.contacts.import_file(path, tags=["import-1"], basis="public-mission", kind="AOM")
    assert first.imported == 2
    before = [c.to_dict() for c in ws.contacts.list()]
    again = ws.contacts.import_file(path, tags=["import-1"], basis="public-mission", kind="AOM")
    assert (again.imported, again.updated, again.unchanged, again.skipped) == (0, 0, 2, [])
    after = [c.to_dict() for c in ws.contacts.list()]
    assert after == before  # including updated_at: nothing was rewritten
    assert rows_in("contacts") == 2
    assert rows_in("contact_tags") == 3


def test_reimport_merges_without_erasing(ws: Workspace, write_export) -> None:
    first = write_export(
        "v1.csv",
        [
            ["Courriel", "Prénom", "Région", "Étiquettes", "Note"],
            ["a@example.org", "Anne", "Bretagne", "x", "n1"],
        ],
    )
    second = write_export(
        "v2.csv",
        [
            ["Courriel", "Prénom", "Région", "Étiquettes", "Autre"],
            ["a@example.org", "", "Normandie", "y", "o1"],
        ],
    )
    ws.contacts.import_file(first)
    created = ws.contacts.get("a@example.org")
    report = ws.contacts.import_file(second)
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 0)
    contact = ws.contacts.get("a@example.org")
    assert contact is not None
    assert created is not None
    assert contact.first_name == "Anne"  # an empty cell erases nothing
    assert contact.region == "Normandie"  # a value replaces
    assert contact.tags == ("x", "y")  # tags are merged
    assert dict(contact.attributes) == {"note": "n1", "autre": "o1"}
    assert contact.id == created.id
    assert contact.created_at == created.created_at
    assert ws.segment('tag("x") and tag("y")').count() == 1


def test_options_fill_empty_cells_only(ws: Workspace, write_export) -> None:
    path = write_export(
        "mixed.csv",
        [
            ["Courriel", "Type", "Base légale", "Date de collecte"],
            ["a@example.org", "", "", ""],
            ["b@example.org", "opérateur", "consentement", "15/03/2025"],
        ],
    )
    ws.contacts.import_file(
        path, kind="AOM", basis="mission de service public", source="Grist", tags=["Lot 1"]
    )
    a = ws.contacts.get("a@example.org")
    b = ws.contacts.get("b@example.org")
    assert a is not None
    assert b is not None
    assert (a.kind, a.basis, a.basis_source) == ("AOM", "public-mission", "Grist")
    assert len(a.basis_date) == 10
    assert (b.kind, b.basis, b.basis_date) == ("opérateur", "consent", "2025-03-15")
    assert a.tags == b.tags == ("lot 1",)


def test_bad_cells_skip_their_row_with_the_reason(ws: Workspace, write_export) -> None:
    path = write_export(
        "bad-cells.csv",
        [
            ["Courriel", "Langue", "Base légale", "Date de collecte"],
            ["a@example.org", "allemand", "", ""],
            ["b@example.org", "", "intérêt légitime", ""],
            ["c@example.org", "", "", "03/15/2025"],
            ["d@example.org", "fr", "professionnel", "2025-03-15"],
        ],
    )
    report = ws.contacts.import_file(path)
    assert report.imported == 1
    reasons = {s.row: s.reason for s in report.skipped}
    assert "neither fr, en nor a two-letter code" in reasons[2]
    assert "legal basis" in reasons[3]
    assert "DD/MM/YYYY" in reasons[4]


def test_a_language_code_other_than_fr_or_en_is_kept(ws: Workspace, write_export) -> None:
    """A German-speaking partner keeps "de": a campaign in several languages counts them and
    gives them its default variant (issue 16 item 4)."""
    path = write_export(
        "languages.csv",
        [["Courriel", "Langue"], ["a@example.org", "DE"], ["b@example.org", "es-ES"]],
    )
    report = ws.contacts.import_file(path, basis="public-mission")
    assert report.imported == 2
    assert [ws.contacts.get(a).language for a in ("a@example.org", "b@example.org")] == ["de", "es"]


def test_map_option_reads_a_column_as_a_field(ws: Workspace, write_export) -> None:
    path = write_export(
        "custom.csv",
        [
            ["Adresse de contact", "Structure porteuse", "Secret"],
            ["x@example.org", "SM Mobilités", "ne pas garder"],
        ],
    )
    with pytest.raises(ContactImportError, match="no email column"):
        ws.contacts.import_file(path)
    ws.contacts.import_file(
        path,
        mapping={
            "adresse de contact": "email",
            "Structure porteuse": "organization",
            "Secret": "ignore",
        },
    )
    contact = ws.contacts.get("x@example.org")
    assert contact is not None
    assert contact.organization == "SM Mobilités"
    assert dict(contact.attributes) == {}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Structure": "organisation_name"}, 'unknown field "organisation_name"'),
        ({"Absente": "organization"}, 'no column "Absente"'),
    ],
)
def test_bad_map_is_fatal(
    ws: Workspace, write_export, mapping: dict[str, str], message: str
) -> None:
    path = write_export("m.csv", [["Courriel", "Structure"], ["x@example.org", "S"]])
    with pytest.raises(ContactImportError, match=message):
        ws.contacts.import_file(path, mapping=mapping)
    assert ws.contacts.count() == 0


def test_two_columns_for_one_field_is_fatal(ws: Workspace, write_export) -> None:
    path = write_export("two.csv", [["Email", "Courriel"], ["a@example.org", "b@example.org"]])
    with pytest.raises(ContactImportError, match='"Email" and "Courriel" both give email'):
        ws.contacts.import_file(path)


def test_json_and_jsonl(ws: Workspace, tmp_path: Path) -> None:
    data = [
        {
            "email": "a@example.org",
            "first_name": "A",
            "tags": ["t1", "T2"],
            "attributes": {"siren": 123},
        },
        {"courriel": "b@example.org", "Région": "Bretagne", "extra": True},
    ]
    (tmp_path / "c.json").write_text(json.dumps(data), encoding="utf-8")
    report = ws.contacts.import_file(tmp_path / "c.json")
    assert (report.format, report.imported) == ("json", 2)
    a = ws.contacts.get("a@example.org")
    b = ws.contacts.get("b@example.org")
    assert a is not None
    assert b is not None
    assert a.tags == ("t1", "t2")
    assert dict(a.attributes) == {"siren": "123"}
    assert (b.region, dict(b.attributes)) == ("Bretagne", {"extra": "true"})
    lines = '{"email": "c@example.org"}\n\n{"email": "bad"}\n'
    (tmp_path / "c.jsonl").write_text(lines, encoding="utf-8")
    report = ws.contacts.import_file(tmp_path / "c.jsonl")
    assert (report.format, report.imported, [s.row for s in report.skipped]) == ("jsonl", 1, [3])


def test_malformed_json_stores_nothing(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text(
        '{"email": "a@example.org"}\n{"email": "b@example.org"\n', encoding="utf-8"
    )
    with pytest.raises(ContactImportError) as info:
        ws.contacts.import_file(tmp_path / "c.jsonl")
    assert info.value.line == 2
    assert ws.contacts.count() == 0


def test_export_csv_reimports_unchanged(ws: Workspace, write_export, tmp_path: Path) -> None:
    path = write_export(
        "src.csv",
        [
            HEADER_FR,
            [
                "a@example.org",
                "Anne",
                "Le Goff",
                "Brest Métropole",
                "Bretagne",
                "joined",
                "pilote, webinaire-2026",
                "242900314",
            ],
        ],
        encoding="cp1252",
    )
    ws.contacts.import_file(path, basis="public-mission")
    out = tmp_path / "export.csv"
    assert ws.contacts.export(out) == 1
    report = ws.contacts.import_file(out)
    assert (report.unchanged, report.updated, report.imported) == (1, 0, 0)
    json_out = tmp_path / "export.json"
    ws.contacts.export(json_out, format="json")
    exported = json.loads(json_out.read_text(encoding="utf-8"))
    assert exported[0]["email"] == "a@example.org"
    assert exported[0]["attributes"] == {"siren": "242900314"}
    assert ws.contacts.import_file(json_out).unchanged == 1


def test_shipped_demo_file_imports_cleanly(ws: Workspace) -> None:
    report = ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    assert report.skipped == []
    assert report.imported == report.total_rows >= 140
    assert ws.segment("aom-bretagne").count() > 0
    assert ws.segment("aom-a-convaincre").count() > 0
    for name in ws.settings.segments:
        ws.segment(name).count()  # every shipped named segment compiles and runs
    kinds = {c.kind for c in ws.contacts.list()}
    assert kinds == {"AOM", "opérateur", "référent"}
    assert all(c.basis for c in ws.contacts.list())


def test_progress_callback_counts_every_row_read(ws: Workspace, write_export) -> None:
    # the file is streamed: progress is rows read (skipped ones too) out of the file's rows,
    # which the check pass counted before the first batch
    rows = [["Courriel"], *([f"p{i}@example.org"] for i in range(12_345)), ["bad"]]
    path = write_export("many.csv", rows)
    calls: list[tuple[int, int | None]] = []

    def progress(n: int = 1, total: int | None = None, description: str | None = None) -> None:
        calls.append((n, total))

    report = ws.contacts.import_file(path, progress=progress)
    assert (report.imported, report.skipped_total, report.total_rows) == (12_345, 1, 12_346)
    assert calls[0] == (0, 12_346)
    assert sum(n for n, _ in calls) == 12_346
    assert len(calls) > 2  # batch by batch, not once at the end
