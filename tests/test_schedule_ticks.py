"""Schedule definitions and tick computation (no database): a cron expression read in its zone
across daylight-saving changes, intervals, the catch-up policies, and the errors a bad
schedule raises when it is made."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

import plait
from plait.schedules import MAX_CATCHUP, Catchup, Timing, tick_id, ticks_to_start


@plait.workflow
async def report(ctx: plait.Context, region: str, days: int = 1) -> str:
    return f"{region}:{days}"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def utc(value: int) -> str:
    return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def walk(timing: Timing, start: str, n: int) -> list[str]:
    out, at = [], ms(start)
    for _ in range(n):
        at = timing.after(at)
        out.append(utc(at))
    return out


def test_a_cron_expression_is_read_in_its_zone_across_daylight_saving() -> None:
    paris = Timing.of("30 2 * * *", None, "Europe/Paris", what="t")
    # 2030-03-31: clocks jump from 02:00 to 03:00; the skipped 02:30 runs at 03:00 (01:00 UTC)
    assert walk(paris, "2030-03-29T12:00:00+00:00", 3) == [
        "2030-03-30 01:30",
        "2030-03-31 01:00",
        "2030-04-01 00:30",
    ]
    hourly = Timing.of("0 * * * *", None, "Europe/Paris", what="t")
    # 2030-10-27: 02:00-03:00 happens twice; each instant is a tick, an hour apart in UTC
    assert walk(hourly, "2030-10-26T22:30:00+00:00", 4) == [
        "2030-10-26 23:00",
        "2030-10-27 00:00",
        "2030-10-27 01:00",
        "2030-10-27 02:00",
    ]
    nine = Timing.of("0 9 * * 1-5", None, "America/New_York", what="t")
    assert walk(nine, "2030-03-08T15:00:00+00:00", 2) == ["2030-03-11 13:00", "2030-03-12 13:00"]


def test_intervals_tick_on_whole_multiples_since_the_epoch() -> None:
    hourly = Timing.of(None, timedelta(hours=1), "UTC", what="t")
    assert walk(hourly, "2030-01-01T10:20:00+00:00", 2) == ["2030-01-01 11:00", "2030-01-01 12:00"]
    at = ms("2030-01-01T10:00:00+00:00")
    assert hourly.latest(at) == at and hourly.before(at) == at - 3_600_000
    assert Timing.of(None, 90, "UTC", what="t").every == timedelta(seconds=90)
    assert tick_id("nightly", at) == "nightly@2030-01-01T10:00:00Z"
    assert tick_id("fast", at + 5) == "fast@2030-01-01T10:00:00.005Z"


def test_catch_up_policies_after_downtime() -> None:
    t = Timing.of(None, 60, "UTC", what="t")  # every minute
    first = ms("2030-01-01T10:00:00+00:00")
    now = first + 5 * 60_000 + 10_000  # ticks 10:00 ... 10:05 are due, 10:05 is 10 s late
    assert ticks_to_start(t, Catchup.ALL, first, now) == (
        [first + i * 60_000 for i in range(6)],
        False,
    )
    assert ticks_to_start(t, Catchup.ONE, first, now) == ([first + 5 * 60_000], True)
    assert ticks_to_start(t, Catchup.SKIP, first, now) == ([first + 5 * 60_000], True)
    # on time: one tick due, whatever the policy
    for policy in Catchup:
        assert ticks_to_start(t, policy, first, first + 200) == ([first], False)
    daily = Timing.of("0 6 * * *", None, "UTC", what="t")
    day = ms("2030-01-01T06:00:00+00:00")
    late = day + 3 * 86_400_000 + 3_600_000  # three days down, the last tick an hour late
    assert ticks_to_start(daily, Catchup.SKIP, day, late) == ([], True)
    assert ticks_to_start(daily, Catchup.ONE, day, late) == ([day + 3 * 86_400_000], True)
    assert len(ticks_to_start(daily, Catchup.ALL, day, late)[0]) == 4
    # "all" is capped: the latest MAX_CATCHUP ticks
    ticks, dropped = ticks_to_start(t, Catchup.ALL, first, first + 1000 * 60_000)
    assert dropped and len(ticks) == MAX_CATCHUP and ticks[-1] == first + 1000 * 60_000


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of cron= (e.g. '0 9 * * 1-5') and every="),
        ({"cron": "0 9 * * *", "every": 60}, "exactly one of cron="),
        ({"cron": "61 * * * *"}, "bad cron expression '61 * * * *'"),
        ({"cron": "every day"}, "bad cron expression"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"every": 0.5}, "every= must be at least one second"),
        ({"every": "1h"}, "must be a timedelta or a number of seconds"),
        ({"every": 60, "catchup": "some"}, "unknown catch-up policy of schedule 'x' 'some'"),
    ],
)
def test_a_bad_schedule_fails_when_it_is_made(options: dict[str, object], message: str) -> None:
    with pytest.raises(plait.ConfigurationError, match=re.escape(message)):
        plait.Schedule("x", report, "eu", **options)  # type: ignore[arg-type]


def test_bad_ids_and_arguments_fail_when_made() -> None:
    with pytest.raises(plait.ConfigurationError, match="bad schedule id 'a/b'"):
        plait.Schedule("a/b", report, "eu", every=60)
    with pytest.raises(plait.InvalidArguments, match="report"):
        plait.Schedule("x", report, every=60)  # region is missing
    with pytest.raises(plait.InvalidArguments, match="days"):
        plait.Schedule("x", report, "eu", "three", every=60)
    by_name = plait.Schedule("x", "report", every=60)  # checked when the engine has the code
    assert by_name.workflow_name == "report" and "every 1 min" in repr(by_name)
