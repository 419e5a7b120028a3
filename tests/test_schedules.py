"""Schedules on the fake clock, on both backends: ticks start workflows named after the tick,
catch-up after downtime, pause and resume, code declarations against operators' changes,
API-added schedules, manual triggers, and two engines racing for the same ticks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

import plait
from plait.testing import TestEngine

START = datetime(2030, 1, 1, 9, 59, 30, tzinfo=UTC)


@plait.workflow
async def report(ctx: plait.Context, region: str) -> str:
    return f"report for {region}"


def engine_on(db_url: str, *schedules: plait.Schedule) -> TestEngine:
    return TestEngine(db_url, workflows=[report], schedules=schedules, start=START)


async def ids(engine: TestEngine) -> list[str]:
    return sorted(w.id for w in await engine.list(name="report", limit=1000))


async def test_ticks_start_workflows_named_after_them(db_url: str) -> None:
    hourly = plait.Schedule("hourly", report, "eu", cron="0 * * * *", timezone="Europe/Paris")
    async with engine_on(db_url, hourly) as engine:
        info = await engine.schedules.get("hourly")
        assert info.next_run_at == datetime(2030, 1, 1, 10, tzinfo=UTC)
        assert info.source == "code" and info.args == ["eu"] and not info.paused
        await engine.run_until_idle()
        assert await ids(engine) == []  # nothing due yet
        await engine.run_until_idle(within=timedelta(hours=2))
        assert await ids(engine) == ["hourly@2030-01-01T10:00:00Z", "hourly@2030-01-01T11:00:00Z"]
        first = "hourly@2030-01-01T10:00:00Z"
        assert await engine.handle(first).result() == "report for eu"
        [started] = await engine.events(first)
        assert started.by == "schedule:hourly" and started.details["schedule"] == "hourly"
        info = await engine.schedules.get("hourly")
        assert info.last_workflow_id == "hourly@2030-01-01T11:00:00Z"
        assert info.last_run_at == datetime(2030, 1, 1, 11, tzinfo=UTC)
        assert info.next_run_at == datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("catchup", "expected"),
    [
        ("skip", []),
        ("one", ["d@2030-01-04T06:00:00Z"]),
        ("all", [f"d@2030-01-0{i}T06:00:00Z" for i in (2, 3, 4)]),
    ],
)
async def test_catch_up_after_downtime(db_url: str, catchup: str, expected: list[str]) -> None:
    daily = plait.Schedule("d", report, "eu", cron="0 6 * * *", catchup=catchup)
    async with engine_on(db_url, daily) as engine:
        engine.clock.set(int(datetime(2030, 1, 4, 7, tzinfo=UTC).timestamp() * 1000))
        await engine.run_until_idle()  # no worker ran for three ticks
        assert await ids(engine) == expected
        info = await engine.schedules.get("d")
        assert info.next_run_at == datetime(2030, 1, 5, 6, tzinfo=UTC)


async def test_paused_ticks_are_not_caught_up(db_url: str) -> None:
    every = plait.Schedule("m", report, "eu", every=timedelta(minutes=1), catchup="all")
    async with engine_on(db_url, every) as engine:
        paused = await engine.schedules.pause("m")
        assert paused.paused and paused.next_run_at is None
        engine.clock.advance(timedelta(minutes=10))
        await engine.run_until_idle()
        assert await ids(engine) == []
        resumed = await engine.schedules.resume("m")
        assert resumed.next_run_at == datetime(2030, 1, 1, 10, 10, tzinfo=UTC)
        await engine.run_until_idle(within=timedelta(minutes=1))
        assert await ids(engine) == ["m@2030-01-01T10:10:00Z"]
        with pytest.raises(plait.ScheduleNotFound, match="no schedule 'nope'"):
            await engine.schedules.pause("nope")


async def test_code_wins_but_an_operators_pause_stays(db_url: str) -> None:
    async with engine_on(db_url, plait.Schedule("s", report, "eu", every=60)) as engine:
        await engine.schedules.pause("s")
    changed = plait.Schedule("s", report, "us", cron="30 * * * *", catchup="skip")
    async with engine_on(db_url, changed) as engine:
        info = await engine.schedules.get("s")
        assert (info.args, info.cron, info.every, info.catchup) == (
            ["us"],
            "30 * * * *",
            None,
            "skip",
        )
        assert info.paused
    async with engine_on(db_url) as engine:  # removed from the code: it stays until deleted
        assert [s.id for s in await engine.schedules.list()] == ["s"]
        await engine.schedules.delete("s")
        assert await engine.schedules.list() == []
        with pytest.raises(plait.ScheduleNotFound):
            await engine.schedules.delete("s")


async def test_added_schedules_persist_and_trigger_starts_one_now(db_url: str) -> None:
    async with engine_on(db_url) as engine:
        added = await engine.schedules.add(plait.Schedule("api", "report", "fr", every=3600))
        assert added.source == "api" and added.workflow == "report"
        with pytest.raises(plait.ScheduleAlreadyExists, match="'api' exists already"):
            await engine.schedules.add(plait.Schedule("api", "report", "fr", every=60))
        with pytest.raises(plait.ConfigurationError, match="no workflow named 'other'"):
            await engine.schedules.add(plait.Schedule("x", "other", every=60))
        with pytest.raises(plait.InvalidArguments):
            await engine.schedules.add(plait.Schedule("x", "report", every=60))
        await engine.schedules.pause("api")
        handle = await engine.schedules.trigger("api", by="ada")
        assert handle.id == "api@2030-01-01T09:59:30Z"
        await engine.run_until_idle()
        assert await handle.result() == "report for fr"
        [event] = await engine.events(handle.id)
        assert event.by == "ada" and event.details["schedule"] == "api"
        info = await engine.schedules.get("api")
        assert info.last_workflow_id == handle.id and info.paused
        with pytest.raises(plait.ScheduleNotFound):
            await engine.schedules.trigger("nope")
    async with engine_on(db_url) as engine:
        assert [s.id for s in await engine.schedules.list()] == ["api"]


async def test_two_engines_start_each_tick_once(new_db_url: Callable[..., str]) -> None:
    url = new_db_url()
    every = plait.Schedule("e", report, "eu", every=1, catchup="all")
    a, b = engine_on(url, every), engine_on(url, every)
    await asyncio.gather(a.open(), b.open())  # both declare the schedule at once
    try:
        await fire_together(a, b)
    finally:
        await a.close()
        await b.close()


async def fire_together(a: TestEngine, b: TestEngine) -> None:
    for _ in range(5):
        for e in (a, b):
            e.clock.advance(1)
        await asyncio.gather(*(e.schedules.fire_due() for e in (a, b) for _ in range(3)))
    started = await ids(a)
    assert len(started) == 5 and len(set(started)) == 5
    assert started[0] == "e@2030-01-01T09:59:31Z" and started[-1] == "e@2030-01-01T09:59:35Z"
    events = [ev for w in started for ev in await a.events(w)]
    assert len(events) == 5  # one start each, no duplicate attempt logged


async def test_a_zone_s_daylight_saving_change_on_the_fake_clock(db_url: str) -> None:
    paris = plait.Schedule("p", report, "fr", cron="30 2 * * *", timezone="Europe/Paris")
    start = datetime(2030, 3, 29, 12, tzinfo=UTC)
    async with TestEngine(db_url, workflows=[report], schedules=[paris], start=start) as engine:
        await engine.run_until_idle(within=timedelta(days=3))
        # 02:30 CET, then 03:00 CEST (02:30 does not exist on the 31st), then 02:30 CEST
        assert await ids(engine) == [
            "p@2030-03-30T01:30:00Z",
            "p@2030-03-31T01:00:00Z",
            "p@2030-04-01T00:30:00Z",
        ]
