"""engine.cancel (CancelledError at the next durable point, compensation may call steps,
status cancelled, or completed when caught) and engine.resume of failed workflows (only the
failed step runs again)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

import plait
from plait.testing import TestEngine

calls: Counter[str] = Counter()
flags: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    flags.clear()


@plait.step
async def reserve(trip: str) -> str:
    calls["reserve"] += 1
    return f"seat for {trip}"


@plait.step
async def release(trip: str) -> str:
    calls["release"] += 1
    return f"released {trip}"


@plait.workflow
async def booking(ctx: plait.Context, trip: str) -> str:
    await reserve(trip)
    confirmed = False
    try:
        await ctx.wait_for_signal("confirm")
        confirmed = True
    finally:
        if not confirmed:
            await release(trip)  # compensation: a step, run while cancelling
    return "booked"


async def test_cancel_a_waiting_workflow_runs_compensation_and_ends_cancelled(
    test_engine: TestEngine,
) -> None:
    test_engine.register(booking)
    h = await test_engine.start(booking, "LIS")
    await test_engine.run_until_idle()
    assert (await h.info()).status == plait.WorkflowStatus.WAITING
    assert await test_engine.cancel(h.id) == plait.WorkflowStatus.PENDING  # woken for it
    assert (await h.info()).cancel_requested
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowCancelled):
        await h.result()
    info = await h.info()
    assert info.status == plait.WorkflowStatus.CANCELLED
    assert info.completed_at is not None
    assert calls == {"reserve": 1, "release": 1}
    assert [(e.kind, e.name, e.status) for e in await test_engine.journal(h.id)] == [
        ("step", "reserve", "completed"),
        ("signal", "confirm", "cancelled"),
        ("step", "release", "completed"),
    ]
    with pytest.raises(plait.WorkflowFinished):
        await test_engine.cancel(h.id)


async def test_an_uncancelled_booking_does_not_compensate(test_engine: TestEngine) -> None:
    test_engine.register(booking)
    h = await test_engine.start(booking, "OPO")
    await test_engine.run_until_idle()
    await test_engine.signal(h.id, "confirm")
    await test_engine.run_until_idle()
    assert await h.result() == "booked"
    assert calls == {"reserve": 1}


@plait.workflow
async def stubborn(ctx: plait.Context) -> str:
    try:
        await ctx.sleep(timedelta(days=30))
    except asyncio.CancelledError:
        # Cancellation is delivered once; later durable operations work normally.
        await ctx.sleep(timedelta(hours=1))
        return await release("after cancel")
    return "slept"


async def test_catching_cancellation_and_returning_completes(test_engine: TestEngine) -> None:
    test_engine.register(stubborn)
    h = await test_engine.start(stubborn)
    await test_engine.run_until_idle(within=timedelta(days=1))
    await test_engine.cancel(h.id)
    await test_engine.run_until_idle()
    assert await h.result() == "released after cancel"
    assert (await h.info()).status == plait.WorkflowStatus.COMPLETED
    assert calls["release"] == 1
    assert [(e.kind, e.status) for e in await test_engine.journal(h.id)] == [
        ("sleep", "cancelled"),
        ("sleep", "completed"),
        ("step", "completed"),
    ]


engines: list[plait.Engine] = []


@plait.step
async def cancels_itself(workflow_id: str) -> str:
    calls["first"] += 1
    await engines[0].cancel(workflow_id)  # someone cancels while the step runs
    return "first done"


@plait.step
async def second() -> None:
    calls["second"] += 1


@plait.workflow
async def cancelled_mid_step(ctx: plait.Context) -> None:
    try:
        await cancels_itself(ctx.workflow_id)
        await second()
    except asyncio.CancelledError:
        calls["saw CancelledError"] += 1
        raise


async def test_cancel_while_running_is_seen_at_the_next_durable_point(
    test_engine: TestEngine,
) -> None:
    engines.clear()
    engines.append(test_engine)
    test_engine.register(cancelled_mid_step)
    h = await test_engine.start(cancelled_mid_step)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowCancelled):
        await h.result()
    assert calls == {"first": 1, "saw CancelledError": 1}  # the running step finished
    journal = await test_engine.journal(h.id)
    assert [(e.name, e.status) for e in journal] == [
        ("cancels_itself", "completed"),
        ("second", "cancelled"),
    ]


async def test_cancel_before_it_ran_and_clear_errors(test_engine: TestEngine) -> None:
    test_engine.register(booking)
    h = await test_engine.start(booking, "never")
    assert await test_engine.cancel(h.id) == plait.WorkflowStatus.CANCELLED
    await test_engine.run_until_idle()
    assert calls == {}  # its code never ran
    with pytest.raises(plait.WorkflowCancelled):
        await h.result()
    with pytest.raises(plait.WorkflowNotFound):
        await test_engine.cancel("nope")
    with pytest.raises(plait.WorkflowFinished, match="already cancelled"):
        await test_engine.cancel(h.id)


@plait.workflow
async def with_deadline(ctx: plait.Context) -> str:
    try:
        await ctx.sleep(timedelta(days=10))
    except asyncio.CancelledError:
        await release("deadline")
        raise
    return "woke"


async def test_workflow_timeout_cancels_it_at_the_deadline(test_engine: TestEngine) -> None:
    test_engine.register(with_deadline)
    start = test_engine.clock.now()
    h = await test_engine.start(with_deadline, timeout=timedelta(days=1))
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowCancelled):
        await h.result()
    assert test_engine.clock.now() == start + timedelta(days=1)
    assert calls["release"] == 1


# -- resume ------------------------------------------------------------------------------


@plait.step
async def extract(doc: str) -> str:
    calls["extract"] += 1
    return doc.upper()


@plait.step
async def summarize(text: str) -> str:
    calls["summarize"] += 1
    if flags.get("broken"):
        raise RuntimeError("model endpoint returned 500")
    return text[:3]


@plait.workflow
async def summarize_doc(ctx: plait.Context, doc: str) -> list[str]:
    text = await extract(doc)
    summary = await summarize(text)
    return [text, summary]


async def test_resume_a_failed_workflow_reruns_only_the_failed_step(
    test_engine: TestEngine,
) -> None:
    test_engine.register(summarize_doc)
    flags["broken"] = True
    h = await test_engine.start(summarize_doc, "contract")
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="model endpoint returned 500"):
        await h.result()
    assert (await h.info()).error.seq == 2  # type: ignore[union-attr]

    flags["broken"] = False  # the fix
    await test_engine.resume(h.id)
    assert (await h.info()).status == plait.WorkflowStatus.PENDING
    await test_engine.run_until_idle()
    assert await h.result() == ["CONTRACT", "CON"]
    assert calls == {"extract": 1, "summarize": 2}
    journal = await test_engine.journal(h.id)
    assert [(e.name, e.status) for e in journal] == [
        ("extract", "completed"),
        ("summarize", "completed"),
    ]


@plait.workflow
async def fails_in_body(ctx: plait.Context) -> str:
    text = await extract("memo")
    if flags.get("broken"):
        raise ValueError("bad branch")
    return text


async def test_resume_after_a_failure_in_workflow_code(test_engine: TestEngine) -> None:
    test_engine.register(fails_in_body)
    flags["broken"] = True
    h = await test_engine.start(fails_in_body)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed) as info:
        await h.result()
    assert info.value.error_type == "ValueError"
    assert "fails_in_body" in (info.value.traceback or "")
    flags["broken"] = False
    await test_engine.resume(h.id)
    await test_engine.run_until_idle()
    assert await h.result() == "MEMO"
    assert calls == {"extract": 1}


@plait.workflow
async def waits_for_reply(ctx: plait.Context) -> str:
    await extract("x")
    return await ctx.wait_for_signal("reply", timeout=timedelta(days=1))


async def test_resume_after_a_wait_timed_out_waits_again(test_engine: TestEngine) -> None:
    test_engine.register(waits_for_reply)
    h = await test_engine.start(waits_for_reply)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="before its timeout"):
        await h.result()
    await test_engine.resume(h.id)
    await test_engine.run_until_idle(within=timedelta(hours=1))
    assert (await h.info()).status == plait.WorkflowStatus.WAITING
    await test_engine.signal(h.id, "reply", "late but here")
    await test_engine.run_until_idle()
    assert await h.result() == "late but here"
    assert calls == {"extract": 1}


async def test_resume_only_applies_to_failed_or_blocked(test_engine: TestEngine) -> None:
    test_engine.register(summarize_doc)
    h = await test_engine.start(summarize_doc, "ok")
    with pytest.raises(plait.InvalidState, match="pending"):
        await test_engine.resume(h.id)
    await test_engine.run_until_idle()
    with pytest.raises(plait.InvalidState, match="completed"):
        await test_engine.resume(h.id)
    with pytest.raises(plait.WorkflowNotFound):
        await test_engine.resume("nope")


@plait.workflow
async def deadline_caught(ctx: plait.Context) -> str:
    try:
        await ctx.sleep(timedelta(days=10))
    except asyncio.CancelledError:
        await ctx.sleep(timedelta(hours=1))  # the passed deadline must not wake it again
        return f"cleaned up at {ctx.now().isoformat()}"
    return "woke"


async def test_a_caught_deadline_cancellation_lets_the_workflow_finish(
    test_engine: TestEngine,
) -> None:
    test_engine.register(deadline_caught)
    start = test_engine.clock.now()
    h = await test_engine.start(deadline_caught, timeout=timedelta(days=1))
    runs = await test_engine.run_until_idle()
    assert await h.result() == f"cleaned up at {(start + timedelta(days=1, hours=1)).isoformat()}"
    assert runs == 3


@plait.workflow
async def flip(ctx: plait.Context) -> str:
    await (second() if flags.get("changed") else extract("x"))
    await ctx.sleep(60)
    return "done"


async def test_cancel_a_blocked_workflow(test_engine: TestEngine) -> None:
    test_engine.register(flip)
    h = await test_engine.start(flip)
    await test_engine.run_until_idle(within=timedelta(seconds=1))
    flags["changed"] = True
    await test_engine.run_until_idle()
    assert (await h.info()).status == plait.WorkflowStatus.BLOCKED
    assert await test_engine.cancel(h.id) == plait.WorkflowStatus.CANCELLED
    with pytest.raises(plait.WorkflowCancelled):
        await h.result()
