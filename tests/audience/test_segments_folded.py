"""Stored folded copies: ~ and the text tests run as plain SQL with the old semantics.

The oracles are the definition (Python's ``fold`` on both sides, then ==, ``in``, startswith,
endswith) and the SQL the compiler emitted before the folded columns existed (the registered
``commskit_fold`` function called on every row).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commskit import Workspace
from commskit.audience import compile_segment
from commskit.audience.contacts import TEXT_FIELDS, fold
from commskit.audience.segments import FOLD_SQL, FOLDED_FIELDS
from commskit.store import Store
from commskit.store.audience import FOLDED_META_KEY, NewContact

# accents, ligatures (œ has no decomposition, ﬁ has), ß (casefolds to "ss"), dotted İ, fullwidth,
# LIKE wildcards, a backslash, blanks and the empty value
TRICKY = [
    "Brest Métropole",
    "BREST MÉTROPOLE",
    "brest metropole",
    "Œuvre d'Orient",
    "cœur de ville",
    "Coeur de ville",
    "ﬁnances publiques",
    "Straße",
    "STRASSE",
    "İstanbul",
    "ＡＢＣ métro",
    "100% vélo",
    "100 % vélo",
    "a_b",
    "axb",
    "a%b",
    "back\\slash",
    "Île-de-France",
    "ile-de-france",
    "½ tarif",
    " ",
    "",
]
NEEDLES = [
    "",
    "e",
    "metropole",
    "MÉTROPOLE",
    "brest métropole",
    "oeuvre",
    "œuvre",
    "Œ",
    "fi",
    "ﬁ",
    "ss",
    "ß",
    "straße",
    "i",
    "İstanbul",
    "abc",
    "%",
    "_",
    "a%b",
    "a_b",
    "100%",
    "\\",
    "île-de-france",
    "1⁄2",
    " ",
]
OPERATORS = [
    "~",
    "!~",
    "contains",
    "not contains",
    "startswith",
    "not startswith",
    "endswith",
    "not endswith",
]


def holds(operator: str, value: str, needle: str) -> bool:
    """Say whether ``value OPERATOR needle`` holds, by the definition in docs/segments.md."""
    folded_value, folded_needle = fold(value), fold(needle)
    negate = operator.startswith("not ") or operator == "!~"
    base = "~" if operator in ("~", "!~") else operator.removeprefix("not ")
    test = {
        "~": folded_value == folded_needle,
        "contains": folded_needle in folded_value,
        "startswith": folded_value.startswith(folded_needle),
        "endswith": folded_value.endswith(folded_needle),
    }[base]
    return test != negate


def quoted(text: str) -> str:
    """Return ``text`` as a double-quoted segment string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def old_sql(where: str) -> str:
    """Rewrite a compiled condition as before the folded columns: fold every row in Python."""
    where = re.sub(r"c\.(\w+)_folded", lambda m: f"{FOLD_SQL}(c.{m.group(1)})", where)
    return re.sub(r"lower\((c\.\w+)\)", lambda m: f"{FOLD_SQL}({m.group(1)})", where)


def contact_row(contact_id: int, value: str) -> NewContact:
    """Return an insert_contacts row with ``value`` in every free-text field and attribute."""
    return NewContact(
        contact_id,
        f"{value}@x",  # email: the store takes the value as given
        f"hash-{contact_id}",
        tuple("fr" if name == "language" else value for name in TEXT_FIELDS),
        (),
        {"note": value},
        "2026-11-03T09:00:00+00:00",
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("folded") / "state.db")
    store.audience  # noqa: B018 (registers the SQL functions, fills nothing: no contacts yet)
    yield store
    store.close()


def fill(store: Store, values: Sequence[str]) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM contacts")
        store.audience.insert_contacts(contact_row(i, v) for i, v in enumerate(values, start=1))


def selected(store: Store, where: str, params: Sequence[object]) -> set[int]:
    sql = f"SELECT c.id FROM contacts c WHERE {where}"  # noqa: S608 (compiled, bound)
    return {row[0] for row in store.conn.execute(sql, tuple(params))}


@pytest.mark.parametrize("operand", ["organization", "last_name", "region", 'attr("note")'])
@pytest.mark.parametrize("operator", OPERATORS)
def test_folded_sql_matches_the_definition_and_the_old_sql(
    store: Store, operand: str, operator: str
) -> None:
    fill(store, TRICKY)
    for needle in NEEDLES:
        compiled = compile_segment(f"{operand} {operator} {quoted(needle)}")
        if not fold(needle) and operator not in ("~", "!~"):
            assert compiled.where in ("1", "(NOT 1)")  # the empty text is in every text
        elif operand.startswith("attr"):
            assert FOLD_SQL in compiled.where  # attributes keep the per-row function
        else:
            assert FOLD_SQL not in compiled.where
        expected = {i for i, v in enumerate(TRICKY, start=1) if holds(operator, v, needle)}
        got = selected(store, compiled.where, compiled.params)
        assert got == expected, (operator, needle, sorted(TRICKY[i - 1] for i in got ^ expected))
        assert selected(store, old_sql(compiled.where), compiled.params) == expected


@pytest.mark.parametrize("field", [*FOLDED_FIELDS, "created_at", "updated_at"])
def test_every_field_has_a_folded_sql_path(store: Store, field: str) -> None:
    values = ["Métropole", "METROPOLE", "2026-11-03T09:00:00+00:00", "%_x", ""]
    fill(store, values)
    for needle in ("metropole", "T09", "%", ""):
        compiled = compile_segment(
            f"{field} contains {quoted(needle)} or {field} ~ {quoted(needle)}"
        )
        assert FOLD_SQL not in compiled.where
        assert selected(store, compiled.where, compiled.params) == selected(
            store, old_sql(compiled.where), compiled.params
        )


def test_an_empty_text_test_on_an_attribute_binds_no_stray_parameter(
    ws: Workspace, write_export
) -> None:
    # attr(...) binds its JSON path; the empty needle needs no operand, so the path must go too
    # (it used to stay bound and SQLite refused the query)
    ws.contacts.import_file(_people(write_export, "Brest Métropole"))
    assert ws.segment('attr("x") contains ""').count() == 2
    assert ws.segment('attr("x") not startswith "" or region = "Bretagne"').count() == 1


TEXT = st.text(alphabet="aAeEéÉèœŒßﬁfiİıI%_\\ -·\u0301", max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(TEXT, min_size=1, max_size=8), needle=TEXT, operator=st.sampled_from(OPERATORS)
)
def test_folded_sql_matches_the_definition_on_generated_text(
    store: Store, values: list[str], needle: str, operator: str
) -> None:
    fill(store, values)
    compiled = compile_segment(f"organization {operator} {quoted(needle)}")
    expected = {i for i, v in enumerate(values, start=1) if holds(operator, v, needle)}
    assert selected(store, compiled.where, compiled.params) == expected


def _people(write_export: Callable[..., Path], organization: str) -> Path:
    return write_export(
        "people.csv",
        [
            ["Courriel", "Nom", "Organisme", "Région"],
            ["anne@example.org", "Le Gall", organization, "Île-de-France"],
            ["yann@example.org", "Martin", "Syndicat mixte", "Bretagne"],
        ],
    )


def test_a_count_over_stored_fields_calls_no_python_per_row(ws: Workspace, write_export) -> None:
    assert ws.contacts.import_file(_people(write_export, "Brest Métropole")).imported == 2
    calls: list[object] = []

    def counting_fold(value: object) -> object:
        calls.append(value)
        return fold(value) if isinstance(value, str) else value

    ws.store.conn.create_function(FOLD_SQL, 1, counting_fold, deterministic=True)
    expression = (
        'organization contains "METRO" or region ~ "ile-de-france" or last_name endswith "GALL"'
    )
    assert ws.segment(expression).count() == 1
    assert calls == []
    # the counter does count: attributes still fold per row
    assert ws.segment('attr("x") ~ ""').count() == 2
    assert len(calls) == 2


def test_an_update_refolds_the_changed_fields(ws: Workspace, write_export) -> None:
    ws.contacts.import_file(_people(write_export, "Brest Métropole"))
    assert ws.segment('organization contains "metropole"').count() == 1
    report = ws.contacts.import_file(_people(write_export, "Communauté de l'Œuvre"))
    assert report.updated == 1
    assert ws.segment('organization contains "metropole"').count() == 0
    assert ws.segment('organization startswith "communaute"').count() == 1


def test_a_database_from_before_the_folded_columns_is_back_filled_once(
    ws: Workspace, write_export
) -> None:
    ws.contacts.import_file(_people(write_export, "Brest Métropole"))
    db = ws.state_dir / "state.db"
    ws.close()
    # turn the file back into a schema-4 database: no folded columns, migration 5 not applied
    conn = sqlite3.connect(db)
    for field in FOLDED_FIELDS:
        conn.execute(f"ALTER TABLE contacts DROP COLUMN {field}_folded")
    conn.execute("DELETE FROM schema_migrations WHERE version = 5")
    conn.execute("DELETE FROM meta WHERE key = ?", (FOLDED_META_KEY,))
    conn.commit()
    conn.close()

    reopened = Workspace.open(ws.root)
    try:
        assert reopened.segment('organization contains "METROPOLE"').count() == 1
        assert reopened.segment('region ~ "ile-de-france"').count() == 1
        assert reopened.store.get_meta(FOLDED_META_KEY) is not None
        folded = reopened.store.conn.execute(
            "SELECT organization_folded, region_folded, email_folded FROM contacts ORDER BY id"
        ).fetchall()
        assert [tuple(row) for row in folded] == [
            ("brest metropole", "ile-de-france", "anne@example.org"),
            ("syndicat mixte", "bretagne", "yann@example.org"),
        ]
    finally:
        reopened.close()
