"""``scale_workers`` (PostgreSQL): ``fanout`` run by 1, 2 or 4 separate worker processes.

This process is only the client (an engine without a worker): it spawns ``k`` processes of
``plait worker bench.app:engine --concurrency 1000``, waits until all ``k`` have registered
in the database, warms up (10 workflows per worker), then starts 1000 workflows of 5 steps at
once (``asyncio.gather`` of ``engine.start``) and awaits every result, as ``fanout`` does.

So the figure can be read on a small machine where the database shares the cores, the CPU
seconds of the measured interval are split (``/proc/<pid>/stat`` utime + stime, before and
after): the worker processes, this client process, and the PostgreSQL server (the
postmaster, every live child, and the children that exited, counted by the postmaster's
cutime + cstime); plus the whole machine's busy CPU from ``/proc/stat``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from typing import Any

from bench.app import make_engine, steps
from bench.recovery import spawn_worker
from bench.scenarios import CONCURRENCY

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU s, reaped children's CPU s) of a process, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / TICK
    children = (int(fields[13]) + int(fields[14])) / TICK
    return int(fields[1]), own, children


def _postgres_cpu(postmaster: int) -> float:
    """CPU seconds of the server so far: the postmaster, its live children (backends, the
    checkpointer, the WAL writer ...) and the children it has reaped."""
    root = _stat(postmaster)
    if root is None:
        raise RuntimeError(f"postmaster {postmaster} is gone")
    total = root[1] + root[2]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[0] == postmaster:
                total += st[1]
    return total


def _machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (all cores), from ``/proc/stat``."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK


def _postmaster_pid(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    with open(os.path.join(row[0], "postmaster.pid")) as f:
        return int(f.readline())


def _registered(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM workers").fetchone()
    return int(row[0]) if row else 0


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        st = _stat(pid)
        if st is None:
            raise RuntimeError(f"worker process {pid} exited during the run")
        total += st[1]
    return total


async def scale_workers(
    url: str, k: int = 1, n: int = 1000, steps_per_wf: int = 5
) -> dict[str, Any]:
    if not url.startswith("postgres"):
        raise ValueError("scale_workers runs on PostgreSQL only")
    postmaster = _postmaster_pid(url)
    async with make_engine(url) as engine:  # opened first: migrations run once, here
        workers = [spawn_worker(url, concurrency=CONCURRENCY) for _ in range(k)]
        pids = [w.pid for w in workers]
        try:
            deadline = time.monotonic() + 60
            while await asyncio.to_thread(_registered, url) < k:
                for w in workers:
                    if w.poll() is not None:
                        err = w.stderr.read().decode() if w.stderr else ""
                        raise RuntimeError(f"a worker process exited at start: {err[-2000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{k} workers did not register within 60 s")
                await asyncio.sleep(0.05)
            warm = await asyncio.gather(*(engine.start(steps, steps_per_wf) for _ in range(10 * k)))
            await asyncio.gather(*(h.result() for h in warm))
            await asyncio.sleep(0.5)  # let the workers go idle

            w0, pg0, me0, m0 = _cpu(pids), _postgres_cpu(postmaster), _own(), _machine_busy_s()
            t0 = time.perf_counter()
            handles = await asyncio.gather(*(engine.start(steps, steps_per_wf) for _ in range(n)))
            started = time.perf_counter() - t0
            results = await asyncio.gather(*(h.result() for h in handles))
            elapsed = time.perf_counter() - t0
            w1, pg1, me1, m1 = _cpu(pids), _postgres_cpu(postmaster), _own(), _machine_busy_s()
            per_worker = [round(_stat(p)[1], 2) for p in pids]  # type: ignore[index]
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
            for w in workers:
                try:
                    w.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
    assert results == [steps_per_wf] * n
    workers_cpu, pg_cpu, client_cpu, busy = w1 - w0, pg1 - pg0, me1 - me0, m1 - m0
    return {
        "workers": k,
        "N": n,
        "steps_per_workflow": steps_per_wf,
        "total_s": elapsed,
        "start_s": started,
        "wf_per_s": n / elapsed,
        "steps_per_s": n * steps_per_wf / elapsed,
        "cpu_workers_s": workers_cpu,
        "cpu_postgres_s": pg_cpu,
        "cpu_client_s": client_cpu,
        "cpu_machine_busy_s": busy,
        "cpu_other_s": busy - workers_cpu - pg_cpu - client_cpu,
        "cores_workers": workers_cpu / elapsed,
        "cores_postgres": pg_cpu / elapsed,
        "cores_client": client_cpu / elapsed,
        "cores_machine_busy": busy / elapsed,
        "cpu_us_per_workflow_workers": workers_cpu / n * 1e6,
        "cpu_us_per_workflow_postgres": pg_cpu / n * 1e6,
        "worker_cpu_s_total_each": per_worker,
    }


def _own() -> float:
    t = os.times()
    return t.user + t.system
