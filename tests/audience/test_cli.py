"""The `commskit contacts …` and `commskit segment` commands, including bad input."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from commskit import Workspace


def _one_line_error(result, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert text in lines[0], lines[0]


@pytest.fixture
def demo(ws: Workspace, run_cli) -> Workspace:  # type: ignore[no-untyped-def]
    result = run_cli("contacts", "import", str(ws.path("contacts/partenaires-demo.csv")))
    assert result.exit_code == 0, result.output
    return ws


def test_bad_input_is_a_one_line_error_and_stores_nothing(
    ws: Workspace, run_cli, write_export, rows_in: Callable[[str], int], tmp_path: Path
) -> None:
    good = write_export("good.csv", [["Courriel", "Structure"], ["a@example.org", "S"]])
    no_email = write_export("no-email.csv", [["Nom", "Structure"], ["A", "S"]])
    (tmp_path / "binary.csv").write_bytes(b"\x00\x01\x02 not text")
    cases = [
        (("contacts", "import", str(tmp_path / "missing.csv")), "cannot read the file"),
        (("contacts", "import", str(no_email)), "no email column. Columns are: Nom, Structure"),
        (
            ("contacts", "import", str(good), "--map", "Structure=structure"),
            'unknown field "structure"',
        ),
        (("contacts", "import", str(good), "--map", "Structure"), "is not COLUMN=FIELD"),
        (
            ("contacts", "import", str(good), "--basis", "legitimate-interest"),
            "is not a legal basis",
        ),
        (("contacts", "import", str(tmp_path / "binary.csv")), "is a binary file"),
        (("segment", 'kind = "AOM" and regoin = "Bretagne"'), "column 18"),
        (("segment", 'kind = "AOM'), "unterminated string"),
        (("contacts", "list", "--segment", "kind ="), "expected a quoted value"),
        (("contacts", "show", "nobody@example.org"), "no contact with the address"),
        (("contacts", "forget", "not an address", "--yes"), "is not a valid address"),
    ]
    for args, text in cases:
        _one_line_error(run_cli(*args), text)
    assert rows_in("contacts") == 0
    assert rows_in("suppressions") == 0


def test_import_report_and_json(ws: Workspace, run_cli, write_export) -> None:  # type: ignore[no-untyped-def]
    path = write_export(
        "p.csv",
        [["Courriel", "Prénom"], ["a@example.org", "A"], ["bad", "B"], ["a@example.org", "C"]],
        encoding="cp1252",
    )
    result = run_cli("contacts", "import", str(path), "--tag", "webinaire-2026")
    assert result.exit_code == 0, result.output
    assert "imported 1, updated 0, unchanged 0, skipped 2" in result.output
    assert "duplicate of row 2" in result.output
    again = run_cli("contacts", "import", str(path), "--tag", "webinaire-2026", "--json")
    data = json.loads(again.stdout)
    assert (data["imported"], data["unchanged"], len(data["skipped"])) == (0, 1, 2)
    assert data["encoding"] == "windows-1252"
    assert data["delimiter"] == ";"


def test_segment_list_show_export(demo: Workspace, run_cli) -> None:  # type: ignore[no-untyped-def]
    expected = demo.segment("aom-bretagne").count()
    result = run_cli("segment", "aom-bretagne", "--json", "--limit", "3")
    data = json.loads(result.stdout)
    assert (data["name"], data["count"], len(data["contacts"])) == (
        "aom-bretagne",
        expected,
        min(3, expected),
    )
    assert all(c["region"] == "Bretagne" for c in data["contacts"])
    table = run_cli("segment", 'kind = "AOM" and region = "Bretagne"')
    assert f"{expected} contact(s)" in table.stdout
    listing = json.loads(run_cli("contacts", "list", "--json").stdout)
    assert len(listing) == demo.contacts.count()
    email = listing[0]["email"]
    shown = json.loads(run_cli("contacts", "show", email, "--json").stdout)
    assert shown["email"] == email
    assert shown["suppressions"] == []
    assert shown["history"] == []
    human = run_cli("contacts", "show", email)
    assert "Not suppressed." in human.stdout
    assert "Nothing sent yet." in human.stdout
    exported = run_cli("contacts", "export", "--segment", "aom-bretagne")
    assert exported.exit_code == 0
    assert len(exported.stdout.strip().splitlines()) == expected + 1
    as_json = json.loads(run_cli("contacts", "export", "--format", "json").stdout)
    assert len(as_json) == len(listing)


def test_unsubscribe_suppress_forget(demo: Workspace, run_cli) -> None:  # type: ignore[no-untyped-def]
    first, second = (c.email for c in demo.segment("aom-bretagne").contacts(2))
    before = demo.segment("aom-bretagne").count()
    result = run_cli("contacts", "unsubscribe", first, "--list", "infolettre")
    assert "Unsubscribed" in result.output
    assert "list infolettre" in result.output
    assert demo.segment("aom-bretagne").count() == before
    assert demo.segment("aom-bretagne", list_name="infolettre").count() == before - 1
    result = run_cli("contacts", "suppress", second, "--reason", "bounced")
    assert result.exit_code == 0
    assert "Suppressed" in result.output
    assert demo.segment("aom-bretagne").count() == before - 1
    shown = json.loads(run_cli("contacts", "show", second, "--json").stdout)
    assert shown["suppressions"][0]["reason"] == "bounced"
    declined = run_cli("contacts", "forget", first, input="n\n")
    assert declined.exit_code == 1
    assert demo.contacts.get(first) is not None
    result = run_cli("contacts", "forget", first, "--yes")
    assert result.exit_code == 0
    assert "Erased" in result.output
    assert demo.contacts.get(first) is None
    _one_line_error(run_cli("contacts", "show", first), "no contact with the address")


def test_runs_as_a_real_process(ws: Workspace, subprocess_env: dict[str, str], python: str) -> None:
    root = str(ws.root)
    ws.close()
    proc = subprocess.run(
        [
            python,
            "-m",
            "commskit",
            "-C",
            root,
            "contacts",
            "import",
            "contacts/partenaires-demo.csv",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["imported"] >= 140
    proc = subprocess.run(
        [python, "-m", "commskit", "-C", root, "segment", 'kind = "AOM" and'],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "column 17" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dry_run_reports_and_stores_nothing(
    ws: Workspace, run_cli, write_export, rows_in: Callable[[str], int]
) -> None:
    path = write_export("d.csv", [["Courriel", "Étiquettes"], ["a@example.org", "x"], ["b", ""]])
    result = run_cli("contacts", "import", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Dry run, nothing stored. d.csv: 2 rows")
    assert "imported 1, updated 0, unchanged 0, skipped 1" in result.stdout
    assert rows_in("contacts") == 0
    assert rows_in("contact_tags") == 0
    data = json.loads(run_cli("contacts", "import", str(path), "--dry-run", "--json").stdout)
    assert data["dry_run"] is True
    assert data["imported"] == 1
    assert rows_in("contacts") == 0
