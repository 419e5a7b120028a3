"""Store conformance: claiming, leases, reclaiming, the crash-loop cap, fencing, heartbeats,
release, and workers. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from plait.store import Store
from plait.store.records import CHILD_SIGNAL, LeaseLostError, ListFilter, Wait
from plait.types import WorkflowStatus

from .helpers import LEASE, NOW, W1, W2, claim, fence, new, running, step, waiting


async def test_claim_takes_ready_workflows_by_priority_up_to_the_limit(store: Store) -> None:
    await store.create_workflow(new("low"), NOW)
    await store.create_workflow(new("high", priority=5), NOW)
    await store.create_workflow(new("older"), NOW - 1)
    first = await claim(store, limit=2)
    assert [c.id for c in first] in (["high", "older"], ["older", "high"])
    (c,) = first[:1] if first[0].id == "high" else first[1:]
    assert (c.name, c.version, c.input, c.attempt, c.journal) == ("wf", "1", "[1]", 1, [])
    assert [c.id for c in await claim(store)] == ["low"]
    assert await claim(store) == []
    info = await store.get("high")
    assert info is not None
    assert (info.status, info.lease_owner, info.attempt) == ("running", W1, 1)


async def test_claim_takes_only_registered_name_version_pairs_and_queues(store: Store) -> None:
    await store.create_workflow(new("v1"), NOW)
    await store.create_workflow(new("v2", version="2"), NOW)
    await store.create_workflow(new("x", name="other"), NOW)
    await store.create_workflow(new("q", queue="llm"), NOW)
    assert await claim(store, pairs=()) == []
    assert await claim(store, limit=0) == []
    assert [c.id for c in await claim(store, queues=("default",))] == ["v1"]
    assert [c.id for c in await claim(store, pairs=(("wf", "2"),))] == ["v2"]
    assert [c.id for c in await claim(store, queues=("llm", "default"))] == ["q"]
    assert [c.id for c in await claim(store, pairs=(("other", "1"), ("wf", "1")))] == ["x"]


async def test_concurrent_claims_never_take_a_workflow_twice(store: Store, other: Store) -> None:
    for i in range(60):
        await store.create_workflow(new(f"w{i}"), NOW)
    rounds = await asyncio.gather(
        *(claim(s, f"worker-{n}", limit=7) for n in range(6) for s in (store, other))
    )
    taken = [c.id for r in rounds for c in r]
    assert len(taken) == len(set(taken))
    taken += [c.id for c in await claim(store, limit=100)]
    assert sorted(taken) == sorted(f"w{i}" for i in range(60))


async def test_an_expired_lease_is_reclaimed_by_the_next_claim(store: Store) -> None:
    f1 = await running(store, "a", queue="default")
    assert await claim(store, W2, now=NOW + LEASE - 1) == []  # not expired yet
    (c,) = await claim(store, W2, now=NOW + LEASE + 1)
    assert (c.id, c.attempt) == ("a", f1.attempt + 1)
    info = await store.get("a")
    assert info is not None
    assert (info.lease_owner, info.recoveries, info.status) == (W2, 1, "running")


async def test_a_crash_loop_fails_the_workflow_and_tells_its_parent(store: Store) -> None:
    parent = await running(store, "p")
    await store.suspend(parent, NOW, [], Wait((CHILD_SIGNAL + "p:1",)))
    await store.create_workflow(new("p:1", parent_id="p"), NOW)
    now = NOW
    for expected_recoveries in (0, 1, 2):
        (c,) = await claim(store, now=now, queues=("default",), lease=1000, max_recoveries=2)
        info = await store.get("p:1")
        assert info is not None and info.recoveries == expected_recoveries
        now += 1001  # the worker "died": its lease runs out
    assert await claim(store, now=now, queues=("default",), lease=1000, max_recoveries=2) == []
    info = await store.get("p:1")
    assert info is not None
    assert info.status == WorkflowStatus.FAILED
    assert info.error is not None and info.error.type == "CrashLoop"
    assert "max_recoveries=2" in info.error.message
    parent_info = await store.get("p")
    assert parent_info is not None and parent_info.status == "pending"  # woken to see it


async def test_a_stale_attempt_can_write_nothing(store: Store) -> None:
    stale = await running(store, "a", queue="default")
    await store.record(stale, NOW, [step(1)], [])
    (c,) = await claim(store, W2, now=NOW + LEASE + 1)
    live = fence(c, W2)
    before = await store.journal("a")

    later = NOW + LEASE + 2
    with pytest.raises(LeaseLostError):
        await store.record(stale, later, [step(2)], [])
    with pytest.raises(LeaseLostError):
        await store.wait(stale, later, [], waiting(2), ("go",), True)
    with pytest.raises(LeaseLostError):
        await store.suspend(stale, later, [step(2)], Wait(until=later + 5))
    with pytest.raises(LeaseLostError):
        await store.start_child(stale, later, [], step(2, "child"), new("a:2", parent_id="a"))
    with pytest.raises(LeaseLostError):
        await store.finish(stale, later, [step(2)], WorkflowStatus.COMPLETED, '"x"', None)
    await store.release(stale, later)  # not an error, and not a write either

    assert await store.journal("a") == before
    assert await store.get("a:2") is None
    info = await store.get("a")
    assert info is not None
    assert (info.status, info.attempt, info.lease_owner, info.output) == (
        "running",
        live.attempt,
        W2,
        None,
    )
    await store.record(live, later, [step(2)], [])
    assert [e.worker_attempt for e in await store.journal("a")] == [stale.attempt, live.attempt]


async def test_a_finished_workflow_takes_no_more_fenced_writes(store: Store) -> None:
    f = await running(store, "a")
    await store.finish(f, NOW, [step(1)], WorkflowStatus.COMPLETED, '"done"', None)
    with pytest.raises(LeaseLostError):
        await store.record(f, NOW + 1, [step(2)], [])
    info = await store.get("a")
    assert info is not None
    assert (info.status, info.output, info.lease_owner) == ("completed", '"done"', None)


async def test_writing_a_recorded_seq_again_is_a_lost_lease(store: Store) -> None:
    f = await running(store, "a")
    await store.record(f, NOW, [step(1)], [])
    with pytest.raises(LeaseLostError):
        await store.record(f, NOW, [step(2), step(1, "again")], [])
    assert [e.name for e in await store.journal("a")] == ["s"]  # step 2 was not kept either


async def test_a_fenced_write_leaves_the_lease_to_the_heartbeat(store: Store) -> None:
    # Fenced writes only read-lock the row (no new row version per step); the heartbeat is
    # what keeps a lease, so a worker that writes but no longer beats loses it.
    f = await running(store, "a", queue="default")
    await store.record(f, NOW + LEASE - 1, [step(1)], [])
    assert len(await claim(store, W2, now=NOW + LEASE + 1)) == 1
    with pytest.raises(LeaseLostError):
        await store.record(f, NOW + LEASE + 2, [step(2)], [])


async def test_heartbeat_extends_all_leases_of_the_worker(store: Store) -> None:
    for wid in ("a", "b"):
        await running(store, wid, queue="default")
    await running(store, "c", W2, queue="default")
    assert await store.heartbeat(W1, NOW + LEASE - 1, LEASE) == set()
    taken = await claim(store, "w3", now=NOW + LEASE + 1)
    assert [c.id for c in taken] == ["c"]  # W2 did not beat


async def test_heartbeat_reports_cancellations_and_passed_deadlines(store: Store) -> None:
    await running(store, "a")
    await running(store, "b", deadline_at=NOW + 1000)
    await running(store, "c")
    await store.cancel("a", NOW)
    assert await store.heartbeat(W1, NOW + 10, LEASE) == {"a"}
    assert await store.heartbeat(W1, NOW + 1000, LEASE) == {"a", "b"}
    info = await store.get("b")
    assert info is not None and info.cancel_requested


async def test_release_hands_the_workflow_back_at_once(store: Store) -> None:
    f = await running(store, "a", queue="default")
    await store.release(f, NOW + 5)
    info = await store.get("a")
    assert info is not None
    assert (info.status, info.lease_owner, info.recoveries) == ("pending", None, 0)
    (c,) = await claim(store, W2, now=NOW + 5)
    assert c.attempt == f.attempt + 1
    info = await store.get("a")
    assert info is not None and info.recoveries == 0  # a release is not a crash


async def test_workers_register_and_dead_ones_are_expired(store: Store) -> None:
    await store.register_worker(W1, {"hostname": "host-a", "pid": 101, "process_start": "7"}, NOW)
    await store.register_worker(W2, {"hostname": "host-b", "pid": 202}, NOW)
    assert await store.workers_on("host-a") == [(W1, 101, "7")]
    assert await store.workers_on("host-b") == [(W2, 202, None)]
    await running(store, "a", W1, queue="default")
    await running(store, "b", W1, queue="default")
    assert await store.expire_workers([], NOW) == 0
    assert await store.expire_workers([W1], NOW + 10) == 2
    assert await store.workers_on("host-a") == []
    taken = await claim(store, W2, now=NOW + 10)
    assert sorted(c.id for c in taken) == ["a", "b"]
    await store.unregister_worker(W2)
    assert await store.workers_on("host-b") == []
    infos = await store.list_workflows(ListFilter(status=(WorkflowStatus.RUNNING,)))
    assert {i.lease_owner for i in infos} == {W2}
