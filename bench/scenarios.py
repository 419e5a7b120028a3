"""The in-process scenarios: one engine and one worker in this process, as a user runs them.

Each scenario gets a fresh, empty database as a URL and returns its figures as a dict. It
warms up first (as the peers' benchmark does: 10 workflows, 20 for latency), then measures
with the engine's public API only: ``engine.start``, ``handle.result``, ``engine.signal``.
Definitions: ``../shared/bench/SCENARIOS.md`` (``README.md`` here repeats them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.app import make_engine, steps, waiter
from bench.backends import backend_of_url
from bench.measure import (
    cpu_seconds,
    live_rss_mb,
    percentile,
    proc_status,
    thread_cpu,
    thread_cpu_since,
    wait_until,
)

# Enough to run every fanout workflow at once, as the scenario asks ("run concurrently").
CONCURRENCY = 1000


async def seq_steps(url: str, n: int = 1000) -> dict[str, Any]:
    """One workflow of ``n`` sequential steps: start to result. A bare commit on the same
    disk is timed just before and just after, because the disk's speed drifts by 2x within
    minutes on a shared VM, and the run's figure is also given as a multiple of it."""
    backend = backend_of_url(url)
    commit_before = backend.commit_probe(url)
    async with make_engine(url) as engine, engine.worker(concurrency=CONCURRENCY):
        await (await engine.start(steps, 10)).result()
        threads, cpu0, t0 = thread_cpu(), cpu_seconds(), time.perf_counter()
        handle = await engine.start(steps, n)
        result = await handle.result()
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        by_thread = thread_cpu_since(threads)
    commit_after = backend.commit_probe(url)
    assert result == n
    commit = None
    if commit_before is not None and commit_after is not None:
        commit = (commit_before + commit_after) / 2
    return {
        "K": n,
        "total_s": elapsed,
        "us_per_step": elapsed / n * 1e6,
        **({} if commit is None else {"bare_commit_us": commit}),
        **({} if commit is None else {"steps_per_bare_commit": elapsed / n * 1e6 / commit}),
        "cpu_us_per_step": cpu / n * 1e6,
        "loop_cpu_us_per_step": by_thread.get("MainThread", 0) / n * 1e6,
        "cpu_s_by_thread": by_thread,
    }


async def fanout(url: str, n: int = 1000, k: int = 5) -> dict[str, Any]:
    """``n`` workflows of ``k`` steps, all started at once (``asyncio.gather``), run by one
    worker concurrently; the clock stops when every result has been returned."""
    async with make_engine(url) as engine, engine.worker(concurrency=CONCURRENCY):
        warm = await asyncio.gather(*(engine.start(steps, k) for _ in range(10)))
        await asyncio.gather(*(h.result() for h in warm))
        threads, cpu0, t0 = thread_cpu(), cpu_seconds(), time.perf_counter()
        pcpu0 = time.process_time()  # ns resolution: the burst takes ~0.1 s
        handles = await asyncio.gather(*(engine.start(steps, k) for _ in range(n)))
        started, start_cpu = time.perf_counter() - t0, time.process_time() - pcpu0
        results = await asyncio.gather(*(h.result() for h in handles))
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        by_thread = thread_cpu_since(threads)
        status = proc_status()
    assert results == [k] * n
    return {
        "N": n,
        "steps_per_workflow": k,
        "total_s": elapsed,
        "start_s": started,
        "start_cpu_s": start_cpu,
        "wf_per_s": n / elapsed,
        "steps_per_s": n * k / elapsed,
        "cpu_s": cpu,
        "cores_used": cpu / elapsed,
        "loop_cpu_us_per_workflow": by_thread.get("MainThread", 0) / n * 1e6,
        "cpu_us_per_workflow": cpu / n * 1e6,
        "cpu_s_by_thread": by_thread,
        "peak_rss_mb": status["peak_rss_mb"],
        "threads": status["threads"],
    }


async def latency(url: str, n: int = 200, k: int = 3) -> dict[str, Any]:
    """A ``k``-step workflow, start to result, ``n`` times in a row."""
    samples: list[float] = []
    async with make_engine(url) as engine, engine.worker(concurrency=CONCURRENCY):
        for i in range(20 + n):
            t0 = time.perf_counter()
            result = await (await engine.start(steps, k)).result()
            if i >= 20:
                samples.append((time.perf_counter() - t0) * 1000)
            assert result == k
    return {
        "n": n,
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
        "mean_ms": sum(samples) / n,
        "max_ms": max(samples),
        "min_ms": min(samples),
    }


async def waiters(url: str, n: int = 10_000) -> dict[str, Any]:
    """``n`` workflows each waiting for a signal; the worker's RSS and threads while they all
    wait; then every signal sent at once (``asyncio.gather``) until every result is back."""
    backend = backend_of_url(url)

    async def all_are(status: str) -> bool:
        return await asyncio.to_thread(backend.count, url, status) >= n

    async with make_engine(url) as engine, engine.worker(concurrency=CONCURRENCY):
        await (await engine.start(steps, 3)).result()
        base = proc_status()
        pcpu0, t0 = time.process_time(), time.perf_counter()
        handles = await asyncio.gather(*(engine.start(waiter, id=f"w-{j}") for j in range(n)))
        started, start_cpu = time.perf_counter() - t0, time.process_time() - pcpu0
        all_waiting = await wait_until(lambda: all_are("waiting"), timeout=600, interval=0.05)
        waiting = proc_status()
        live = live_rss_mb()
        cpu0 = cpu_seconds()
        await asyncio.sleep(2.0)
        idle_cpu = (cpu_seconds() - cpu0) / 2.0
        t1 = time.perf_counter()
        sent = await asyncio.gather(*(engine.signal(f"w-{j}", "go", "go") for j in range(n)))
        delivered = time.perf_counter() - t1
        results = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles)), timeout=600
        )
        done = time.perf_counter() - t1
        after = proc_status()
    assert all(sent) and results == ["go"] * n
    return {
        "W": n,
        "base_rss_mb": base["rss_mb"],
        "waiting_rss_mb": waiting["rss_mb"],
        "waiting_live_rss_mb": live,
        "waiting_threads": waiting["threads"],
        "peak_rss_mb": after["peak_rss_mb"],
        "rss_growth_kb_per_waiter": (waiting["rss_mb"] - base["rss_mb"]) * 1024 / n,
        "idle_cpu_pct_while_waiting": idle_cpu * 100,
        "start_s": started,
        "start_cpu_s": start_cpu,
        "time_to_all_waiting_s": all_waiting - t0,
        "signal_s": delivered,
        "signal_to_all_done_s": done,
    }


SCENARIOS = {
    "seq_steps": seq_steps,
    "fanout": fanout,
    "latency": latency,
    "waiters": waiters,
}
