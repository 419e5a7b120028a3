"""The workflows and steps the benchmark runs, and an engine for separate worker processes.

Steps do no work: each returns ``{"i": i, "payload": "x" * 80}`` (about 100 bytes of JSON),
as in the peers' benchmark, so what is measured is the engine. ``engine`` is what
``plait worker bench.app:engine`` runs (the recovery scenario); its database URL comes from
``PLAIT_BENCH_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import plait

PAYLOAD = "x" * 80
DATABASE_ENV = "PLAIT_BENCH_DATABASE_URL"


@plait.step
async def tiny(i: int) -> dict[str, Any]:
    """The benchmark step: returns about 100 bytes."""
    return {"i": i, "payload": PAYLOAD}


@plait.workflow
async def steps(ctx: plait.Context, k: int) -> int:
    """``k`` sequential steps (seq_steps: k=1000, fanout: 5, latency: 3)."""
    for i in range(k):
        await tiny(i)
    return k


@plait.workflow
async def waiter(ctx: plait.Context) -> str:
    """Waits for the signal ``go`` and returns its payload."""
    payload: str = await ctx.wait_for_signal("go")
    return payload


@plait.step
async def logged(i: int, log_path: str) -> dict[str, Any]:
    """Appends ``<i> <pid> <epoch>`` to ``log_path`` (fsync'd), then sleeps 0.2 s."""
    with open(log_path, "a") as f:
        f.write(f"{i} {os.getpid()} {time.time():.6f}\n")
        f.flush()
        os.fsync(f.fileno())
    await asyncio.sleep(0.2)
    return {"i": i, "payload": PAYLOAD}


@plait.workflow
async def crashy(ctx: plait.Context, log_path: str, n: int) -> int:
    """The recovery scenario's workflow: ``n`` logged steps numbered from 1."""
    for i in range(1, n + 1):
        await logged(i, log_path)
    return n


WORKFLOWS: list[plait.WorkflowDef[..., Any]] = [steps, waiter, crashy]


def make_engine(url: str, **options: Any) -> plait.Engine:
    """An engine with the benchmark's workflows on ``url``."""
    return plait.Engine(url, workflows=WORKFLOWS, **options)


_engine: plait.Engine | None = None


def __getattr__(name: str) -> Any:
    # ``engine`` is made on first use, so importing the workflows opens nothing.
    global _engine
    if name != "engine":
        raise AttributeError(name)
    if _engine is None:
        url = os.environ.get(DATABASE_ENV)
        if not url:
            raise RuntimeError(f"set {DATABASE_ENV} to the database URL of the benchmark run")
        _engine = make_engine(url)
    return _engine
