"""Store conformance: continue_as_new ends a run and starts the next in one fenced
transaction; the finished runs stay readable. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from plait.errors import WorkflowNotFound
from plait.store import Store
from plait.store.records import Attempt, LeaseLostError, NewTask
from plait.types import WorkflowStatus

from .helpers import NOW, W2, claim, fence, running, step, waiting


async def test_the_next_run_starts_pending_with_a_fresh_journal(store: Store) -> None:
    f = await running(store, "a", input="[1]")
    error = {"type": "ValueError", "message": "flaky"}
    await store.record(f, NOW, [], [Attempt(1, 1, NOW, NOW + 1, error)])
    await store.record(f, NOW + 2, [step(1, "fetch")], [Attempt(1, 2, NOW + 1, NOW + 2, None)])
    assert await store.send_signal("a", "go", '"used"', None, NOW)
    assert (await store.wait(f, NOW, [], waiting(2), ("go",), True)).state == "signal"
    assert await store.send_signal("a", "later", '"kept"', None, NOW)

    run = await store.continue_as_new(f, NOW + 10, [step(3, "now")], "[2]", "h2")
    assert run == 2
    info = await store.get("a")
    assert info is not None
    assert (info.status, info.input, info.lease_owner) == (WorkflowStatus.PENDING, "[2]", None)
    assert await store.journal("a") == []
    assert await store.attempts("a") == []

    claimed = await claim(store, now=NOW + 10, queues=("only-a",))
    assert [(c.id, c.run, c.input, c.journal) for c in claimed] == [("a", 2, "[2]", [])]
    assert claimed[0].seq_base == 3  # the new run's positions go on after the last one's
    # A signal not consumed by the old run waits in the mailbox for the new one.
    f2 = fence(claimed[0])
    out = await store.wait(f2, NOW + 20, [], waiting(4, name="later"), ("later",), True)
    assert (out.state, out.payload) == ("signal", '"kept"')
    # The consumed one is gone with its run.
    assert (await store.wait(f2, NOW + 20, [], waiting(5), ("go",), True)).state == "park"

    [old] = await store.finished_runs("a")
    assert (old.workflow_id, old.run, old.input) == ("a", 1, "[1]")
    assert [(e.seq, e.kind, e.name) for e in old.journal] == [
        (1, "step", "fetch"),
        (2, "signal", "go"),
        (3, "step", "now"),  # the pending entries went into the run that recorded them
    ]
    assert [(a.seq, a.attempt) for a in old.attempts] == [(1, 1), (1, 2)]
    assert old.attempts[0].error is not None and old.attempts[0].error.message == "flaky"
    assert old.ended_at == NOW + 10


async def test_runs_are_numbered_and_listed_oldest_first(store: Store) -> None:
    f = await running(store, "a", input="[0]")
    for n in range(1, 4):
        await store.record(f, NOW + n, [step(n, f"s{n}")], [])
        assert await store.continue_as_new(f, NOW + n, [], f"[{n}]", f"h{n}") == n + 1
        [c] = await claim(store, now=NOW + n, queues=("only-a",))
        assert c.run == n + 1
        f = fence(c)
    runs = await store.finished_runs("a")
    assert [(r.run, r.input, [e.name for e in r.journal]) for r in runs] == [
        (1, "[0]", ["s1"]),
        (2, "[1]", ["s2"]),
        (3, "[2]", ["s3"]),
    ]
    assert runs[1].started_at == runs[0].ended_at


async def test_a_stale_fence_writes_nothing(store: Store) -> None:
    f = await running(store, "a", input="[1]")
    await store.record(f, NOW, [step(1)], [])
    await store.expire_workers([f.worker_id], NOW)
    [taken] = await claim(store, W2, queues=("only-a",))
    with pytest.raises(LeaseLostError):
        await store.continue_as_new(f, NOW, [step(2)], "[2]", "h2")
    info = await store.get("a")
    assert info is not None and info.input == "[1]" and info.lease_owner == W2
    assert [e.seq for e in await store.journal("a")] == [1]
    assert await store.finished_runs("a") == []
    assert taken.run == 1


async def test_open_tasks_of_the_run_are_cancelled(store: Store) -> None:
    f = await running(store, "a")
    task = NewTask(
        id="a:1",
        workflow_id="a",
        seq=1,
        title="ok?",
        assignee=None,
        form_name="m:F",
        form_schema="{}",
        proposal=None,
        context=None,
        due_at=None,
        remind_offsets=(),
        on_timeout={"kind": "raise"},
    )
    entry = waiting(1, kind="human_task", name="ok?")
    assert (await store.wait_task(f, NOW, [], entry, task, True)).state == "park"
    await store.continue_as_new(f, NOW + 1, [], "[2]", "h2")
    row = await store.get_task("a:1")
    assert row is not None and row.status == "cancelled"


async def test_finished_runs_of_an_unknown_workflow(store: Store) -> None:
    with pytest.raises(WorkflowNotFound):
        await store.finished_runs("nope")
