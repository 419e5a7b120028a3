"""The memory of a worker that runs nothing but waiting workflows, in its own process.

In the ``waiters`` scenario one process is client and worker at once, as in the peers'
benchmark, so its RSS also holds the client's 10,000 handles and the high-water mark of
starting them all at once. Here ``plait worker bench.app:engine --concurrency 1000`` runs
alone; this process starts ``n`` waiting workflows and reads the worker's RSS and threads
from ``/proc/<pid>/status`` once all are waiting (and before any were started). Run with
1,000 and 10,000: a suspended workflow holds nothing in the worker, so the two RSS figures
differ only by bounded caches (SQLite's page and statement caches, the allocator's arenas).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from typing import Any

from bench.app import make_engine, waiter
from bench.backends import backend_of_url
from bench.measure import proc_status
from bench.recovery import spawn_worker


async def worker_rss(url: str, n: int = 10_000) -> dict[str, Any]:
    backend = backend_of_url(url)
    async with make_engine(url) as engine:
        worker = spawn_worker(url, concurrency=1000)
        try:
            await asyncio.sleep(1.0)  # started and idle: its baseline
            if worker.poll() is not None:
                raise RuntimeError("the worker process exited at start")
            base = proc_status(worker.pid)
            t0 = time.perf_counter()
            await asyncio.gather(*(engine.start(waiter, id=f"w-{j}") for j in range(n)))
            while await asyncio.to_thread(backend.count, url, "waiting") < n:
                if time.perf_counter() - t0 > 600:
                    raise TimeoutError(f"not all {n} workflows were waiting after 600 s")
                await asyncio.sleep(0.05)
            all_waiting = time.perf_counter() - t0
            await asyncio.sleep(1.0)
            waiting = proc_status(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return {
        "W": n,
        "worker_base_rss_mb": base["rss_mb"],
        "worker_waiting_rss_mb": waiting["rss_mb"],
        "worker_peak_rss_mb": waiting["peak_rss_mb"],
        "worker_threads": waiting["threads"],
        "time_to_all_waiting_s": all_waiting,
    }
