"""Round trips, statements, transactions and CPU per workflow on PostgreSQL (issue 12).

Wall-clock figures are noise on a shared machine; these are not (or much less):

- **round trips**, **statements** and **transactions** of the store's connections, counted
  from libpq's protocol trace (``PGconn.trace``) of every executor connection: a round trip is
  a run of messages the client sent followed by the server's answer (an F→B turn in the
  trace), a statement is a ``CommandComplete`` (or an ``ErrorResponse``), a transaction a
  ``COMMIT``/``ROLLBACK`` completed. The measured window is cut by a marker query run on
  every pool connection just before the burst and just after the last result (the two
  marker transactions add 2 statements per connection to the window: negligible);
- **client CPU**: ``time.process_time()`` of this process (event loop, executor threads and
  the worker, which runs in this process as in ``fanout``) over the window;
- **server CPU**: utime + stime (``/proc/<pid>/stat``) of the PostgreSQL backends connected
  to the run's database (the pool's connections and the wake-up connection), over the
  window. The server's shared processes (WAL writer, checkpointer) are not counted: other
  databases on the same server use them too.

CPU is measured in runs without the trace (tracing costs client CPU); counts in one traced
run per scenario. Every run is a fresh process on a fresh database::

    python -m bench.pg_roundtrips --database postgresql://postgres@127.0.0.1:5432/postgres \\
        --runs 3 --out bench/results/pg-roundtrips.json
    python -m bench.pg_roundtrips --commits b79fa44,HEAD --runs 5   # side by side

With ``--commits``, ``plait/`` of each commit is extracted (``git archive``) and run by this
checkout's ``bench/``; the commits take turns run by run, so that the machine's load, which
moves by minutes on a shared machine, falls on all of them alike.

Scenarios: ``fanout`` (1000 workflows × 5 steps started at once, one worker in this process,
figures per workflow), ``seq_steps`` (one workflow of 1000 steps, figures per step) and
``latency`` (200 workflows of 3 steps one after the other, start to result; per workflow),
``waiters`` (1000 workflows started at once that each wait for a signal, then 1000 signals
sent at once; per workflow; not in the default list).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from bench.measure import emit

TICK = os.sysconf("SC_CLK_TCK")
MARK = "plait-bench-mark"


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def _backends(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def _install_trace(folder: str) -> None:
    """Every executor connection of the PostgreSQL store writes libpq's trace to a file."""
    from psycopg import pq

    from plait.store import postgres

    connect, close = postgres._Backend.connect, postgres._Backend.close
    files: list[Any] = []

    def traced_connect(self: Any) -> Any:
        conn = connect(self)
        f = open(os.path.join(folder, f"conn-{len(files)}.trace"), "w")  # noqa: SIM115
        files.append(f)
        conn.pgconn.trace(f.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        return conn

    def traced_close(self: Any, conn: Any) -> None:
        if not conn.closed:
            conn.pgconn.untrace()  # flushes the stream
        close(self, conn)

    postgres._Backend.connect = traced_connect  # type: ignore[method-assign]
    postgres._Backend.close = traced_close  # type: ignore[method-assign]


def _count_trace(path: str) -> Counter[str]:
    """Round trips, statements, transactions, prepared (Parse of a named statement) between
    the two markers of one connection's trace."""
    counts: Counter[str] = Counter()
    inside = False
    last = "B"
    marks = 0
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            side, kind = parts[0], parts[2]
            text = parts[3] if len(parts) > 3 else ""
            if MARK in text and side == "F":
                marks += 1
                if inside:
                    break
                inside = True
                last = "F"
                continue
            if not inside:
                continue
            if side == "F" and last == "B":
                counts["round_trips"] += 1
            last = side
            if side == "B" and kind == "CommandComplete":
                counts["statements"] += 1
                tag = text.strip().strip('"').split(" ")[0]
                counts["tag_" + tag] += 1
                if tag in ("COMMIT", "ROLLBACK"):
                    counts["transactions"] += 1
            elif side == "B" and kind == "ErrorResponse":
                counts["statements"] += 1
                counts["errors"] += 1
            elif side == "F" and kind == "Parse":
                counts["parses"] += 1
            elif side == "F" and kind in ("Sync", "Query"):
                counts["syncs"] += 1
    if marks != 2:
        raise RuntimeError(f"{path}: {marks} markers instead of 2; the counts would be wrong")
    return counts


def _count_calls(store: Any) -> Counter[str]:
    """Counts the calls of the store's hot-path operations (``get_result``, or ``get`` in
    checkouts before it, includes ``result()``'s polls: about 1,000 a second across all
    waiters, so their number grows with wall time)."""
    calls: Counter[str] = Counter()
    names = ("create_workflow", "get", "get_result", "claim", "record", "finish", "next_due")
    for name in (*names, "heartbeat", "wait", "suspend", "send_signal"):
        method = getattr(store, name, None)
        if method is None:  # an older checkout
            continue

        def counted(*args: Any, _m: Any = method, _n: str = name, **kwargs: Any) -> Any:
            calls[_n] += 1
            return _m(*args, **kwargs)

        setattr(store, name, counted)
    return calls


async def _mark(engine: Any) -> None:
    """The marker query on every connection of the pool: sent to each executor itself (the
    pool would give both to an idle one when the other is busy)."""
    executor = engine.store._executor
    members = getattr(executor, "_members", [executor])

    def op(conn: Any) -> None:
        conn.execute(f"SELECT '{MARK}'")

    await asyncio.gather(*(m.run(op, write=False) for m in members))


async def _child(scenario: str, url: str, trace_dir: str | None, n: int, k: int) -> dict[str, Any]:
    if trace_dir is not None:
        _install_trace(trace_dir)
    from bench.app import make_engine, steps
    from bench.scenarios import CONCURRENCY

    engine_ = make_engine(url)
    calls = _count_calls(engine_.store)
    async with engine_ as engine, engine.worker(concurrency=CONCURRENCY):
        warm = await asyncio.gather(*(engine.start(steps, k) for _ in range(10)))
        await asyncio.gather(*(h.result() for h in warm))
        await asyncio.sleep(0.3)
        pids = await asyncio.to_thread(_backends, url)
        await _mark(engine)
        calls.clear()
        server0, client0, t0 = _cpu_of(pids), time.process_time(), time.perf_counter()
        if scenario == "fanout":
            handles = await asyncio.gather(*(engine.start(steps, k) for _ in range(n)))
            results = await asyncio.gather(*(h.result() for h in handles))
            assert results == [k] * n
            units = n
        elif scenario == "waiters":
            from bench.app import waiter
            from bench.backends import PostgresBackend

            db = PostgresBackend(url)
            hs = await asyncio.gather(*(engine.start(waiter, id=f"w-{j}") for j in range(n)))
            while await asyncio.to_thread(db.count, url, "waiting") < n:
                await asyncio.sleep(0.05)
            sent = await asyncio.gather(*(engine.signal(f"w-{j}", "go", "go") for j in range(n)))
            assert all(sent) and await asyncio.gather(*(h.result() for h in hs)) == ["go"] * n
            units = n
        elif scenario == "latency":
            for _ in range(n):
                assert await (await engine.start(steps, k)).result() == k
            units = n
        else:
            assert await (await engine.start(steps, n)).result() == n
            units = n
        elapsed = time.perf_counter() - t0
        client, server = time.process_time() - client0, _cpu_of(pids) - server0
        ops = {name: round(n / units, 3) for name, n in sorted(calls.items())}
        await _mark(engine)
    out: dict[str, Any] = {
        "units": units,
        "wall_s": elapsed,
        "client_cpu_us": client / units * 1e6,
        "server_cpu_us": server / units * 1e6,
        "server_backends": len(pids),
        "store_calls": ops,
    }
    if trace_dir is not None:
        total: Counter[str] = Counter()
        for name in sorted(os.listdir(trace_dir)):
            total.update(_count_trace(os.path.join(trace_dir, name)))
        out["counts"] = {key: round(v / units, 3) for key, v in sorted(total.items())}
    return out


def _run_child(
    database: str, scenario: str, trace: bool, label: str, cwd: str | None = None
) -> dict[str, Any]:
    from bench.backends import PostgresBackend

    backend = PostgresBackend(database)
    url = backend.fresh(label)
    try:
        with tempfile.TemporaryDirectory(prefix="plait-pgrt-") as folder:
            cmd = [sys.executable, "-m", "bench.pg_roundtrips", "--child", scenario, "--url", url]
            if trace:
                cmd += ["--trace-dir", folder]
            # ``-m`` puts the working folder first on sys.path: a tree's plait/ runs from there
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd)
            if proc.returncode != 0:
                raise RuntimeError(f"{scenario} run failed:\n{proc.stderr[-3000:]}")
            return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        backend.discard(url)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()


def _checkout(root: str, commit: str) -> str:
    """``plait/`` of ``commit`` in a folder of its own (this checkout's ``bench/`` runs it)."""
    folder = os.path.join(root, commit)
    os.makedirs(folder)
    archive = subprocess.run(["git", "archive", commit, "plait"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def _measure(
    database: str, scenarios: list[str], trees: list[str | None], runs: int
) -> dict[str, dict[str, Any]]:
    """Per tree (``plait/`` of a commit; None: this checkout) and scenario: one traced run,
    then ``runs`` untraced runs, the trees taking turns run by run so that a change in the
    machine's load falls on all of them alike."""
    here = os.environ.get("PYTHONPATH", "")

    def run(tree: str | None, scenario: str, trace: bool, label: str) -> dict[str, Any]:
        os.environ["PYTHONPATH"] = here if tree is None else os.pathsep.join((tree, os.getcwd()))
        try:
            return _run_child(database, scenario, trace, label, cwd=tree)
        finally:
            os.environ["PYTHONPATH"] = here

    names = {tree: "" if tree is None else os.path.basename(tree) for tree in trees}
    out: dict[str, dict[str, Any]] = {names[t]: {} for t in trees}
    for scenario in scenarios:
        traced = {t: run(t, scenario, True, f"rt_{scenario}_trace") for t in trees}
        cpu: dict[str | None, list[dict[str, Any]]] = {t: [] for t in trees}
        for i in range(runs):
            for t in trees:
                cpu[t].append(run(t, scenario, False, f"rt_{scenario}_{i}"))
        for t in trees:
            if not cpu[t]:  # --runs 0: counts only
                out[names[t]][scenario] = {
                    "counts": traced[t]["counts"],
                    "store_calls": traced[t]["store_calls"],
                }
                continue
            out[names[t]][scenario] = {
                "per": {
                    "fanout": "workflow (5 steps)",
                    "latency": "workflow (3 steps)",
                    "waiters": "workflow (a wait for a signal, then the signal)",
                }.get(scenario, "step"),
                "counts": traced[t]["counts"],
                "store_calls": traced[t]["store_calls"],
                "client_cpu_us": statistics.median(r["client_cpu_us"] for r in cpu[t]),
                "server_cpu_us": statistics.median(r["server_cpu_us"] for r in cpu[t]),
                "client_cpu_us_runs": [round(r["client_cpu_us"], 1) for r in cpu[t]],
                "server_cpu_us_runs": [round(r["server_cpu_us"], 1) for r in cpu[t]],
                "wall_s_runs": [round(r["wall_s"], 3) for r in cpu[t]],
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--scenarios", default="fanout,seq_steps,latency")
    parser.add_argument("--runs", type=int, default=3, help="untraced runs (CPU) per scenario")
    parser.add_argument("--out")
    parser.add_argument(
        "--commits",
        help="a,b,...: measure plait/ of these commits side by side (runs taking turns)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--trace-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sizes = {"fanout": (1000, 5), "latency": (200, 3), "waiters": (1000, 0)}
        n, k = sizes.get(args.child, (1000, 10))
        print(json.dumps(asyncio.run(_child(args.child, args.url, args.trace_dir, n, k))))
        return
    doc: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    doc["loadavg"] = os.getloadavg()
    scenarios = args.scenarios.split(",")
    if not args.commits:
        doc["commit"] = _git("rev-parse", "--short", "HEAD")
        doc.update(_measure(args.database, scenarios, [None], args.runs)[""])
    else:
        with tempfile.TemporaryDirectory(prefix="plait-pgrt-src-") as root:
            trees = [_checkout(root, c) for c in args.commits.split(",")]
            doc["commits"] = _measure(args.database, scenarios, trees, args.runs)
    doc["loadavg_after"] = os.getloadavg()
    emit(doc, args.out)


if __name__ == "__main__":
    main()
