"""The veille digest's send: its period key and its recipients (the use case: app/sending.py).

The digest is compiled like a campaign (``ws.compile_digest``) and sent to
``[digest] recipients`` (plain addresses) and/or ``[digest] segment`` (contacts). Its send-log id
is the digest name plus the period (``veille-2026-W47`` for the default ``period = "week"``), so
the Monday cron job run twice — or re-run after a crash — finishes the send and never sends the
digest twice to anyone in the same week. A re-run may carry newer items than the interrupted one:
people already served are skipped, the others get the newer content (the fingerprint check that
protects campaigns is relaxed for digests, on purpose).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..audience import Contact, Segment
    from .jobs import Address

PERIODS = ("week", "day", "month", "run")


def period_key(moment: datetime, period: str) -> str:
    """Return the period label of ``moment``: 2026-W47, 2026-11-23, 2026-11 or a timestamp."""
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "day":
        return f"{moment:%Y-%m-%d}"
    if period == "month":
        return f"{moment:%Y-%m}"
    if period == "run":
        return f"{moment:%Y%m%dT%H%M%S}"
    raise ConfigError(
        f"[digest] period must be one of {', '.join(PERIODS)}, not {period!r}",
        hint="Fix it in commskit.toml",
    )


class DigestRecipients:
    """Plain addresses first, then the segment's contacts; re-iterable, as the runner needs."""

    def __init__(self, addresses: Sequence[Address], segment: Segment | None) -> None:
        self.addresses = addresses
        self.segment = segment

    def __iter__(self) -> Iterator[Contact | Address]:
        yield from self.addresses
        if self.segment is not None:
            yield from self.segment

    def count(self) -> int:
        return len(self.addresses) + (self.segment.count() if self.segment is not None else 0)
