"""plait.testing: a TestEngine on a fake clock, so users test a workflow that waits five days
in milliseconds."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

import plait
from plait.testing import FakeClock, TestEngine


@plait.step
async def send_mail(to: str, text: str) -> str:
    return f"mail to {to}: {text}"


@plait.workflow
async def onboarding(ctx: plait.Context, user: str) -> str:
    await send_mail(user, "welcome")
    try:
        reply = await ctx.wait_for_signal("reply", timeout=timedelta(days=5))
    except plait.WaitTimeout:
        await send_mail(user, "reminder")
        reply = await ctx.wait_for_signal("reply")
    return f"{user} said {reply}"


async def test_the_documented_user_story(test_engine: TestEngine) -> None:
    test_engine.register(onboarding)
    h = await test_engine.start(onboarding, "ada")
    t = time.monotonic()
    await test_engine.run_until_idle()  # the five-day timeout passes at once
    assert time.monotonic() - t < 60  # five days did not pass for real (a hang would)
    assert test_engine.clock.now() - datetime(2030, 1, 1, tzinfo=UTC) == timedelta(days=5)
    assert [e.output for e in await test_engine.journal(h.id) if e.kind == "step"] == [
        "mail to ada: welcome",
        "mail to ada: reminder",
    ]
    await test_engine.signal(h.id, "reply", "hi")
    await test_engine.run_until_idle()
    assert await h.result() == "ada said hi"


async def test_within_stops_the_clock_so_a_test_can_act_before_a_timeout(
    test_engine: TestEngine,
) -> None:
    test_engine.register(onboarding)
    start = test_engine.clock.now()
    h = await test_engine.start(onboarding, "bo")
    runs = await test_engine.run_until_idle(within=timedelta(days=2))
    assert runs == 1
    assert test_engine.clock.now() == start + timedelta(days=2)
    await test_engine.signal(h.id, "reply", "on time")
    assert await test_engine.run_until_idle() == 1
    assert await h.result() == "bo said on time"
    assert test_engine.clock.now() == start + timedelta(days=2)  # no timer left to skip to


def test_fake_clock() -> None:
    clock = FakeClock(datetime(2031, 6, 1, tzinfo=UTC))
    assert clock.now() == datetime(2031, 6, 1, tzinfo=UTC)
    clock.advance(timedelta(hours=2))
    clock.advance(30)  # seconds
    assert clock.now() == datetime(2031, 6, 1, 2, 0, 30, tzinfo=UTC)
    clock.set(0)  # never moves backwards
    assert clock.now() == datetime(2031, 6, 1, 2, 0, 30, tzinfo=UTC)
    asyncio.run(clock.sleep(60))  # sleeping advances it instead of waiting
    assert clock.now() == datetime(2031, 6, 1, 2, 1, 30, tzinfo=UTC)
    assert FakeClock().now() == datetime(2030, 1, 1, tzinfo=UTC)


@plait.workflow
async def forever(ctx: plait.Context) -> None:
    while True:
        await ctx.sleep(timedelta(hours=1))


async def test_run_until_idle_gives_up_on_a_workflow_that_never_rests(
    test_engine: TestEngine,
) -> None:
    test_engine.register(forever)
    await test_engine.start(forever)
    with pytest.raises(RuntimeError, match="still busy after 5 rounds"):
        await test_engine.run_until_idle(max_rounds=5)


@pytest.mark.backends("sqlite")
async def test_test_engine_uses_a_temporary_file_and_a_start_time() -> None:
    engine = TestEngine(workflows=[onboarding], start=datetime(2040, 2, 3, tzinfo=UTC))
    assert engine.url.startswith("sqlite:///")
    path = engine.url.removeprefix("sqlite:///")
    async with engine:
        assert engine.clock.now() == datetime(2040, 2, 3, tzinfo=UTC)
        h = await engine.start(onboarding, "cy")
        assert (await h.info()).created_at == datetime(2040, 2, 3, tzinfo=UTC)
        assert os.path.exists(path)
    assert not os.path.exists(path)  # cleaned up on close
