"""The query shapes that keep segment counts fast at a million contacts, on small data.

Each shape (issue 17 item 6, bench/million_bench.py) must select exactly what the definition in
docs/segments.md selects: a tag tested per contact beside a field condition, suppressed contacts
subtracted from a count, the covering index of migration 0032; and attributes (what the JSON
may hold: null, numbers, missing keys) keep their matching rules beside them. The oracles are
plain Python over the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from commskit import Workspace
from commskit.audience import compile_segment
from commskit.audience.contacts import TEXT_FIELDS, fold
from commskit.store import Store
from commskit.store.audience import NewContact

WHEN = "2026-11-03T09:00:00+00:00"

# what a partner's own column may hold once imported (strings), and what other writers or an
# older version may have left in the JSON (null, numbers); None in this list: no such key
VALUES: list[Any] = [
    "Saint-Étienne",
    "SAINT-ETIENNE",
    "saint-etienne",
    "Saint Etienne",
    "ÉVREUX",
    "Œuvre",
    "ﬁnances",
    "Straße",
    "İzmir",
    "12",
    "12.5",
    12,
    12.5,
    "",
    " ",
    "%_\\",
    "null",
    "JSON-NULL",  # replaced by a JSON null below
    None,
]


def stored_text(value: Any) -> str:
    """Return what an attribute reads as: its text, '' for a missing key or a JSON null."""
    if value is None or value == "JSON-NULL":
        return ""
    return str(value)


def person(
    contact_id: int,
    *,
    kind: str = "AOM",
    region: str = "Bretagne",
    tags: Sequence[str] = (),
    attributes: Mapping[str, Any] | None = None,
) -> NewContact:
    fields = {"kind": kind, "region": region, "language": "fr"}
    return NewContact(
        contact_id,
        f"p{contact_id}@example.org",
        f"hash-{contact_id}",
        tuple(fields.get(name, "") for name in TEXT_FIELDS),
        tuple(tags),
        dict(attributes or {}),
        WHEN,
    )


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    store = Store(tmp_path / "state.db")
    store.audience  # noqa: B018 (registers the SQL functions)
    yield store
    store.close()


def fill(store: Store, rows: Sequence[NewContact]) -> None:
    repo = store.audience
    with store.transaction() as conn:
        conn.execute("DELETE FROM contact_tags")
        conn.execute("DELETE FROM contacts")
        repo.insert_contacts(rows)
        repo.set_tags([r.id for r in rows], [(r.id, t) for r in rows for t in r.tags])


def selected(store: Store, expression: str) -> set[int]:
    compiled = compile_segment(expression)
    sql = f"SELECT c.id FROM contacts c WHERE {compiled.where}"  # noqa: S608 (compiled, bound)
    return {row[0] for row in store.conn.execute(sql, compiled.params)}


def attribute_rows(key: str = "ville") -> list[NewContact]:
    rows = []
    for i, value in enumerate(VALUES, start=1):
        attributes = {} if value is None else {key: value, "code": f"c{i}"}
        rows.append(person(i, kind="AOM" if i % 2 else "EPCI", attributes=attributes))
    return rows


def with_json_null(store: Store) -> None:
    store.conn.execute(
        "UPDATE contacts SET attributes = json_set(attributes, '$.ville', json('null'))"
        " WHERE json_extract(attributes, '$.ville') = 'JSON-NULL'"
    )


def holds(operator: str, value: str, needle: str) -> bool:
    """The definition: both sides folded, then ==, in, startswith, endswith."""
    have, want = fold(value), fold(needle)
    return {
        "~": have == want,
        "!~": have != want,
        "contains": want in have,
        "not contains": want not in have,
        "startswith": have.startswith(want),
        "endswith": have.endswith(want),
    }[operator]


NEEDLES = ["saint-etienne", "SAINT-ÉTIENNE", "étienne", "evreux", "oeuvre", "œ", "fi", "ss", "12"]


@pytest.mark.parametrize(
    "operator", ["~", "!~", "contains", "not contains", "startswith", "endswith"]
)
def test_attribute_folding_selects_what_the_definition_selects(store: Store, operator: str) -> None:
    fill(store, attribute_rows())
    with_json_null(store)
    for needle in NEEDLES:
        expected = {
            i
            for i, value in enumerate(VALUES, start=1)
            if holds(operator, stored_text(value), needle)
        }
        got = selected(store, f'attributes.ville {operator} "{needle}"')
        assert got == expected, (operator, needle, sorted(got ^ expected))


def test_several_attributes_and_fields_keep_their_parameters_in_order(store: Store) -> None:
    fill(store, attribute_rows())
    expression = (
        'attr("ville") ~ "saint-etienne" and kind = "AOM" and attributes.code contains "1"'
        ' or attributes.ville is empty and attr("code") in ("c14", "c15") and region = "Bretagne"'
        ' or attributes.ville startswith "Év" and attributes.code endswith "5"'
    )
    expected = set()
    for i, value in enumerate(VALUES, start=1):
        text, code = stored_text(value), "" if value is None else f"c{i}"
        aom = i % 2 == 1
        if (
            (fold(text) == "saint-etienne" and aom and "1" in code)
            or (text == "" and code in ("c14", "c15"))
            or (fold(text).startswith("ev") and code.endswith("5"))
        ):
            expected.add(i)
    assert selected(store, expression) == expected
    assert expected  # the data makes each branch select someone


def tagged_rows() -> list[NewContact]:
    rows = []
    for i in range(1, 41):
        tags = [t for t, every in (("webinaire", 2), ("pilote", 3), ("autre", 5)) if i % every == 0]
        kind = "AOM" if i % 4 else "EPCI"
        rows.append(person(i, kind=kind, region="Bretagne" if i < 25 else "Corse", tags=tags))
    return rows


@pytest.mark.parametrize(
    ("expression", "test"),
    [
        ('tag("webinaire")', lambda r: "webinaire" in r.tags),
        (
            'kind = "AOM" and tag("webinaire")',
            lambda r: r.texts[3] == "AOM" and "webinaire" in r.tags,
        ),
        (
            'kind = "AOM" and region = "Bretagne" and tag("pilote", "autre")',
            lambda r: (
                r.texts[3] == "AOM"
                and r.texts[4] == "Bretagne"
                and {"pilote", "autre"} & set(r.tags)
            ),
        ),
        (
            'tag("webinaire") and not tag("pilote") and region = "Corse"',
            lambda r: "webinaire" in r.tags and "pilote" not in r.tags and r.texts[4] == "Corse",
        ),
        ('tag("webinaire") and tag("pilote")', lambda r: {"webinaire", "pilote"} <= set(r.tags)),
        (
            'kind = "EPCI" or tag("autre") and region = "Corse"',
            lambda r: r.texts[3] == "EPCI" or ("autre" in r.tags and r.texts[4] == "Corse"),
        ),
    ],
)
def test_tags_beside_fields_select_what_the_tags_say(store: Store, expression: str, test) -> None:
    rows = tagged_rows()
    fill(store, rows)
    assert selected(store, expression) == {r.id for r in rows if test(r)}


def test_a_tag_beside_a_field_is_probed_per_contact_not_listed() -> None:
    beside = compile_segment('kind = "AOM" and tag("webinaire")')
    assert "EXISTS (SELECT 1 FROM contact_tags t" in beside.where
    assert beside.params == ("AOM", "webinaire")
    # alone, or only beside other subqueries, the tagged contacts are listed once
    for expression in ('tag("webinaire")', 'tag("webinaire") and tag("pilote")'):
        assert "EXISTS" not in compile_segment(expression).where


def test_a_count_subtracts_each_suppressed_contact_once(store: Store) -> None:
    rows = tagged_rows()
    fill(store, rows)
    repo = store.audience
    entries = {
        2: [""],  # every list
        4: ["infolettre"],
        6: ["", "infolettre"],  # both: must be taken out once, not twice
        8: ["webinaires"],  # another list
        30: ["", "infolettre", "webinaires"],
    }
    with store.transaction():
        for contact_id, lists in entries.items():
            for list_name in lists:
                repo.add_suppression(f"hash-{contact_id}", list_name, "unsubscribed", "test", WHEN)
    for expression in ('kind = "AOM"', 'tag("webinaire")', "all", 'region = "Corse"'):
        compiled = compile_segment(expression)
        for list_name in (None, "infolettre", "webinaires"):
            listed = list(repo.iter_contacts(compiled.where, compiled.params, list_name=list_name))
            out = {
                cid
                for cid, lists in entries.items()
                if "" in lists or (list_name is not None and list_name in lists)
            }
            expected = selected(store, expression) - out
            assert {c.id for c in listed} == expected
            assert repo.count(compiled.where, compiled.params, list_name=list_name) == len(expected)
            assert repo.count(compiled.where, compiled.params, include_suppressed=True) == len(
                selected(store, expression)
            )


def test_the_segment_index_is_added_to_an_existing_workspace(ws: Workspace, write_export) -> None:
    ws.contacts.import_file(
        write_export(
            "people.csv",
            [
                ["Courriel", "Type", "Région", "Étape"],
                ["anne@example.org", "AOM", "Bretagne", "demo"],
                ["yann@example.org", "AOM", "Normandie", "joined"],
                ["loic@example.org", "EPCI", "Bretagne", "demo"],
            ],
        )
    )
    expression = 'kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"'
    assert ws.segment(expression).count() == 1
    db = ws.state_dir / "state.db"
    ws.close()
    # turn the file back into what the previous version left: its index, migration 32 not applied
    conn = sqlite3.connect(db)
    conn.execute("DROP INDEX contacts_segment")
    conn.execute("CREATE INDEX contacts_kind_region ON contacts (kind, region)")
    conn.execute("DELETE FROM schema_migrations WHERE version = 32")
    conn.commit()
    conn.close()

    reopened = Workspace.open(ws.root)
    try:
        indexes = {
            row[0]
            for row in reopened.store.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts'"
            )
        }
        assert "contacts_segment" in indexes
        assert "contacts_kind_region" not in indexes
        assert reopened.segment(expression).count() == 1
        plan = " ".join(
            str(row[-1])
            for row in reopened.store.conn.execute(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM contacts c WHERE c.kind = 'AOM'"
                " AND c.region IN ('Bretagne', 'Normandie') AND c.stage != 'joined'"
            )
        )
        assert "COVERING INDEX contacts_segment" in plan
    finally:
        reopened.close()
