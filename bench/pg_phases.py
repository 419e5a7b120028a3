"""Where one ``latency`` workflow's wall time goes on PostgreSQL (issue 12), phase by phase.

The ``latency`` scenario (a 3-step workflow, start to result, 200 times in a row, the worker
in this process) with every store call of the engine timed: its name, when it was called and
when it returned, relative to ``engine.start`` (t = 0). Per workflow the phases are:

- ``start``: ``engine.start``'s store call (the start's commit);
- ``wake``: from the start's return to the call of the claim that took the workflow (the
  worker's wake-up: the in-process beacon, then the claim loop; 0 when the start claimed);
- ``claim``: that claim's store call (its commit);
- ``run``: from the claim's return to the first step's record call (the run starts, replay,
  the first step runs);
- ``record_1`` … ``record_k``: each step's record call (its commit), with ``gap_i`` between
  one record's return and the next call (the step runs);
- ``finish``: the end's store call (its commit);
- ``result``: from the finish's return to ``result()``'s return (the in-process ending);
- ``total``: ``engine.start`` to ``result()``.

Also per workflow: the store calls by name (an idle worker's empty claims and ``next_due``
between workflows show here) and the commits (write calls). Medians and p99 over the
workflows of each run, then medians over runs. Runs take turns by tree with ``--commits``::

    python -m bench.pg_phases --runs 3                      # this checkout
    python -m bench.pg_phases --commits 0bf8c5c,HEAD --runs 5
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

TIMED = (
    "create_workflow",
    "claim",
    "next_due",
    "record",
    "finish",
    "get",
    "start_and_claim",
    "record_and_finish",
)


def _timed(store: Any, log: list[tuple[str, float, float, Any]]) -> None:
    for name in TIMED:
        method = getattr(store, name, None)
        if method is None:
            continue

        async def timed(*args: Any, _m: Any = method, _n: str = name, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = await _m(*args, **kwargs)
            log.append((_n, t0, time.perf_counter(), out))
            return out

        setattr(store, name, timed)


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


async def _child(url: str, n: int, k: int) -> dict[str, Any]:
    from bench.app import make_engine, steps

    engine_ = make_engine(url)
    log: list[tuple[str, float, float, Any]] = []
    _timed(engine_.store, log)
    rows: list[dict[str, float]] = []
    calls: Counter[str] = Counter()
    async with engine_ as engine, engine.worker(concurrency=1000):
        for _ in range(20):
            assert await (await engine.start(steps, k)).result() == k
        for _ in range(n):
            log.clear()
            t0 = time.perf_counter()
            handle = await engine.start(steps, k)
            assert await handle.result() == k
            t_end = time.perf_counter()
            await asyncio.sleep(0)
            calls.update(name for name, *_ in log)
            rows.append(_phases(log, t0, t_end, handle.id, k))
    keys = list(rows[0])
    return {
        "n": n,
        "p50_ms": {key: round(_pct([r[key] for r in rows], 50), 3) for key in keys},
        "p99_ms": {key: round(_pct([r[key] for r in rows], 99), 3) for key in keys},
        "calls_per_workflow": {name: round(c / n, 3) for name, c in sorted(calls.items())},
    }


def _phases(
    log: list[tuple[str, float, float, Any]], t0: float, t_end: float, wid: str, k: int
) -> dict[str, float]:
    ms = 1000.0
    start = next(e for e in log if e[0] in ("create_workflow", "start_and_claim"))
    claim = next(
        (e for e in log if e[0] == "claim" and any(c.id == wid for c in (e[3] or []))), None
    )
    records = [e for e in log if e[0] == "record" and e[1] > start[1]][:k]
    finish = next(e for e in log if e[0] in ("finish", "record_and_finish"))
    out = {"start": (start[2] - start[1]) * ms}
    if claim is None:  # claimed by the start's transaction
        out["wake"], out["claim"], after = 0.0, 0.0, start[2]
    else:
        out["wake"] = (claim[1] - start[2]) * ms
        out["claim"] = (claim[2] - claim[1]) * ms
        after = claim[2]
    for i, rec in enumerate(records, 1):
        out["run" if i == 1 else f"gap_{i}"] = (rec[1] - after) * ms
        out[f"record_{i}"] = (rec[2] - rec[1]) * ms
        after = rec[2]
    out["gap_finish"] = (finish[1] - after) * ms
    out["finish"] = (finish[2] - finish[1]) * ms
    out["result"] = (t_end - finish[2]) * ms
    out["total"] = (t_end - t0) * ms
    return out


def _run(database: str, tree: str | None, label: str, n: int) -> dict[str, Any]:
    from bench.backends import PostgresBackend

    backend = PostgresBackend(database)
    url = backend.fresh(label)
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join((tree, os.getcwd()))
    try:
        cmd = [sys.executable, "-m", "bench.pg_phases", "--child", "--url", url, "--n", str(n)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tree, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"run failed:\n{proc.stderr[-3000:]}")
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        backend.discard(url)


def _checkout(root: str, commit: str) -> str:
    folder = os.path.join(root, commit)
    os.makedirs(folder)
    archive = subprocess.run(["git", "archive", commit, "plait"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def _median_of(runs: list[dict[str, Any]], field: str) -> dict[str, float]:
    keys = runs[0][field]
    return {key: round(statistics.median(r[field].get(key, 0.0) for r in runs), 3) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--commits", help="a,b,...: plait/ of these commits, taking turns")
    parser.add_argument("--out")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.url, args.n, 3))))
        return
    with tempfile.TemporaryDirectory(prefix="plait-phases-") as root:
        commits = args.commits.split(",") if args.commits else [""]
        trees = {c: (_checkout(root, c) if c else None) for c in commits}
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in commits}
        for i in range(args.runs):
            for c in commits:
                runs[c].append(_run(args.database, trees[c], f"phases_{i}", args.n))
                r = runs[c][-1]
                print(
                    f"# {c or 'here'} run {i}: p50 {r['p50_ms']['total']} p99 "
                    f"{r['p99_ms']['total']} ms",
                    file=sys.stderr,
                )
    out = {
        c or "here": {
            "p50_ms": _median_of(rs, "p50_ms"),
            "p99_ms": _median_of(rs, "p99_ms"),
            "total_p50_runs": [r["p50_ms"]["total"] for r in rs],
            "total_p99_runs": [r["p99_ms"]["total"] for r in rs],
            "calls_per_workflow": rs[0]["calls_per_workflow"],
        }
        for c, rs in runs.items()
    }
    emit(out, args.out, indent=1)


if __name__ == "__main__":
    main()
