"""Store conformance: the server's reads (counts, keyset pages, workers, the change feed).

Every test here runs on SQLite and on PostgreSQL (``store_url``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3

import pytest

from plait.store import Store
from plait.store.records import (
    Actor,
    ChangeRow,
    Entry,
    NewTask,
    PageFilter,
    TaskFilter,
    Wait,
)
from plait.types import WorkflowInfo, WorkflowStatus, ms_to_datetime

from .helpers import NOW, W1, W2, claim, fence, new, running, step, waiting


def ids(infos: list[WorkflowInfo]) -> list[str]:
    return [i.id for i in infos]


async def test_counts_by_name_and_status(store: Store) -> None:
    for wid, name in [("a1", "a"), ("a2", "a"), ("w1", "wf")]:
        await store.create_workflow(new(wid, name=name), NOW)
    f = await running(store, "w2")
    await store.finish(f, NOW, [], WorkflowStatus.COMPLETED, '"ok"', None)
    await running(store, "w3")
    assert sorted(await store.count_workflows(None)) == [
        ("a", "pending", 2),
        ("wf", "completed", 1),
        ("wf", "pending", 1),
        ("wf", "running", 1),
    ]
    assert sorted(await store.count_workflows("a")) == [("a", "pending", 2)]
    assert await store.count_workflows("nobody") == []


async def test_pages_are_newest_first_with_ties_broken_by_id(store: Store) -> None:
    # Five workflows created in the same millisecond, three later: the order is total.
    for wid in ["c", "a", "e", "b", "d"]:
        await store.create_workflow(new(wid), NOW)
    for i, wid in enumerate(["x", "y", "z"]):
        await store.create_workflow(new(wid), NOW + 1 + i)
    seen: list[str] = []
    after = None
    while True:
        page = await store.page_workflows(PageFilter(after=after, limit=3))
        seen += ids(page)
        if len(page) < 3:
            break
        after = (_ms(page[-1]), page[-1].id)
    assert seen == ["z", "y", "x", "e", "d", "c", "b", "a"]


async def test_paging_with_inserts_in_between_has_no_duplicates_and_no_gaps(
    store: Store,
) -> None:
    for i in range(10):
        await store.create_workflow(new(f"w{i:02}"), NOW + i // 2)  # pairs share a time
    before = ids(await store.page_workflows(PageFilter(limit=100)))
    seen: list[str] = []
    after = None
    t = NOW + 100
    while True:
        page = await store.page_workflows(PageFilter(after=after, limit=3))
        seen += ids(page)
        if len(page) < 3:
            break
        after = (_ms(page[-1]), page[-1].id)
        for _ in range(2):  # new workflows started while the reader pages
            t += 1
            await store.create_workflow(new(f"n{t}"), t)
    assert seen == before  # every row there at the first page, once, newest first
    assert len(seen) == len(set(seen)) == 10


def _ms(info: WorkflowInfo) -> int:
    return round(info.created_at.timestamp() * 1000)


async def test_page_filters(store: Store) -> None:
    for i, name in enumerate(["wf", "wf", "other", "wf"]):
        await store.create_workflow(new(f"w{i}", name=name), NOW + i)
    await store.create_workflow(new("w0:1", parent_id="w0"), NOW + 5)
    f = await running(store, "w9", now=NOW + 9)
    await store.record(f, NOW + 9, [], [], ("scoring", json.dumps({"stage": "screen", "n": 3})))
    g = await running(store, "w8", now=NOW + 8)
    await store.record(g, NOW + 8, [], [], (None, json.dumps({"stage": "offer", "hot": True})))

    async def page(**kw: object) -> list[str]:
        return ids(await store.page_workflows(PageFilter(**kw)))  # type: ignore[arg-type]

    assert await page() == ["w9", "w8", "w0:1", "w3", "w2", "w1", "w0"]
    assert await page(status=(WorkflowStatus.RUNNING,)) == ["w9", "w8"]
    assert await page(status=(WorkflowStatus.RUNNING, WorkflowStatus.PENDING), name="wf") == [
        "w9",
        "w8",
        "w0:1",
        "w3",
        "w1",
        "w0",
    ]
    assert await page(name="other") == ["w2"]
    assert await page(since=NOW + 2, until=NOW + 8) == ["w0:1", "w3", "w2"]
    assert await page(since=NOW + 9) == ["w9"]
    assert await page(until=NOW) == []
    assert await page(parent_id="w0") == ["w0:1"]
    assert await page(attributes=(("stage", "screen"),)) == ["w9"]
    assert await page(attributes=(("n", "3"),)) == ["w9"]
    assert await page(attributes=(("hot", "true"), ("stage", "offer"))) == ["w8"]
    assert await page(attributes=(("hot", "false"),)) == []
    assert await page(name="wf", after=(NOW + 3, "w3")) == ["w1", "w0"]


async def test_workers_are_listed_with_the_workflows_they_hold(store: Store) -> None:
    await store.register_worker(W1, {"hostname": "host-a", "pid": 101, "queues": None}, NOW)
    await store.register_worker(W2, {"hostname": "host-b", "pid": 202}, NOW + 1)
    for wid in ["a", "b"]:
        await store.create_workflow(new(wid), NOW)
    [ca] = await claim(store, W1, now=NOW + 5, limit=1)
    [cb] = await claim(store, W1, now=NOW + 6, limit=1)
    await store.suspend(fence(cb), NOW + 7, [], _wait_for("go"))  # no longer held
    await store.heartbeat(W1, NOW + 10, 30_000)
    w1, w2 = await store.list_workers()
    assert (w1.id, w1.hostname, w1.pid, w1.started_at, w1.heartbeat_at) == (
        W1,
        "host-a",
        101,
        NOW,
        NOW + 10,
    )
    assert w1.info["queues"] is None
    assert [(h.workflow_id, h.name, h.since) for h in w1.holds] == [(ca.id, "wf", NOW + 5)]
    assert (w2.id, w2.hostname, w2.pid, w2.holds) == (W2, "host-b", 202, ())
    await store.unregister_worker(W2)
    assert [w.id for w in await store.list_workers()] == [W1]


def _wait_for(name: str) -> Wait:
    return Wait(signals=(name,))


def key(c: ChangeRow) -> tuple[str, str, int, str, int]:
    return (c.kind, c.workflow_id, c.seq, c.status, c.at)


async def test_changes_are_status_and_journal_changes_in_time_order(store: Store) -> None:
    await store.create_workflow(new("old"), NOW - 1000)
    await store.create_workflow(new("a"), NOW)
    [c] = await claim(store, now=NOW + 1, limit=1, queues=("default",))
    assert c.id == "old"  # the oldest is claimed first: it changed at NOW + 1
    f = fence(c)
    await store.record(f, NOW + 2, [step(1, at=NOW + 2)], [])
    await store.wait(f, NOW + 3, [], waiting(2), ("go",), create=True)

    found = await store.changes(NOW, None, None, 100)
    assert [key(r) for r in found] == [  # by (at, workflow_id, seq)
        ("status", "a", -1, "pending", NOW),
        ("journal", "old", 2, "waiting", NOW),  # a waiting entry: at its start
        ("status", "old", -1, "running", NOW + 1),
        ("journal", "old", 1, "completed", NOW + 2),
    ]
    entry = next(r for r in found if r.seq == 1)
    assert (entry.name, entry.entry_kind) == ("s", "step")
    assert next(r for r in found if r.kind == "status" and r.workflow_id == "a").name == "wf"

    # Later times only; one workflow only; the keyset pages on.
    assert [key(r) for r in await store.changes(NOW + 2, None, None, 100)] == [
        ("journal", "old", 1, "completed", NOW + 2)
    ]
    assert {r.workflow_id for r in await store.changes(NOW, None, "a", 100)} == {"a"}
    first = await store.changes(NOW, None, None, 2)
    rest = await store.changes(NOW, (first[-1].at, first[-1].workflow_id, first[-1].seq), None, 100)
    assert [key(r) for r in first + rest] == [key(r) for r in found]


async def test_journal_changes_of_a_workflow_that_stopped_running_are_found(
    store: Store,
) -> None:
    f = await running(store, "a", now=NOW)
    await store.record(f, NOW + 5, [step(1, at=NOW + 5)], [])
    await store.finish(f, NOW + 6, [step(2, at=NOW + 6)], WorkflowStatus.COMPLETED, "1", None)
    found = [key(r) for r in await store.changes(NOW + 5, None, None, 100)]
    assert found == [
        ("journal", "a", 1, "completed", NOW + 5),
        ("status", "a", -1, "completed", NOW + 6),  # at one time, the status sorts first
        ("journal", "a", 2, "completed", NOW + 6),
    ]
    # An old workflow's old entries are not read again.
    assert await store.changes(NOW + 7, None, None, 100) == []
    info = await store.get("a")
    assert info is not None and info.updated_at == ms_to_datetime(NOW + 6)


async def test_a_write_wakes_change_subscribers_in_this_process(store: Store) -> None:
    woken = asyncio.Event()
    unsubscribe = store.subscribe_changes(woken.set)
    await store.create_workflow(new("a"), NOW)
    assert woken.is_set()  # fired after the commit, before the call returned
    unsubscribe()
    woken.clear()
    await store.create_workflow(new("b"), NOW)
    assert not woken.is_set()
    # A read is no change.
    store.subscribe_changes(woken.set)
    await store.get("a")
    assert not woken.is_set()


@pytest.mark.backends("postgresql")
async def test_a_write_in_another_process_wakes_change_subscribers(
    store: Store, other: Store
) -> None:
    woken = asyncio.Event()
    store.subscribe_changes(woken.set)
    # The listener starts in the background: write until a hint arrives (the bound only
    # catches a hang; this process writes nothing, so only the other's hint can wake it).
    for i in range(20):
        await other.create_workflow(new(f"w{i}"), NOW)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), 0.5)
            break
    assert woken.is_set()


async def _ask(store: Store, workflow_id: str, *, at: int, due_at: int | None) -> None:
    """A workflow waiting for its human task ``<id>:1``, created at ``at``."""
    f = await running(store, workflow_id, now=at)
    entry = Entry(1, "human_task", "ok?", "waiting", wake_at=due_at, started_at=at)
    task = NewTask(
        id=f"{workflow_id}:1",
        workflow_id=workflow_id,
        seq=1,
        title="ok?",
        assignee="ada",
        form_name="plait.human:Approval",
        form_schema="{}",
        proposal=None,
        context=None,
        due_at=due_at,
        remind_offsets=(),
        on_timeout={"kind": "raise"},
    )
    outcome = await store.wait_task(f, at, [], entry, task, True)
    assert outcome.state == "park"


async def test_tasks_overdue_and_most_overdue_first(store: Store) -> None:
    await _ask(store, "a", at=NOW, due_at=None)
    await _ask(store, "b", at=NOW + 1, due_at=NOW + 50)
    await _ask(store, "c", at=NOW + 2, due_at=NOW + 20)
    await _ask(store, "d", at=NOW + 3, due_at=NOW + 500)
    now = NOW + 100  # b 50 ms overdue, c 80 ms; d not yet; a has no deadline

    async def ids(**kw: object) -> list[str]:
        rows = await store.list_tasks(TaskFilter(now=now, **kw))  # type: ignore[arg-type]
        return [r.workflow_id for r in rows]

    assert await ids() == ["a", "b", "c", "d"]
    assert await ids(overdue=True) == ["b", "c"]
    assert await ids(overdue=False) == ["a", "d"]
    assert await ids(urgent=True) == ["c", "b", "a", "d"]
    assert await ids(urgent=True, overdue=False) == ["a", "d"]
    assert await ids(urgent=True, limit=1, offset=1) == ["b"]
    await store.complete_task("b:1", "{}", None, [], Actor("ada"), None, NOW + 40)
    assert await ids(overdue=True) == ["c"]  # answered: not overdue, though past due_at


# The shapes of the page and feed queries (plait/store/views.py), with the index each needs.
PLANS = {
    "page": (
        "SELECT id FROM workflows WHERE (created_at, id) < (5, 'x')"
        " ORDER BY created_at DESC, id DESC LIMIT 51",
        "workflows_page",
    ),
    "feed": ("SELECT id, status FROM workflows WHERE updated_at >= 5", "workflows_updated"),
}


@pytest.mark.parametrize(("query", "index"), PLANS.values(), ids=list(PLANS))
async def test_pages_and_the_feed_are_served_by_an_index(
    store: Store, store_url: str, query: str, index: str
) -> None:
    if store_url.startswith("sqlite:"):
        from plait.store.sqlite import path_from_url

        with contextlib.closing(sqlite3.connect(path_from_url(store_url))) as conn:
            plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + query))
    else:
        import psycopg

        # With sequential scans priced out, the plan shows whether an index can serve it.
        with psycopg.connect(store_url, autocommit=True) as pg:
            pg.execute("SET enable_seqscan = off")
            plan = " ".join(str(r[0]) for r in pg.execute("EXPLAIN " + query))
    assert index in plan, plan
