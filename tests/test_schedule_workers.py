"""Schedules with real worker processes, on both backends: three workers start each tick of a
schedule exactly once (no duplicate, no gap); with every worker stopped for a few ticks, the
restarted workers catch up by each schedule's policy ("all": every missed tick, "one": the
latest only)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

import plait
from tests.procs import WorkerProcesses

# PostgreSQL: workers on many hosts, SKIP LOCKED; SQLite: the write transaction serializes them.
pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(tmp_path, "tests.schedule_app:engine")
    try:
        yield procs
    finally:
        procs.cleanup()


def stop_all(workers: WorkerProcesses) -> None:
    """SIGTERM to every running worker, and waits for each to exit (cleanly, or by the
    signal when it came before the worker installed its handler)."""
    running = [p for p in workers.procs if p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    for proc in running:
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)


def tick_of(workflow_id: str) -> int:
    """The tick (whole epoch seconds) in a scheduled workflow's id."""
    return int(datetime.fromisoformat(workflow_id.split("@", 1)[1]).timestamp())


async def test_three_workers_start_each_tick_once_and_catch_up(
    db_url: str, workers: WorkerProcesses
) -> None:
    env = {"PLAIT_SCHEDULE_DB": db_url}

    def start_three() -> None:
        for _ in range(3):
            workers.start_worker(env, concurrency=10, grace=5)

    async with plait.Engine(db_url) as client:

        async def ticks(schedule: str) -> list[int]:
            found = await client.list(name="tick", limit=1000)
            return sorted(tick_of(w.id) for w in found if w.id.startswith(f"{schedule}@"))

        async def ticked(schedule: str, n: int) -> bool:
            return len(await ticks(schedule)) >= n

        start_three()
        await workers.until(lambda: ticked("all", 5), 30, "five ticks of 'all'")
        before = await ticks("all")
        assert before == list(range(before[0], before[0] + len(before)))  # no gap, once each

        stop_all(workers)
        stopped = time.time()
        last = {s: (await ticks(s))[-1] for s in ("all", "one")}
        await asyncio.sleep(3)  # about three ticks pass with no worker running
        restarted = time.time()
        start_three()

        async def caught_up() -> bool:
            return all([(await ticks(s))[-1] >= restarted for s in ("all", "one")])

        await workers.until(caught_up, 30, "ticks after the restart")

        every = await ticks("all")
        assert every == list(range(every[0], every[-1] + 1)), "'all' left a gap or doubled"
        missed = [t for t in range(last["all"] + 1, int(restarted) + 1) if t > stopped]
        assert len(missed) >= 2 and set(missed) <= set(every)

        one = await ticks("one")
        assert len(one) == len(set(one))
        # Of the ticks missed while no worker ran, "one" started only the latest, late.
        b = next(t for t in one if t > last["one"])
        assert b > restarted - 1 and b - last["one"] >= 3, (last["one"], restarted, one)

        async def done() -> bool:
            found = await client.list(name="tick", limit=1000)
            return all(w.status == plait.WorkflowStatus.COMPLETED for w in found)

        await workers.until(done, 30, "every scheduled workflow completed")
        stop_all(workers)
        finished = await client.list(name="tick", limit=1000)
        for w in finished:  # each started once, by its schedule
            [started] = await client.events(w.id)
            assert started.by == f"schedule:{w.id.split('@')[0]}"
