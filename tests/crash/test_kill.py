"""kill -9 of a worker process at chosen points; a second worker process finishes the work.

On SQLite and on PostgreSQL. Every test checks the contract of DESIGN.md from the journal
and the execution record (written at each step's start, ``tests/executions.py``): every
workflow completes, each step is journaled once with one successful attempt, a step
recorded before the crash never starts again, and the interrupted step ran at most twice.
"""

from __future__ import annotations

import signal
from datetime import datetime

import pytest

import plait

from .conftest import Cluster


def _ms(value: datetime) -> float:
    return value.timestamp() * 1000


async def _step_entry(engine: plait.Engine, wid: str, key: str) -> plait.StepRecord:
    return next(
        e
        for e in await engine.journal(wid)
        if e.kind == "step" and e.output.split("/", 1)[1] == key
    )


@pytest.mark.parametrize(
    ("detect", "workflow"), [("pid", "pipeline"), ("lease", "pipeline"), ("pid", "threaded")]
)
async def test_kill_during_a_step(
    cluster: Cluster, client: plait.Engine, detect: str, workflow: str
) -> None:
    """(a) The worker dies inside a step (async, or sync in a thread). With its pid known to
    be gone the next worker takes over at once (the 30 s lease is not waited out); with its
    `workers` row gone it takes over when the 2 s lease expires."""
    lease = "30" if detect == "pid" else "2"
    ids = [f"a{i}" for i in range(4)]
    for wid in ids:
        await client.start(workflow, 3, 1, id=wid)
    first = cluster.spawn(hold=60, lease=lease)

    async def all_inside() -> bool:
        return {x.workflow_id for x in cluster.executions() if x.key == "s1"} == set(ids)

    await cluster.until(all_inside, 15, "every workflow inside its held step s1")
    cluster.kill9(first)
    crash = await cluster.crashed(client, ids)
    assert crash.recorded == {wid: {"s0"} for wid in ids}
    rows = cluster.sql("SELECT id, status, lease_expires_at FROM workflows")
    assert {r["status"] for r in rows} == {"running"}
    leases = {r["id"]: r["lease_expires_at"] for r in rows}
    if detect == "lease":
        cluster.sql("DELETE FROM workers")

    cluster.spawn(hold=0, lease=lease)
    await cluster.all_status(client, ids, "completed", 20)

    counts = await cluster.check_exactly_once(client, ids, crash, lambda _: ["s0", "s1", "s2"])
    for wid in ids:
        assert counts[wid, "s1"] == 2  # the interrupted step, run again
        rerun = await _step_entry(client, wid, "s1")
        assert rerun.worker_attempt == 2
        if detect == "pid":
            assert _ms(rerun.started_at) < leases[wid], "waited for the dead worker's lease"
        else:
            assert _ms(rerun.started_at) > leases[wid], "took a lease that had not expired"
        info = await client.get(wid)
        # taken over once (attempt 2); the count of recoveries without progress is back to 0
        assert (info.attempt, info.recoveries) == (2, 0)
        assert await (client.handle(wid)).result(timeout=1) == [f"{wid}/s{i}" for i in range(3)]


@pytest.mark.parametrize("point", ["record-before", "record-after", "finish-before"])
async def test_kill_around_the_journal_write(
    cluster: Cluster, client: plait.Engine, point: str
) -> None:
    """(b) The worker dies after step s1's side effect, just before its journal write (the
    step runs again: twice in all), or just after it (the step never runs again), or
    after the last step, before the workflow's end is written (no step runs again)."""
    ids = [f"b{i}" for i in range(5)]
    for wid in ids:
        await client.start("pipeline", 4, -1, id=wid)
    first = cluster.spawn(at=f"{point}:2")
    assert cluster.wait_exit(first, 15) == -9, cluster.log_text()
    (victim,) = cluster.marked()
    crash = await cluster.crashed(client, ids)
    assert ("s1" in crash.recorded[victim]) == (point != "record-before")
    if point == "finish-before":
        assert len(crash.recorded[victim]) == 4 and (await client.get(victim)).status == "running"

    cluster.spawn()
    await cluster.all_status(client, ids, "completed", 20)
    counts = await cluster.check_exactly_once(
        client, ids, crash, lambda _: ["s0", "s1", "s2", "s3"]
    )
    assert counts[victim, "s1"] == (2 if point == "record-before" else 1)
    for wid in ids:
        assert await (client.handle(wid)).result(timeout=1) == [f"{wid}/s{i}" for i in range(4)]


@pytest.mark.parametrize("point", ["suspend-before", "suspend-mid", "suspend-after"])
async def test_kill_while_suspending(cluster: Cluster, client: plait.Engine, point: str) -> None:
    """(c) The worker dies as a workflow suspends on a signal wait: before the suspension
    is written, inside its transaction before COMMIT (rolled back), or after the commit. A
    lone wait records itself and the suspension in one transaction; waits beside other
    operations suspend through Store.suspend; the injection covers both.
    Either way the next worker (or the signal) carries the workflow on; no step repeats."""
    ids = [f"c{i}" for i in range(3)]
    for wid in ids:
        await client.start("waiter", id=wid)
    first = cluster.spawn(at=point)
    assert cluster.wait_exit(first, 15) == -9, cluster.log_text()
    (victim,) = cluster.marked()
    info = await client.get(victim)
    last = (await client.journal(victim))[-1]
    if point == "suspend-after":
        assert (last.kind, last.status) == ("signal", "waiting")
        assert (info.status, info.lease_owner) == ("waiting", None)
    else:  # nothing of the wait (recorded with the suspension) was committed: the dead
        # worker still holds the lease, and the journal ends with the step before the wait
        assert last.kind == "step"
        assert info.status == "running" and info.lease_owner is not None
    crash = await cluster.crashed(client, ids)
    assert "before" in crash.recorded[victim]

    cluster.spawn()
    await cluster.all_status(client, ids, "waiting", 20)
    for n, wid in enumerate(ids):
        await client.signal(wid, "go", n)
    await cluster.all_status(client, ids, "completed", 20)
    await cluster.check_exactly_once(client, ids, crash, lambda _: ["before", "after"])
    for n, wid in enumerate(ids):
        assert await (client.handle(wid)).result(timeout=1) == n


async def test_a_frozen_worker_cannot_write_after_losing_its_lease(
    cluster: Cluster, client: plait.Engine
) -> None:
    """A worker frozen (SIGSTOP) inside a step is alive, so it is not taken for dead: its
    workflows move on only when its 2 s lease expires. Thawed while the new worker is
    inside the same step, it finishes the step first, but its stale attempt cannot write
    (fencing): the journal keeps the new worker's result and the zombie runs nothing more."""
    ids = [f"z{i}" for i in range(3)]
    for wid in ids:
        await client.start("pipeline", 3, 1, id=wid)
    zombie = cluster.spawn(hold=3, lease=2)

    def inside_s1(pid: int) -> set[str]:
        return {x.workflow_id for x in cluster.executions() if x.key == "s1" and x.pid == pid}

    async def zombie_inside() -> bool:
        return inside_s1(zombie.pid) == set(ids)

    await cluster.until(zombie_inside, 15, "every workflow inside its held step s1")
    zombie.send_signal(signal.SIGSTOP)
    try:
        crash = await cluster.crashed(client, ids)
        successor = cluster.spawn(hold=3, lease=2)

        async def successor_inside() -> bool:
            return inside_s1(successor.pid) == set(ids)

        await cluster.until(successor_inside, 15, "the new worker inside s1 (lease expired)")
    finally:
        zombie.send_signal(signal.SIGCONT)

    async def fenced_off() -> bool:
        return cluster.logs[0].read_text().count("lease lost") == len(ids)

    await cluster.until(fenced_off, 15, "the thawed worker's writes refused (lease lost)")
    await cluster.all_status(client, ids, "completed", 20)
    assert zombie.poll() is None
    for wid in ids:
        assert (await _step_entry(client, wid, "s1")).worker_attempt == 2
    counts = await cluster.check_exactly_once(client, ids, crash, lambda _: ["s0", "s1", "s2"])
    assert all(counts[w, "s1"] == 2 for w in ids)
    assert not [x for x in cluster.executions() if x.pid == zombie.pid and x.key == "s2"]
    zombie.send_signal(signal.SIGTERM)
    assert cluster.wait_exit(zombie, 10) == 0


async def test_live_workers_keep_their_leases(cluster: Cluster, client: plait.Engine) -> None:
    """Two live workers, steps more than twice as long as the 3 s lease: heartbeats keep
    each workflow with the worker that claimed it, so no step runs twice and nothing is
    taken over. (The lease is not shorter so that a loaded machine delaying a heartbeat by
    a second does not count as a lost lease.)"""
    ids = [f"l{i}" for i in range(10)]
    for wid in ids:
        await client.start("pipeline", 3, 1, id=wid)
    workers = [cluster.spawn(hold=7, lease=3, concurrency=5) for _ in range(2)]
    await cluster.all_status(client, ids, "completed", 60)
    record = cluster.executions()
    assert sorted((x.workflow_id, x.key) for x in record) == sorted(
        (w, f"s{i}") for w in ids for i in range(3)
    )
    assert {x.pid for x in record} == {w.pid for w in workers}  # both did work
    assert {x.attempt for x in record} == {1}
    for wid in ids:
        info = await client.get(wid)
        assert (info.attempt, info.recoveries) == (1, 0), info
    for w in workers:
        assert "lease lost" not in cluster.log_text()
        w.send_signal(signal.SIGTERM)
        assert cluster.wait_exit(w, 10) == 0
