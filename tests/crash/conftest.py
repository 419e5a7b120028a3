"""Real worker processes for the crash tests, and the checks every crash test shares.

``cluster`` starts ``python -m plait.cli worker tests.crash.app:engine`` processes on one
SQLite file; every process it started is killed and reaped at teardown, whatever happened.
"""

from __future__ import annotations

import collections
import signal
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import plait
from tests.procs import WorkerProcesses

from . import app

ROOT = Path(__file__).resolve().parents[2]


class Cluster(WorkerProcesses):
    """Worker processes and a client engine sharing one database file."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, "tests.crash.app:engine")
        self.db_path = tmp / "plait.db"
        self.url = "sqlite:///" + str(self.db_path)
        self.side = str(tmp / "effects.txt")
        self.mark = str(tmp / "crashed.txt")

    def spawn(self, *, concurrency: int = 50, grace: float = 10.0, **env: str) -> Any:
        """Starts a worker process; ``env`` sets PLAIT_CRASH_* variables (keys lowercase)."""
        variables = {"PLAIT_CRASH_DB": self.url, "PLAIT_CRASH_SIDE": self.side,
                     "PLAIT_CRASH_MARK": self.mark}  # fmt: skip
        variables.update({f"PLAIT_CRASH_{k.upper()}": str(v) for k, v in env.items()})
        return self.start_worker(variables, concurrency=concurrency, grace=grace)

    def effects(self) -> list[tuple[str, str, int]]:
        return app.read_effects(self.side)

    def marked(self) -> list[str]:
        try:
            return Path(self.mark).read_text().split()
        except FileNotFoundError:
            return []

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """A query straight on the database file (for columns the API does not show)."""
        conn = sqlite3.connect(self.db_path, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            with conn:
                return list(conn.execute(query, params))
        finally:
            conn.close()

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

    async def snapshot(self, engine: plait.Engine, ids: list[str]) -> dict[str, set[str]]:
        """The keys of the steps each workflow's journal holds as completed, right now."""
        out = {}
        for wid in ids:
            out[wid] = {
                e.output.split("/", 1)[1]
                for e in await engine.journal(wid)
                if e.kind == "step" and e.status == "completed"
            }
        return out

    async def check_exactly_once(
        self,
        engine: plait.Engine,
        ids: list[str],
        before: dict[str, set[str]],
        dead: set[int],
        expected_keys: Callable[[str], list[str]],
    ) -> dict[tuple[str, str], int]:
        """The durability contract after a crash, from the journal and the side effects.

        ``before`` is the journal snapshot taken after the crash and before recovery. Every
        workflow completed; its journal holds each expected step once, in order, completed,
        with exactly one successful attempt; no step completed before the crash ran again;
        every other step ran once in the live workers and at most once in a dead one.
        Returns the side-effect count of every (workflow, key).
        """
        effects = self.effects()
        counts = collections.Counter((w, k) for w, k, _ in effects)
        by_dead = collections.Counter((w, k) for w, k, p in effects if p in dead)
        by_live = collections.Counter((w, k) for w, k, p in effects if p not in dead)
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
            for key in keys:
                n, dead_n, live_n = counts[wid, key], by_dead[wid, key], by_live[wid, key]
                if key in before[wid]:
                    assert (n, dead_n) == (1, 1), f"{wid} {key} ran again after being recorded"
                else:
                    assert live_n == 1 and dead_n <= 1, (wid, key, dead_n, live_n)
        assert {w for w, _, _ in effects} <= set(ids)
        assert all((w, k) in {(i, x) for i in ids for x in expected_keys(i)} for w, k, _ in effects)
        return dict(counts)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
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
