"""The server's reads through the engine, on both backends: counts, cursor pages and their
filters, the live workers with the workflows they hold, and the change feed (in process, and
from another process: at once on PostgreSQL, within the feed's poll on SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import plait
from plait.testing import TestEngine

ROOT = Path(__file__).resolve().parent.parent
gates: dict[str, asyncio.Event] = {}


@plait.step
async def work(i: int) -> int:
    return i * 2


@plait.step
async def parked(key: str) -> str:
    gates.setdefault(key, asyncio.Event())
    await gates[key].wait()
    return key


@plait.workflow
async def job(ctx: plait.Context, n: int) -> int:
    ctx.set_status("scoring", stage="screen" if n % 2 else "offer", n=n)
    return await work(n)


@plait.workflow
async def parent(ctx: plait.Context) -> int:
    return await ctx.child(job, 7)


@plait.workflow
async def waits(ctx: plait.Context) -> str:
    await work(1)
    got = await ctx.wait_for_signal("go")
    return str(got)


@plait.workflow
async def holds(ctx: plait.Context, key: str) -> str:
    return await parked(key)


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    """Waits for ``predicate`` (plain or async) to be true; the bound only catches a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


# -- counts --------------------------------------------------------------------------------
async def test_counts_by_status_and_by_name(test_engine: TestEngine) -> None:
    e = test_engine
    for wf in (job, parent, waits):
        e.register(wf)
    assert await e.counts() == dict.fromkeys(plait.WorkflowStatus, 0)
    await e.start(job, 1)
    await e.start(job, 2)
    await e.start(waits)
    await e.run_until_idle()
    await e.start(job, 3)
    counts = await e.counts()
    assert counts[plait.WorkflowStatus.COMPLETED] == 2
    assert counts[plait.WorkflowStatus.WAITING] == 1
    assert counts[plait.WorkflowStatus.PENDING] == 1
    assert sum(counts.values()) == 4
    assert (await e.counts(name="waits"))[plait.WorkflowStatus.WAITING] == 1
    assert sum((await e.counts(name="nobody")).values()) == 0
    by_name = await e.counts_by_name()
    assert list(by_name) == ["job", "waits"]
    assert by_name["job"][plait.WorkflowStatus.COMPLETED] == 2
    assert by_name["job"][plait.WorkflowStatus.PENDING] == 1
    assert by_name["waits"][plait.WorkflowStatus.WAITING] == 1
    assert by_name["waits"][plait.WorkflowStatus.FAILED] == 0


# -- pages ---------------------------------------------------------------------------------
async def test_paging_newest_first_through_inserts(test_engine: TestEngine) -> None:
    e = test_engine
    e.register(job)
    for i in range(12):
        await e.start(job, i, id=f"w{i:02}")
        if i % 3:
            e.clock.advance(timedelta(milliseconds=1))  # some share a millisecond
    first_view = [i.id for i in (await e.page(limit=1000)).items]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await e.page(limit=5, cursor=cursor)
        pages += 1
        seen += [i.id for i in page.items]
        for k in range(2):  # others start workflows while the reader pages
            e.clock.advance(timedelta(milliseconds=1))
            await e.start(job, 100, id=f"new-{pages}-{k}")
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    # Ties in a millisecond are broken by id (descending too), so the order is total.
    assert seen == first_view == [f"w{i:02}" for i in reversed(range(12))]
    everything = await e.page(limit=1000)
    assert len(everything.items) == 18 and everything.next_cursor is None
    assert everything.items[0].input == [100]  # decoded like engine.list's


async def test_page_filters(test_engine: TestEngine) -> None:
    e = test_engine
    for wf in (job, parent, waits):
        e.register(wf)
    t0 = e.clock.now()
    await e.start(job, 1, id="j1")
    e.clock.advance(timedelta(seconds=10))
    t1 = e.clock.now()
    await e.start(job, 2, id="j2")
    e.clock.advance(timedelta(milliseconds=1))
    await e.start(waits, id="w")
    e.clock.advance(timedelta(milliseconds=1))
    await e.start(parent, id="p")
    e.clock.advance(timedelta(milliseconds=1))
    await e.run_until_idle()  # starts the child
    e.clock.advance(timedelta(seconds=10))
    t2 = e.clock.now()
    await e.start(job, 3, id="j3")  # pending
    [kid] = await e.list(parent_id="p")

    async def ids(**kw: Any) -> list[str]:
        return [i.id for i in (await e.page(**kw)).items]

    assert await ids() == ["j3", kid.id, "p", "w", "j2", "j1"]
    assert await ids(status="waiting") == ["w"]
    assert await ids(status=["pending", plait.WorkflowStatus.WAITING]) == ["j3", "w"]
    assert await ids(name="job") == ["j3", kid.id, "j2", "j1"]
    assert await ids(name="job", status="completed") == [kid.id, "j2", "j1"]
    assert await ids(since=t1) == ["j3", kid.id, "p", "w", "j2"]
    assert await ids(since=t1, until=t2) == [kid.id, "p", "w", "j2"]
    assert await ids(until=t1) == ["j1"]
    assert await ids(since=t0, until=t0) == []
    assert await ids(parent_id="p") == [kid.id]
    assert await ids(attributes={"stage": "offer"}) == ["j2"]
    assert await ids(attributes={"stage": "screen", "n": 7}) == [kid.id]
    assert await ids(attributes={"n": 1}, name="job") == ["j1"]
    two = await e.page(name="job", limit=2)
    assert [i.id for i in two.items] == ["j3", kid.id] and two.next_cursor
    rest = await e.page(name="job", limit=2, cursor=two.next_cursor)
    assert [i.id for i in rest.items] == ["j2", "j1"] and rest.next_cursor is None


@pytest.mark.parametrize(
    "cursor", ["nonsense", "", "eyJhIjoxfQ", "WzEsMl0", "W251bGwsImEiXQ", "W3RydWUsImEiXQ", "!!"]
)
async def test_a_bad_cursor_is_a_clear_error(test_engine: TestEngine, cursor: str) -> None:
    with pytest.raises(plait.InvalidCursor, match="bad page cursor.*next_cursor") as info:
        await test_engine.page(cursor=cursor)
    assert isinstance(info.value, plait.PlaitError) and isinstance(info.value, ValueError)


async def test_bad_page_arguments_are_clear_errors(test_engine: TestEngine) -> None:
    with pytest.raises(plait.ConfigurationError, match="limit"):
        await test_engine.page(limit=0)
    with pytest.raises(plait.ConfigurationError, match="unknown status"):
        await test_engine.page(status="done")
    with pytest.raises(plait.ConfigurationError, match="since must be a datetime"):
        await test_engine.page(since=5)  # type: ignore[arg-type]


# -- workers -------------------------------------------------------------------------------
async def test_workers_show_the_workflows_they_hold(db_url: str) -> None:
    key = f"gate-{os.getpid()}-{time.monotonic_ns()}"
    async with plait.Engine(db_url, workflows=[holds]) as e:
        assert await e.workers() == []
        async with e.worker(concurrency=5, queues=["default"]) as w:
            h = await e.start(holds, key, id="held")
            await until(lambda: key in gates)  # parked inside its step
            [info] = await e.workers()
            assert info.id == w.id
            assert (info.hostname, info.pid) == (socket.gethostname(), os.getpid())
            assert info.queues == ("default",) and info.concurrency == 5
            assert info.workflows == ("holds@1",)
            assert info.started_at <= info.last_heartbeat
            [held] = info.holds
            assert (held.id, held.name) == ("held", "holds")
            assert held.since >= info.started_at
            gates[key].set()
            assert await h.result(timeout=10) == key
            await until(lambda: _holds_nothing(e))
        assert await e.workers() == []  # a stopped worker unregisters


async def _holds_nothing(e: plait.Engine) -> bool:
    return all(not w.holds for w in await e.workers())


# -- the change feed -----------------------------------------------------------------------
@contextlib.asynccontextmanager
async def collecting(
    feed: AsyncIterator[plait.WorkflowChange],
) -> AsyncIterator[list[plait.WorkflowChange]]:
    """Consumes ``feed`` in a task into a list, until the block ends."""
    got: list[plait.WorkflowChange] = []

    async def consume() -> None:
        async with contextlib.aclosing(feed) as changes:  # type: ignore[type-var]
            async for change in changes:
                got.append(change)

    task = asyncio.create_task(consume())
    try:
        yield got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def statuses(got: list[plait.WorkflowChange], workflow_id: str) -> list[str]:
    return [c.status for c in got if c.kind == "status" and c.workflow_id == workflow_id]


async def test_the_feed_of_one_workflow_has_its_status_and_journal(
    test_engine: TestEngine,
) -> None:
    e = test_engine
    e.register(waits)
    e.register(job)
    h = await e.start(waits, id="w")
    await e.start(job, 1, id="other")
    async with collecting(e.watch("w")) as got:
        await e.run_until_idle()
        await until(lambda: "waiting" in statuses(got, "w"))
        journal = [(c.seq, c.entry_kind, c.name, c.status) for c in got if c.kind == "journal"]
        assert (1, "step", "work", "completed") in journal
        assert any(seq == 2 and kind == "signal" for seq, kind, _, _ in journal)
        await e.signal("w", "go", "now")
        await e.run_until_idle()
        await until(lambda: "completed" in statuses(got, "w"))
        assert {c.workflow_id for c in got} == {"w"}
        assert len(got) == len(set(got))  # each change once
        assert [c.at for c in got] == sorted(c.at for c in got)
    assert await h.result() == "now"


async def test_the_feed_of_all_workflows(test_engine: TestEngine) -> None:
    e = test_engine
    e.register(job)
    await e.start(job, 0, id="before")  # started before the feed: not in it
    e.clock.advance(timedelta(seconds=5))
    async with collecting(e.watch()) as got:
        await e.start(job, 1, id="a")
        await until(lambda: statuses(got, "a") == ["pending"])  # this process: at once
        await e.start(job, 2, id="b")
        await e.run_until_idle()
        await until(lambda: statuses(got, "a")[-1:] == statuses(got, "b")[-1:] == ["completed"])
        assert "pending" not in statuses(got, "before")  # it was pending before the feed
        assert any(c.kind == "journal" and c.workflow_id == "a" and c.name == "work" for c in got)
        assert len(got) == len(set(got))


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    import plait

    @plait.workflow(name="remote")
    async def remote(ctx: plait.Context) -> None:
        return None

    async def main() -> None:
        async with plait.Engine(sys.argv[1], workflows=[remote]) as e:
            for i in range(60):  # until the test has seen one (it kills us)
                await e.start(remote, id=f"remote-{i}")
                await asyncio.sleep(0.2)

    asyncio.run(main())
    """
)


async def test_the_feed_sees_changes_committed_by_another_process(
    db_url: str, plait_backend: str
) -> None:
    # On PostgreSQL the feed polls every 30 s, so a change seen within the bound came by
    # NOTIFY; on SQLite there is no cross-process hint: its default poll (0.25 s) finds it.
    poll = timedelta(seconds=30) if plait_backend == "postgresql" else None
    async with plait.Engine(db_url, workflows=[job]) as e:
        async with collecting(e.watch(poll_interval=poll)) as got:
            await e.start(job, 1, id="local")  # seen at once: the feed is running
            await until(lambda: statuses(got, "local"))
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            proc = subprocess.Popen([sys.executable, "-c", _WRITER, db_url], env=env)
            try:
                # Well under the 30 s poll: python's start-up and the writer's first commit.
                await until(lambda: any(c.workflow_id.startswith("remote-") for c in got), 20)
            finally:
                proc.kill()
                proc.wait()
        remote = [c for c in got if c.workflow_id.startswith("remote-")]
        assert remote[0].kind == "status" and remote[0].status == "pending"
        assert remote[0].name == "remote"


# -- human tasks: for a person, overdue, most urgent first ----------------------------------
@plait.workflow
async def asks(ctx: plait.Context, who: str, due_h: int) -> str:
    due = timedelta(hours=due_h) if due_h else None
    answer = await ctx.ask_human(f"for {who}", assignee=who, due=due)
    return str(answer.approved)


INBOX_DIRECTORY = plait.Directory(groups={"recruiters": ["ada", "lin"]})


async def test_tasks_for_a_person_overdue_and_most_urgent_first(
    plait_backend: str, new_db_url: Callable[..., str]
) -> None:
    url = None if plait_backend == "sqlite" else new_db_url()
    async with TestEngine(url, workflows=[asks], directory=INBOX_DIRECTORY) as e:
        # (id, assignee, due in hours; 0: none), started an hour apart: t1 is the oldest.
        # Every deadline is after the last start, so none expires while they start.
        plan = [("t1", "ada", 0), ("t2", "recruiters", 7), ("t3", "ada", 4), ("t4", "max", 1)]
        plan += [("t5", "lin", 5), ("t6", "ada", 10)]
        for wid, who, due_h in plan:
            await e.start(asks, who, due_h, id=wid)
            await e.run_until_idle(within=timedelta(0))
            if wid == "t4":  # answered in time: a done task is never overdue
                [t4] = await e.tasks(workflow_id="t4")
                await e.complete_task(t4.id, True, by="max")
            e.clock.advance(timedelta(hours=1))
        # Now 6.5 h after t1: t3 (due at +6 h) is overdue; t2 and t5 (+8 h, +9 h) not yet,
        # t6 (+15 h) neither; t4 (+4 h) was answered in time.
        e.clock.advance(timedelta(minutes=30))

        def wids(tasks: list[plait.HumanTask]) -> list[str]:
            return [t.workflow_id for t in tasks]

        assert wids(await e.tasks()) == ["t1", "t2", "t3", "t4", "t5", "t6"]  # oldest first
        assert wids(await e.tasks(for_user="ada")) == ["t1", "t2", "t3", "t6"]  # and her group
        assert wids(await e.tasks(for_user="lin")) == ["t2", "t5"]
        assert wids(await e.tasks(for_user="max")) == ["t4"]
        assert wids(await e.tasks(for_user="nobody")) == []
        assert wids(await e.tasks(for_user="ada", assignee="recruiters")) == ["t2"]
        assert wids(await e.tasks(overdue=True)) == ["t3"]
        assert wids(await e.tasks(overdue=False)) == ["t1", "t2", "t4", "t5", "t6"]
        assert wids(await e.tasks(status="open", overdue=False)) == ["t1", "t2", "t5", "t6"]
        e.clock.advance(timedelta(hours=3))  # 9.5 h: t3 3.5 h overdue, t2 1.5 h, t5 0.5 h
        urgent = await e.tasks(order="urgent")
        assert wids(urgent) == ["t3", "t2", "t5", "t1", "t4", "t6"]
        assert wids(await e.tasks(order="urgent", for_user="ada", overdue=True)) == ["t3", "t2"]
        assert wids(await e.tasks(order="urgent", limit=2, offset=1)) == ["t2", "t5"]
        with pytest.raises(plait.ConfigurationError, match="order"):
            await e.tasks(order="newest")  # type: ignore[arg-type]
