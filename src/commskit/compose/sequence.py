"""Sequence files: ``sequences/NAME.toml``, a follow-up written as text, checked with file and line.

TOML, like ``commskit.toml`` and ``events/*.toml``: a sequence is settings (an audience, exit
clauses, steps with delays), not prose, and each step's text is already a campaign file. Example::

    title = "Relance des AOM invitées au webinaire"
    audience = 'kind = "AOM" and invited("webinaire-tableau-de-bord") and stage != "joined"'
    exit = ['stage = "joined"', "replied", 'unsubscribed("infolettre")']

    [[steps]]
    campaign = "relance-webinaire-1"
    delay = "0d"                 # after entry

    [[steps]]
    campaign = "relance-webinaire-2"
    delay = "7d"                 # after the previous step
    condition = 'not received("2026-12-webinaire")'

Every expression is compiled when the file is read, so an unknown predicate or field stops the
run before anything is sent, naming the file and line (docs/sequences.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..audience.segments import compile_segment
from ..config import read_toml
from ..errors import SegmentError, SequenceError

_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FIELDS = ("title", "audience", "exit", "steps", "paused")
STEP_FIELDS = ("campaign", "delay", "after", "condition")


@dataclass(frozen=True)
class Step:
    """One step: a campaign file sent ``delay`` after entry or after the previous step."""

    number: int  # 1-based
    campaign: str
    delay: timedelta
    #: "previous" (the previous step's due time) or "entry"
    after: str = "previous"
    condition: str | None = None

    def campaign_id(self, sequence: str) -> str:
        """The send-log id of this step: exactly-once per contact and step."""
        return f"seq:{sequence}:{self.number}"


@dataclass(frozen=True)
class SequenceSpec:
    """A parsed ``sequences/NAME.toml``."""

    name: str
    path: Path
    title: str
    audience: str
    exit: tuple[str, ...]
    steps: tuple[Step, ...]
    #: ``paused = true``: `commskit run` leaves it alone (the shipped example starts paused)
    paused: bool = False
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)


def parse_delay(text: str) -> timedelta:
    """Parse ``7d``, ``36h``, ``2w``, ``30m``; raise ValueError otherwise."""
    match = _DELAY.match(text)
    if not match:
        raise ValueError(text)
    return timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})


def key_lines(text: str) -> dict[str, int]:
    """Map ``key`` and ``steps.N.key`` (N 0-based) to their line, for error messages."""
    found: dict[str, int] = {}
    table = ""
    index = -1
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[[steps]]"):
            index += 1
            table = f"steps.{index}"
            found[table] = number
            continue
        match = re.match(r"\"?([A-Za-z_]+)\"?\s*=", stripped)
        if match:
            key = f"{table}.{match.group(1)}" if table else match.group(1)
            found.setdefault(key, number)
    return found


class _Reader:
    """Validate one file's data, every error naming the file and the line of its key."""

    def __init__(self, path: Path, lines: Mapping[str, int], segments: Mapping[str, str]) -> None:
        self.path = path
        self.lines = lines
        self.segments = segments

    def fail(self, key: str, message: str, hint: str | None = None) -> SequenceError:
        line = self.lines.get(key) or self.lines.get(key.rsplit(".", 1)[0])
        return SequenceError(message, path=self.path, line=line, hint=hint)

    def text(self, data: Mapping[str, Any], key: str, where: str, *, required: bool) -> str | None:
        value = data.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                raise self.fail(where or key, f"{key} is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"{key} must be a non-empty text")
        return value

    def expression(self, key: str, value: str, label: str | None = None) -> str:
        try:
            compile_segment(value, self.segments)
        except SegmentError as exc:
            raise self.fail(key, f"{label or key}: {exc.message}", exc.hint) from exc
        return value

    def exits(self, raw: Any) -> tuple[str, ...]:
        if raw is None:
            return ()
        values = [raw] if isinstance(raw, str) else raw
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.fail("exit", "exit must be a text or a list of texts")
        return tuple(self.expression("exit", v) for v in values)

    def step(self, raw: Any, index: int, campaign_exists: Callable[[str], bool]) -> Step:
        where = f"steps.{index}"
        if not isinstance(raw, dict):
            raise self.fail(where, f"step {index + 1} must be a [[steps]] table")
        for key in raw:
            if key not in STEP_FIELDS:
                raise self.fail(
                    f"{where}.{key}",
                    f"unknown key {key!r} in step {index + 1}",
                    f"Known keys: {', '.join(STEP_FIELDS)}",
                )
        campaign = self.text(raw, f"{where}.campaign", where, required=True) or ""
        if not campaign_exists(campaign):
            raise self.fail(
                f"{where}.campaign",
                f"step {index + 1}: no campaign file {campaign!r}",
                "Create campaigns/" + campaign + ".md, or fix the name",
            )
        delay_text = self.text(raw, f"{where}.delay", where, required=True) or ""
        try:
            delay = parse_delay(delay_text)
        except ValueError as exc:
            raise self.fail(
                f"{where}.delay",
                f"step {index + 1}: cannot understand delay {delay_text!r}",
                "Write a number and a unit: 30m, 36h, 7d, 2w",
            ) from exc
        after = raw.get("after", "previous")
        if after not in ("previous", "entry"):
            raise self.fail(f"{where}.after", f"step {index + 1}: after must be previous or entry")
        condition = self.text(raw, f"{where}.condition", where, required=False)
        if condition is not None:
            self.expression(f"{where}.condition", condition, f"step {index + 1} condition")
        return Step(index + 1, campaign, delay, after, condition)


def load_sequence(
    path: Path,
    *,
    campaign_exists: Callable[[str], bool],
    segments: Mapping[str, str] | None = None,
) -> SequenceSpec:
    """Read and check a sequence file; raise SequenceError naming the file and line."""
    data, text = read_toml(
        path, error=SequenceError, what="the sequence file", docs="docs/sequences.md"
    )
    name = path.stem
    lines = key_lines(text)
    reader = _Reader(path, lines, segments or {})
    if not _NAME.match(name):
        raise SequenceError(f"sequence name {name!r} is not a plain file name", path=path)
    for key in data:
        if key not in FIELDS:
            raise reader.fail(key, f"unknown key {key!r}", f"Known keys: {', '.join(FIELDS)}")
    audience = reader.text(data, "audience", "", required=True) or ""
    reader.expression("audience", audience)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise reader.fail("steps", "a sequence needs at least one [[steps]] table")
    steps = tuple(reader.step(raw, i, campaign_exists) for i, raw in enumerate(raw_steps))
    title = data.get("title")
    paused = data.get("paused", False)
    if not isinstance(paused, bool):
        raise reader.fail("paused", "paused must be true or false")
    return SequenceSpec(
        name=name,
        path=path,
        title=title if isinstance(title, str) else name,
        audience=audience,
        exit=reader.exits(data.get("exit")),
        steps=steps,
        paused=paused,
        lines=lines,
    )
