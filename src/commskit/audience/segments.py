"""The segment language: a small, safe expression language compiled to parameterised SQL.

Example::

    kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"
        and tag("webinaire-2026")

The grammar is in ``docs/segments.md``. A hand-written tokenizer and recursive-descent parser turn
the text into a SQL ``WHERE`` fragment over the ``contacts`` table (alias ``c``): every value is a
bound parameter, every field name comes from an allow-list, so no text of the expression is ever
executed. Errors carry the position of the mistake (:attr:`SegmentError.position`, 0-based) and
show it in the one-line message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import SegmentError
from .contacts import fold, normalise_tag, slug

#: Fields an expression may name, mapped to their SQL column (the allow-list).
SEGMENT_FIELDS: Mapping[str, str] = {
    "email": "c.email",
    "first_name": "c.first_name",
    "last_name": "c.last_name",
    "organization": "c.organization",
    "kind": "c.kind",
    "region": "c.region",
    "department": "c.department",
    "language": "c.language",
    "stage": "c.stage",
    "basis": "c.basis",
    "basis_source": "c.basis_source",
    "basis_date": "c.basis_date",
    "created_at": "c.created_at",
    "updated_at": "c.updated_at",
}

#: SQL function registered on the connection by the store (see ``store/audience.py``); only
#: attributes still need it, the fields below have stored folded copies.
FOLD_SQL = "commskit_fold"

#: Fields whose folded copy (:func:`fold` of the value) the store keeps in ``<field>_folded``, so
#: ``~`` and the text tests on them are plain SQL with no Python call per row.
FOLDED_FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "organization",
    "kind",
    "region",
    "department",
    "language",
    "stage",
    "basis",
    "basis_source",
    "basis_date",
)

#: Fields always written by the store as ISO 8601 timestamps (ASCII): SQLite's ASCII-only
#: lower() folds them exactly as :func:`fold` does.
_ASCII_FIELDS = frozenset({"created_at", "updated_at"})


def folded_column(field: str) -> str:
    """Return the SQL expression of a field's folded value (a stored column, no Python call)."""
    if field in FOLDED_FIELDS:
        return f"c.{field}_folded"
    if field in _ASCII_FIELDS:
        return f"lower(c.{field})"
    raise KeyError(field)


_KEYWORDS = {
    "and",
    "or",
    "not",
    "in",
    "is",
    "empty",
    "contains",
    "startswith",
    "endswith",
    "all",
}
_TEXT_TESTS = {"contains", "startswith", "endswith"}


@dataclass(frozen=True)
class Token:
    kind: str  # "string", "number", "ident", "op", "end"
    value: str
    position: int


@dataclass(frozen=True)
class CompiledSegment:
    """A segment expression compiled to a SQL condition over ``contacts c`` and its parameters."""

    expression: str
    where: str
    params: tuple[object, ...]
    name: str | None = None


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>!=|<>|!~|<=|>=|==|=|~|<|>|\(|\)|,|\.)
    """,
    re.VERBOSE,
)


def _pointed(expression: str, position: int) -> str:
    """Return the expression on one line with ``»`` marking the position."""
    flat = " ".join(expression.splitlines())
    return f"{flat[:position]}»{flat[position:]}"


def _error(expression: str, message: str, position: int, hint: str | None = None) -> SegmentError:
    return SegmentError(
        f"segment: {message} at column {position + 1}: {_pointed(expression, position)}",
        position=position,
        hint=hint,
    )


def tokenize(expression: str) -> list[Token]:
    """Split an expression into tokens; raise SegmentError at the first character not understood."""
    tokens: list[Token] = []
    pos = 0
    length = len(expression)
    while pos < length:
        char = expression[pos]
        if char in "\"'":
            start = pos
            pos += 1
            chunks: list[str] = []
            while True:
                if pos >= length:
                    raise _error(
                        expression,
                        "unterminated string",
                        start,
                        hint=f"Close it with {char}",
                    )
                current = expression[pos]
                if current == "\\" and pos + 1 < length:
                    chunks.append(expression[pos + 1])
                    pos += 2
                    continue
                if current == char:
                    pos += 1
                    break
                chunks.append(current)
                pos += 1
            tokens.append(Token("string", "".join(chunks), start))
            continue
        match = _TOKEN.match(expression, pos)
        if match is None:
            raise _error(
                expression,
                f"unexpected character {char!r}",
                pos,
                hint='Quote text values, e.g. region = "Bretagne"',
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", length))
    return tokens


class _Parser:
    """Recursive-descent parser emitting SQL as it goes (the grammar is in docs/segments.md)."""

    def __init__(
        self,
        expression: str,
        segments: Mapping[str, str],
        stack: tuple[str, ...],
    ) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.index = 0
        self.segments = segments
        self.stack = stack
        self.params: list[object] = []

    # --- token helpers ----------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.current
        return token.kind == "ident" and token.value.lower() in words

    def at_op(self, *ops: str) -> bool:
        return self.current.kind == "op" and self.current.value in ops

    def fail(
        self, message: str, token: Token | None = None, hint: str | None = None
    ) -> SegmentError:
        token = token or self.current
        return _error(self.expression, message, token.position, hint)

    def describe(self, token: Token) -> str:
        if token.kind == "end":
            return "end of expression"
        if token.kind == "string":
            return f'text "{token.value}"'
        return f'"{token.value}"'

    def expect_op(self, op: str, context: str) -> Token:
        if not self.at_op(op):
            raise self.fail(f'expected "{op}" {context}, found {self.describe(self.current)}')
        return self.advance()

    def expect_string(self, context: str) -> Token:
        token = self.current
        if token.kind != "string":
            raise self.fail(
                f"expected a quoted text {context}, found {self.describe(token)}",
                hint='Put text in quotes, e.g. tag("webinaire-2026")',
            )
        return self.advance()

    # --- grammar ----------------------------------------------------------------------------

    def parse(self) -> str:
        if self.current.kind == "end":
            raise self.fail(
                "empty expression", hint='Write a condition, e.g. kind = "AOM", or "all"'
            )
        sql = self.or_expr()
        if self.current.kind != "end":
            raise self.fail(
                f"unexpected {self.describe(self.current)}",
                hint='Join conditions with "and" / "or"',
            )
        return sql

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.at_keyword("or"):
            self.advance()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.unary()]
        while self.at_keyword("and"):
            self.advance()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def unary(self) -> str:
        if self.at_keyword("not"):
            self.advance()
            return f"(NOT {self.unary()})"
        return self.primary()

    def primary(self) -> str:
        token = self.current
        if self.at_op("("):
            self.advance()
            sql = self.or_expr()
            self.expect_op(")", "to close the parenthesis")
            return sql
        if token.kind != "ident":
            raise self.fail(
                f"expected a field, tag(…) or segment(…), found {self.describe(token)}",
                hint='A condition starts with a field name, e.g. region = "Bretagne"',
            )
        word = token.value.lower()
        nxt = self.tokens[self.index + 1]
        is_call = nxt.kind == "op" and nxt.value == "("
        if word == "all" and not is_call:
            self.advance()
            return "1"
        if word == "tag" and is_call:
            return self.tag_test()
        if word == "segment" and is_call:
            return self.segment_ref()
        return self.condition()

    def tag_test(self) -> str:
        self.advance()
        self.expect_op("(", "after tag")
        tags = [normalise_tag(self.expect_string("in tag(…)").value)]
        while self.at_op(","):
            self.advance()
            tags.append(normalise_tag(self.expect_string("in tag(…)").value))
        self.expect_op(")", "to close tag(…)")
        self.params.extend(tags)
        marks = ", ".join("?" for _ in tags)
        return f"c.id IN (SELECT contact_id FROM contact_tags WHERE tag IN ({marks}))"  # noqa: S608

    def segment_ref(self) -> str:
        self.advance()
        self.expect_op("(", "after segment")
        name_token = self.expect_string("in segment(…)")
        self.expect_op(")", "to close segment(…)")
        name = name_token.value
        if name not in self.segments:
            known = ", ".join(sorted(self.segments)) or "none defined"
            raise self.fail(
                f'unknown segment "{name}"',
                name_token,
                hint=f"Named segments ([segments] in commskit.toml): {known}",
            )
        if name in self.stack:
            cycle = " → ".join([*self.stack[self.stack.index(name) :], name])
            raise self.fail(
                f"segment cycle {cycle}",
                name_token,
                hint="A named segment cannot refer to itself, even through others",
            )
        try:
            inner = _Parser(self.segments[name], self.segments, (*self.stack, name))
            sql = inner.parse()
        except SegmentError as exc:
            raise self.fail(
                f'in segment "{name}" ({exc.message.removeprefix("segment: ")})',
                name_token,
                hint="Fix that segment in commskit.toml [segments]",
            ) from None
        self.params.extend(inner.params)
        return f"({sql})"

    def operand(self) -> tuple[str, str]:
        """Parse a field or attribute; return its SQL value and the SQL of its folded value."""
        token = self.advance()
        word = token.value
        lower = word.lower()
        if lower == "attr" and self.at_op("("):
            self.advance()
            key_token = self.expect_string("in attr(…)")
            self.expect_op(")", "to close attr(…)")
            return self.attribute(key_token)
        if lower == "attributes" and self.at_op("."):
            self.advance()
            key_token = self.current
            if key_token.kind not in ("ident", "string", "number"):
                raise self.fail("expected an attribute name after attributes.")
            self.advance()
            return self.attribute(key_token)
        if word in SEGMENT_FIELDS:
            return SEGMENT_FIELDS[word], folded_column(word)
        if lower in SEGMENT_FIELDS:
            return SEGMENT_FIELDS[lower], folded_column(lower)
        close = difflib.get_close_matches(lower, list(SEGMENT_FIELDS), n=1)
        hint = f'Did you mean "{close[0]}"? ' if close else ""
        raise self.fail(
            f'unknown field "{word}"',
            token,
            hint=f"{hint}Fields: {', '.join(SEGMENT_FIELDS)}; for an imported column use "
            f'attr("{word}") or tag("…") for a tag',
        )

    def attribute(self, key_token: Token) -> tuple[str, str]:
        key = slug(key_token.value)
        if not key:
            raise self.fail("empty attribute name", key_token)
        # the JSON path is bound too; slug() leaves only [a-z0-9_] so it needs no quoting
        self.params.append(f'$."{key}"')
        column = "coalesce(CAST(json_extract(c.attributes, ?) AS TEXT), '')"
        # attributes are free-form JSON with no stored folded copy: fold them per row in Python
        # (the folded form holds the same single ? as the column, so parameters keep their order)
        return column, f"{FOLD_SQL}({column})"

    def value(self) -> Token:
        token = self.current
        if token.kind in ("string", "number"):
            return self.advance()
        hint = 'Quote text values, e.g. region = "Bretagne"'
        raise self.fail(f"expected a quoted value, found {self.describe(token)}", hint=hint)

    def condition(self) -> str:
        operand_token = self.current
        # the operand may bind parameters (attr path): take them before the value's
        operand_params = len(self.params)
        column, folded = self.operand()
        negate = False
        if self.at_keyword("not"):
            self.advance()
            negate = True
            if not (self.at_keyword("in") or self.at_keyword(*_TEXT_TESTS)):
                raise self.fail('expected "in", "contains", "startswith" or "endswith" after not')
        if self.at_keyword("in"):
            self.advance()
            self.expect_op("(", 'after "in"')
            values = [self.value().value]
            while self.at_op(","):
                self.advance()
                if self.at_op(")"):
                    break
                values.append(self.value().value)
            self.expect_op(")", "to close the list")
            self.params.extend(values)
            marks = ", ".join("?" for _ in values)
            return f"({column} {'NOT IN' if negate else 'IN'} ({marks}))"
        if self.at_keyword(*_TEXT_TESTS):
            test = self.advance().value.lower()
            needle = fold(self.value().value)
            if not needle:
                # every text contains, starts and ends with the empty text; the condition no
                # longer names the operand, so its bound attribute path must go too
                del self.params[operand_params:]
                return "(NOT 1)" if negate else "1"
            sql = self.text_test(folded, test, needle)
            return f"(NOT {sql})" if negate else sql
        if self.at_keyword("is"):
            self.advance()
            empty_negated = False
            if self.at_keyword("not"):
                self.advance()
                empty_negated = True
            if not self.at_keyword("empty"):
                raise self.fail(f'expected "empty" after "is", found {self.describe(self.current)}')
            self.advance()
            return f"({column} {'!=' if empty_negated else '='} '')"
        if self.current.kind == "op" and self.current.value in ("=", "==", "!=", "<>", "~", "!~"):
            op = self.advance().value
            value = self.value()
            if op in ("~", "!~"):
                self.params.append(fold(value.value))
                sql_op = "=" if op == "~" else "!="
                return f"({folded} {sql_op} ?)"
            self.params.append(value.value)
            return f"({column} {'=' if op in ('=', '==') else '!='} ?)"
        if self.current.kind == "op" and self.current.value in ("<", "<=", ">", ">="):
            op = self.advance().value
            value = self.value()
            if value.kind == "number":
                self.params.append(float(value.value))
                # empty means unknown: it is neither below nor above any number
                return f"coalesce(CAST(nullif({column}, '') AS REAL) {op} ?, 0)"
            self.params.append(value.value)
            return f"({column} {op} ?)"
        raise self.fail(
            f"expected a comparison after {self.describe(operand_token)}, "
            f"found {self.describe(self.current)}",
            hint="Use =, !=, ~, <, >, in (…), not in (…), contains, startswith, is empty",
        )

    def text_test(self, folded: str, test: str, needle: str) -> str:
        """Return SQL testing the folded value against the (already folded) needle.

        instr() and substr() compare characters exactly, so ``%``, ``_`` or ``\\`` in the
        needle need no escaping as they would with LIKE.
        """
        if test == "contains":
            self.params.append(needle)
            return f"(instr({folded}, ?) > 0)"
        if test == "startswith":
            self.params.extend([len(needle), needle])
            return f"(substr({folded}, 1, ?) = ?)"
        self.params.extend([-len(needle), needle])
        return f"(substr({folded}, ?) = ?)"


def compile_segment(
    expression: str,
    segments: Mapping[str, str] | None = None,
) -> CompiledSegment:
    """Compile an expression, or the name of a segment in ``segments``, to SQL.

    >>> compiled = compile_segment('kind = "AOM" and tag("webinaire-2026")')
    >>> compiled.params
    ('AOM', 'webinaire-2026')

    Raises :class:`~commskit.errors.SegmentError` with ``position`` set (0-based, in the
    expression as given) for a syntax error, an unknown field, an unknown segment or a cycle.
    """
    segments = segments or {}
    name = expression.strip()
    if name in segments:
        try:
            parser = _Parser(segments[name], segments, (name,))
            where = parser.parse()
        except SegmentError as exc:
            raise SegmentError(
                f'in segment "{name}" of commskit.toml: {exc.message.removeprefix("segment: ")}',
                position=exc.position,
                hint=exc.hint or "Fix it in commskit.toml [segments]",
            ) from None
        return CompiledSegment(segments[name], where, tuple(parser.params), name)
    parser = _Parser(expression, segments, ())
    where = parser.parse()
    return CompiledSegment(expression, where, tuple(parser.params), None)
