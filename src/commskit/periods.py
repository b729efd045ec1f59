"""The ``since`` grammar of digests and veille sections: durations, dates, ``all`` and ``last``.

A foundation module (it imports only :mod:`commskit.errors`), so settings can check
``[digest] since`` when they are read without importing the veille stage.

``since`` is a duration (``7d``, ``24h``, ``2w``, ``90m``), a date (``2026-11-01``), a datetime,
``"all"`` (everything stored) or ``"last"`` (the end of the last marked digest, which only the
digest itself can resolve).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from .errors import DigestError

#: The start of ``since="all"``.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | datetime | date, now: datetime) -> datetime:
    """Turn a ``since`` value (7d, 24h, 2w, 2026-11-01, all, a datetime) into a UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    if text.lower() == "all":
        return EPOCH
    match = _DURATION.match(text)
    if match:
        amount = float(match.group(1))
        return now - timedelta(**{_UNITS[match.group(2).lower()]: amount})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DigestError(
            f"cannot understand --since {text!r}",
            hint="Use a duration (7d, 24h, 2w), a date (2026-11-01), 'last' or 'all'",
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_since(value: str, *, what: str = "--since") -> None:
    """Raise DigestError naming ``what`` unless ``value`` is a valid ``since`` (or ``last``)."""
    if value.strip().lower() == "last":
        return
    try:
        parse_since(value, datetime.now(UTC))
    except DigestError as exc:
        raise DigestError(exc.message.replace("--since", what), hint=exc.hint) from exc
