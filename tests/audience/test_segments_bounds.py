"""Hostile segment expressions end as one-line errors or bounded work, never a crash or a hang.

Issue 11 item 12: 10,000 parentheses, 1,000-term OR chains and named segments that double at each
level (``a = segment("b") or segment("b")``, 30 levels: 2^30 expansions) used to raise
RecursionError, SQLite's "Expression tree is too large" or never finish. Issue 10 item 9: an
unknown segment *name* gave a tokenizer error instead of saying which names exist.
"""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from commskit import SegmentError, Workspace
from commskit.audience import compile_segment, segments
from commskit.audience.segments import MAX_CONDITIONS, MAX_DEPTH
from commskit.cli import main


@pytest.fixture
def people(ws: Workspace, write_export) -> Workspace:  # type: ignore[no-untyped-def]
    path = write_export(
        "people.csv",
        [
            ["Courriel", "Type", "Région"],
            *([f"p{i}@ex.org", f"K{i}", "Bretagne"] for i in range(40)),
        ],
    )
    assert ws.contacts.import_file(path).imported == 40
    return ws


def _one_line(error: SegmentError) -> str:
    text = str(error)
    assert "\n" not in text
    assert len(text) < 1000  # the expression is shown, but a 40 KB one must not be echoed whole
    return text


def test_ten_thousand_parentheses_are_a_one_line_error() -> None:
    expression = "(" * 10_000 + 'kind = "AOM"' + ")" * 10_000
    with pytest.raises(SegmentError) as info:
        compile_segment(expression)
    text = _one_line(info.value)
    assert f"nested more than {MAX_DEPTH} levels deep" in text
    assert info.value.position == MAX_DEPTH  # the first parenthesis past the limit


def test_ten_thousand_nots_are_a_one_line_error() -> None:
    with pytest.raises(SegmentError, match="nested more than"):
        compile_segment("not " * 10_000 + "all")


def test_nesting_up_to_the_limit_still_works(people: Workspace) -> None:
    depth = MAX_DEPTH - 1
    expression = "(" * depth + 'kind = "K3"' + ")" * depth
    assert people.segment(expression).count() == 1
    assert people.segment("not " * (MAX_DEPTH - 2) + 'kind = "K3"').count() == 1  # even: K3


@pytest.mark.parametrize("operator", ["or", "and"])
def test_thousand_term_chains_count_in_sqlite(people: Workspace, operator: str) -> None:
    # SQLite refuses expression trees deeper than 1,000; a flat chain of n terms is n deep
    if operator == "or":
        expression = " or ".join(f'kind = "K{i}"' for i in range(1_000))
        expected = 40
    else:
        expression = " and ".join(f'region != "R{i}"' for i in range(1_000))
        expected = 40
    assert people.segment(expression).count() == expected
    assert len(list(people.segment(expression))) == expected


def test_more_conditions_than_the_limit_is_a_one_line_error() -> None:
    expression = " or ".join(f'kind = "K{i}"' for i in range(MAX_CONDITIONS + 1))
    with pytest.raises(SegmentError) as info:
        compile_segment(expression)
    assert f"more than {MAX_CONDITIONS} conditions" in _one_line(info.value)


@pytest.mark.parametrize(
    ("levels", "copies", "message"),
    [
        # the case: 2^30 expansions; refused at the nesting limit
        (30, 2, f"nested more than {MAX_DEPTH} levels deep"),
        # within the nesting limit, 3^9 conditions: refused at the conditions limit
        (9, 3, f"more than {MAX_CONDITIONS} conditions"),
    ],
)
def test_exponential_named_segments_are_refused_after_bounded_work(
    people: Workspace, monkeypatch: pytest.MonkeyPatch, levels: int, copies: int, message: str
) -> None:
    named = {f"s{i}": " or ".join([f'segment("s{i + 1}")'] * copies) for i in range(levels)}
    named[f"s{levels}"] = 'kind = "K1"'
    people.settings = dataclasses.replace(people.settings, segments=named)
    # the work is bounded by counting it: each named segment is parsed at most once
    calls: list[str] = []
    real = segments.tokenize

    def counting(expression: str) -> list[segments.Token]:
        calls.append(expression)
        return real(expression)

    monkeypatch.setattr(segments, "tokenize", counting)
    with pytest.raises(SegmentError) as info:
        people.segment("s0")
    text = _one_line(info.value)
    assert message in text
    assert 'in segment "s0"' in text
    assert len(calls) <= levels + 1


def test_a_named_segment_used_twice_is_compiled_once(
    people: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = {
        "k1": 'kind = "K1"',
        "both": 'segment("k1") or segment("k1") or kind = "K2"',
        "top": 'segment("both") and not segment("k1")',
    }
    people.settings = dataclasses.replace(people.settings, segments=named)
    calls: list[str] = []
    real = segments.tokenize
    monkeypatch.setattr(segments, "tokenize", lambda e: calls.append(e) or real(e))
    assert sorted(c.email for c in people.segment("top")) == ["p2@ex.org"]
    assert len(calls) == 3  # top, both, k1: each once
    compiled = compile_segment("top", named)
    assert compiled.params == ("K1", "K1", "K2", "K1")  # the parameters keep their order


def test_a_deep_chain_of_named_segments_is_bounded(people: Workspace) -> None:
    named = {f"s{i}": f'segment("s{i + 1}")' for i in range(200)}
    named["s200"] = "all"
    people.settings = dataclasses.replace(people.settings, segments=named)
    with pytest.raises(SegmentError, match="nested more than"):
        people.segment("s0")
    # a chain within the limit works
    short = {f"s{i}": f'segment("s{i + 1}")' for i in range(10)}
    short["s10"] = 'kind = "K5"'
    people.settings = dataclasses.replace(people.settings, segments=short)
    assert people.segment("s0").count() == 1


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("aom-bretagn", ['no segment named "aom-bretagn". Did you mean "aom-bretagne"?']),
        ("referent", ['no segment named "referent". Did you mean "referents"?']),
        (
            'kind = "AOM" and segment("aom-bretagn")',
            ['no segment named "aom-bretagn" at column 26', 'Did you mean "aom-bretagne"?'],
        ),
        ("zzz-nothing-like-it", ['no segment named "zzz-nothing-like-it". Known segments']),
    ],
)
def test_unknown_segment_name_says_which_exist(
    ws: Workspace, expression: str, expected: list[str]
) -> None:
    with pytest.raises(SegmentError) as info:
        ws.segment(expression)
    text = _one_line(info.value)
    for part in expected:
        assert part in text
    assert "Known segments: aom-a-convaincre, aom-bretagne," in text
    assert "unexpected character" not in text


def test_unknown_segment_name_on_the_command_line(ws: Workspace) -> None:
    result = CliRunner().invoke(main, ["-C", str(ws.root), "segment", "aom-bretagn"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert 'no segment named "aom-bretagn". Did you mean "aom-bretagne"?' in lines[0]


def test_a_field_name_alone_is_still_a_syntax_error() -> None:
    # "region" is a field: the mistake is the missing comparison, not a segment name
    with pytest.raises(SegmentError, match="expected a comparison after"):
        compile_segment("region")


def test_hostile_expressions_on_the_command_line(ws: Workspace) -> None:
    for expression in (
        "(" * 10_000 + "all" + ")" * 10_000,
        " or ".join(f'kind = "K{i}"' for i in range(1_000)),
    ):
        result = CliRunner().invoke(main, ["-C", str(ws.root), "segment", expression])
        assert "Traceback" not in result.output
        assert "Internal error" not in result.output, result.output[:300]
        assert result.exit_code in (0, 1)


def test_sqlite_limits_are_a_segment_error_not_a_crash(people: Workspace) -> None:
    # the compiler keeps its SQL far inside SQLite's limits; should a condition ever reach them,
    # the store says so in one line instead of leaking sqlite3.OperationalError
    too_deep = "(" * 200 + "1" + ")" * 200
    with pytest.raises(SegmentError, match="too complex for SQLite"):
        people.store.audience.count(too_deep)
    with pytest.raises(SegmentError, match="too complex for SQLite"):
        list(people.store.audience.iter_contacts(too_deep))


def test_a_compiled_segment_reused_deeper_is_still_bounded(people: Workspace) -> None:
    # x nests 8 levels; used first at the top, then again under 8 parentheses: 17 in all
    named = {"x": "(" * 8 + 'kind = "K1"' + ")" * 8}
    people.settings = dataclasses.replace(people.settings, segments=named)
    assert people.segment('segment("x") or ' + "(" * 2 + 'segment("x")' + ")" * 2).count() == 1
    with pytest.raises(SegmentError, match="nested more than"):
        people.segment('segment("x") or ' + "(" * 8 + 'segment("x")' + ")" * 8)
