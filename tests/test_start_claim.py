"""A start in the process of a worker with a free slot claims in its own transaction (issue
12, PostgreSQL latency): the new workflow runs without the worker's separate claim, a
cancelled caller does not strand it, and nothing jumps ahead of what the ordinary claim
would have taken first (queue limits, a ready workflow of higher priority)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import plait
from plait.store.records import NewWorkflow


@plait.step
async def bump(i: int) -> int:
    return i + 1


@plait.workflow
async def two_steps(ctx: plait.Context, i: int) -> int:
    once: int = await bump(i)
    twice: int = await bump(once)
    return twice


def _count(engine: plait.Engine, names: tuple[str, ...]) -> Counter[str]:
    counts: Counter[str] = Counter()
    store: Any = engine.store
    for name in names:
        real = getattr(store, name)

        async def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            counts[_name] += 1
            return await _real(*args, **kw)

        setattr(store, name, counted)
    return counts


async def test_a_start_next_to_an_idle_worker_claims_in_its_transaction(db_url: str) -> None:
    async with plait.Engine(db_url, workflows=[two_steps]) as engine:
        async with engine.worker(concurrency=4):
            await asyncio.sleep(0.05)  # the claim loop is idle now
            names = ("claim", "start_and_claim", "create_workflow", "get", "get_result")
            counts = _count(engine, names)
            for i in range(5):
                assert await (await engine.start(two_steps, i)).result(timeout=30) == i + 2
            assert counts["start_and_claim"] == 5 and counts["create_workflow"] == 0
            # neither the worker's claim loop nor result() had to read or claim in between
            assert counts["claim"] == counts["get"] == counts["get_result"] == 0, counts
            info = (await engine.list(name=two_steps.name))[0]
            assert info.status == plait.WorkflowStatus.COMPLETED
            (started,) = [e for e in await engine.events(info.id) if e.kind == "started"]
            assert started.by == "system"


async def test_a_burst_of_starts_goes_the_ordinary_way(db_url: str) -> None:
    async with plait.Engine(db_url, workflows=[two_steps]) as engine:
        async with engine.worker(concurrency=100):
            await asyncio.sleep(0.05)
            counts = _count(engine, ("start_and_claim", "create_workflow"))
            handles = await asyncio.gather(*(engine.start(two_steps, i) for i in range(20)))
            assert await asyncio.gather(*(h.result(timeout=30) for h in handles)) == [
                i + 2 for i in range(20)
            ]
            assert counts["start_and_claim"] <= 2 and counts["create_workflow"] >= 18, counts


_gate: dict[str, asyncio.Event] = {}


@plait.step
async def held(i: int) -> int:
    await _gate["open"].wait()
    return i


@plait.workflow
async def gated(ctx: plait.Context, i: int) -> int:
    value: int = await held(i)
    return value


async def test_result_reads_nothing_while_the_claim_loop_s_run_goes_on_here(db_url: str) -> None:
    """A workflow of a burst is claimed by the claim loop, not by its start: result() still
    need not read its row while a worker of this process runs it (its end here wakes it)."""
    _gate["open"] = asyncio.Event()
    async with plait.Engine(db_url, workflows=[gated]) as engine:
        async with engine.worker(concurrency=100):
            handles = await asyncio.gather(*(engine.start(gated, i) for i in range(10)))
            for _ in range(200):  # until every one is claimed and waits in its step
                running = await engine.list(name=gated.name, status="running")
                if len(running) == 10:
                    break
                await asyncio.sleep(0.02)
            assert len(running) == 10
            counts = _count(engine, ("get_result", "get"))
            waiting = asyncio.gather(*(h.result(timeout=30) for h in handles))
            await asyncio.sleep(0.05)
            _gate["open"].set()
            assert await waiting == list(range(10))
            assert counts["get_result"] == counts["get"] == 0, counts
            # a handle of an ended workflow reads it, as before
            assert await engine.handle(handles[0].id).result(timeout=30) == 0
            assert counts["get_result"] == 1, counts


async def test_a_cancelled_caller_does_not_strand_the_claimed_workflow(db_url: str) -> None:
    async with plait.Engine(db_url, workflows=[two_steps]) as engine:
        async with engine.worker(concurrency=4):
            await asyncio.sleep(0.05)
            start = asyncio.ensure_future(engine.start(two_steps, 1, id="cut"))
            await asyncio.sleep(0)  # the start and its claim are on their way
            start.cancel()
            for _ in range(100):  # it committed (or not) and, if claimed, it runs here
                info = await engine.get("cut") if await engine.list(name=two_steps.name) else None
                if info is not None and info.status == plait.WorkflowStatus.COMPLETED:
                    break
                await asyncio.sleep(0.05)
            rows = await engine.list(name=two_steps.name)
            assert all(r.status == plait.WorkflowStatus.COMPLETED for r in rows), rows


def _new(engine: plait.Engine, wid: str, priority: int = 0, queue: str = "default") -> NewWorkflow:
    return engine.new_workflow(two_steps, (1,), id=wid, priority=priority, queue=queue)


async def _start_and_claim(engine: plait.Engine, new: NewWorkflow, worker: str) -> list[str]:
    now = engine.clock.now_ms()
    (_, created), claimed = await engine.store.start_and_claim(
        new, now, "system", worker, engine.registered_pairs, None, 1, 60_000, 3
    )
    assert created
    return [c.id for c in claimed]


async def test_the_start_claims_nothing_the_ordinary_claim_would_not(db_url: str) -> None:
    async with plait.Engine(
        db_url, workflows=[two_steps], queues=[plait.Queue("capped", concurrency=1)]
    ) as engine:
        await engine.store.register_worker("w1", {"hostname": "h", "pid": 1}, 0)
        assert await _start_and_claim(engine, _new(engine, "a"), "w1") == ["a"]
        info = await engine.get("a")
        assert (info.status, info.attempt) == (plait.WorkflowStatus.RUNNING, 1)
        # a ready workflow of higher priority waits: the ordinary claim would take it first
        await engine.store.create_workflow(_new(engine, "high", priority=5), 0)
        assert "b" not in await _start_and_claim(engine, _new(engine, "b"), "w1")
        assert (await engine.get("b")).status == plait.WorkflowStatus.PENDING
        # a limited queue: its limits decide, as in the ordinary claim
        await _start_and_claim(engine, _new(engine, "c1", queue="capped"), "w1")
        assert "c2" not in await _start_and_claim(engine, _new(engine, "c2", queue="capped"), "w1")
        assert (await engine.get("c2")).status == plait.WorkflowStatus.PENDING
