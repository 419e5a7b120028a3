"""Store conformance: the fenced writes' short and full paths give the same answers.

On SQLite a step's record and a workflow's finish are one statement when there is nothing
to report or reset (no cancellation requested, no crash-loop count; no parent, no open human
task); otherwise the full fence runs. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from plait.store import Store
from plait.store.records import CHILD_SIGNAL, LeaseLostError, Wait
from plait.types import WorkflowStatus

from .helpers import LEASE, NOW, W2, claim, fence, running, step, waiting


async def test_a_record_reports_a_requested_cancellation_and_still_writes(store: Store) -> None:
    f = await running(store, "a")
    assert await store.record(f, NOW, [step(1)], []) is False
    await store.cancel("a", NOW + 1)
    assert await store.record(f, NOW + 2, [step(2)], []) is True
    assert await store.record(f, NOW + 3, [step(3), step(4)], []) is True
    assert [e.seq for e in await store.journal("a")] == [1, 2, 3, 4]


async def test_a_write_after_a_recovery_resets_the_crash_loop_count(store: Store) -> None:
    await running(store, "a", queue="default")
    (c,) = await claim(store, W2, now=NOW + LEASE + 1)
    live = fence(c, W2)
    info = await store.get("a")
    assert info is not None and info.recoveries == 1
    assert await store.record(live, NOW + LEASE + 2, [step(1), step(2)], []) is False
    info = await store.get("a")
    assert info is not None and info.recoveries == 0
    journal = await store.journal("a")
    assert [(e.seq, e.worker_attempt) for e in journal] == [(1, live.attempt), (2, live.attempt)]


async def test_a_stale_attempt_with_several_entries_writes_none(store: Store) -> None:
    stale = await running(store, "a", queue="default")
    await claim(store, W2, now=NOW + LEASE + 1)
    with pytest.raises(LeaseLostError):
        await store.record(stale, NOW + LEASE + 2, [step(1), step(2)], [])
    assert await store.journal("a") == []


async def test_a_childs_finish_tells_its_parent_and_a_stale_one_writes_nothing(
    store: Store,
) -> None:
    parent = await running(store, "p")
    await store.suspend(parent, NOW, [], Wait((CHILD_SIGNAL + "p:1",)))
    stale = await running(store, "p:1", parent_id="p", queue="kids")
    (c,) = await claim(store, W2, now=NOW + LEASE + 1, queues=("kids",))
    with pytest.raises(LeaseLostError):
        await store.finish(stale, NOW + LEASE + 2, [step(1)], WorkflowStatus.COMPLETED, "1", None)
    info = await store.get("p")
    assert info is not None and info.status == "waiting"  # not told by the stale attempt
    live = fence(c, W2)
    await store.finish(live, NOW + LEASE + 3, [step(1)], WorkflowStatus.COMPLETED, "2", None)
    child = await store.get("p:1")
    assert child is not None and (child.status, child.output) == ("completed", "2")
    assert [e.worker_attempt for e in await store.journal("p:1")] == [live.attempt]
    info = await store.get("p")
    assert info is not None and info.status == "pending"  # woken by its child's end


async def test_a_cancelled_finish_closes_its_open_waits(store: Store) -> None:
    f = await running(store, "a")
    outcome = await store.wait(f, NOW, [step(1)], waiting(2), ("go",), True)
    assert outcome.state == "park"
    await store.finish(f, NOW + 1, [], WorkflowStatus.CANCELLED, None, {"type": "Cancelled"})
    journal = await store.journal("a")
    assert [(e.seq, e.status) for e in journal] == [(1, "completed"), (2, "cancelled")]
    info = await store.get("a")
    assert info is not None and (info.status, info.lease_owner) == ("cancelled", None)
