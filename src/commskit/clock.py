"""The one clock: what "now" is for scheduled work, reminders, sequences and pages.

``COMMSKIT_NOW`` (an ISO 8601 instant with an offset, e.g. ``2026-12-15T09:00:00+01:00``) pins
it, so tests and ``commskit run --dry-run`` can move time forward without sleeping. Library code
that needs the time takes a ``now`` argument and falls back to :func:`now`.
"""

from __future__ import annotations

import datetime as dt
import os

from .errors import ConfigError

#: The environment variable that pins the clock.
ENV = "COMMSKIT_NOW"


def now() -> dt.datetime:
    """Return the current instant (timezone-aware, UTC), or the one ``COMMSKIT_NOW`` pins."""
    pinned = os.environ.get(ENV, "").strip()
    if not pinned:
        return dt.datetime.now(dt.UTC)
    return parse_instant(pinned, what=ENV)


def parse_instant(text: str, *, what: str) -> dt.datetime:
    """Parse an ISO 8601 instant that carries an offset (``Z`` allowed) into UTC."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"{what} is not an ISO 8601 time: {text!r}",
            hint="Write it like 2026-12-15T09:00:00+01:00",
        ) from exc
    if value.tzinfo is None:
        raise ConfigError(
            f"{what} has no UTC offset: {text!r}",
            hint="Add the offset, e.g. 2026-12-15T09:00:00+01:00 (or Z for UTC)",
        )
    return value.astimezone(dt.UTC)
