"""Store conformance: waits, suspension, the signal mailbox (no lost wake-up), timers,
children, cancellation and resumption. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random

import pytest

from plait.errors import InvalidState, WorkflowFinished, WorkflowNotFound
from plait.store import Store
from plait.store.records import CHILD_SIGNAL, Fence, Wait
from plait.types import EntryStatus, WorkflowStatus, ms_to_datetime

from .helpers import LEASE, NOW, W2, claim, fence, new, running, step, waiting


async def status(store: Store, workflow_id: str) -> str:
    info = await store.get(workflow_id)
    assert info is not None
    return str(info.status)


async def test_a_signal_sent_before_the_wait_is_kept_and_consumed_once(store: Store) -> None:
    f = await running(store, "a")
    assert await store.send_signal("a", "go", '"first"', None, NOW)
    assert await store.send_signal("a", "go", '"second"', None, NOW)
    out = await store.wait(f, NOW, [step(1)], waiting(2), ("go",), True)
    assert (out.state, out.signal_name, out.payload) == ("signal", "go", '"first"')
    out = await store.wait(f, NOW, [], waiting(3), ("go", "stop"), True)
    assert (out.state, out.payload) == ("signal", '"second"')
    assert (await store.wait(f, NOW, [], waiting(4), ("go",), True)).state == "park"
    journal = await store.journal("a")
    assert [(e.seq, e.kind, e.status) for e in journal] == [
        (1, "step", EntryStatus.COMPLETED),
        (2, "signal", EntryStatus.COMPLETED),
        (3, "signal", EntryStatus.COMPLETED),
        (4, "signal", EntryStatus.WAITING),
    ]
    assert journal[1].output == {"signal": "go", "payload": '"first"'}


async def test_a_wait_past_its_deadline_times_out(store: Store) -> None:
    f = await running(store, "a")
    assert (await store.wait(f, NOW, [], waiting(1, wake_at=NOW + 50), ("go",), True)).state == (
        "park"
    )
    out = await store.wait(f, NOW + 50, [], waiting(1, wake_at=NOW + 50), ("go",), False)
    assert out.state == "timeout"
    sleep = waiting(2, kind="sleep", name="sleep", wake_at=NOW + 60)
    assert (await store.wait(f, NOW + 60, [], sleep, (), True)).state == "elapsed"
    journal = await store.journal("a")
    assert [(e.status, e.output) for e in journal] == [
        (EntryStatus.COMPLETED, {"timeout": True}),
        (EntryStatus.COMPLETED, None),
    ]


async def test_suspend_waits_for_the_named_signal_only(store: Store) -> None:
    f = await running(store, "a", queue="default")
    await store.wait(f, NOW, [], waiting(1), ("go",), True)
    await store.suspend(f, NOW, [], Wait(("go",)), ("waiting for go", "{}"))
    info = await store.get("a")
    assert info is not None
    assert (info.status, info.lease_owner, info.available_at) == ("waiting", None, None)
    assert info.waiting_on == {"signals": ["go"], "until": None}
    assert info.status_text == "waiting for go"
    assert await claim(store, now=NOW + 10**9) == []  # no timer: only a signal wakes it

    await store.send_signal("a", "other", None, None, NOW + 1)
    assert await status(store, "a") == "waiting"
    await store.send_signal("a", "go", '"yes"', None, NOW + 2)
    info = await store.get("a")
    assert info is not None and (info.status, info.available_at) == (
        "pending",
        ms_to_datetime(NOW + 2),
    )
    (c,) = await claim(store, W2, now=NOW + 2)
    out = await store.wait(fence(c, W2), NOW + 2, [], waiting(1), ("go",), False)
    assert (out.state, out.payload) == ("signal", '"yes"')


async def test_a_signal_that_arrives_before_suspend_keeps_the_workflow_runnable(
    store: Store,
) -> None:
    f = await running(store, "a")
    assert (await store.wait(f, NOW, [], waiting(1), ("go",), True)).state == "park"
    await store.send_signal("a", "go", None, None, NOW)  # while it is still running
    await store.suspend(f, NOW, [], Wait(("go",)))
    info = await store.get("a")
    assert info is not None and (info.status, info.available_at) == ("pending", ms_to_datetime(NOW))


async def test_no_wake_up_is_lost_when_signal_and_suspend_race(store: Store, other: Store) -> None:
    rng = random.Random(7)
    for i in range(25):
        wid = f"race-{i}"
        f = await running(store, wid)

        async def waiter(f: Fence = f) -> str:
            await asyncio.sleep(rng.random() * 0.003)
            out = await store.wait(f, NOW, [], waiting(1), ("go",), True)
            if out.state == "park":
                await store.suspend(f, NOW, [], Wait(("go",)))
            return out.state

        async def sender(wid: str = wid) -> None:
            await asyncio.sleep(rng.random() * 0.003)
            await other.send_signal(wid, "go", None, None, NOW)

        state, _ = await asyncio.gather(waiter(), sender())
        now_status = await status(store, wid)
        assert state == "signal" or now_status == "pending", (wid, state, now_status)


async def test_dedup_key_makes_a_send_idempotent(store: Store) -> None:
    f = await running(store, "a")
    assert await store.send_signal("a", "go", '"1"', "msg-1", NOW)
    assert not await store.send_signal("a", "go", '"2"', "msg-1", NOW)
    assert await store.send_signal("a", "go", '"3"', "msg-2", NOW)
    await store.create_workflow(new("b"), NOW)
    assert await store.send_signal("b", "go", '"1"', "msg-1", NOW)  # keys are per workflow
    payloads = [
        (await store.wait(f, NOW, [], waiting(seq), ("go",), True)).payload for seq in (1, 2, 3)
    ]
    assert payloads == ['"1"', '"3"', None]


async def test_signals_to_missing_or_finished_workflows_are_refused(store: Store) -> None:
    with pytest.raises(WorkflowNotFound, match="nope"):
        await store.send_signal("nope", "go", None, None, NOW)
    f = await running(store, "a")
    await store.finish(f, NOW, [], WorkflowStatus.COMPLETED, '"x"', None)
    with pytest.raises(WorkflowFinished, match="completed"):
        await store.send_signal("a", "go", None, None, NOW)


async def test_timers_are_rows_the_claim_picks_up_when_due(store: Store) -> None:
    f = await running(store, "a", queue="default")
    await store.create_workflow(new("b", queue="other", available_at=NOW + 700), NOW)
    sleep = waiting(1, kind="sleep", name="sleep", wake_at=NOW + 500)
    assert (await store.wait(f, NOW, [], sleep, (), True)).state == "park"
    await store.suspend(f, NOW, [], Wait(until=NOW + 500))
    info = await store.get("a")
    assert info is not None
    assert (info.status, info.available_at) == ("waiting", ms_to_datetime(NOW + 500))
    assert await store.next_due(None) == NOW + 500
    assert await store.next_due(("other",)) == NOW + 700
    assert await store.next_due(("none",)) is None
    assert await claim(store, now=NOW + 499, queues=("default",)) == []
    (c,) = await claim(store, now=NOW + 500, queues=("default",))
    assert (await store.wait(fence(c), NOW + 500, [], sleep, (), False)).state == "elapsed"
    assert await store.next_due(("default",)) == NOW + 500 + LEASE  # its lease, now


async def test_a_workflow_deadline_bounds_its_wait(store: Store) -> None:
    f = await running(store, "a", deadline_at=NOW + 300)
    await store.suspend(f, NOW, [], Wait(("go",), until=NOW + 10_000))
    info = await store.get("a")
    assert info is not None and info.available_at == ms_to_datetime(NOW + 300)
    (c,) = await claim(store, now=NOW + 300, queues=("only-a",))
    assert c.cancel_requested


async def test_start_child_records_the_entry_and_creates_the_child(store: Store) -> None:
    f = await running(store, "p")
    child = new("p:2", name="kid", input="[5]", parent_id="p")
    assert await store.start_child(f, NOW, [step(1)], step(2, "kid", output=None), child) == "p:2"
    info = await store.get("p:2")
    assert info is not None
    assert (info.status, info.parent_id, info.name, info.input) == ("pending", "p", "kid", "[5]")
    assert [e.seq for e in await store.journal("p")] == [1, 2]


async def test_finish_delivers_the_result_to_a_waiting_parent(store: Store) -> None:
    parent = await running(store, "p")
    await store.start_child(parent, NOW, [], step(1, "kid", output=None), new("p:1", parent_id="p"))
    signal = CHILD_SIGNAL + "p:1"
    assert (
        await store.wait(parent, NOW, [], waiting(2, "child_result", "kid"), (signal,), True)
    ).state == "park"
    await store.suspend(parent, NOW, [], Wait((signal,)))
    assert await status(store, "p") == "waiting"

    (kid,) = await claim(store, W2, now=NOW + 1, queues=("default",))
    await store.finish(fence(kid, W2), NOW + 2, [step(1)], WorkflowStatus.COMPLETED, '"42"', None)
    info = await store.get("p:1")
    assert info is not None
    assert (info.status, info.output, info.completed_at) == (
        "completed",
        '"42"',
        ms_to_datetime(NOW + 2),
    )
    assert await status(store, "p") == "pending"
    (p,) = await claim(store, now=NOW + 2, queues=("only-p",))
    out = await store.wait(
        fence(p), NOW + 2, [], waiting(2, "child_result", "kid"), (signal,), False
    )
    assert out.state == "signal" and out.payload is not None
    assert json.loads(out.payload) == {"status": "completed", "output": '"42"', "error": None}


async def test_a_failed_child_tells_its_parent_too(store: Store) -> None:
    parent = await running(store, "p")
    await store.start_child(parent, NOW, [], step(1, "kid", output=None), new("p:1", parent_id="p"))
    (kid,) = await claim(store, W2, queues=("default",))
    err = {"type": "ValueError", "message": "bad"}
    await store.finish(fence(kid, W2), NOW, [], WorkflowStatus.FAILED, None, err)
    signal = CHILD_SIGNAL + "p:1"
    out = await store.wait(parent, NOW, [], waiting(2, "child_result", "kid"), (signal,), True)
    assert out.payload is not None
    assert json.loads(out.payload) == {"status": "failed", "output": None, "error": err}


async def test_cancel_cascades_to_children_by_their_state(store: Store) -> None:
    root = await running(store, "p")
    kids = {}
    for seq, (wid, parent) in enumerate(
        [("p:1", "p"), ("p:2", "p"), ("p:3", "p"), ("p:4", "p"), ("p:2:1", "p:2")], start=1
    ):
        await store.create_workflow(new(wid, parent_id=parent, queue=wid), NOW)
        if wid != "p:4":  # p:4 never runs
            (c,) = await claim(store, W2, queues=(wid,))
            kids[wid] = fence(c, W2)
    await store.suspend(kids["p:1"], NOW, [], Wait(("go",)))  # waiting for a signal
    await store.finish(kids["p:3"], NOW, [], WorkflowStatus.COMPLETED, '"done"', None)
    await store.release(kids["p:2:1"], NOW)  # pending, but it ran before
    # p:2 is running

    assert await store.cancel("p", NOW + 1) == WorkflowStatus.RUNNING
    got = {}
    for wid in ("p", "p:1", "p:2", "p:3", "p:4", "p:2:1"):
        info = await store.get(wid)
        assert info is not None
        got[wid] = (str(info.status), info.cancel_requested)
    assert got == {
        "p": ("running", True),  # sees it at its next durable point
        "p:1": ("pending", True),  # woken to see it
        "p:2": ("running", True),
        "p:3": ("completed", False),  # finished: untouched
        "p:4": ("cancelled", False),  # never ran: nothing to clean up
        "p:2:1": ("pending", True),  # grandchildren too
    }
    assert await store.record(root, NOW + 2, [], []) is True  # the fence reports the request
    assert await store.record(kids["p:2"], NOW + 2, [], []) is True


async def test_cancelling_a_workflow_that_never_ran_ends_it_at_once(store: Store) -> None:
    await store.create_workflow(new("a"), NOW)
    assert await store.cancel("a", NOW + 1) == WorkflowStatus.CANCELLED
    info = await store.get("a")
    assert info is not None
    assert info.status == "cancelled" and info.error is not None
    assert info.completed_at == ms_to_datetime(NOW + 1)
    assert await claim(store, now=NOW + 1) == []
    with pytest.raises(WorkflowFinished):
        await store.cancel("a", NOW + 2)
    with pytest.raises(WorkflowNotFound):
        await store.cancel("nope", NOW)


async def test_cancel_never_leaves_a_suspending_child_asleep(store: Store, other: Store) -> None:
    rng = random.Random(11)
    for i in range(20):
        parent = await running(store, f"p{i}")
        child = new(f"p{i}:1", parent_id=f"p{i}", queue=f"kid{i}")
        await store.start_child(parent, NOW, [], step(1, "kid", output=None), child)
        (c,) = await claim(store, W2, queues=(f"kid{i}",))
        kid = fence(c, W2)

        async def suspend_kid(kid: Fence = kid) -> None:
            await asyncio.sleep(rng.random() * 0.003)
            await store.suspend(kid, NOW, [], Wait(("go",)))

        async def cancel_parent(i: int = i) -> None:
            await asyncio.sleep(rng.random() * 0.003)
            await other.cancel(f"p{i}", NOW)

        await asyncio.gather(suspend_kid(), cancel_parent())
        info = await store.get(f"p{i}:1")
        assert info is not None and info.cancel_requested
        assert info.status == "pending", f"p{i}:1 sleeps through its cancellation"


async def test_resume_of_a_failed_workflow_discards_the_failing_entry(store: Store) -> None:
    f = await running(store, "a", queue="default")
    failed = dataclasses.replace(
        step(2, "flaky"), status="failed", output=None, error={"type": "E", "message": "m"}
    )
    await store.record(f, NOW, [step(1), failed], [])
    err = {"type": "StepFailed", "message": "flaky failed", "seq": 2}
    await store.finish(f, NOW, [], WorkflowStatus.FAILED, None, err)
    info = await store.get("a")
    assert info is not None and info.error is not None and info.error.seq == 2
    await store.resume("a", NOW + 5)
    info = await store.get("a")
    assert info is not None
    assert (info.status, info.error, info.completed_at, info.recoveries) == (
        "pending",
        None,
        None,
        0,
    )
    assert [e.seq for e in await store.journal("a")] == [1]
    (c,) = await claim(store, now=NOW + 5)
    assert c.attempt == f.attempt + 1 and [e.seq for e in c.journal] == [1]


async def test_resume_of_a_blocked_workflow_keeps_its_journal(store: Store) -> None:
    f = await running(store, "a")
    await store.finish(
        f,
        NOW,
        [step(1)],
        WorkflowStatus.BLOCKED,
        None,
        {"type": "NondeterminismError", "message": "m"},
    )
    assert await status(store, "a") == "blocked"
    await store.resume("a", NOW)
    assert await status(store, "a") == "pending"
    assert [e.seq for e in await store.journal("a")] == [1]


async def test_only_failed_or_blocked_workflows_resume(store: Store) -> None:
    await store.create_workflow(new("a"), NOW)
    with pytest.raises(InvalidState, match="pending"):
        await store.resume("a", NOW)
    with pytest.raises(WorkflowNotFound):
        await store.resume("nope", NOW)
