"""Rate limits and the send window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from commskit import clock
from commskit.cli import main
from commskit.config import TransportSettings
from commskit.errors import ConfigError
from commskit.send import SendOptions
from commskit.send.throttle import SendWindow, Throttle, parse_duration, since_iso

YES = SendOptions(yes=True)


def daily(cap):
    def build(repo):
        return Throttle(
            TransportSettings(rate_per_day=cap),
            sent_last_day=repo.count_sent_since(since_iso(86400)),
        )

    return build


def test_daily_cap_stops_cleanly_and_continues_next_run(ws, make_runner, people):
    report = make_runner(people(5), throttle=daily(3)).run(YES)
    assert report.sent == 3
    assert "daily limit of 3" in report.stopped
    assert "continues on the next run" in report.stopped
    assert report.counts["pending"] == 2
    assert report.counts["sending"] == 0
    # same day: the quota is counted from the send log, so nothing more goes out
    again = make_runner(people(5), throttle=daily(3)).run(YES)
    assert again.sent == 0
    assert again.counts["pending"] == 2
    # a new day (a bigger quota here) finishes the job
    done = make_runner(people(5), throttle=daily(10)).run(YES)
    assert done.sent == 2
    assert done.stopped is None


def test_per_second_rate_paces_dispatch(ws, make_runner, people):
    # the bucket reads a clock that moves only by the waits it asks for: what it decides does not
    # depend on how fast this machine runs the rest (counted, never timed)
    now = [0.0]
    waits: list[float] = []

    def build(repo):
        throttle = Throttle(TransportSettings(rate_per_second=5), clock=lambda: now[0])
        [bucket] = throttle.buckets
        take = bucket.wait_time

        def counted() -> float:
            delay = take()
            if delay > 0:
                waits.append(delay)
                now[0] += delay  # the sleep that follows lasts this long
            return delay

        bucket.wait_time = counted  # type: ignore[method-assign]
        return throttle

    report = make_runner(people(10), throttle=build).run(YES)
    assert report.sent == 10
    # a burst of 5, then each of the other 5 waits 0.2 s for its token
    assert len(waits) == 5, waits
    assert sum(waits) == pytest.approx(1.0)


def test_outside_the_window_sends_nothing(ws, make_runner, people):
    now = clock.now()  # the window is read on commskit's clock
    other_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(now.weekday() + 3) % 7]

    def build(repo):
        return Throttle(TransportSettings(window=f"{other_day} 00:00-24:00 UTC"))

    report = make_runner(people(2), throttle=build).run(YES)
    assert report.sent == 0
    assert "outside the send window" in report.stopped
    assert report.counts["pending"] == 2


def test_window_parsing():
    window = SendWindow.parse("Mon-Fri 09:00-17:00 Europe/Paris")
    # Monday 2026-11-23 10:00 Paris = 09:00 UTC
    assert window.contains(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert not window.contains(datetime(2026, 11, 23, 16, 30, tzinfo=UTC))  # 17:30 Paris
    assert not window.contains(datetime(2026, 11, 22, 10, 0, tzinfo=UTC))  # Sunday
    assert SendWindow.parse("Fri-Mon 08:00-20:00").contains(datetime(2026, 11, 22, 12, tzinfo=UTC))
    for bad in ("weekdays", "Mon-Fri 9h-17h", "Mon-Fri 09:00-17:00 Mars/Olympus"):
        with pytest.raises(ConfigError, match="window"):
            SendWindow.parse(bad)


def test_durations():
    assert parse_duration("3d") == 3 * 86400
    assert parse_duration("90s") == 90
    with pytest.raises(ConfigError, match="max_retry_age"):
        parse_duration("soon")


def test_cli_daily_cap_exits_3_with_the_message(partners):
    result = CliRunner().invoke(
        main,
        ["-C", str(partners.root), "send", "2026-11-infolettre", "--yes"],
        env={"COMMSKIT_TRANSPORT_RATE_PER_DAY": "5"},
    )
    # 3: unfinished, run the same command again later (a cron job can tell it from "done")
    assert result.exit_code == 3, result.output
    assert "Sent 5 message(s)" in result.stdout
    assert "daily limit of 5 messages is reached; the rest continues on the next run" in (
        result.stdout
    )
