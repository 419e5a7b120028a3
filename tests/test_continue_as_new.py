"""ctx.continue_as_new: the workflow ends its run and a new run with the same id, new
arguments and a fresh journal starts at once; the finished runs stay listed."""

from __future__ import annotations

import pytest

import plait
from plait.testing import TestEngine

ran: list[int] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    ran.clear()


@plait.step
async def work(n: int) -> int:
    ran.append(n)
    return n * 10


@plait.workflow
async def loop(ctx: plait.Context, n: int, total: int) -> int:
    total += await work(n)
    ctx.set_status(f"round {n}")
    if n < 3:
        ctx.continue_as_new(n + 1, total)
    return total


async def test_a_loop_continues_as_new_three_times(test_engine: TestEngine) -> None:
    test_engine.register(loop)
    h = await test_engine.start(loop, 0, 0)
    await test_engine.run_until_idle()
    assert await h.result() == 60
    assert ran == [0, 1, 2, 3]  # each step ran once, in its own run
    journal = await test_engine.journal(h.id)
    # Fresh: only the last run's entries (its positions go on from the runs before it).
    assert [(e.seq, e.name, e.output) for e in journal] == [(4, "work", 30)]
    runs = await test_engine.runs(h.id)
    assert [(r.run, r.input, [(e.name, e.output) for e in r.journal]) for r in runs] == [
        (1, [0, 0], [("work", 0)]),
        (2, [1, 0], [("work", 10)]),
        (3, [2, 10], [("work", 20)]),
    ]
    assert all(r.workflow_id == h.id for r in runs)
    info = await test_engine.get(h.id)
    assert info.input == [3, 30] and info.status_text == "round 3"


@plait.workflow
async def asks_then_continues(ctx: plait.Context, n: int) -> str:
    key = ctx.idempotency_key
    if n == 0:
        await ctx.wait_for_signal("go")
        ctx.continue_as_new(1)
    approval = await ctx.ask_human("again?")
    return f"{key} {approval.approved}"


async def test_ids_of_the_next_run_do_not_collide_with_the_last(test_engine: TestEngine) -> None:
    test_engine.register(asks_then_continues)
    h = await test_engine.start(asks_then_continues, 0, id="w")
    await test_engine.run_until_idle()
    await test_engine.signal(h.id, "go")
    await test_engine.run_until_idle()
    [task] = await test_engine.tasks(workflow_id="w", status="open")
    assert task.id == "w:2"  # run 2 goes on from run 1's position 1
    await test_engine.complete_task(task.id, True)
    await test_engine.run_until_idle()
    assert await h.result() == "w:2 True"


async def test_bad_arguments_fail_the_run_and_write_nothing_new(test_engine: TestEngine) -> None:
    @plait.workflow(name="bad_continue")
    async def bad(ctx: plait.Context, n: int) -> None:
        ctx.continue_as_new("not a number")

    test_engine.register(bad)
    h = await test_engine.start(bad, 1)
    await test_engine.run_until_idle()
    info = await test_engine.get(h.id)
    assert info.status == plait.WorkflowStatus.FAILED
    assert info.error is not None and "n" in info.error.message
    assert await test_engine.runs(h.id) == []
