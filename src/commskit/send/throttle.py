"""Pacing: token buckets per second/minute, hourly/daily quotas across runs, a send window."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..clock import now as clock_now
from ..config import TransportSettings
from ..errors import ConfigError

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def parse_duration(text: str, *, setting: str = "[transport] max_retry_age") -> float:
    """Return seconds for ``90s``, ``30m``, ``12h``, ``3d`` (or a bare number of seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match:
        raise ConfigError(f"{setting} must be a duration such as 90s, 30m, 12h or 3d, not {text!r}")
    value = float(match.group(1))
    return value * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


@dataclass(frozen=True)
class SendWindow:
    """Days and hours when sending is allowed, e.g. ``Mon-Fri 09:00-17:00 Europe/Paris``."""

    days: frozenset[int]
    start: dtime
    end: dtime
    zone: ZoneInfo
    text: str

    @classmethod
    def parse(cls, text: str) -> SendWindow:
        """Parse ``DAYS HH:MM-HH:MM [Area/City]`` (DAYS: ``Mon-Fri``, ``Mon,Wed,Fri`` or ``*``)."""
        bad = ConfigError(
            f"[transport] window {text!r} is not like 'Mon-Fri 09:00-17:00 Europe/Paris'",
            hint="Give days (Mon-Fri, Mon,Thu or *), hours HH:MM-HH:MM and an optional time zone",
        )
        parts = text.split()
        if len(parts) not in (2, 3):
            raise bad
        days: set[int] = set()
        for chunk in parts[0].lower().split(","):
            if chunk == "*":
                days.update(range(7))
            elif "-" in chunk:
                a, _, b = chunk.partition("-")
                if a[:3] not in _DAYS or b[:3] not in _DAYS:
                    raise bad
                i, j = _DAYS.index(a[:3]), _DAYS.index(b[:3])
                days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
            elif chunk[:3] in _DAYS:
                days.add(_DAYS.index(chunk[:3]))
            else:
                raise bad
        hours = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", parts[1])
        if not hours:
            raise bad
        h1, m1, h2, m2 = (int(g) for g in hours.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
            raise bad
        try:
            zone = ZoneInfo(parts[2] if len(parts) == 3 else "UTC")
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"[transport] window: unknown time zone {parts[2]!r}",
                hint="Use an IANA name such as Europe/Paris",
            ) from exc
        end = dtime(23, 59, 59, 999999) if h2 == 24 else dtime(h2, m2)
        return cls(frozenset(days), dtime(h1, m1), end, zone, text)

    def contains(self, moment: datetime) -> bool:
        """Return whether sending is allowed at ``moment`` (an aware datetime)."""
        local = moment.astimezone(self.zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end


class TokenBucket:
    """Allow ``rate`` events per ``period`` seconds on average, in bursts of at most ``rate``."""

    def __init__(self, rate: float, period: float, clock: Callable[[], float]) -> None:
        self.capacity = max(1.0, rate)
        self.refill = rate / period
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()

    def wait_time(self) -> float:
        """Take one token if there is one (return 0), else return how long until there is."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill


class Throttle:
    """Pace dispatch: wait on the short buckets, stop on the hourly/daily quotas or the window.

    Hour and day quotas count what the send log says was sent in the last hour/day (all
    campaigns), so they hold across runs; a stop there means "continues on the next run".
    The window is read on commskit's clock (``COMMSKIT_NOW`` when pinned), as the schedules
    of ``run`` are: a campaign due at 09:00 with a window opening at 10:00 waits for 10:00.
    """

    def __init__(
        self,
        settings: TransportSettings,
        *,
        sent_last_hour: int = 0,
        sent_last_day: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = clock_now,
    ) -> None:
        self.buckets = [
            TokenBucket(rate, period, clock)
            for rate, period in (
                (settings.rate_per_second, 1.0),
                (settings.rate_per_minute, 60.0),
            )
            if rate > 0
        ]
        self.quotas = [
            (name, int(cap), used)
            for name, cap, used in (
                ("hourly", settings.rate_per_hour, sent_last_hour),
                ("daily", settings.rate_per_day, sent_last_day),
            )
            if cap > 0
        ]
        self.window = SendWindow.parse(settings.window) if settings.window.strip() else None
        self.wall = wall
        self.taken = 0
        self._lock = asyncio.Lock()

    def check(self) -> str | None:
        """Return why nothing may be sent now (quota reached, outside the window), or None."""
        for name, cap, used in self.quotas:
            if used + self.taken >= cap:
                return f"the {name} limit of {cap} messages is reached"
        if self.window is not None and not self.window.contains(self.wall()):
            return f"outside the send window ({self.window.text})"
        return None

    async def acquire(self) -> str | None:
        """Wait for a slot; return a stop reason instead when no more may be sent this run."""
        async with self._lock:
            reason = self.check()
            if reason:
                return reason
            for bucket in self.buckets:
                delay = bucket.wait_time()
                while delay > 0:
                    await asyncio.sleep(delay)
                    delay = bucket.wait_time()
            self.taken += 1
            return None

    def give_back(self) -> None:
        """Return a slot taken for a message that was finally not sent."""
        self.taken = max(0, self.taken - 1)


def since_iso(seconds: float) -> str:
    """Return the UTC ISO time ``seconds`` ago, in the send log's format."""
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="seconds")
