"""Real worker processes on a PostgreSQL database, and the checks the chaos tests share.

``PgCluster`` starts ``python -m plait.cli worker tests.chaos.app:engine`` processes on a
fresh database, kills (-9), freezes (SIGSTOP/SIGCONT) and restarts them, and ends every
process it started at teardown, whatever happened. ``install_audit`` adds a test-only
trigger that records, for every journal write, the attempt that wrote it next to the
workflow row's ``attempt`` and ``status`` at that moment: a write from an attempt that no
longer held the lease would show up there.
"""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import plait
from tests import executions
from tests.procs import WorkerProcesses

from . import app

ROOT = Path(__file__).resolve().parents[2]

AUDIT = """
CREATE TABLE chaos_audit (
    workflow_id    TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    op             TEXT NOT NULL,
    worker_attempt INTEGER NOT NULL,
    row_attempt    INTEGER,
    row_status     TEXT,
    row_owner      TEXT
);
CREATE FUNCTION chaos_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE w RECORD;
BEGIN
    SELECT attempt, status, lease_owner INTO w FROM workflows WHERE id = NEW.workflow_id;
    INSERT INTO chaos_audit VALUES
        (NEW.workflow_id, NEW.seq, TG_OP, NEW.worker_attempt, w.attempt, w.status, w.lease_owner);
    RETURN NEW;
END $$;
CREATE TRIGGER chaos_audit AFTER INSERT OR UPDATE ON journal
    FOR EACH ROW EXECUTE FUNCTION chaos_audit();
"""


class PgCluster(WorkerProcesses):
    """Worker processes sharing one PostgreSQL database."""

    def __init__(self, url: str, tmp: Path) -> None:
        super().__init__(tmp, "tests.chaos.app:engine")
        self.poll = 0.25
        self.url = url
        self.effects_path = tmp / "effects.txt"
        self.kills = 0
        self.freezes = 0
        self.killed: set[int] = set()  # pids of the workers killed (-9) or frozen
        self.frozen: set[int] = set()

    def spawn(self, *, concurrency: int = 100) -> subprocess.Popen[bytes]:
        env = {"PLAIT_CHAOS_DB": self.url, "PLAIT_CHAOS_EFFECTS": str(self.effects_path)}
        return self.start_worker(env, concurrency=concurrency, grace=1)

    async def ready(self, n: int, timeout: float = 60) -> None:
        """Waits until ``n`` workers have registered (started, connected, migrated)."""

        async def registered() -> bool:
            ((count,),) = self.sql("SELECT count(*) FROM workers")
            return int(count) >= n

        await self.until(registered, timeout, f"{n} workers registered")

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.kills += 1
        self.killed.add(proc.pid)

    async def freeze(self, proc: subprocess.Popen[bytes], seconds: float) -> None:
        """Stops the process longer than a lease (a long GC pause, a stalled VM), then lets
        it go on as if nothing happened: a zombie that still believes it holds its leases."""
        proc.send_signal(signal.SIGSTOP)
        self.freezes += 1
        self.frozen.add(proc.pid)
        try:
            await asyncio.sleep(seconds)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        for proc in self.live():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def log_count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        return sum(
            len(regex.findall(log.read_text(errors="replace"))) for log in self.logs if log.exists()
        )

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def install_audit(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(AUDIT)

    def busiest_worker(self) -> subprocess.Popen[bytes] | None:
        """The live worker holding the most running workflows right now."""
        counts = collections.Counter(
            owner.split(":")[1]
            for (owner,) in self.sql("SELECT lease_owner FROM workflows WHERE status = 'running'")
            if owner
        )
        by_pid = {str(p.pid): p for p in self.live()}
        for pid, _ in counts.most_common():
            if pid in by_pid:
                return by_pid[pid]
        return None

    def executions(self) -> list[executions.Execution]:
        return executions.read(self.effects_path)

    def lost_leases(self) -> set[tuple[int, str]]:
        """(pid, workflow id) of every lease a worker logged as lost."""
        regex = re.compile(r"workflow (\S+): lease lost")
        out = set()
        for proc, log in zip(self.procs, self.logs):
            if log.exists():
                out |= {(proc.pid, w) for w in regex.findall(log.read_text(errors="replace"))}
        return out

    # -- the checks every chaos test makes -------------------------------------------------
    def check_fencing(self) -> int:
        """No journal write was accepted from an attempt that did not hold the lease:
        at every write, the workflow row was running under that very attempt. Returns the
        number of writes audited."""
        stale = self.sql(
            "SELECT workflow_id, seq, op, worker_attempt, row_attempt, row_status"
            " FROM chaos_audit WHERE row_attempt IS DISTINCT FROM worker_attempt"
            " OR row_status IS DISTINCT FROM 'running'"
        )
        assert stale == [], f"writes accepted from stale attempts: {stale[:20]}"
        ((audited,),) = self.sql("SELECT count(*) FROM chaos_audit")
        return int(audited)

    def check_journals(self, ids: list[str], *, attribute: bool = True) -> dict[str, int]:
        """Every workflow (and child) completed; each journal is 1..n, all completed, with
        each step recorded once, in program order; the execution record agrees with the
        journal (``executions.check``: no attempt ran a step twice, none ran a step after
        its result was journaled); with ``attribute``, every execution whose result was not
        journaled was interrupted by a kill, a freeze or a lost lease. Returns how many
        executions each step key had (more than one only after an interruption)."""
        rows = self.sql("SELECT id, status, output, parent_id FROM workflows ORDER BY id")
        status = {r[0]: r[1] for r in rows}
        not_done = {k: v for k, v in status.items() if v != "completed"}
        assert not not_done, f"not completed: {list(not_done.items())[:20]}\n{self.log_text()}"
        expected: dict[str, list[str]] = {}
        for n, wid in enumerate(ids):
            expected[wid] = app.expected_keys(wid, n)
            if n % 4 == 0:
                expected[f"{wid}:3"] = [f"{wid}/child-a", f"{wid}/child-b"]
        assert set(status) == set(expected), set(status) ^ set(expected)
        journal: dict[str, list[tuple[int, str, str, str | None]]] = collections.defaultdict(list)
        for wid, seq, kind, st, output in self.sql(
            "SELECT workflow_id, seq, kind, status, output FROM journal ORDER BY workflow_id, seq"
        ):
            journal[wid].append((seq, kind, st, output))
        for wid, keys in expected.items():
            entries = journal[wid]
            assert [e[0] for e in entries] == list(range(1, len(entries) + 1)), (wid, entries)
            assert {e[2] for e in entries} == {"completed"}, (wid, entries)
            steps = [e[3].strip('"') for e in entries if e[1] == "step" and e[3]]
            assert steps == keys, (wid, steps, keys)
        journaled = {
            (wid, output.strip('"')): attempt
            for wid, kind, output, attempt in self.sql(
                "SELECT workflow_id, kind, output, worker_attempt FROM journal WHERE kind = 'step'"
            )
        }
        every_key = {(w, k) for w, keys in expected.items() for k in keys}
        assert set(journaled) == every_key, set(journaled) ^ every_key
        record = self.executions()
        runs = executions.check(record, journaled)
        if attribute:
            # An execution whose result was not journaled was interrupted: its worker was
            # killed or frozen, or logged losing that workflow's lease. Anything else would
            # be a step run twice without a cause.
            lost = self.lost_leases()
            for step, xs in runs.items():
                for x in xs:
                    if x.attempt == journaled[step]:
                        continue
                    assert (
                        x.pid in self.killed
                        or x.pid in self.frozen
                        or (x.pid, x.workflow_id) in lost
                    ), f"{step} ran again, and attempt {x.attempt} was not interrupted: {xs}"
        return {k: len(xs) for (_, k), xs in runs.items()}


@pytest.fixture
def pg_cluster(postgres: Any, tmp_path: Path) -> Iterator[PgCluster]:
    url = postgres.create()
    cluster = PgCluster(url, tmp_path)
    try:
        yield cluster
    finally:
        cluster.cleanup()
        postgres.release(url, reuse=False)


@pytest.fixture
async def chaos_client(pg_cluster: PgCluster) -> AsyncIterator[plait.Engine]:
    """An engine in the test process (no worker): starts and signals workflows."""
    engine = plait.Engine(pg_cluster.url, workflows=[app.main, app.child])
    async with engine:
        yield engine
