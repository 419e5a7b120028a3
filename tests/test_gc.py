"""engine.gc and retention: exactly the ended, old workflows go (with everything that is
theirs, children included, blobs only they held, orphan blobs), everything else stays, row
for row in every table; a dry run changes nothing; each collected workflow keeps a tombstone
in its event log; the policies per workflow name and record kind fire."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest

import plait
import plait.retention
from plait.store.records import LedgerRow
from plait.testing import TestEngine
from tests.rawsql import sql

DAY = timedelta(days=1)


@plait.step
async def note(text: str) -> str:
    return f"noted {text}"


@plait.step
async def flaky(text: str) -> str:
    raise ValueError(f"cannot read {text}")


@plait.workflow
async def leaf(ctx: plait.Context, tag: str) -> str:
    return await note(f"leaf {tag}")


@plait.workflow
async def tree(ctx: plait.Context, tag: str) -> str:
    await plait.put_blob(f"file {tag}".encode(), content_type="text/plain")
    await plait.put_blob(b"shared by every tree", content_type="text/plain")
    await note(tag)
    try:
        await flaky(tag)
    except plait.StepFailed:
        pass
    await ctx.ask_human(f"Approve {tag}?")
    await ctx.wait_for_signal("go")
    return await ctx.child(leaf, tag)


@plait.workflow
async def looper(ctx: plait.Context, n: int) -> int:
    if n == 0:
        ctx.continue_as_new(1)
    return n


@plait.workflow
async def broken(ctx: plait.Context) -> None:
    raise RuntimeError("broken on purpose")


@plait.workflow
async def sleeper(ctx: plait.Context) -> None:
    await ctx.sleep(timedelta(days=365))


@plait.workflow
async def spawner(ctx: plait.Context) -> str:
    child = await ctx.start_child(sleeper)  # not awaited: the parent ends first
    return child.id


ALL = (tree, leaf, looper, broken, sleeper, spawner)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def finish_tree(e: TestEngine, wid: str) -> None:
    await e.run_until_idle(within=timedelta(minutes=1))
    (task,) = await e.tasks(workflow_id=wid)
    await e.complete_task(task.id, {"approved": True}, by="lin")
    await e.signal(wid, "go", {"ok": 1}, by="mail")
    await e.run_until_idle(within=timedelta(minutes=1))
    assert (await e.get(wid)).status == plait.WorkflowStatus.COMPLETED


def ledger_row(wid: str, at: int) -> LedgerRow:
    return LedgerRow(wid, 1, "Skills", "m:x", "m:x", 10, 5, 0.01, "ok", 0, 1.0, at)


def tables(url: str) -> list[str]:
    if url.startswith("sqlite"):
        rows = sql(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return sorted(str(r[0]) for r in rows if not str(r[0]).startswith("sqlite_"))


def snapshot(url: str) -> dict[str, list[dict[str, object]]]:
    """Every row of every table, as dicts."""
    out = {}
    for table in tables(url):
        if url.startswith("sqlite"):
            cols = [str(r[1]) for r in sql(url, f"PRAGMA table_info({table})")]
        else:
            cols = [
                str(r[0])
                for r in sql(
                    url,
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position",
                    (table,),
                )
            ]
        rows = sql(url, f"SELECT {', '.join(cols)} FROM {table}")
        out[table] = [dict(zip(cols, (_plain(v) for v in r), strict=True)) for r in rows]
    return out


def _plain(value: object) -> object:
    return bytes(value) if isinstance(value, memoryview) else value


def same(rows: list[dict[str, object]], expected: list[dict[str, object]]) -> bool:
    return sorted(map(repr, rows)) == sorted(map(repr, expected))


async def build(e: TestEngine) -> dict[str, object]:
    """Old ended trees, old unfinished ones, new ended ones, blobs, records, slots."""
    for wf in ALL:
        e.register(wf)
    t0 = e.clock.now_ms()
    orphan_old = await e.put_blob(b"orphan from long ago", content_type="text/plain")
    kept_subject = await e.put_blob(b"held by a subject", content_type="text/plain", subject="p9")
    await e.records.put("mailbox", "old", {"text": "hello"})
    await e.records.put("suppress", "old", True)
    await e.start(tree, "old-a", id="old-a", subject="person-a")
    await finish_tree(e, "old-a")
    await e.store.add_ledger(None, t0, [ledger_row("old-a", t0)])
    await e.erase_subject("person-a", by="dpo")  # its erased event outlives the gc
    await e.start(tree, "old-b", id="old-b")
    await e.run_until_idle(within=timedelta(minutes=1))
    await e.cancel("old-b", by="ops")
    await e.start(broken, id="old-fail")
    await e.start(looper, 0, id="old-loop")
    await e.start(spawner, id="old-spawn")
    await e.start(sleeper, id="old-wait")
    await e.start(sleeper, id="old-pending", delay=timedelta(days=400))
    await e.run_until_idle(within=timedelta(minutes=1))
    sql(
        e.url,
        "INSERT INTO limit_slots (key, holder, expires_at) VALUES (?, ?, ?), (?, ?, ?)",
        ("k", "dead", t0, "k", "alive", t0 + 400 * 86_400_000),
    )
    await e.start(sleeper, id="old-running", delay=39 * DAY)
    e.clock.advance(40 * DAY)
    # a worker holds it (claimed, never run here): running, with a lease for a long time
    (held,) = await e.store.claim(
        "w-elsewhere", e.registered_pairs, None, 10, e.clock.now_ms(), 1000 * 86_400_000, 5
    )
    assert held.id == "old-running"
    await e.start(tree, "new-a", id="new-a")
    await finish_tree(e, "new-a")
    orphan_new = await e.put_blob(b"orphan of today", content_type="text/plain")
    await e.records.put("mailbox", "new", {"text": "hi"})
    return {
        "orphan_old": orphan_old.digest,
        "orphan_new": orphan_new.digest,
        "subject": kept_subject.digest,
    }


def children_of(url: str, parents: list[str]) -> list[str]:
    marks = ", ".join("?" for _ in parents)
    return [
        str(r[0])
        for r in sql(url, f"SELECT id FROM workflows WHERE parent_id IN ({marks})", tuple(parents))
    ]


async def test_gc_deletes_exactly_the_old_ended_trees(test_engine: TestEngine) -> None:
    e = test_engine
    blobs = await build(e)
    status = {w.id: str(w.status) for w in await e.list(limit=100)}
    assert status["old-a"] == "completed" and status["old-b"] == "cancelled"
    assert status["old-fail"] == "failed" and status["old-loop"] == "completed"
    assert status["old-spawn"] == "completed" and status["old-wait"] == "waiting"
    assert status["old-pending"] == "pending" and status["new-a"] == "completed"
    assert status["old-running"] == "running"
    roots = ["old-a", "old-b", "old-fail", "old-loop"]
    gone = set(roots) | set(children_of(e.url, roots))
    kept_child = children_of(e.url, ["old-spawn"])
    assert len(kept_child) == 1 and status[kept_child[0]] == "waiting"
    before = snapshot(e.url)
    assert any(r["workflow_id"] == "old-loop" for r in before["workflow_runs"])
    assert any(r["workflow_id"] == "old-a" for r in before["model_ledger"])

    dry = await e.gc(older_than="30d", dry_run=True, by="ops")
    assert snapshot(e.url) == before  # a dry run writes nothing
    report = await e.gc(older_than=timedelta(days=30), by="ops")

    assert report == plait.GcReport(dry_run=False, deleted=dry.deleted)
    assert report.workflows == len(gone) and report.blobs == 2  # old-b's file, the orphan
    after = snapshot(e.url)
    # old-a's own file went with its erasure; "shared by every tree" is new-a's too
    dead_blobs = {digest(b"file old-b"), blobs["orphan_old"]}
    for table, rows in before.items():
        if table == "workflows":
            expected = [r for r in rows if r["id"] not in gone]
        elif table == "workflow_events":
            kept = [r for r in rows if r["workflow_id"] not in gone or r["kind"] == "erased"]
            tombs = [r for r in after[table] if r["kind"] == "collected"]
            assert sorted(r["workflow_id"] for r in tombs) == sorted(gone)
            assert {r["actor"] for r in tombs} == {"ops"}
            expected = kept + tombs
        elif table == "blobs":
            expected = [r for r in rows if r["digest"] not in dead_blobs]
        elif table == "limit_slots":
            expected = [r for r in rows if r["holder"] != "dead"]
        elif rows and "workflow_id" in rows[0]:
            expected = [r for r in rows if r["workflow_id"] not in gone]
        else:
            expected = rows  # records, queues, workers, migrations, ...: untouched
        assert same(after[table], expected), table
        if table in ("workflows", "journal", "signals", "human_tasks", "task_events"):
            assert len(after[table]) < len(rows), table  # the test covers the table
    for table in before:  # the report counts what went from each table
        went = len(before[table]) - len(after[table])
        if table == "workflow_events":
            went += len(gone)  # the tombstones came in
        assert report.deleted.get(table, 0) == went, table
    assert blobs["orphan_new"] in {r["digest"] for r in after["blobs"]}
    assert blobs["subject"] in {r["digest"] for r in after["blobs"]}
    # the audit trail of a collected workflow: its erasure and its collection
    events = await e.events("old-a")
    assert [(ev.kind, ev.by) for ev in events] == [("erased", "dpo"), ("collected", "ops")]
    assert events[-1].details["name"] == "tree" and events[-1].details["status"] == "completed"
    with pytest.raises(plait.WorkflowNotFound):
        await e.get("old-a")
    again = await e.gc(older_than="30d")  # idempotent: nothing more to do
    assert again.deleted == {}


async def test_gc_by_name_and_a_parent_waits_for_its_children(test_engine: TestEngine) -> None:
    e = test_engine
    for wf in ALL:
        e.register(wf)
    await e.start(broken, id="f1")
    await e.start(spawner, id="s1")
    await e.run_until_idle(within=timedelta(minutes=1))
    (child,) = children_of(e.url, ["s1"])
    e.clock.advance(10 * DAY)
    assert (await e.gc(older_than="1d", name="spawner")).deleted == {}  # its child waits
    await e.cancel(child)
    await e.run_until_idle(within=timedelta(minutes=1))
    assert (await e.gc(older_than="1d", name="spawner")).deleted == {}  # the child ended now
    e.clock.advance(2 * DAY)
    report = await e.gc(older_than="1d", name="spawner")
    assert report.workflows == 2
    assert [w.id for w in await e.list()] == ["f1"]  # another name: kept


async def test_retention_policies_per_name_default_and_record_kind(db_url: str) -> None:
    @plait.workflow(name="short", retention="2d")
    async def short(ctx: plait.Context) -> None:
        return None

    @plait.workflow(name="long")
    async def long(ctx: plait.Context) -> None:
        return None

    @plait.workflow(name="other")
    async def other(ctx: plait.Context) -> None:
        return None

    async with TestEngine(
        db_url,
        workflows=[short, long, other],
        retention={"long": "20d", "*": timedelta(days=10)},
        record_retention={"mailbox": "5d"},
    ) as e:
        for wf in (short, long, other):
            await e.start(wf, id=wf.name)
        await e.records.put("mailbox", "m1", "hello")
        await e.records.put("suppress", "s1", True)
        await e.run_until_idle()
        e.clock.advance(3 * DAY)
        assert (await e.apply_retention()).workflows == 1  # day 3: "short" (2 days) goes
        assert sorted(w.name for w in await e.list()) == ["long", "other"]
        e.clock.advance(3 * DAY)  # day 6: the mailbox record goes
        assert (await e.apply_retention()).records == 1
        assert await e.records.get("suppress", "s1") is True
        e.clock.advance(5 * DAY)  # day 11: the default takes "other"
        assert (await e.apply_retention(dry_run=True)).workflows == 1
        assert (await e.apply_retention()).workflows == 1
        assert [w.name for w in await e.list()] == ["long"]
        e.clock.advance(10 * DAY)
        assert (await e.apply_retention()).workflows == 1
        assert await e.list() == []


def test_bad_policies_and_durations_are_refused() -> None:
    with pytest.raises(plait.ConfigurationError, match="30d"):
        plait.Engine("sqlite:///x.db", retention={"a": "thirty days"})
    with pytest.raises(plait.ConfigurationError, match="record retention"):
        plait.Engine("sqlite:///x.db", record_retention={"mailbox": "-1d"})
    with pytest.raises(plait.ConfigurationError, match="retention of workflow"):

        @plait.workflow(retention="0d")
        async def nothing(ctx: plait.Context) -> None: ...


async def test_workers_apply_the_policies(db_url: str) -> None:
    @plait.workflow(name="brief", retention=timedelta(milliseconds=1))
    async def brief(ctx: plait.Context) -> None:
        return None

    engine = plait.Engine(
        db_url,
        workflows=[brief],
        retention_interval=timedelta(milliseconds=50),
        poll_interval=timedelta(milliseconds=20),
    )
    async with engine, engine.worker():
        handle = await engine.start(brief, id="b1")
        await handle.result(timeout=30)
        for _ in range(600):
            if (await engine.events("b1"))[-1].kind == "collected":
                break
            await asyncio.sleep(0.05)
        assert (await engine.events("b1"))[-1].kind == "collected"


async def test_collectors_running_at_once_delete_each_tree_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plait.retention, "BATCH", 4)  # many small transactions interleave
    async with TestEngine(db_url, workflows=[broken]) as e:
        for n in range(30):
            await e.start(broken, id=f"f{n}")
        await e.run_until_idle()
        e.clock.advance(2 * DAY)
        others = [TestEngine(db_url, workflows=[broken]) for _ in range(2)]
        try:
            for other in others:
                await other.open()
                other.clock.set(e.clock.now_ms())
            reports = await asyncio.gather(
                e.gc(older_than="1d", by="a"),
                *(o.gc(older_than="1d", by=f"b{i}") for i, o in enumerate(others)),
            )
        finally:
            for other in others:
                await other.close()
        assert sum(r.workflows for r in reports) == 30
        assert await e.list() == []
        tombs = sql(e.url, "SELECT workflow_id FROM workflow_events WHERE kind = 'collected'")
        assert sorted(str(t[0]) for t in tombs) == sorted(f"f{n}" for n in range(30))


async def test_one_retention_pass_per_interval_on_the_whole_database(store_url: str) -> None:
    from plait.store import open_store

    stores = [open_store(store_url) for _ in range(2)]
    for s in stores:
        await s.open()
    try:
        hour = 3_600_000
        turns = await asyncio.gather(*(s.claim_pass("plait:retention", 10, hour) for s in stores))
        assert sorted(turns) == [False, True]  # two workers at once: one pass
        assert not await stores[0].claim_pass("plait:retention", 10 + hour - 1, hour)
        assert await stores[1].claim_pass("plait:retention", 10 + hour, hour)  # an hour later
    finally:
        for s in stores:
            await s.close()
