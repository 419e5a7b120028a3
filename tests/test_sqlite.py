"""The SQLite store as a user meets it: WAL mode, numbered migrations applied once, several
Engine objects (processes) sharing one file, writers waiting for each other instead of
failing, a step's result committed before the next step runs, and clear URL errors."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import plait
from plait.store import migrations
from plait.testing import TestEngine

SQLITE_ONLY = pytest.mark.backends("sqlite")
calls: Counter[str] = Counter()
paths: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    paths.clear()


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


@SQLITE_ONLY
async def test_wal_mode_and_migrations_applied_once(db_url: str) -> None:
    async with plait.Engine(db_url):
        pass
    with sqlite3.connect(_path(db_url)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        first = conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"workflows", "journal", "step_attempts", "signals", "workers"} <= tables
    numbers = [n for n, _ in migrations.load("sqlite")]
    assert [v for v, _ in first] == numbers
    # Numbered 1, 2, 3, ...: unique and in order. Numbers are handed out to changes made at
    # the same time, so one may land before a lower one still in the works: a gap is allowed.
    assert numbers == sorted(set(numbers)) and numbers[0] == 1

    async with plait.Engine(db_url):  # reopening applies nothing twice
        pass
    with sqlite3.connect(_path(db_url)) as conn:
        again = conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    assert again == first


def test_migration_files_are_numbered() -> None:
    folder = resources.files("plait.store.migrations").joinpath("sqlite")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    assert names and all(re.fullmatch(r"\d{3}_[a-z0-9_]+\.sql", n) for n in names)


@plait.step
async def record_once(i: int) -> int:
    calls[f"step:{i}"] += 1
    calls[f"engine:{id(plait.current_engine())}"] += 1  # which engine's worker ran it
    await asyncio.sleep(0.001)
    return i


@plait.workflow
async def shared(ctx: plait.Context, i: int) -> int:
    a = await record_once(i)
    await ctx.wait_for_signal("go")
    return a * 2


async def test_two_engines_on_one_file_share_the_work(db_url: str) -> None:
    async with (
        plait.Engine(db_url, workflows=[shared], poll_interval=0.02) as one,
        plait.Engine(db_url, workflows=[shared], poll_interval=0.02) as two,
    ):
        async with one.worker(concurrency=10), two.worker(concurrency=10):
            handles = [await (one if i % 2 else two).start(shared, i) for i in range(60)]
            for h in handles:  # each engine signals the workflows the other one started
                await (two if h.engine is one else one).signal(h.id, "go")
            results = await asyncio.gather(*(h.result(timeout=20) for h in handles))
        assert results == [2 * i for i in range(60)]
        assert all(calls[f"step:{i}"] == 1 for i in range(60))  # each workflow ran once
        assert len(await two.list(status="completed", limit=100)) == 60
        # both workers ran workflows
        assert calls[f"engine:{id(one)}"] > 0 and calls[f"engine:{id(two)}"] > 0, calls
        assert calls[f"engine:{id(one)}"] + calls[f"engine:{id(two)}"] == 60


@SQLITE_ONLY
async def test_a_writer_waits_for_another_process_lock_instead_of_failing(db_url: str) -> None:
    async with plait.Engine(db_url, workflows=[shared]) as engine:
        blocker = sqlite3.connect(_path(db_url), isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        release = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
        release.start()
        try:
            h = await engine.start(shared, 1, id="patient")  # waits (busy_timeout), succeeds
        finally:
            release.join()
            blocker.close()
        assert (await h.info()).status == plait.WorkflowStatus.PENDING


@plait.step
async def write_a() -> str:
    return "a"


@plait.step
def check_a_is_durable(workflow_id: str) -> str:
    # Reads the file from another connection, as another process would.
    with sqlite3.connect(paths["db"]) as conn:
        row = conn.execute(
            "SELECT status, output FROM journal WHERE workflow_id = ? AND seq = 1", (workflow_id,)
        ).fetchone()
    return f"{row[0]} {row[1]}" if row else "missing"


@plait.workflow
async def durable_order(ctx: plait.Context) -> str:
    await write_a()
    return await check_a_is_durable(ctx.workflow_id)


@SQLITE_ONLY
async def test_a_step_result_is_committed_before_the_next_step_runs(db_url: str) -> None:
    paths["db"] = _path(db_url)
    async with TestEngine(db_url, workflows=[durable_order]) as engine:
        h = await engine.start(durable_order)
        await engine.run_until_idle()
        assert await h.result() == 'completed "a"'


def _count_commits(store: Any) -> list[int]:
    """Counts the transactions ``store`` commits (test-only: wraps each executor's backend)."""
    executor = store._executor
    count = [0]
    for member in getattr(executor, "_members", [executor]):
        backend = member._backend
        real = backend.commit

        def commit(conn: Any, real: Any = real) -> None:
            real(conn)
            count[0] += 1

        backend.commit = commit
    return count


async def test_concurrent_signals_share_commits(db_url: str) -> None:
    async with TestEngine(db_url, workflows=[shared]) as engine:
        handles = [await engine.start(shared, i) for i in range(50)]
        await engine.run_until_idle()
        commits = _count_commits(engine.store)
        sent = await asyncio.gather(
            *(engine.signal(h.id, "go", dedup_key=f"k{j}") for h in handles for j in range(20))
        )
        assert sent.count(True) == 1000
        # 1000 concurrent sends went out in far fewer transactions (batched group commits)
        assert 0 < commits[0] < 1000 / 4, commits
        await engine.run_until_idle()
        assert [await h.result() for h in handles] == [2 * i for i in range(50)]


def test_bad_database_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(plait.ConfigurationError, match="unknown database URL"):
        plait.Engine("mysql://x/y")
    folder = f"{tmp_path}/no/such/folder"
    with pytest.raises(plait.ConfigurationError, match=f"the folder '{folder}' .* does not exist"):
        plait.Engine(f"sqlite:///{folder}/x.db")
    with pytest.raises(plait.ConfigurationError, match="the folder '/.*/no-such-folder' "):
        plait.Engine("sqlite:///no-such-folder/x.db")  # relative: named as the absolute folder
    with pytest.raises(plait.ConfigurationError, match="bad SQLite URL"):
        plait.Engine("sqlite://relative.db")


async def test_using_a_closed_engine_is_a_clear_error(db_url: str) -> None:
    engine = plait.Engine(db_url, workflows=[shared])
    with pytest.raises(RuntimeError, match="open the engine"):
        await engine.get("x")
    await engine.close()
