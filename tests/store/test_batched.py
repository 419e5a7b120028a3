"""Store conformance: operations sent together give each the answer it gets alone.

On SQLite a run of step records, starts, finishes or result reads in one batch is one
statement (``executemany``, or one SELECT), and falls back to running each as it would
alone when any of them needs more (a stale attempt, a requested cancellation, an id that
exists, a parent to tell). These tests send such mixed runs in one batch (the store's
executor is held while they queue) and check every answer and write. Every test runs on
SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

from plait.errors import WorkflowAlreadyExists, WorkflowNotFound
from plait.store import Store
from plait.store.records import CHILD_SIGNAL, GcFilter, LeaseLostError, ListFilter, ResultRow, Wait
from plait.types import ErrorInfo, WorkflowEventKind, WorkflowStatus

from .helpers import LEASE, NOW, W2, claim, fence, new, running, step, waiting


@asynccontextmanager
async def held(store: Store) -> AsyncIterator[None]:
    """Keeps the store's executor threads busy until the block ends, so that what is sent
    in it queues up and runs as one batch (per executor)."""
    executor: Any = store._executor  # type: ignore[attr-defined]
    members = getattr(executor, "_members", [executor])
    gate, started = threading.Event(), [threading.Event() for _ in members]

    def hold(i: int) -> Any:
        def op(conn: object) -> None:
            started[i].set()
            gate.wait(10)

        return op

    holding = [asyncio.ensure_future(m.run(hold(i), write=False)) for i, m in enumerate(members)]
    for event in started:
        await asyncio.to_thread(event.wait, 10)
    try:
        yield
    finally:
        gate.set()
        await asyncio.gather(*holding)


async def together(store: Store, *calls: Awaitable[Any]) -> list[Any]:
    """The calls' results (or errors), sent while the executor is held: one batch."""
    futures = []
    async with held(store):
        futures = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0.05)  # every call reaches the executor's queue
    return await asyncio.gather(*futures, return_exceptions=True)


async def test_a_run_of_records_with_stale_cancelled_and_clean_ones(store: Store) -> None:
    clean = [await running(store, f"c{i}") for i in range(3)]
    cancelled = await running(store, "x")
    await store.cancel("x", NOW)
    stale = await running(store, "s")
    await claim(store, W2, now=NOW + LEASE + 1, queues=("only-s",))
    results = await together(
        store,
        store.record(clean[0], NOW + 2, [step(1)], []),
        store.record(stale, NOW + 2, [step(1)], []),
        store.record(clean[1], NOW + 2, [step(1), step(2)], []),
        store.record(cancelled, NOW + 2, [step(1)], []),
        store.record(clean[2], NOW + 2, [step(1)], []),
    )
    assert results[0] is False and results[2] is False and results[4] is False
    assert isinstance(results[1], LeaseLostError)
    assert results[3] is True  # the cancellation is reported, and the entry written
    assert [e.seq for e in await store.journal("c1")] == [1, 2]
    assert [e.seq for e in await store.journal("x")] == [1]
    assert await store.journal("s") == []  # a stale attempt writes nothing
    for f in (clean[0], clean[2]):
        journal = await store.journal(f.workflow_id)
        assert [(e.seq, e.worker_attempt) for e in journal] == [(1, f.attempt)]


async def test_a_run_of_clean_records_writes_every_entry(store: Store) -> None:
    fences = [await running(store, f"c{i}") for i in range(4)]
    results = await together(
        store,
        *(
            store.record(f, NOW + 1, [step(n) for n in range(1, i + 2)], [])
            for i, f in enumerate(fences)
        ),
    )
    assert results == [False] * 4
    for i, f in enumerate(fences):
        assert [e.seq for e in await store.journal(f.workflow_id)] == list(range(1, i + 2))


async def test_a_record_of_an_entry_already_written_fails_alone(store: Store) -> None:
    a, b, c = [await running(store, w) for w in "abc"]
    await store.record(b, NOW, [step(1)], [])
    results = await together(
        store,
        store.record(a, NOW + 1, [step(1)], []),
        store.record(b, NOW + 1, [step(1, output='"again"')], []),
        store.record(c, NOW + 1, [step(1)], []),
    )
    assert results[0] is False and results[2] is False
    assert isinstance(results[1], LeaseLostError)
    assert [e.output for e in await store.journal("b")] == ["ok"]
    assert [e.seq for e in await store.journal("a")] == [1]
    assert [e.seq for e in await store.journal("c")] == [1]


async def test_a_run_of_starts_with_existing_conflicting_and_twice_the_same_id(
    store: Store,
) -> None:
    await store.create_workflow(new("old"), NOW)
    results = await together(
        store,
        store.create_workflow(new("n1"), NOW + 1),
        store.create_workflow(new("old"), NOW + 1),  # the same start: the existing one
        store.create_workflow(new("old", input="[2]", input_hash="h2"), NOW + 1),
        store.create_workflow(new("twice"), NOW + 1),
        store.create_workflow(new("twice"), NOW + 1),
        store.create_workflow(new("n2", priority=4), NOW + 1, by="ana"),
    )
    (n1, c1), (old, c_old), conflict, (t1, ct1), (t2, ct2), (n2, c2) = results
    assert c1 and c2 and ct1 and not ct2 and not c_old
    assert isinstance(conflict, WorkflowAlreadyExists)
    assert old.created_at == (await store.get("old")).created_at  # type: ignore[union-attr]
    for info in (n1, t1, t2, n2):
        assert info == await store.get(info.id)
    assert [(e.kind, e.by) for e in await store.events("n2")] == [
        (WorkflowEventKind.STARTED, "ana")
    ]
    assert len(await store.events("twice")) == 1
    assert len(await store.events("old")) == 1


async def test_a_run_of_new_starts_then_of_clean_finishes(store: Store) -> None:
    starts = [new(f"n{i}", priority=i, available_at=NOW + i) for i in range(4)]
    results = await together(store, *(store.create_workflow(s, NOW, by="ana") for s in starts))
    assert [created for _, created in results] == [True] * 4
    for info, _ in results:
        assert info == await store.get(info.id)
        assert [(e.kind, e.by) for e in await store.events(info.id)] == [
            (WorkflowEventKind.STARTED, "ana")
        ]
    fences = [fence(c) for c in await claim(store, now=NOW + 9)]
    assert len(fences) == 4
    done = WorkflowStatus.COMPLETED
    results = await together(
        store,
        *(
            store.finish(f, NOW + 10, [step(1), step(2)][:i], done, str(i), None)
            for i, f in enumerate(fences)
        ),
    )
    assert results == [None] * 4
    for i, f in enumerate(fences):
        info = await store.get(f.workflow_id)
        assert info is not None and (info.status, info.output) == ("completed", str(i))
        assert [e.seq for e in await store.journal(f.workflow_id)] == [1, 2][:i]


async def test_a_run_of_finishes_with_a_child_a_stale_one_and_a_cancelled_one(
    store: Store,
) -> None:
    clean = [await running(store, f"c{i}") for i in range(3)]
    parent = await running(store, "p")
    await store.suspend(parent, NOW, [], Wait((CHILD_SIGNAL + "p:1",)))
    child = await running(store, "p:1", parent_id="p")
    stale = await running(store, "s")
    (live,) = await claim(store, W2, now=NOW + LEASE + 1, queues=("only-s",))
    waits = await running(store, "w")
    assert (await store.wait(waits, NOW, [step(1)], waiting(2), ("go",), True)).state == "park"
    done = WorkflowStatus.COMPLETED
    results = await together(
        store,
        store.finish(clean[0], NOW + 2, [step(1)], done, "0", None),
        store.finish(child, NOW + 2, [], done, "kid", None),
        store.finish(stale, NOW + 2, [step(1)], done, "stale", None),
        store.finish(clean[1], NOW + 2, [], WorkflowStatus.FAILED, None, {"type": "E"}),
        store.finish(waits, NOW + 2, [], WorkflowStatus.CANCELLED, None, {"type": "Cancelled"}),
        store.finish(clean[2], NOW + 2, [step(1), step(2)], done, "2", None),
    )
    assert [r is None for r in results] == [True, True, False, True, True, True]
    assert isinstance(results[2], LeaseLostError)
    for workflow_id, status, output in (
        ("c0", "completed", "0"),
        ("c1", "failed", None),
        ("c2", "completed", "2"),
        ("p:1", "completed", "kid"),
        ("w", "cancelled", None),
    ):
        info = await store.get(workflow_id)
        assert info is not None and (info.status, info.output) == (status, output)
        assert info.lease_owner is None
    assert [e.seq for e in await store.journal("c2")] == [1, 2]
    assert [(e.seq, e.status) for e in await store.journal("w")] == [
        (1, "completed"),
        (2, "cancelled"),
    ]
    info = await store.get("p")
    assert info is not None and info.status == "pending"  # woken by its child's end
    info = await store.get("s")
    assert info is not None and info.status == "running" and info.attempt == live.attempt
    assert await store.journal("s") == []


async def test_a_run_of_result_reads(store: Store) -> None:
    f = await running(store, "done")
    await store.finish(f, NOW + 1, [], WorkflowStatus.COMPLETED, '"yes"', None)
    g = await running(store, "bad")
    error = {"type": "ValueError", "message": "no", "traceback": "tb"}
    await store.finish(g, NOW + 1, [], WorkflowStatus.FAILED, None, error)
    await store.create_workflow(new("waiting"), NOW)
    ids = ["done", "ghost", "bad", "waiting", "done"]
    results = await together(store, *(store.get_result(i) for i in ids))
    assert results == [
        ResultRow("wf", WorkflowStatus.COMPLETED, '"yes"', None),
        None,
        ResultRow("wf", WorkflowStatus.FAILED, None, ErrorInfo("ValueError", "no", "tb")),
        ResultRow("wf", WorkflowStatus.PENDING, None, None),
        ResultRow("wf", WorkflowStatus.COMPLETED, '"yes"', None),
    ]
    assert await store.get_result("ghost") is None
    assert await store.get_result("bad") == results[2]  # alone, the same answer


async def test_a_read_workflow_is_a_whole_workflow_info(store: Store) -> None:
    await store.create_workflow(new("a", priority=2), NOW)
    info = await store.get("a")
    assert info is not None
    assert dataclasses.replace(info) == info  # every field is there
    (listed,) = await store.list_workflows(ListFilter())
    assert listed == info


async def test_a_read_of_the_event_log_sees_what_its_batch_logged_before_it(one: Store) -> None:
    # Event rows are written just before COMMIT; a read (or gc's delete) in the same batch
    # must still see the actions queued ahead of it.
    await one.create_workflow(new("a"), NOW, by="ana")
    await one.create_workflow(new("b"), NOW, by="ana")
    await one.cancel("b", NOW + 1, by="bob")
    cancelled, events, batch = await together(
        one,
        one.cancel("a", NOW + 2, by="bob"),
        one.events("a"),
        one.collect_workflows(GcFilter(before=NOW + 5), NOW + 10, "gc", True),
    )
    assert cancelled == WorkflowStatus.CANCELLED
    assert [e.kind for e in events] == [WorkflowEventKind.STARTED, WorkflowEventKind.CANCELLED]
    # "a" was cancelled ahead of gc in the batch: it goes too, and so do its events.
    assert batch.deleted["workflows"] == 2
    for wid in ("a", "b"):
        assert [e.kind for e in await one.events(wid)] == [WorkflowEventKind.COLLECTED]


async def test_events_logged_ahead_of_a_failing_read_are_kept(one: Store) -> None:
    # The failing read sends the batch down the savepoint path; the cancel's event must be
    # written once, not undone with the read and not written twice.
    await one.create_workflow(new("a"), NOW, by="ana")
    results = await together(
        one,
        one.cancel("a", NOW + 1, by="bob"),
        one.events("ghost"),
        one.events("a"),
    )
    assert results[0] == WorkflowStatus.CANCELLED
    assert isinstance(results[1], WorkflowNotFound)
    kinds = [WorkflowEventKind.STARTED, WorkflowEventKind.CANCELLED]
    assert [e.kind for e in results[2]] == kinds
    assert [e.kind for e in await one.events("a")] == kinds


async def test_a_failing_record_in_a_batch_of_records_fails_alone(one: Store) -> None:
    # On PostgreSQL a batch of records is one query string; a statement that fails there
    # (an entry another attempt wrote: a unique violation) undoes it, and the batch runs
    # again the usual way, so the error reaches only its record.
    a, b = await running(one, "a"), await running(one, "b")
    assert await one.record(a, NOW + 1, [step(1)], []) is False
    again, other = await together(
        one,
        one.record(a, NOW + 2, [step(1, output='"twice"')], []),
        one.record(b, NOW + 2, [step(1)], []),
    )
    assert isinstance(again, LeaseLostError) and other is False
    assert [e.output for e in await one.journal("a")] == ["ok"]  # the first write stays
    assert [e.seq for e in await one.journal("b")] == [1]


async def test_a_record_is_recovered_from_what_it_wrote(one: Store) -> None:
    # What the executor asks when a batch's link broke after its COMMIT was sent.
    a = await running(one, "a")
    stale = dataclasses.replace(a, attempt=a.attempt - 1)
    assert await one.record(a, NOW + 1, [step(1)], []) is False
    await one.cancel("a", NOW + 2)
    recover = one._recover_append  # type: ignore[attr-defined]
    found = await one._run(  # type: ignore[attr-defined]
        lambda conn: [
            recover(a, [step(1)], conn),
            recover(a, [step(2)], conn),
            recover(stale, [step(1)], conn),
        ],
        write=False,
    )
    assert found[0] == (True, True)  # written; cancellation requested since, read now
    assert found[1][0] is False and isinstance(found[1][1], LeaseLostError)
    assert found[2][0] is False and isinstance(found[2][1], LeaseLostError)


async def test_an_end_alone_is_short_and_a_wrong_hint_changes_nothing(one: Store) -> None:
    # ``alone``: the worker knows the workflow has no parent. On PostgreSQL the end is then
    # one statement that also needs no open human task; where it does not apply (here: a
    # child, as a wrong hint would say) nothing is written by it and the full end runs.
    top, stale = await running(one, "top"), await running(one, "old")
    await claim(one, W2, now=NOW + LEASE + 1, queues=("only-old",))
    await one.create_workflow(new("p"), NOW)
    child = await running(one, "p:1", parent_id="p")
    results = await together(
        one,
        one.record(top, NOW + 1, [step(1)], []),
        one.finish(top, NOW + 2, [], WorkflowStatus.COMPLETED, '"t"', None, alone=True),
        one.finish(stale, NOW + 2, [], WorkflowStatus.COMPLETED, '"s"', None, alone=True),
        one.finish(child, NOW + 2, [], WorkflowStatus.COMPLETED, '"c"', None, alone=True),
    )
    assert results[0] is False and results[1] is None and results[3] is None
    assert isinstance(results[2], LeaseLostError)
    assert (await one.get_result("top")) == ResultRow("wf", WorkflowStatus.COMPLETED, '"t"', None)
    assert (await one.get("old")).status == WorkflowStatus.RUNNING  # type: ignore[union-attr]
    signals = await one._run(  # type: ignore[attr-defined]
        lambda conn: [r["name"] for r in conn.execute("SELECT name FROM signals").fetchall()],
        write=False,
    )
    assert signals == [CHILD_SIGNAL + "p:1"]  # the parent was told
    recover = one._recover_short_finish  # type: ignore[attr-defined]
    found = await one._run(  # type: ignore[attr-defined]
        lambda conn: [
            recover(top, NOW + 2, "completed", conn),
            recover(stale, NOW + 2, "completed", conn),
        ],
        write=False,
    )
    assert found == [(True, True), (False, False)]  # what a lost COMMIT's lookup reads
