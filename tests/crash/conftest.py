"""Real worker processes for the crash tests, and the checks every crash test shares.

``cluster`` starts ``python -m plait.cli worker tests.crash.app:engine`` processes on one
database of the test's backend (``db_url``: a SQLite file, or a PostgreSQL database); every
process it started is killed and reaped at teardown, whatever happened. Each step writes
its execution's start to the record of ``tests/executions.py`` before its work.
"""

from __future__ import annotations

import collections
import signal
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import plait
from tests import executions
from tests.procs import WorkerProcesses

from . import app

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Crash:
    """What the store and the execution record held right after a worker was killed
    (or stopped, or frozen), before any other worker ran."""

    recorded: dict[str, set[str]]  # the steps each workflow's journal held as completed
    cut: int  # executions recorded by then: the ones after it started after the crash


class Cluster(WorkerProcesses):
    """Worker processes and a client engine sharing one database."""

    def __init__(self, tmp: Path, url: str) -> None:
        super().__init__(tmp, "tests.crash.app:engine")
        self.url = url
        self.side = str(tmp / "effects.txt")
        self.mark = str(tmp / "crashed.txt")

    def spawn(self, *, concurrency: int = 50, grace: float = 10.0, **env: str) -> Any:
        """Starts a worker process; ``env`` sets PLAIT_CRASH_* variables (keys lowercase)."""
        variables = {"PLAIT_CRASH_DB": self.url, "PLAIT_CRASH_SIDE": self.side,
                     "PLAIT_CRASH_MARK": self.mark}  # fmt: skip
        variables.update({f"PLAIT_CRASH_{k.upper()}": str(v) for k, v in env.items()})
        return self.start_worker(variables, concurrency=concurrency, grace=grace)

    def executions(self) -> list[executions.Execution]:
        return executions.read(self.side)

    def marked(self) -> list[str]:
        try:
            return Path(self.mark).read_text().split()
        except FileNotFoundError:
            return []

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """A query straight on the database (for columns the API does not show); rows are
        read by column name."""
        if self.url.startswith("sqlite:"):
            conn = sqlite3.connect(self.url.split(":///", 1)[1], timeout=30)
            conn.row_factory = sqlite3.Row
            try:
                with conn:
                    return list(conn.execute(query, params))
            finally:
                conn.close()
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
            cur = conn.execute(query.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

    def wait_exit(self, proc: Any, timeout: float) -> int:
        try:
            return int(proc.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {proc.pid} did not exit within {timeout} s\n{self.log_text()}"
            ) from None

    def kill9(self, proc: Any) -> None:
        proc.send_signal(signal.SIGKILL)
        self.wait_exit(proc, 10)

    async def statuses(self, engine: plait.Engine, ids: list[str]) -> dict[str, str]:
        return {i: str((await engine.get(i)).status) for i in ids}

    async def all_status(
        self, engine: plait.Engine, ids: list[str], status: str, timeout: float
    ) -> float:
        async def done() -> bool:
            return set((await self.statuses(engine, ids)).values()) == {status}

        return await self.until(done, timeout, f"all of {len(ids)} workflows {status}")

    async def crashed(self, engine: plait.Engine, ids: list[str]) -> Crash:
        """Right after a crash: where the execution record stands, and the steps each
        workflow's journal holds as completed (read from the store)."""
        cut = len(self.executions())
        recorded = {}
        for wid in ids:
            recorded[wid] = {
                e.output.split("/", 1)[1]
                for e in await engine.journal(wid)
                if e.kind == "step" and e.status == "completed"
            }
        return Crash(recorded, cut)

    async def check_exactly_once(
        self,
        engine: plait.Engine,
        ids: list[str],
        crash: Crash,
        expected_keys: Callable[[str], list[str]],
    ) -> dict[tuple[str, str], int]:
        """The durability contract after a crash, from the journal and the execution record.

        Every workflow completed; its journal holds each expected step once, in order,
        completed, with exactly one successful attempt; the record agrees with the journal
        (``executions.check``); a step recorded before the crash did not start again after
        it; every other step started exactly once after the crash, and at most once before
        (so an interrupted step ran at most twice). Returns each step's execution count.
        """
        record = self.executions()
        earlier = collections.Counter((x.workflow_id, x.key) for x in record[: crash.cut])
        later = collections.Counter((x.workflow_id, x.key) for x in record[crash.cut :])
        journaled: dict[tuple[str, str], int] = {}
        for wid in ids:
            info = await engine.get(wid)
            assert info.status == "completed", (wid, info.status, info.error, self.log_text())
            journal = await engine.journal(wid)
            assert [e.seq for e in journal] == list(range(1, len(journal) + 1)), journal
            steps = [e for e in journal if e.kind == "step"]
            keys = [e.output.split("/", 1)[1] for e in steps]
            assert keys == expected_keys(wid), (wid, keys)
            assert all(e.status == "completed" for e in journal), journal
            ok = collections.Counter(a.seq for a in await engine.attempts(wid) if a.error is None)
            assert all(ok[e.seq] == 1 for e in steps), (wid, ok)
            journaled.update({(wid, k): e.worker_attempt for k, e in zip(keys, steps)})
            for key in keys:
                n_before, n_after = earlier[wid, key], later[wid, key]
                if key in crash.recorded[wid]:
                    assert (n_before, n_after) == (1, 0), (
                        f"{wid} {key}: recorded before the crash, started {n_after} time(s) "
                        f"after it\n{self.log_text()}"
                    )
                else:
                    assert n_before <= 1 and n_after == 1, (wid, key, n_before, n_after)
        runs = executions.check(record, journaled)
        return {step: len(xs) for step, xs in runs.items()}


@pytest.fixture
def cluster(tmp_path: Path, db_url: str) -> Iterator[Cluster]:
    c = Cluster(tmp_path, db_url)
    try:
        yield c
    finally:
        c.cleanup()


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[plait.Engine]:
    """An engine in the test process (no worker) on the cluster's database."""
    engine = app.make_engine(cluster.url)
    async with engine:
        yield engine
