"""The segment language: a small, safe expression language compiled to parameterised SQL.

Example::

    kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"
        and tag("webinaire-2026")

The grammar is in ``docs/segments.md``. A hand-written tokenizer and recursive-descent parser turn
the text into a SQL ``WHERE`` fragment over the ``contacts`` table (alias ``c``): every value is a
bound parameter, every field name comes from an allow-list, so no text of the expression is ever
executed. Errors carry the position of the mistake (:attr:`SegmentError.position`, 0-based) and
show it in the one-line message.

The work is bounded whatever the text: nesting (parentheses, ``not``, segment references) stops at
:data:`MAX_DEPTH` levels, an expression with its named segments expanded holds at most
:data:`MAX_CONDITIONS` conditions and :data:`MAX_VALUES` bound values, each named segment is parsed
once per compilation however often it is referred to, and long ``and``/``or`` chains are emitted as
groups so SQLite's expression depth limit (1,000) is never reached.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import clock
from ..errors import CommskitError, SegmentError
from ..periods import parse_since
from .contacts import FOLD_SQL, FOLDED_FIELDS, fold, normalise_tag, slug

#: Fields an expression may name, mapped to their SQL column (the allow-list): the folded ones
#: and the store's timestamps.
SEGMENT_FIELDS: Mapping[str, str] = {
    name: f"c.{name}" for name in (*FOLDED_FIELDS, "created_at", "updated_at")
}

#: Fields always written by the store as ISO 8601 timestamps (ASCII): SQLite's ASCII-only
#: lower() folds them exactly as :func:`fold` does.
_ASCII_FIELDS = frozenset(SEGMENT_FIELDS) - frozenset(FOLDED_FIELDS)


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
#: event predicates -> the condition on the person's registration row (migration 0016):
#: registered counts whoever registered and did not cancel, whether they came or not
EVENT_TESTS: Mapping[str, str] = {
    "invited": "r.invited_at != ''",
    "registered": "r.registered_at != '' AND r.status IN ('registered', 'attended', 'no-show')",
    "attended": "r.status = 'attended'",
}

#: activity predicates -> (the contact's column, the subquery of the matching values over what
#: partners did, the SQL of its optional quoted argument, the SQL of its time column for a
#: window). ``column IN (subquery)`` is evaluated once per statement over an index (migration
#: 0024), not once per contact: no Python runs per row. Each subquery drops NULLs, or
#: ``not replied`` would select nobody (NOT IN over a NULL is unknown).
ACTIVITY_TESTS: Mapping[str, tuple[str, str, str, str]] = {
    # a message of that campaign (or any) went out to the contact
    "received": (
        "c.id",
        "SELECT s.contact_id FROM send_log s WHERE s.status = 'sent' AND s.contact_id IS NOT NULL",
        "s.campaign_id = ?",
        "s.sent_at",
    ),
    # the inbox recorded a reply (never an auto-reply) to that campaign (or any)
    "replied": (
        "c.id",
        "SELECT m.contact_id FROM inbox_messages m WHERE m.kind = 'reply'"
        " AND m.contact_id IS NOT NULL",
        "m.campaign_id = ?",
        "m.received_at",
    ),
    # a hard or soft bounce of the contact's address (of that campaign, or any)
    "bounced": (
        "c.email_hash",
        "SELECT b.email_hash FROM bounce_events b WHERE b.kind IN ('hard', 'soft')"
        " AND b.email_hash IS NOT NULL",
        "b.campaign_id = ?",
        "b.received_at",
    ),
    # unsubscribed from that list (or from every list, which covers it), or from any list
    "unsubscribed": (
        "c.email_hash",
        "SELECT u.email_hash FROM suppressions u WHERE u.reason = 'unsubscribed'",
        "u.list_name IN (?, '')",
        "u.created_at",
    ),
    # the stage changed (to that value, or to any), as imports and edits recorded it
    "stage_changed": (
        "c.id",
        "SELECT h.contact_id FROM contact_changes h WHERE h.field = 'stage'",
        "h.new_value = ?",
        "h.changed_at",
    ),
}
#: the words that open an activity predicate's window
_WINDOWS = ("within", "since")

#: Deepest nesting of parentheses, ``not`` and ``segment(…)`` references (each costs a few Python
#: frames and SQL levels; real expressions stay under 10).
MAX_DEPTH = 12
#: Most conditions (comparisons, ``tag(…)``, ``all``) an expression may hold once its named
#: segments are expanded: named segments that refer to others twice double at each level.
MAX_CONDITIONS = 5000
#: Most values an expression may bind (SQLite accepts 32,766 parameters per statement).
MAX_VALUES = 20000
#: Terms joined in one flat chain before the chain is split into groups (see _joined).
_FLAT_TERMS = 32
#: A whole expression that is only this shape is taken as the name of a segment.
_NAME_LIKE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


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
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?)?(?![A-Za-z0-9_]))
  | (?P<duration>\d+(?:\.\d+)?(?:min|m|h|d|w)(?![A-Za-z0-9_]))
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>!=|<>|!~|<=|>=|==|=|~|<|>|\(|\)|,|\.)
    """,
    re.VERBOSE,
)


_CONTEXT = 60


def _pointed(expression: str, position: int) -> str:
    """Return the expression on one line with ``»`` marking the position.

    A long expression is cut to the text around the position, so the message stays one
    readable line.
    """
    flat = " ".join(expression.splitlines())
    before, after = flat[:position], flat[position:]
    if len(before) > _CONTEXT:
        before = "…" + before[-_CONTEXT:]
    if len(after) > _CONTEXT:
        after = after[:_CONTEXT] + "…"
    return f"{before}»{after}"


def _error_text(expression: str, message: str, position: int) -> str:
    return f"segment: {message} at column {position + 1}: {_pointed(expression, position)}"


def _error(expression: str, message: str, position: int, hint: str | None = None) -> SegmentError:
    return SegmentError(_error_text(expression, message, position), position=position, hint=hint)


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


class _InSegmentError(SegmentError):
    """A SegmentError from inside named segments: which ones, and the innermost reason."""

    def __init__(self, message: str, *, chain: tuple[str, ...], detail: str, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.chain = chain
        self.detail = detail


def _chain_text(chain: tuple[str, ...]) -> str:
    names = [f'"{name}"' for name in chain]
    if len(names) > 6:
        names = [*names[:3], "…", *names[-2:]]
    return " → ".join(names)


def _known_segments(segments: Mapping[str, str], name: str) -> str:
    """Return the hint for an unknown segment name: the closest names, then every name."""
    close = difflib.get_close_matches(name, list(segments), n=1)
    guess = f'Did you mean "{close[0]}"? ' if close else ""
    known = ", ".join(sorted(segments)) or "none"
    return f"{guess}Known segments: {known} ([segments] in commskit.toml)"


def _joined(parts: list[str], op: str) -> str:
    """Join terms with AND/OR; a long chain as one flat chain of flat groups.

    SQLite parses ``a OR b OR c …`` as a left-deep tree and refuses trees deeper than 1,000, and
    its parser overflows at about 40 nested parentheses: groups of about √n terms, side by side,
    keep the tree about 2√n deep (≤ 150 for :data:`MAX_CONDITIONS`) with one level of
    parentheses. The terms keep their order, so their bound parameters do too.
    """
    if len(parts) == 1:
        return parts[0]
    if len(parts) <= _FLAT_TERMS:
        return "(" + f" {op} ".join(parts) + ")"
    size = math.isqrt(len(parts) - 1) + 1
    groups = [parts[i : i + size] for i in range(0, len(parts), size)]
    return "(" + f" {op} ".join("(" + f" {op} ".join(g) + ")" for g in groups) + ")"


@dataclass
class _Compilation:
    """What the parsers of one compilation share: the named segments and those already done."""

    segments: Mapping[str, str]
    #: the instant windows (``within 30d``) count back from
    now: datetime = field(default_factory=clock.now)
    #: name -> (SQL, parameters, conditions, levels it nests), each named segment parsed once
    done: dict[str, tuple[str, tuple[object, ...], int, int]] = field(default_factory=dict)


class _Parser:
    """Recursive-descent parser emitting SQL as it goes (the grammar is in docs/segments.md)."""

    def __init__(
        self,
        expression: str,
        shared: _Compilation,
        stack: tuple[str, ...],
        depth: int = 0,
    ) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.index = 0
        self.shared = shared
        self.segments = shared.segments
        self.stack = stack
        self.depth = depth
        self.peak = depth  # the deepest level reached, to reuse a compiled segment elsewhere
        self.params: list[object] = []
        self.conditions = 0
        #: each tag test's SQL listing the tagged contacts -> its SQL probing one contact
        self.tag_forms: dict[str, str] = {}

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

    # --- bounds -----------------------------------------------------------------------------

    def enter(self, token: Token) -> None:
        """Go one level deeper (parenthesis, not, segment reference), or refuse."""
        if self.depth >= MAX_DEPTH:
            raise self.fail(
                f"expression nested more than {MAX_DEPTH} levels deep",
                token,
                hint="Remove redundant parentheses and not's; named segments that refer to "
                "each other count as levels too",
            )
        self.depth += 1
        self.peak = max(self.peak, self.depth)

    def count(self, conditions: int, token: Token) -> None:
        """Add conditions to this expression's total, or refuse past MAX_CONDITIONS."""
        self.conditions += conditions
        if self.conditions > MAX_CONDITIONS:
            raise self.fail(
                f"more than {MAX_CONDITIONS} conditions once named segments are expanded",
                token,
                hint="Named segments that refer to others several times multiply: simplify "
                "[segments] in commskit.toml, or list values with in (…)",
            )

    def bind(self, *values: object) -> None:
        """Add bound parameters, or refuse past MAX_VALUES."""
        self.params.extend(values)
        if len(self.params) > MAX_VALUES:
            raise self.fail(
                f"more than {MAX_VALUES} values",
                hint="Split the list into several segments, or tag the contacts instead",
            )

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
        return _joined(parts, "OR")

    def and_expr(self) -> str:
        parts = [self.unary()]
        while self.at_keyword("and"):
            self.advance()
            parts.append(self.unary())
        if len(parts) > 1 and any(p not in self.tag_forms and "SELECT" not in p for p in parts):
            # beside a field condition (which an index narrows), a tag is tested per candidate
            # (one primary-key probe each) instead of listing every contact with that tag
            # first: 15 ms instead of 95 ms for "4 conditions and a tag" over 1,000,000 contacts
            parts = [self.tag_forms.get(p, p) for p in parts]
        return _joined(parts, "AND")

    def unary(self) -> str:
        if self.at_keyword("not"):
            self.enter(self.advance())
            sql = f"(NOT {self.unary()})"
            self.depth -= 1
            return sql
        return self.primary()

    def primary(self) -> str:
        token = self.current
        if self.at_op("("):
            self.enter(self.advance())
            sql = self.or_expr()
            self.expect_op(")", "to close the parenthesis")
            self.depth -= 1
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
            self.count(1, self.advance())
            return "1"
        if word == "tag" and is_call:
            self.count(1, token)
            return self.tag_test()
        if word == "segment" and is_call:
            return self.segment_ref()
        if word in EVENT_TESTS and is_call:
            self.count(1, token)
            return self.event_test(word)
        if word in ACTIVITY_TESTS:
            self.count(1, token)
            return self.activity_test(word, is_call)
        if is_call and word not in _CALLS:
            raise self.fail(
                f'unknown predicate "{token.value}(…)"',
                token,
                hint=f"{_did_you_mean(word, _PREDICATES)}Predicates: "
                + ", ".join(f"{name}(…)" for name in sorted(_PREDICATES)),
            )
        self.count(1, token)
        return self.condition()

    def tag_test(self) -> str:
        self.advance()
        self.expect_op("(", "after tag")
        tags = [normalise_tag(self.expect_string("in tag(…)").value)]
        while self.at_op(","):
            self.advance()
            tags.append(normalise_tag(self.expect_string("in tag(…)").value))
        self.expect_op(")", "to close tag(…)")
        self.bind(*tags)
        marks = ", ".join("?" for _ in tags)
        listed = f"c.id IN (SELECT contact_id FROM contact_tags WHERE tag IN ({marks}))"  # noqa: S608
        # the same test per contact, with the same parameters in the same order (and_expr)
        self.tag_forms[listed] = (
            "EXISTS (SELECT 1 FROM contact_tags t"  # noqa: S608 - only ? marks
            f" WHERE t.tag IN ({marks}) AND t.contact_id = c.id)"
        )
        return listed

    def event_test(self, word: str) -> str:
        """``invited("NAME")``, ``registered("NAME")``, ``attended("NAME")``: a person's
        standing for the event of ``events/NAME.toml`` (store: event_registrations)."""
        self.advance()
        self.expect_op("(", f"after {word}")
        name = self.expect_string(f"in {word}(…)").value
        self.expect_op(")", f"to close {word}(…)")
        self.bind(name)
        return (
            "c.id IN (SELECT r.contact_id FROM event_registrations r"  # noqa: S608 - constants
            f" JOIN events e ON e.id = r.event_id WHERE e.name = ? AND {EVENT_TESTS[word]})"
        )

    def activity_test(self, word: str, is_call: bool) -> str:
        """``replied``, ``received("CAMPAIGN")``, ``bounced``, ``unsubscribed("LIST")``,
        ``stage_changed("joined")``…, each with an optional ``within 30d`` / ``since DATE``:
        ``column IN (subquery)`` over what partners did (ACTIVITY_TESTS)."""
        self.advance()
        column, subquery, argument, moment = ACTIVITY_TESTS[word]
        parts = [subquery]
        if is_call:
            self.expect_op("(", f"after {word}")
            self.bind(self.expect_string(f"in {word}(…)").value)
            self.expect_op(")", f"to close {word}(…)")
            parts.append(argument)
        if self.at_keyword(*_WINDOWS):
            self.bind(self.window())
            parts.append(f"{moment} >= ?")
        return f"{column} IN ({' AND '.join(parts)})"

    def window(self) -> str:
        """Parse ``within 30d`` or ``since 2026-11-01`` (or ``since 7d``); return the start as
        the store's ISO 8601 UTC text (periods.parse_since reads it)."""
        keyword = self.advance().value.lower()
        token = self.current
        allowed = ("duration",) if keyword == "within" else ("duration", "date", "string")
        if token.kind not in allowed:
            example = "within 30d" if keyword == "within" else "since 2026-11-01"
            raise self.fail(
                f"expected a {'duration' if keyword == 'within' else 'date or duration'} "
                f'after "{keyword}", found {self.describe(token)}',
                hint=f"Write e.g. {example} (units: m, h, d, w)",
            )
        self.advance()
        try:
            start = parse_since(token.value, self.shared.now)
        except CommskitError as exc:
            raise self.fail(
                f"cannot understand {keyword} {token.value!r}",
                token,
                hint="Use a duration (30d, 2w, 24h) or a date (2026-11-01)",
            ) from exc
        return start.astimezone(UTC).isoformat(timespec="seconds")

    def segment_ref(self) -> str:
        self.advance()
        self.expect_op("(", "after segment")
        name_token = self.expect_string("in segment(…)")
        self.expect_op(")", "to close segment(…)")
        name = name_token.value
        if name not in self.segments:
            raise self.fail(
                f'no segment named "{name}"',
                name_token,
                hint=_known_segments(self.segments, name),
            )
        if name in self.stack:
            cycle = " → ".join([*self.stack[self.stack.index(name) :], name])
            raise self.fail(
                f"segment cycle {cycle}",
                name_token,
                hint="A named segment cannot refer to itself, even through others",
            )
        done = self.shared.done.get(name)
        if done is not None:
            # compiled already, maybe less deep: it must fit where it is used now too
            start = self.depth
            for _ in range(done[3] + 1):
                self.enter(name_token)
            self.depth = start
        else:
            self.enter(name_token)
            start = self.depth
            try:
                inner = _Parser(self.segments[name], self.shared, (*self.stack, name), self.depth)
                sql = inner.parse()
                done = (sql, tuple(inner.params), inner.conditions, inner.peak - start)
            except SegmentError as exc:
                chain = (name, *exc.chain) if isinstance(exc, _InSegmentError) else (name,)
                detail = (
                    exc.detail
                    if isinstance(exc, _InSegmentError)
                    else exc.message.removeprefix("segment: ")
                )
                raise _InSegmentError(
                    _error_text(
                        self.expression,
                        f"in segment {_chain_text(chain)} ({detail})",
                        name_token.position,
                    ),
                    chain=chain,
                    detail=detail,
                    position=name_token.position,
                    hint=exc.hint or "Fix that segment in commskit.toml [segments]",
                ) from exc
            self.peak = max(self.peak, inner.peak)
            self.depth -= 1
            self.shared.done[name] = done
        sql, params, conditions, _ = done
        self.count(conditions, name_token)
        self.bind(*params)
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
        self.bind(f'$."{key}"')
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
            return self.in_list(column, negate)
        if self.at_keyword(*_TEXT_TESTS):
            return self.text_condition(folded, negate, operand_params)
        if self.at_keyword("is"):
            return self.is_empty(column)
        if self.current.kind == "op" and self.current.value in ("=", "==", "!=", "<>", "~", "!~"):
            return self.equality(column, folded)
        if self.current.kind == "op" and self.current.value in ("<", "<=", ">", ">="):
            return self.ordering(column)
        raise self.fail(
            f"expected a comparison after {self.describe(operand_token)}, "
            f"found {self.describe(self.current)}",
            hint="Use =, !=, ~, <, >, in (…), not in (…), contains, startswith, is empty",
        )

    def in_list(self, column: str, negate: bool) -> str:
        """Compile ``in (…)`` / ``not in (…)`` (at ``in``)."""
        self.advance()
        self.expect_op("(", 'after "in"')
        values = [self.value().value]
        while self.at_op(","):
            self.advance()
            if self.at_op(")"):
                break
            values.append(self.value().value)
        self.expect_op(")", "to close the list")
        self.bind(*values)
        marks = ", ".join("?" for _ in values)
        return f"({column} {'NOT IN' if negate else 'IN'} ({marks}))"

    def text_condition(self, folded: str, negate: bool, operand_params: int) -> str:
        """Compile ``contains`` / ``startswith`` / ``endswith`` (at the keyword)."""
        test = self.advance().value.lower()
        needle = fold(self.value().value)
        if not needle:
            # every text contains, starts and ends with the empty text; the condition no
            # longer names the operand, so its bound attribute path must go too
            del self.params[operand_params:]
            return "(NOT 1)" if negate else "1"
        sql = self.text_test(folded, test, needle)
        return f"(NOT {sql})" if negate else sql

    def is_empty(self, column: str) -> str:
        """Compile ``is empty`` / ``is not empty`` (at ``is``)."""
        self.advance()
        empty_negated = False
        if self.at_keyword("not"):
            self.advance()
            empty_negated = True
        if not self.at_keyword("empty"):
            raise self.fail(f'expected "empty" after "is", found {self.describe(self.current)}')
        self.advance()
        return f"({column} {'!=' if empty_negated else '='} '')"

    def equality(self, column: str, folded: str) -> str:
        """Compile ``=``, ``!=`` and the accent- and case-blind ``~``, ``!~`` (at the operator)."""
        op = self.advance().value
        value = self.value()
        if op in ("~", "!~"):
            self.bind(fold(value.value))
            sql_op = "=" if op == "~" else "!="
            return f"({folded} {sql_op} ?)"
        self.bind(value.value)
        return f"({column} {'=' if op in ('=', '==') else '!='} ?)"

    def ordering(self, column: str) -> str:
        """Compile ``<``, ``<=``, ``>``, ``>=``: numbers compare as numbers (at the operator)."""
        op = self.advance().value
        value = self.value()
        if value.kind == "number":
            self.bind(float(value.value))
            # empty means unknown: it is neither below nor above any number
            return f"coalesce(CAST(nullif({column}, '') AS REAL) {op} ?, 0)"
        self.bind(value.value)
        return f"({column} {op} ?)"

    def text_test(self, folded: str, test: str, needle: str) -> str:
        """Return SQL testing the folded value against the (already folded) needle.

        instr() and substr() compare characters exactly, so ``%``, ``_`` or ``\\`` in the
        needle need no escaping as they would with LIKE.
        """
        if test == "contains":
            self.bind(needle)
            return f"(instr({folded}, ?) > 0)"
        if test == "startswith":
            self.bind(len(needle), needle)
            return f"(substr({folded}, 1, ?) = ?)"
        self.bind(-len(needle), needle)
        return f"(substr({folded}, ?) = ?)"


def compile_segment(
    expression: str,
    segments: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
) -> CompiledSegment:
    """Compile an expression, or the name of a segment in ``segments``, to SQL.

    >>> compiled = compile_segment('kind = "AOM" and tag("webinaire-2026")')
    >>> compiled.params
    ('AOM', 'webinaire-2026')

    Raises :class:`~commskit.errors.SegmentError` with ``position`` set (0-based, in the
    expression as given) for a syntax error, an unknown field, an unknown segment, a cycle, or an
    expression past the bounds (:data:`MAX_DEPTH`, :data:`MAX_CONDITIONS`, :data:`MAX_VALUES`).
    Activity windows (``replied within 30d``) count back from ``now`` (default: the clock).
    """
    segments = segments or {}
    shared = _Compilation(segments, now or clock.now())
    name = expression.strip()
    if name in segments:
        try:
            parser = _Parser(segments[name], shared, (name,))
            where = parser.parse()
        except SegmentError as exc:
            raise SegmentError(
                f'in segment "{name}" of commskit.toml: {exc.message.removeprefix("segment: ")}',
                position=exc.position,
                hint=exc.hint or "Fix it in commskit.toml [segments]",
            ) from exc
        return CompiledSegment(segments[name], where, tuple(parser.params), name)
    if _looks_like_a_name(name):
        raise SegmentError(
            f'segment: no segment named "{name}"',
            position=0,
            hint=f"{_known_segments(segments, name)}; an expression compares a field, "
            'e.g. kind = "AOM"',
        )
    parser = _Parser(expression, shared, ())
    where = parser.parse()
    return CompiledSegment(expression, where, tuple(parser.params), None)


def _looks_like_a_name(text: str) -> bool:
    """Tell whether a whole expression is a bare word meant as a segment name, not a field."""
    if not _NAME_LIKE.match(text):
        return False
    word = text.lower()
    return (
        word not in SEGMENT_FIELDS
        and word not in _KEYWORDS
        and word not in _CALLS
        and word not in ACTIVITY_TESTS
    )


_CALLS = frozenset({"tag", "segment", "attr", "attributes"})
#: every name that may be called like a function, for the unknown-predicate hint
_PREDICATES = frozenset({"tag", "segment", "attr", *EVENT_TESTS, *ACTIVITY_TESTS})


def _did_you_mean(word: str, names: frozenset[str]) -> str:
    close = difflib.get_close_matches(word, sorted(names), n=1)
    return f'Did you mean "{close[0]}"? ' if close else ""
