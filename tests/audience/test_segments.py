"""The segment language: semantics against a small known population, errors, safety."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from commskit import SegmentError, Workspace
from commskit.audience import compile_segment

PEOPLE = [
    # email, kind, region, stage, tags, organization, population
    ["a@ex.org", "AOM", "Bretagne", "joined", "webinaire-2026", "Brest Métropole", "215367"],
    ["b@ex.org", "AOM", "Bretagne", "contacted", "", "Lorient Agglomération", "205000"],
    ["c@ex.org", "AOM", "Normandie", "demo", "webinaire-2026, pilote", "Caen la Mer", "270000"],
    ["d@ex.org", "opérateur", "Normandie", "identified", "", "Covoit'Ouest", ""],
    ["e@ex.org", "référent", "Île-de-France", "", "pilote", "DDT Paris", "9000"],
    ["f@ex.org", "AOM", "Occitanie", "joined", "", 'Le "Grand" Sud', "80000"],
]


@pytest.fixture
def people(ws: Workspace, write_export) -> Workspace:
    path = write_export(
        "people.csv",
        [["Courriel", "Type", "Région", "Étape", "Étiquettes", "Organisme", "Population"], *PEOPLE],
    )
    assert ws.contacts.import_file(path).imported == len(PEOPLE)
    return ws


@pytest.fixture
def select(people: Workspace) -> Callable[[str], list[str]]:
    """Return the sorted local parts a segment selects, and check count() agrees."""

    def run(expression: str) -> list[str]:
        segment = people.segment(expression)
        found = sorted(c.email.split("@")[0] for c in segment)
        assert segment.count() == len(segment) == len(found)
        return found

    return run


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('kind = "AOM"', ["a", "b", "c", "f"]),
        ("kind = 'AOM'", ["a", "b", "c", "f"]),
        ('kind = "aom"', []),  # = is exact
        ('kind ~ "aom"', ["a", "b", "c", "f"]),  # ~ ignores case and accents
        ('kind ~ "operateur"', ["d"]),
        ('kind !~ "AOM"', ["d", "e"]),
        ('region = "Ile-de-France"', []),
        ('region ~ "ile-de-france"', ["e"]),
        ('region = "Île-de-France"', ["e"]),
        ('KIND = "AOM" AND Region = "Bretagne"', ["a", "b"]),
        ('stage != "joined"', ["b", "c", "d", "e"]),
        ("stage is empty", ["e"]),
        ("stage is not empty", ["a", "b", "c", "d", "f"]),
        ('region in ("Bretagne", "Normandie")', ["a", "b", "c", "d"]),
        ('region in ("Bretagne", "Normandie",)', ["a", "b", "c", "d"]),
        ('region not in ("Bretagne", "Normandie")', ["e", "f"]),
        ('tag("webinaire-2026")', ["a", "c"]),
        ('tag("WEBINAIRE-2026")', ["a", "c"]),
        ('tag("pilote", "webinaire-2026")', ["a", "c", "e"]),
        ('not tag("pilote")', ["a", "b", "d", "f"]),
        ('organization contains "metropole"', ["a"]),
        ('organization startswith "lorient"', ["b"]),
        ('organization endswith "mer"', ["c"]),
        ('organization not contains "a"', ["a", "d"]),  # "brest metropole", "covoit'ouest"
        ('organization = "Le \\"Grand\\" Sud"', ["f"]),
        ("organization = 'Covoit\\'Ouest'", ["d"]),
        ('attr("population") > 200000', ["a", "b", "c"]),
        ('attr("Population") >= 215367', ["a", "c"]),
        ("attributes.population < 10000", ["e"]),  # empty is not below anything
        ("not attributes.population < 10000", ["a", "b", "c", "d", "f"]),
        ('attr("population") is empty', ["d"]),
        ('attr("no such column") = ""', ["a", "b", "c", "d", "e", "f"]),
        ("all", ["a", "b", "c", "d", "e", "f"]),
        ('email endswith "@ex.org" and email startswith "a"', ["a"]),
    ],
)
def test_semantics(
    select: Callable[[str], list[str]], expression: str, expected: list[str]
) -> None:
    assert select(expression) == expected


def test_precedence_not_binds_tighter_than_and_tighter_than_or(
    select: Callable[[str], list[str]],
) -> None:
    # and before or: A or (B and C)
    assert select('region = "Occitanie" or kind = "AOM" and stage = "demo"') == ["c", "f"]
    assert select('(region = "Occitanie" or kind = "AOM") and stage = "demo"') == ["c"]
    # not applies to the nearest condition only
    assert select('not kind = "AOM" and region = "Normandie"') == ["d"]
    assert select('not (kind = "AOM" and region = "Normandie")') == ["a", "b", "d", "e", "f"]
    assert select(
        'kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"'
        ' and tag("webinaire-2026")'
    ) == ["c"]


def test_named_segments_and_references(people: Workspace) -> None:
    segments = {
        "aom": 'kind = "AOM"',
        "ouest": 'region in ("Bretagne", "Normandie")',
        "aom-ouest": 'segment("aom") and segment("ouest")',
        "loop-a": 'segment("loop-b")',
        "loop-b": 'kind = "AOM" and segment("loop-a")',
        "broken": "kind = ",
    }
    ws = dataclasses.replace(people.settings, segments=segments)
    people.settings = ws
    assert sorted(c.email for c in people.segment("aom-ouest")) == [
        "a@ex.org",
        "b@ex.org",
        "c@ex.org",
    ]
    assert people.segment('segment("aom-ouest") and stage = "demo"').count() == 1
    with pytest.raises(SegmentError, match="segment cycle loop-a → loop-b → loop-a"):
        people.segment("loop-a")
    with pytest.raises(SegmentError, match='no segment named "nope"') as info:
        people.segment('kind = "AOM" or segment("nope")')
    assert info.value.position == len('kind = "AOM" or segment(')
    with pytest.raises(SegmentError, match='in segment "broken"'):
        people.segment('segment("broken")')


@pytest.mark.parametrize(
    ("expression", "position", "message"),
    [
        ('kind = "AOM" and regoin = "Bretagne"', 17, 'unknown field "regoin"'),
        ('kind = "AOM" and', 16, "expected a field"),
        ("kind = AOM", 7, "expected a quoted value"),
        ('kind = "AOM', 7, "unterminated string"),
        ('(kind = "AOM"', 13, 'expected ")"'),
        ('kind = "AOM")', 12, 'unexpected ")"'),
        ('region in "Bretagne"', 10, 'expected "("'),
        ('kind == "AOM" && stage = "x"', 14, "unexpected character '&'"),
        ('kind = "AOM"; DROP TABLE contacts; --', 12, "unexpected character ';'"),
        ("", 0, "empty expression"),
        ("tag(webinaire)", 4, "expected a quoted text"),
        ('stage is "x"', 9, 'expected "empty"'),
        ('kind "AOM"', 5, "expected a comparison"),
        ('__import__("os").system("id")', 0, 'unknown predicate "__import__(…)"'),
    ],
)
def test_errors_point_at_the_mistake(expression: str, position: int, message: str) -> None:
    with pytest.raises(SegmentError) as info:
        compile_segment(expression)
    error = info.value
    assert error.position == position
    assert message in str(error)
    assert f"column {position + 1}" in str(error)
    # the one-line message marks the spot
    assert "\n" not in str(error)
    assert f"{expression[:position]}»{expression[position:]}" in str(error)


def test_unknown_field_suggests_the_right_one() -> None:
    with pytest.raises(SegmentError, match='Did you mean "region"'):
        compile_segment('regoin = "Bretagne"')


@pytest.mark.parametrize(
    "payload",
    [
        '"; DROP TABLE contacts; --',
        "'; DROP TABLE contacts; --",
        "x' OR '1'='1",
        'x" OR "1"="1',
        "Robert'); DELETE FROM contacts; --",
        "') OR 1=1 --",
    ],
)
def test_injection_attempts_are_literals(
    people: Workspace, rows_in: Callable[[str], int], payload: str
) -> None:
    escaped = payload.replace("\\", "\\\\").replace('"', '\\"')
    for expression in (
        f'organization = "{escaped}"',
        f'organization contains "{escaped}"',
        f'tag("{escaped}")',
        f'attr("{escaped}") = "{escaped}"',
        f'region in ("{escaped}", "x")',
    ):
        compiled = compile_segment(expression)
        assert payload not in compiled.where  # values only travel as parameters
        assert people.segment(expression).count() == 0
    assert rows_in("contacts") == len(PEOPLE)


def test_injection_in_raw_text_is_a_syntax_error(
    people: Workspace, rows_in: Callable[[str], int]
) -> None:
    for expression in (
        '"; DROP TABLE contacts; --',
        'kind = "AOM" or 1=1; DROP TABLE contacts',
        "kind = ''; DELETE FROM contacts; --'",
    ):
        with pytest.raises(SegmentError):
            people.segment(expression).count()
    assert rows_in("contacts") == len(PEOPLE)


def test_every_value_is_a_bound_parameter() -> None:
    compiled = compile_segment(
        'kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"'
        ' and tag("webinaire-2026") and attr("population") > 1000'
    )
    assert compiled.params == (
        "AOM",
        "Bretagne",
        "Normandie",
        "joined",
        "webinaire-2026",
        '$."population"',
        1000.0,
    )
    for value in ("AOM", "Bretagne", "joined", "webinaire"):
        assert value not in compiled.where
