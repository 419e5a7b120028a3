"""Durable timers: ctx.sleep / ctx.sleep_until for days finish in milliseconds on the fake
clock, a sleeping workflow is a row (status waiting, available_at), and timers survive
closing and reopening the engine."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

import plait
from plait.testing import TestEngine

calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


@plait.step
async def remind(who: str) -> str:
    calls["remind"] += 1
    return f"reminded {who}"


@plait.workflow
async def five_days(ctx: plait.Context, who: str) -> list[str]:
    before = ctx.now()
    await ctx.sleep(timedelta(days=5))
    sent = await remind(who)
    return [before.isoformat(), ctx.now().isoformat(), sent]


async def test_sleep_five_days_finishes_in_milliseconds(test_engine: TestEngine) -> None:
    test_engine.register(five_days)
    start = test_engine.clock.now()
    h = await test_engine.start(five_days, "ada")
    t = time.monotonic()
    await test_engine.run_until_idle()
    assert time.monotonic() - t < 60  # five days did not pass for real (a hang would)
    before, after, sent = await h.result()
    assert datetime.fromisoformat(before) == start
    assert datetime.fromisoformat(after) == start + timedelta(days=5)
    assert test_engine.clock.now() == start + timedelta(days=5)
    assert sent == "reminded ada"
    (sleep, _) = [e for e in await test_engine.journal(h.id) if e.kind != "now"]
    assert sleep.kind == "sleep" and sleep.wake_at == start + timedelta(days=5)


async def test_a_sleeping_workflow_is_a_waiting_row_until_due(test_engine: TestEngine) -> None:
    test_engine.register(five_days)
    start = test_engine.clock.now()
    h = await test_engine.start(five_days, "ada")
    await test_engine.run_until_idle(within=timedelta(days=4))
    info = await test_engine.get(h.id)
    assert info.status == plait.WorkflowStatus.WAITING
    assert info.available_at == start + timedelta(days=5)
    assert info.waiting_on == {
        "signals": [],
        "until": int((start + timedelta(days=5)).timestamp() * 1000),
    }
    assert info.lease_owner is None
    assert test_engine.clock.now() == start + timedelta(days=4)
    assert calls["remind"] == 0
    await test_engine.run_until_idle(within=timedelta(days=1))
    assert (await h.info()).status == plait.WorkflowStatus.COMPLETED
    assert calls["remind"] == 1


@plait.workflow
async def until(ctx: plait.Context, when: datetime) -> str:
    await ctx.sleep_until(when)
    return ctx.now().isoformat()


async def test_sleep_until_an_aware_or_naive_datetime(test_engine: TestEngine) -> None:
    test_engine.register(until)
    aware = datetime(2030, 3, 1, 9, 30, tzinfo=UTC)
    h = await test_engine.start(until, aware)
    await test_engine.run_until_idle()
    assert datetime.fromisoformat(await h.result()) == aware
    naive = datetime(2030, 4, 1, 12, 0)  # taken as UTC
    h2 = await test_engine.start(until, naive)
    await test_engine.run_until_idle()
    assert datetime.fromisoformat(await h2.result()) == naive.replace(tzinfo=UTC)


async def test_sleep_until_the_past_does_not_wait(test_engine: TestEngine) -> None:
    test_engine.register(until)
    past = test_engine.clock.now() - timedelta(days=1)
    h = await test_engine.start(until, past)
    await test_engine.run_until_idle()
    assert datetime.fromisoformat(await h.result()) == test_engine.clock.now()


@plait.workflow
async def concurrent_timers(ctx: plait.Context) -> str:
    await asyncio.gather(ctx.sleep(3600), ctx.sleep(timedelta(days=2)), ctx.sleep(60.5))
    return ctx.now().isoformat()


async def test_timers_in_gather_and_plain_seconds(test_engine: TestEngine) -> None:
    test_engine.register(concurrent_timers)
    start = test_engine.clock.now()
    h = await test_engine.start(concurrent_timers)
    runs = await test_engine.run_until_idle()
    assert datetime.fromisoformat(await h.result()) == start + timedelta(days=2)
    assert runs == 4  # one run per timer that came due, plus the first
    assert [e.wake_at - start for e in await test_engine.journal(h.id) if e.kind == "sleep"] == [  # type: ignore[operator]
        timedelta(hours=1),
        timedelta(days=2),
        timedelta(seconds=60.5),
    ]


@plait.workflow
async def bad_sleep(ctx: plait.Context) -> None:
    await ctx.sleep(timedelta(seconds=-5))


async def test_negative_sleep_is_a_clear_error(test_engine: TestEngine) -> None:
    test_engine.register(bad_sleep)
    h = await test_engine.start(bad_sleep)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="must not be negative"):
        await h.result()


async def test_timers_survive_closing_and_reopening_the_engine(db_url: str) -> None:
    async with TestEngine(db_url, workflows=[five_days]) as first:
        start = first.clock.now()
        await first.start(five_days, "grace", id="sleeper")
        await first.run_until_idle(within=timedelta(days=1))
        assert (await first.get("sleeper")).status == plait.WorkflowStatus.WAITING
    # A new engine (a restarted process) on the same file, with its own clock.
    async with TestEngine(db_url, workflows=[five_days], start=start) as second:
        assert (await second.get("sleeper")).status == plait.WorkflowStatus.WAITING
        await second.run_until_idle()
        before, after, sent = await second.handle("sleeper").result()
        assert datetime.fromisoformat(after) == start + timedelta(days=5)
        assert sent == "reminded grace"
    assert calls["remind"] == 1


@plait.workflow
async def short_nap(ctx: plait.Context) -> str:
    await remind("x")
    await ctx.sleep(timedelta(milliseconds=300))
    return "rested"


async def test_real_clock_timer_survives_an_engine_restart(db_url: str) -> None:
    async with plait.Engine(db_url, workflows=[short_nap], poll_interval=0.05) as engine:
        async with engine.worker():
            h = await engine.start(short_nap, id="nap")
            for _ in range(3000):  # up to 30 s: only a hang fails
                if (await h.info()).status == plait.WorkflowStatus.WAITING:
                    break
                await asyncio.sleep(0.01)
            assert (await h.info()).status == plait.WorkflowStatus.WAITING
    async with plait.Engine(db_url, workflows=[short_nap], poll_interval=0.05) as engine:
        async with engine.worker():
            assert await engine.handle("nap").result(timeout=30) == "rested"
    assert calls["remind"] == 1
