"""Child workflows: ctx.child, ctx.start_child + handle.result(), gather of children,
ChildWorkflowFailed, and cancelling a parent cancels its children."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

import plait
from plait.testing import TestEngine

calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


@plait.step
async def work(x: int) -> int:
    calls[f"work:{x}"] += 1
    return x * 10


@plait.workflow
async def child_wf(ctx: plait.Context, x: int) -> int:
    await ctx.sleep(timedelta(hours=x))  # children finish in another order than started
    return await work(x)


@plait.workflow
async def parent_awaits(ctx: plait.Context) -> list[int]:
    a = await ctx.child(child_wf, 2)
    handle = await ctx.start_child(child_wf, 1)
    b = await handle.result()
    return [a, b]


async def test_child_and_start_child(test_engine: TestEngine) -> None:
    for wf in (parent_awaits, child_wf):
        test_engine.register(wf)
    h = await test_engine.start(parent_awaits, id="p")
    await test_engine.run_until_idle()
    assert await h.result() == [20, 10]
    children = await test_engine.list(parent_id="p")
    assert sorted(c.id for c in children) == ["p:1", "p:3"]  # "<parent id>:<seq>"
    assert all(c.status == plait.WorkflowStatus.COMPLETED for c in children)
    assert all(c.name == "child_wf" for c in children)
    assert [(e.kind, e.name) for e in await test_engine.journal("p")] == [
        ("child", "child_wf"),
        ("child_result", "child_wf"),
        ("child", "child_wf"),
        ("child_result", "child_wf"),
    ]
    assert calls == {"work:1": 1, "work:2": 1}


@plait.workflow
async def parent_gathers(ctx: plait.Context, n: int) -> list[int]:
    results = await asyncio.gather(*(ctx.child(child_wf, n - i) for i in range(n)))
    await ctx.sleep(timedelta(days=1))  # replay the gather once more
    return list(results)


async def test_gather_of_children_is_deterministic(test_engine: TestEngine) -> None:
    for wf in (parent_gathers, child_wf):
        test_engine.register(wf)
    h = await test_engine.start(parent_gathers, 5, id="g")
    await test_engine.run_until_idle()
    assert await h.result() == [50, 40, 30, 20, 10]
    assert sum(calls.values()) == 5
    journal = await test_engine.journal("g")
    starts = [e for e in journal if e.kind == "child"]
    assert [e.output for e in starts] == ["g:1", "g:3", "g:5", "g:7", "g:9"]
    for i, e in enumerate(starts):
        info = await test_engine.get(e.output)
        assert info.input == [5 - i]


@plait.workflow
async def failing_child(ctx: plait.Context, why: str) -> int:
    await ctx.sleep(60)
    raise ValueError(why)


@plait.workflow
async def parent_handles_failure(ctx: plait.Context) -> list[str]:
    try:
        await ctx.child(failing_child, "no budget")
    except plait.ChildWorkflowFailed as exc:
        assert isinstance(exc, plait.WorkflowFailed)
        return [exc.workflow_id, exc.error_type, exc.message, str(bool(exc.traceback))]
    return ["not reached"]


@plait.workflow
async def parent_lets_it_escape(ctx: plait.Context) -> int:
    return await ctx.child(failing_child, "boom")


async def test_failing_child_raises_child_workflow_failed(test_engine: TestEngine) -> None:
    for wf in (parent_handles_failure, parent_lets_it_escape, failing_child):
        test_engine.register(wf)
    h = await test_engine.start(parent_handles_failure, id="p1")
    h2 = await test_engine.start(parent_lets_it_escape, id="p2")
    await test_engine.run_until_idle()
    assert await h.result() == ["p1:1", "ValueError", "no budget", "True"]
    with pytest.raises(plait.WorkflowFailed) as info:
        await h2.result()
    assert info.value.error_type == "ChildWorkflowFailed"
    assert "boom" in info.value.message
    assert (await test_engine.get("p2:1")).status == plait.WorkflowStatus.FAILED


@plait.workflow
async def waits_forever(ctx: plait.Context) -> str:
    try:
        return await ctx.wait_for_signal("never")
    except asyncio.CancelledError:
        calls["child cleanup"] += 1
        raise


@plait.workflow
async def parent_of_waiters(ctx: plait.Context) -> list[str]:
    try:
        return list(await asyncio.gather(*(ctx.child(waits_forever) for _ in range(3))))
    except asyncio.CancelledError:
        calls["parent cleanup"] += 1
        raise


async def test_cancelling_a_parent_cancels_its_children(test_engine: TestEngine) -> None:
    for wf in (parent_of_waiters, waits_forever):
        test_engine.register(wf)
    h = await test_engine.start(parent_of_waiters, id="pc")
    await test_engine.run_until_idle()
    children = await test_engine.list(parent_id="pc")
    assert len(children) == 3
    assert all(c.status == plait.WorkflowStatus.WAITING for c in children)

    await test_engine.cancel("pc")
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowCancelled):
        await h.result()
    for c in await test_engine.list(parent_id="pc"):
        assert c.status == plait.WorkflowStatus.CANCELLED
        with pytest.raises(plait.WorkflowCancelled):
            await test_engine.handle(c.id).result()
    assert calls["child cleanup"] == 3
    assert calls["parent cleanup"] == 1


@plait.workflow
async def parent_with_deadline(ctx: plait.Context) -> str:
    handle = await ctx.start_child(waits_forever)
    try:
        return await handle.result(timeout=timedelta(hours=3))
    except plait.WaitTimeout:
        return f"child {handle.id} too slow"


async def test_child_result_timeout(test_engine: TestEngine) -> None:
    for wf in (parent_with_deadline, waits_forever):
        test_engine.register(wf)
    h = await test_engine.start(parent_with_deadline, id="pd")
    await test_engine.run_until_idle()
    assert await h.result() == "child pd:1 too slow"
    assert (await test_engine.get("pd:1")).status == plait.WorkflowStatus.WAITING


@plait.workflow
async def bad_child_call(ctx: plait.Context) -> None:
    await ctx.child(child_wf, 1, 2, 3)


async def test_bad_child_arguments_fail_the_parent_clearly(test_engine: TestEngine) -> None:
    for wf in (bad_child_call, child_wf):
        test_engine.register(wf)
    h = await test_engine.start(bad_child_call)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="bad arguments for workflow 'child_wf'"):
        await h.result()


@plait.workflow
async def parent_of_one(ctx: plait.Context) -> str:
    try:
        return await ctx.child(waits_forever)
    except plait.ChildWorkflowFailed as exc:
        return f"{exc.workflow_id}: {exc.error_type}"


async def test_cancelling_only_the_child_fails_the_wait_in_the_parent(
    test_engine: TestEngine,
) -> None:
    for wf in (parent_of_one, waits_forever):
        test_engine.register(wf)
    h = await test_engine.start(parent_of_one, id="p")
    await test_engine.run_until_idle()
    await test_engine.cancel("p:1")
    await test_engine.run_until_idle()
    assert await h.result() == "p:1: Cancelled"
    assert calls["child cleanup"] == 1
