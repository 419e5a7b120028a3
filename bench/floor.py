"""The floors under plait's SQLite fanout figure (issue 12): the scenario's work with less and
less of plait around plait's statements, side by side with plait and the limit probe.

``python -m bench.floor [--rounds 5] [--dir bench/results/db] [--limit-probe PATH] [--out F]``

Each round runs, every run in a fresh process on a fresh SQLite file, interleaved:

- ``plait``: the fanout scenario as ``bench.scenarios`` runs it (1,000 workflows × 5 steps
  started at once; engine, worker, steps, handles);
- ``store``: the same 1,000 workflows driven straight through plait's store
  (``SQLiteStore``: its executor thread, group commit, batched statements, event log,
  fencing) by a loop that makes only the awaits the scenario needs: the start, the claim
  (in batches of ``CLAIM_BATCH``, as the worker's claim loop), five step records, the end,
  and the result (its read, then the end's wake-up). No engine, worker, journal, codec or
  handle: plait's engine costs ``plait`` minus this;
- ``sql``: plait's statements (their text from plait's store, on plait's schema, with the
  values plait sends), in the same batches, run by a bare group-committing thread; only
  the claim (once per ``CLAIM_BATCH`` workflows) and the event log's INSERT are written by
  plait's own store methods. plait's store costs ``store`` minus this. What is left is
  SQLite doing plait's writes, and the scenario's awaits;
- ``sql-claimed``: ``sql`` with the start's row inserted running and leased, its run begun
  when the start commits (no claim, no result read), a design plait does not have on
  SQLite: what merging the claim into the start could save;
- ``sql-noindex``: ``sql`` without the secondary indexes of ``workflows``, ``journal`` and
  ``workflow_events``: what they cost;

and, with ``--limit-probe``, the probe before the first round and after the last. It prints
one JSON document: per variant the median [min, max] of workflows/s and of CPU µs per
workflow (all threads, and the event loop's), each variant's workflows/s as a share of the
probe's (the mean of its two runs), and the raw runs. CPU time is the figure to compare on
a shared machine; workflows/s is what the target is set in.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bench.measure import cpu_seconds, thread_cpu, thread_cpu_since
from plait.store import clients, ends, sqlbase
from plait.store.records import Claimed, Entry, Fence, NewWorkflow
from plait.store.sqlite import SQLiteStore, _SQLiteBackend, path_from_url
from plait.types import WorkflowStatus

N, K = 1000, 5
WARM = 10
CLAIM_BATCH = 50  # plait.worker.CLAIM_BATCH, checked in main()
LEASE_MS = 30_000
WORKER = "floor:1"
PREFIX = "@@FLOOR@@ "
T = TypeVar("T")
PAIRS = (("steps", "1"),)  # the registered (name, version) a claim takes
INPUT = f"[{K}]"
INPUT_HASH = hashlib.sha256(f"steps\n{INPUT}".encode()).hexdigest()  # as Engine.encode_input
OUTPUTS = [json.dumps({"i": i, "payload": "x" * 80}, separators=(",", ":")) for i in range(K)]


def _ms() -> int:
    return time.time_ns() // 1_000_000


# -- store: plait's store, a bare driver ----------------------------------------------------
async def via_store(url: str, n: int = N) -> dict[str, Any]:
    store = SQLiteStore(url)
    await store.open(migrate=True)
    await store.register_worker(WORKER, {}, _ms())

    async def start() -> tuple[str, None]:
        wid = uuid.uuid4().hex
        now = _ms()
        new = NewWorkflow(
            id=wid,
            name="steps",
            version="1",
            input=INPUT,
            input_hash=INPUT_HASH,
            available_at=now,
        )
        await store.create_workflow(new, now)
        return wid, None

    async def run(c: Claimed) -> str:
        fence = Fence(c.id, c.attempt, WORKER, LEASE_MS)
        for s in range(K):
            t = _ms()
            entry = Entry(s + 1, "step", "tiny", "completed", OUTPUTS[s], None, None, 1, t, t)
            await store.record(fence, t, [entry], [])
        await store.finish(fence, _ms(), [], WorkflowStatus.COMPLETED, str(K), None, alone=True)
        return c.id

    def claim() -> Awaitable[list[Claimed]]:
        return store.claim(WORKER, PAIRS, None, CLAIM_BATCH, _ms(), LEASE_MS, 10)

    def fanout(n: int) -> Awaitable[None]:
        # the read plait's result() makes in this scenario, then the end's wake-up
        return _drive(n, start, claim, run, store.get_result)

    try:
        return await _measured(fanout, n)
    finally:
        await store.close()


# -- sql: plait's statements, a bare thread ---------------------------------------------------
class _Bare:
    """A group-committing thread that runs plait's statements for queued operations, in
    batches of up to 512 (as plait's BatchExecutor), each run of one kind as plait batches it."""

    def __init__(self, path: str, store: SQLiteStore) -> None:
        self.conn = _SQLiteBackend(path).connect()  # plait's pragmas
        self.store = store  # not open: its methods only write statements on this connection
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._main, name="bare-sqlite", daemon=True)
        self.thread.start()

    def call(self, kind: str, arg: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self.queue.put((kind, arg, fut, loop))
        return fut

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.conn.close()

    def _main(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < 512:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.queue.put(None)
                    break
                batch.append(more)
            results = self._transaction(batch)
            loop = batch[0][3]
            pairs = [(b[2], r) for b, r in zip(batch, results, strict=True)]
            loop.call_soon_threadsafe(_resolve, pairs)

    def _transaction(self, batch: list[Any]) -> list[Any]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        results: list[Any] = []
        i = 0
        while i < len(batch):
            kind = batch[i][0]
            j = i
            while j < len(batch) and batch[j][0] == kind:
                j += 1
            args = [b[1] for b in batch[i:j]]
            if kind == "create":
                conn.execute("SAVEPOINT plait_many")
                rows = [a[0] for a in args]
                conn.executemany(
                    clients._INSERT_TOP if len(rows[0]) == 14 else _INSERT_RUNNING, rows
                )
                conn.execute("RELEASE plait_many")
                self.store._write_events(conn, [a[1] for a in args])
                results.extend([True] * len(args))
            elif kind == "record":
                conn.execute("SAVEPOINT plait_many")
                conn.executemany(sqlbase._FENCED_INSERT, args)
                conn.execute("RELEASE plait_many")
                results.extend([False] * len(args))
            elif kind == "finish":
                conn.execute("SAVEPOINT plait_many")
                conn.executemany(ends._FINISH, args)
                conn.execute("RELEASE plait_many")
                results.extend([None] * len(args))
            elif kind == "results":
                rows = conn.execute(clients._RESULTS, (json.dumps(args),)).fetchall()
                found = {r[0]: r for r in rows}
                results.extend(found.get(a) for a in args)
            elif kind == "claim":
                results.extend(self._claim(now) for now in args)
            i = j
        conn.execute("COMMIT")
        return results

    def _claim(self, now: int) -> list[tuple[str, int]]:
        """plait's claim (expired leases, the queues' limits, ready ones, the claiming
        UPDATE, the journal read): its own code, once per ``CLAIM_BATCH`` workflows."""
        got = self.store._send_claim(WORKER, PAIRS, None, CLAIM_BATCH, now, LEASE_MS, 10, self.conn)
        return [(c.id, c.attempt) for c in got()]


def _resolve(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, result in pairs:
        fut.set_result(result)


# sql-claimed's start: the row goes in running, leased to this worker at attempt 1.
_INSERT_RUNNING = (
    "INSERT INTO workflows (id, name, version, queue, priority, concurrency_key, status,"
    " input, input_hash, available_at, deadline_at, parent_id, subject, attributes,"
    " created_at, updated_at, lease_owner, lease_expires_at, attempt)"
    " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, 1)"
    " ON CONFLICT (id) DO NOTHING"
)


def _fenced_row(wid: str, attempt: int, s: int) -> tuple[object, ...]:
    """``_FENCED_INSERT``'s values for step ``s`` (``sqlbase.entry_params``, then the fence)."""
    t = _ms()
    entry = (wid, s + 1, "step", "tiny", "completed", OUTPUTS[s], None, None, 1, attempt, t, t)
    return (*entry, None, wid, attempt, "running")


async def via_sql(
    url: str, n: int = N, *, claimed: bool = False, indexes: bool = True
) -> dict[str, Any]:
    """``sql``; with ``claimed``, a start inserts its row running and leased to this worker
    and its run begins when the start commits (no claim, no result read: a design plait
    does not have on SQLite); without ``indexes``, the secondary indexes of ``workflows``,
    ``journal`` and ``workflow_events`` are dropped (the claim, the listings, the server's
    pages and the limits use them)."""
    store = SQLiteStore(url)  # the schema, by plait's migrations; then plait is closed
    await store.open(migrate=True)
    await store.close()
    bare = _Bare(path_from_url(url), store)
    if not indexes:
        names = bare.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('workflows', 'journal', 'workflow_events')"
        ).fetchall()
        for (name,) in names:
            bare.conn.execute(f"DROP INDEX {name}")

    async def start() -> tuple[str, tuple[str, int] | None]:
        wid = uuid.uuid4().hex
        now = _ms()
        row: tuple[object, ...] = (wid, "steps", "1", "default", 0, None, INPUT, INPUT_HASH,
                                    now, None, None, None, now, now)  # fmt: skip
        if claimed:
            row = (*row, WORKER, now + LEASE_MS)
        event = (wid, "started", "system", now, '{"name":"steps"}')
        await bare.call("create", (row, event))
        return wid, ((wid, 1) if claimed else None)

    async def run(claim: tuple[str, int]) -> str:
        wid, attempt = claim
        for s in range(K):
            await bare.call("record", _fenced_row(wid, attempt, s))
        t = _ms()
        await bare.call("finish", ("completed", str(K), None, t, t, wid, attempt, "running"))
        return wid

    def claim() -> Awaitable[list[tuple[str, int]]]:
        return bare.call("claim", _ms())

    def read(wid: str) -> Awaitable[object]:
        return bare.call("results", wid)

    def fanout(n: int) -> Awaitable[None]:
        return _drive(n, start, claim, run, None if claimed else read)

    try:
        return await _measured(fanout, n)
    finally:
        bare.close()


async def _drive(
    n: int,
    start: Callable[[], Awaitable[tuple[str, T | None]]],
    claim: Callable[[], Awaitable[list[T]]],
    run: Callable[[T], Awaitable[str]],
    read: Callable[[str], Awaitable[object]] | None,
) -> None:
    """The scenario's awaits for ``n`` workflows and nothing else: all started at once
    (``start()`` returns the id and, when the start claimed the workflow, what ``run``
    takes), the rest claimed in batches of ``CLAIM_BATCH`` (``claim()``) once a start has
    committed, each run as a task (``run`` returns the id once the end committed), and each
    result awaited after ``read(id)`` (none when ``read`` is None)."""
    loop = asyncio.get_running_loop()
    ended: dict[str, asyncio.Future[None]] = {}
    wake = asyncio.Event()
    left = n  # not yet claimed

    async def go(token: T) -> None:
        wid = await run(token)
        ended.setdefault(wid, loop.create_future()).set_result(None)

    async def one() -> str:
        nonlocal left
        wid, token = await start()
        if token is None:
            wake.set()
        else:
            left -= 1
            loop.create_task(go(token))
        return wid

    async def claims() -> None:
        nonlocal left
        while left > 0:
            await wake.wait()
            wake.clear()
            while left > 0:
                got = await claim()
                for token in got:
                    loop.create_task(go(token))
                left -= len(got)
                if len(got) < CLAIM_BATCH:
                    break

    async def result(wid: str) -> None:
        end = ended.setdefault(wid, loop.create_future())
        if read is not None:
            await read(wid)
        await end

    claimer = loop.create_task(claims())
    ids = await asyncio.gather(*(one() for _ in range(n)))
    await asyncio.gather(*(result(w) for w in ids))
    wake.set()  # every workflow was claimed by its start: the claim loop has nothing to wait for
    await claimer


async def via_plait(url: str, n: int = N) -> dict[str, Any]:
    from bench.scenarios import fanout

    r = await fanout(url, n, K)
    return {k: r[k] for k in ("wf_per_s", "cpu_us_per_workflow", "loop_cpu_us_per_workflow")}


async def _measured(fanout: Callable[[int], Any], n: int) -> dict[str, Any]:
    """``fanout(WARM)`` to warm up, then ``fanout(n)`` timed as ``bench.scenarios`` times it."""
    await fanout(WARM)
    threads, cpu0, t0 = thread_cpu(), cpu_seconds(), time.perf_counter()
    await fanout(n)
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    by_thread = thread_cpu_since(threads)
    return {
        "wf_per_s": n / elapsed,
        "cpu_us_per_workflow": cpu / n * 1e6,
        "loop_cpu_us_per_workflow": by_thread.get("MainThread", 0) / n * 1e6,
    }


VARIANTS: dict[str, Callable[..., Any]] = {
    "plait": via_plait,
    "store": via_store,
    "sql": via_sql,
    "sql-claimed": functools.partial(via_sql, claimed=True),
    "sql-noindex": functools.partial(via_sql, indexes=False),
}


def _child(variant: str, folder: str) -> dict[str, Any]:
    path = os.path.join(folder, f"{variant}-{uuid.uuid4().hex[:8]}.db")
    args = ["--child", variant, "--database", f"sqlite:///{path}"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.floor", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    for line in proc.stdout.splitlines():
        if line.startswith(PREFIX):
            result: dict[str, Any] = json.loads(line[len(PREFIX) :])
            return result
    raise RuntimeError(f"{variant} failed:\n{proc.stderr[-3000:]}")


def _probe(path: str, folder: str) -> float:
    out = subprocess.run(
        [sys.executable, path, folder], capture_output=True, text=True, check=True, timeout=600
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["limit_fanout_wf_per_s"])


def _summary(values: list[float]) -> list[float]:
    return [round(statistics.median(values), 1), round(min(values), 1), round(max(values), 1)]


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.floor")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default="bench/results/db", help="folder for the SQLite files")
    ap.add_argument("--limit-probe", help="path of limit_probe.py: run before and after")
    ap.add_argument("--out", help="also write the document to this file")
    ap.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--database", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        result = asyncio.run(VARIANTS[a.child](a.database))
        sys.stdout.write(PREFIX + json.dumps(result) + "\n")
        return

    from plait import worker

    assert worker.CLAIM_BATCH == CLAIM_BATCH, "plait's claim batch changed: update CLAIM_BATCH"
    os.makedirs(a.dir, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="floor-", dir=a.dir)
    probes: list[float] = []
    if a.limit_probe:
        probes.append(_probe(a.limit_probe, folder))
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for r in range(a.rounds):
        for variant in VARIANTS:
            result = _child(variant, folder)
            runs[variant].append(result)
            print(f"round {r + 1} {variant:6} {result}", file=sys.stderr, flush=True)
    if a.limit_probe:
        probes.append(_probe(a.limit_probe, folder))
    probe = statistics.mean(probes) if probes else None
    doc: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "n": N,
        "steps": K,
        "limit_probe_wf_per_s": probes,
        "variants": {},
        "runs": runs,
    }
    for variant, results in runs.items():
        wf = [x["wf_per_s"] for x in results]
        doc["variants"][variant] = {
            "wf_per_s": _summary(wf),
            "cpu_us_per_workflow": _summary([x["cpu_us_per_workflow"] for x in results]),
            "loop_cpu_us_per_workflow": _summary([x["loop_cpu_us_per_workflow"] for x in results]),
            **({} if probe is None else {"of_probe": round(statistics.median(wf) / probe, 3)}),
        }
    text = json.dumps(doc, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
