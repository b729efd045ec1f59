"""The contact field list has one definition (issue 12 item 4).

``commskit.audience.contacts.FIELDS`` is it: the Contact record, the importer's targets, the
store's columns, the folded copies, segment fields and the export header are derived from it.
The list used to exist four times (contacts, book, store, segments) and a field added to one
copy would have been silently missing from the others; a scan refuses a new copy.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import io
import re
import sqlite3
from pathlib import Path

from commskit import Workspace
from commskit.audience import contacts, importer, segments
from commskit.audience.book import export_text
from commskit.audience.contacts import FIELDS, TEXT_FIELDS, Contact

SRC = Path(contacts.__file__).resolve().parents[1]
BOOKKEEPING = ("id", "attributes", "created_at", "updated_at")

#: per-field data keyed by field (aliases of each column name): its keys are checked below
KEYED_BY_FIELD = {("audience/importer.py", "_ALIASES")}


def test_derived_lists_equal_the_definition() -> None:
    assert tuple(f for f in FIELDS if f not in ("email", "tags")) == TEXT_FIELDS
    record = [f.name for f in dataclasses.fields(Contact)]
    assert [f for f in record if f not in BOOKKEEPING] == list(FIELDS)
    assert ("email", *TEXT_FIELDS) == segments.FOLDED_FIELDS
    assert tuple(segments.SEGMENT_FIELDS) == (*segments.FOLDED_FIELDS, "created_at", "updated_at")
    assert (*FIELDS, importer.IGNORE) == importer.MAP_TARGETS
    aliases = {k for k in importer._ALIASES if k != importer.IGNORE}
    assert aliases == set(FIELDS)
    assert list(Contact(1, "a@example.org").to_dict()) == record


def test_every_field_has_a_column_and_survives_import_and_export(ws: Workspace) -> None:
    db = sqlite3.connect(ws.store.path)
    columns = {row[1] for row in db.execute('PRAGMA table_info("contacts")')}
    db.close()
    assert set(record_columns()) <= columns
    assert {f"{name}_folded" for name in segments.FOLDED_FIELDS} <= columns
    values = {name: f"{name}-value" for name in FIELDS}
    values |= {
        "email": "every.field@example.org",
        "language": "en",
        "basis": "consent",
        "basis_date": "2026-11-02",
        "tags": "a-tag",
    }
    path = ws.root / "every-field.csv"
    path.write_text(",".join(FIELDS) + "\n" + ",".join(values[f] for f in FIELDS) + "\n")
    report = ws.contacts.import_file(path)
    assert report.imported == 1, report.skipped
    exported = list(csv.reader(io.StringIO(export_text(ws.contacts))))
    assert exported[0] == list(FIELDS)
    assert dict(zip(exported[0], exported[1], strict=True)) == values
    contact = ws.contacts.require(values["email"])
    for name in TEXT_FIELDS:  # each field is a segment field, matched on its stored value
        expression = f'{name} = "{values[name]}"'
        assert [c.id for c in ws.segment(expression)] == [contact.id], expression


def record_columns() -> list[str]:
    return [f.name for f in dataclasses.fields(Contact)]


def _copies(path: Path) -> list[str]:
    """Return the literal lists of three or more field names in a module (copies of FIELDS)."""
    names = set(FIELDS) - {"email", "tags", "language"}
    name = "|".join(sorted(names))
    listed = re.compile(rf"\b(?:{name})(?:\s*,\s*(?:{name})\b){{2,}}")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            labels = {t.id for t in targets if isinstance(t, ast.Name)}
            if any((str(path.relative_to(SRC)), label) in KEYED_BY_FIELD for label in labels):
                exempt |= {id(inner) for inner in ast.walk(node.value)}
    found = []
    for node in ast.walk(tree):
        if id(node) in exempt:
            continue
        elements: list[ast.expr | None] = []
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elements = list(node.elts)
        elif isinstance(node, ast.Dict):
            elements = list(node.keys)
        literal = [e.value for e in elements if isinstance(e, ast.Constant)]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            # a column list in SQL text: "first_name, last_name, organization"
            literal = [w for chain in listed.findall(node.value) for w in chain.split(",")]
            literal = [w.strip() for w in literal]
        if len(set(literal) & names) >= 3:
            found.append(f"line {node.lineno}: {sorted(set(literal) & names)}")
    return found


def test_no_other_copy_of_the_field_list() -> None:
    assert _copies.__doc__
    copies = {
        str(path.relative_to(SRC)): found
        for folder in ("audience", "store", "send")
        for path in sorted((SRC / folder).glob("*.py"))
        if path.name != "contacts.py" and (found := _copies(path))
    }
    assert copies == {}
