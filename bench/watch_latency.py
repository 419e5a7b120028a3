"""watch_latency: how long after another process starts a workflow the change feed yields it.

A writer process (its own ``Engine`` on the same database) starts ``n`` workflows one after
another, 50 ms apart, each id carrying the wall-clock time just before its ``engine.start``;
this process's ``engine.watch()`` takes each one's first change and the figure is the time
from that start call to the change being yielded (so it includes the writer's commit). On
PostgreSQL the feed polls only every 30 s, so the figures are those of the NOTIFY path; on
SQLite, which has no cross-process hint, the feed's default poll (0.25 s) bounds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import plait
from bench.measure import percentile

ROOT = Path(__file__).resolve().parent.parent

_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    import plait

    @plait.workflow(name="watched")
    async def watched(ctx: plait.Context) -> None:
        return None

    async def main(url: str, n: int) -> None:
        async with plait.Engine(url, workflows=[watched]) as e:
            for i in range(n):
                await e.start(watched, id=f"w{i}-{time.time_ns()}")
                await asyncio.sleep(0.05)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def watch_latency(url: str, n: int = 100) -> dict[str, Any]:
    postgres = url.startswith("postgres")
    poll = timedelta(seconds=30) if postgres else None
    latencies: list[float] = []
    async with plait.Engine(url) as engine:  # migrates before the writer starts
        feed = engine.watch(poll_interval=poll)
        seen: set[str] = set()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, url, str(n)], env=env)
        try:
            async with contextlib.aclosing(feed) as changes:  # type: ignore[type-var]
                async with asyncio.timeout(60 + n):
                    async for change in changes:
                        if change.kind != "status" or change.workflow_id in seen:
                            continue
                        seen.add(change.workflow_id)
                        sent = int(change.workflow_id.split("-")[1])
                        latencies.append((time.time_ns() - sent) / 1e6)
                        if len(seen) == n:
                            break
        finally:
            writer.wait(timeout=30)
    return {
        "n": n,
        "poll_s": 30.0 if postgres else 0.25,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
    }
