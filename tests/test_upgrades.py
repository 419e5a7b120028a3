"""Upgrades and backups: ``plait migrate [--check]``, ``Engine(migrate=False)`` /
``plait worker --no-migrate`` refusing a schema behind the code (and accepting one ahead),
and ``plait backup`` of a SQLite database taken while a worker writes, then restored."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import plait
from plait import schema
from plait.cli import main
from plait.store import migrations
from tests.rawsql import sql

KNOWN = sorted(migrations.names("sqlite"))


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def migrate_up_to(url: str, last: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrates ``url`` as an older plait would: migrations up to ``last`` only."""
    real = migrations.load
    with monkeypatch.context() as m:
        m.setattr(migrations, "load", lambda dialect: [x for x in real(dialect) if x[0] <= last])
        assert asyncio.run(schema.migrate(url)) == [n for n in KNOWN if n <= last]


def test_fresh_database_check_migrate_check(new_db_url: Callable[..., str]) -> None:
    url = new_db_url(empty=True)
    code, out = run("migrate", "--check", "--database", url)
    assert code == 1
    assert out.splitlines()[0] == f"{len(KNOWN)} pending:"
    assert "001_init" in out and migrations.names("sqlite")[KNOWN[-1]] in out

    with pytest.raises(plait.ConfigurationError, match="plait migrate --database"):
        asyncio.run(plait.Engine(url, migrate=False).open())
    code, out = run("migrate", "--check", "--database", url)
    assert code == 1, "a refused open must not have migrated"

    code, out = run("migrate", "--database", url)
    assert code == 0 and out.splitlines() == [
        f"applied {migrations.names('sqlite')[n]}" for n in KNOWN
    ]
    code, out = run("migrate", "--check", "--database", url)
    assert (code, out.strip()) == (0, f"up to date ({len(KNOWN)} migrations applied)")
    code, out = run("migrate", "--database", url)
    assert (code, out.strip()) == (0, "up to date: nothing to apply")

    async def opens() -> None:
        async with plait.Engine(url, migrate=False) as engine:
            assert await engine.list() == []

    asyncio.run(opens())


def test_database_at_an_older_migration(
    new_db_url: Callable[..., str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = new_db_url(empty=True)
    migrate_up_to(url, KNOWN[-3], monkeypatch)
    behind = KNOWN[-2:]
    status = asyncio.run(schema.schema_status(url))
    assert status.pending == tuple(behind) and status.unknown == ()

    code, out = run("migrate", "--check", "--database", url)
    assert code == 1 and out.split() == ["2", "pending:"] + [
        migrations.names("sqlite")[n] for n in behind
    ]
    # A worker started with --no-migrate refuses, naming the command that fixes it.
    monkeypatch.setenv("PLAIT_CLI_DB", url)
    monkeypatch.chdir(Path(__file__).parent.parent)
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)
    code, out = run("worker", "tests.cli_app:engine", "--no-migrate")
    assert code == 2
    assert "is behind this plait" in out and f"plait migrate --database {url}" in out
    assert asyncio.run(schema.schema_status(url)).pending == tuple(behind)

    code, out = run("migrate", "--app", "tests.cli_app:engine")
    assert code == 0 and out.split() == [
        w for n in behind for w in ("applied", migrations.names("sqlite")[n])
    ]
    assert run("migrate", "--check", "--database", url)[0] == 0


def test_schema_ahead_of_the_code_is_allowed(
    new_db_url: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    db_url = new_db_url(empty=True)  # dropped after the test, not handed to the next one
    asyncio.run(schema.migrate(db_url))
    # A migration this code does not know, as a newer plait would have recorded it.
    sql(db_url, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
    status = asyncio.run(schema.schema_status(db_url))
    assert status.unknown == (999,) and status.pending == ()

    async def opens() -> None:
        async with plait.Engine(db_url, migrate=False) as engine:
            assert await engine.list() == []

    with caplog.at_level("WARNING", logger="plait.schema"):
        asyncio.run(opens())
    assert "ahead of this code" in caplog.text
    code, out = run("migrate", "--check", "--database", db_url)
    assert code == 0 and "up to date" in out


def test_usage_errors(tmp_path: Path) -> None:
    code, out = run("migrate")
    assert code == 2 and out.startswith("error: give --database URL or --app")
    code, out = run("backup", "--database", "postgresql://x@127.0.0.1/none", "b.db")
    assert code == 2 and "pg_dump" in out
    url = f"sqlite:///{tmp_path}/a.db"
    asyncio.run(schema.migrate(url))
    (tmp_path / "exists.db").write_text("")
    code, out = run("backup", "--database", url, str(tmp_path / "exists.db"))
    assert code == 2 and "exists" in out
    code, out = run("backup", "--database", url, str(tmp_path / "b.db"))
    assert code == 0 and out.startswith(f"backed up {url} to {tmp_path / 'b.db'} (")
    code, out = run("migrate", "--database", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 1 and out.startswith("error: cannot reach the database")


# -- backups ---------------------------------------------------------------------------


@plait.step
async def work(i: int) -> int:
    await asyncio.sleep(0.01)
    return i


@plait.workflow
async def chain(ctx: plait.Context, n: int) -> int:
    total = 0
    for i in range(n):
        total += await work(i)
    return total


@pytest.mark.backends("sqlite")
async def test_backup_while_a_worker_writes_then_restore(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    url = f"sqlite:///{path}"
    copy = tmp_path / "copy.db"
    ids = [f"c-{i}" for i in range(30)]
    async with plait.Engine(url, workflows=[chain], lease_ttl=0.5) as engine:
        async with engine.worker(concurrency=10):
            for i, wid in enumerate(ids):
                await engine.start(chain, 4 + i % 3, id=wid)
            while not await engine.list(status="completed", limit=1):
                await asyncio.sleep(0.01)
            # In a thread: the worker keeps writing meanwhile.
            size = await asyncio.to_thread(schema.backup, url, copy)
            assert size == os.path.getsize(copy) > 0
            done_after = len(await engine.list(status="completed", limit=100))
    assert not copy.with_name("copy.db.partial").exists()

    # Restore: every process stopped, the old WAL files removed, the copy put back.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(copy, path)
    async with plait.Engine(url, workflows=[chain], lease_ttl=0.5) as engine:
        restored = {w.id: w.status for w in await engine.list(limit=100)}
        assert sorted(restored) == sorted(ids)  # every start was committed before the backup
        done_in_copy = [w for w, s in restored.items() if s == "completed"]
        assert 0 < len(done_in_copy) <= done_after
        async with engine.worker(concurrency=30):
            results = [await engine.handle(w).result(timeout=30) for w in ids]
    assert results == [sum(range(4 + i % 3)) for i in range(30)]
