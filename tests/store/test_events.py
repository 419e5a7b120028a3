"""Store conformance: the per-workflow event log, written in the transaction of its action.

Every test here runs on SQLite and on PostgreSQL (``store_url``).
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from plait.errors import InvalidState, WorkflowAlreadyExists, WorkflowFinished, WorkflowNotFound
from plait.store import Store
from plait.store.records import Entry, ListFilter
from plait.types import WorkflowEventKind, WorkflowStatus, ms_to_datetime

from .helpers import NOW, claim, fence, new, running


async def test_a_start_is_logged_once_with_its_actor(store: Store) -> None:
    await store.create_workflow(new("a"), NOW, by="ana")
    await store.create_workflow(new("a"), NOW + 1, by="bob")  # the same workflow: no write
    with pytest.raises(WorkflowAlreadyExists):
        await store.create_workflow(new("a", input="[2]", input_hash="h2"), NOW + 2, by="eve")
    events = await store.events("a")
    assert [(e.kind, e.by, e.at) for e in events] == [
        (WorkflowEventKind.STARTED, "ana", ms_to_datetime(NOW))
    ]
    assert events[0].details == {"name": "wf"} and events[0].workflow_id == "a"


async def test_signals_are_logged_with_name_and_dedup_key_and_duplicates_are_not(
    store: Store,
) -> None:
    await store.create_workflow(new("a"), NOW)
    assert await store.send_signal("a", "reply", '"x"', "msg-1", NOW + 1, by="ana")
    assert not await store.send_signal("a", "reply", '"x"', "msg-1", NOW + 2, by="ana")
    assert await store.send_signal("a", "ping", None, None, NOW + 3)
    signalled = [e for e in await store.events("a") if e.kind == WorkflowEventKind.SIGNALLED]
    assert [(e.by, e.details) for e in signalled] == [
        ("ana", {"name": "reply", "dedup_key": "msg-1"}),
        ("system", {"name": "ping"}),
    ]


async def test_rejected_actions_log_nothing(store: Store) -> None:
    with pytest.raises(WorkflowNotFound):
        await store.send_signal("ghost", "reply", None, None, NOW, by="ana")
    with pytest.raises(WorkflowNotFound):
        await store.cancel("ghost", NOW, by="ana")
    with pytest.raises(WorkflowNotFound):
        await store.resume("ghost", NOW, by="ana")
    with pytest.raises(WorkflowNotFound):
        await store.events("ghost")  # no workflow and no events: nothing to show

    await store.create_workflow(new("a"), NOW, by="ana")
    with pytest.raises(InvalidState):
        await store.resume("a", NOW + 1, by="bob")  # pending: nothing to resume
    assert await store.cancel("a", NOW + 2, by="bob") == WorkflowStatus.CANCELLED
    with pytest.raises(WorkflowFinished):
        await store.send_signal("a", "reply", None, None, NOW + 3, by="eve")
    with pytest.raises(WorkflowFinished):
        await store.cancel("a", NOW + 4, by="eve")
    assert [(e.kind, e.by) for e in await store.events("a")] == [
        (WorkflowEventKind.STARTED, "ana"),
        (WorkflowEventKind.CANCELLED, "bob"),
    ]


async def test_a_cancel_logs_each_workflow_of_the_tree(store: Store) -> None:
    f = await running(store, "parent")
    child = new("parent:1", parent_id="parent")
    entry = Entry(1, "child", "wf", "completed", output='"parent:1"', started_at=NOW)
    await store.start_child(f, NOW, [], entry, child)
    assert await store.cancel("parent", NOW + 1, by="ana") == WorkflowStatus.RUNNING
    parent_events = await store.events("parent")
    assert [(e.kind, e.by, e.details) for e in parent_events][-1] == (
        WorkflowEventKind.CANCELLED,
        "ana",
        {"status": "running"},
    )
    child_events = await store.events("parent:1")
    assert [(e.kind, e.by, e.details) for e in child_events] == [
        (WorkflowEventKind.STARTED, "system", {"name": "wf", "parent": "parent"}),
        (WorkflowEventKind.CANCELLED, "ana", {"status": "cancelled", "via": "parent"}),
    ]


async def test_a_resume_is_logged_with_the_status_it_left(store: Store) -> None:
    f = await running(store, "a")
    await store.finish(f, NOW + 1, [], WorkflowStatus.FAILED, None, {"type": "E", "message": "m"})
    await store.resume("a", NOW + 2, by="ops")
    last = (await store.events("a"))[-1]
    assert (last.kind, last.by, last.details) == (
        WorkflowEventKind.RESUMED,
        "ops",
        {"from": "failed"},
    )
    assert last.at == ms_to_datetime(NOW + 2)


async def test_the_log_of_one_workflow_is_its_own_and_in_order(store: Store) -> None:
    await store.create_workflow(new("a"), NOW, by="ana")
    await store.create_workflow(new("b"), NOW, by="bob")
    for i in range(3):
        await store.send_signal("a", f"s{i}", None, None, NOW + i)
    events = await store.events("a")
    assert [e.details.get("name") for e in events] == ["wf", "s0", "s1", "s2"]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert [e.by for e in await store.events("b")] == ["bob"]


async def test_the_subject_is_stored_listed_and_part_of_the_identity(store: Store) -> None:
    await store.create_workflow(dataclasses.replace(new("a"), subject="cand-7"), NOW)
    await store.create_workflow(new("b"), NOW + 1)
    info = await store.get("a")
    assert info is not None and info.subject == "cand-7"
    listed = await store.list_workflows(ListFilter(subject="cand-7"))
    assert [i.id for i in listed] == ["a"]
    again, created = await store.create_workflow(
        dataclasses.replace(new("a"), subject="cand-7"), NOW + 2
    )
    assert not created and again.subject == "cand-7"
    with pytest.raises(WorkflowAlreadyExists, match="subject 'cand-7'"):
        await store.create_workflow(new("a"), NOW + 3)


async def test_the_event_is_part_of_the_action_s_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event log that cannot be written undoes its action: they commit together."""
    await store.create_workflow(new("kept"), NOW)

    def broken(*args: object) -> None:
        raise RuntimeError("the log is full")

    monkeypatch.setattr(store, "_log_event", broken)
    with pytest.raises(RuntimeError, match="full"):
        await store.create_workflow(new("a"), NOW)
    with pytest.raises(RuntimeError, match="full"):
        await store.send_signal("kept", "reply", None, "d1", NOW)
    with pytest.raises(RuntimeError, match="full"):
        await store.cancel("kept", NOW)
    monkeypatch.undo()
    assert await store.get("a") is None
    info = await store.get("kept")
    assert info is not None and info.status == WorkflowStatus.PENDING
    assert await store.send_signal("kept", "reply", None, "d1", NOW + 1)  # the key is unused
    assert [e.kind for e in await store.events("kept")] == [
        WorkflowEventKind.STARTED,
        WorkflowEventKind.SIGNALLED,
    ]


async def test_a_child_is_about_its_parent_s_subject(store: Store) -> None:
    await store.create_workflow(dataclasses.replace(new("parent"), subject="cand-3"), NOW)
    f = fence((await claim(store))[0])
    for seq, subject in ((1, None), (2, "cand-4")):
        child = dataclasses.replace(new(f"parent:{seq}", parent_id="parent"), subject=subject)
        entry = Entry(seq, "child", "wf", "completed", output="null", started_at=NOW)
        await store.start_child(f, NOW, [], entry, child)
    subjects = [(await store.get(f"parent:{seq}")) for seq in (1, 2)]
    assert [i.subject if i else None for i in subjects] == ["cand-3", "cand-4"]


async def test_a_failed_action_in_a_shared_batch_logs_nothing_and_the_others_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Actions sent together share a transaction; one that fails after it logged is undone
    to its savepoint with its event, and the batch is run again: none lost, none doubled."""
    ids = [f"w{i}" for i in range(20)]
    for workflow_id in [*ids, "bad"]:
        await store.create_workflow(new(workflow_id), NOW)
    adopt = store._adopt_blobs  # type: ignore[attr-defined]

    def fails_for_bad(conn: object, workflow_id: str, *args: object) -> None:
        if workflow_id == "bad":  # after the signal and its event: both must be undone
            raise RuntimeError("adoption failed")
        adopt(conn, workflow_id, *args)

    monkeypatch.setattr(store, "_adopt_blobs", fails_for_bad)
    targets = [t for workflow_id in ids for t in (workflow_id, "bad", "ghost")]
    results = await asyncio.gather(
        *(store.send_signal(t, "go", None, None, NOW + 1, by="ana") for t in targets),
        return_exceptions=True,
    )
    assert sum(isinstance(r, WorkflowNotFound) for r in results) == len(ids)
    assert sum(isinstance(r, RuntimeError) for r in results) == len(ids)
    assert results.count(True) == len(ids)
    for workflow_id in ids:
        assert [(e.kind, e.by) for e in await store.events(workflow_id)] == [
            (WorkflowEventKind.STARTED, "system"),
            (WorkflowEventKind.SIGNALLED, "ana"),
        ]
    assert [e.kind for e in await store.events("bad")] == [WorkflowEventKind.STARTED]
