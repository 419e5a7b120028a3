"""Workflows and an engine for the multi-process limit tests (tests/test_limits.py).

Worker processes run ``python -m plait.cli worker tests.limits_app:engine`` with:

- ``PLAIT_LIMITS_DB``: the database URL shared by the test and its workers.
- ``PLAIT_LIMITS_OUT``: a file every process appends its measurements to, one line each:
  ``run <tag> <workflow id> <start> <end> <pid>`` for a step that held a slot,
  ``call <tag> <workflow id> <time> <pid>`` when a limiter let a call through, and
  ``claim <now> <workflow id> <attempt> <queue>`` for every workflow a worker claimed.

Times are ``time.time()`` seconds, except a claim's ``now`` (the engine's epoch ms).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

import plait

CAPPED = plait.Queue("capped", concurrency=3)
PACED = plait.Queue("paced", rate=plait.Rate(5, per=timedelta(seconds=1)))
SLOTS = plait.limit("api-slots", concurrency=2)
PACE = plait.limit("api-rate", per_second=8)


def _append(line: str) -> None:
    # One write(2) on an O_APPEND file: lines from several processes never interleave.
    path = os.environ.get("PLAIT_LIMITS_OUT")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def read(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.split() for line in f.read().splitlines()]
    except FileNotFoundError:
        return []


@plait.step
async def occupy(tag: str, workflow_id: str, hold: float) -> None:
    start = time.time()
    await asyncio.sleep(hold)
    _append(f"run {tag} {workflow_id} {start:.6f} {time.time():.6f} {os.getpid()}\n")


@plait.step
async def call_api(workflow_id: str) -> None:
    async with SLOTS:
        start = time.time()
        await asyncio.sleep(0.1)
        _append(f"run slots {workflow_id} {start:.6f} {time.time():.6f} {os.getpid()}\n")
    async with PACE:
        _append(f"call pace {workflow_id} {time.time():.6f} {os.getpid()}\n")


@plait.workflow
async def held(ctx: plait.Context, tag: str, hold: float) -> None:
    """One step that holds its workflow's slot for ``hold`` seconds."""
    await occupy(tag, ctx.workflow_id, hold)


@plait.workflow
async def calls(ctx: plait.Context, n: int) -> None:
    """``n`` concurrent steps, each through the keyed limiters."""
    await asyncio.gather(*(call_api(f"{ctx.workflow_id}:{i}") for i in range(n)))


def _record_claims(engine: plait.Engine) -> None:
    store: Any = engine.store
    real_claim = store.claim

    async def claim(worker: str, pairs: Any, queues: Any, limit: int, now: int, *a: Any) -> Any:
        claimed = await real_claim(worker, pairs, queues, limit, now, *a)
        for c in claimed:
            _append(f"claim {now} {c.id} {c.attempt} {c.queue}\n")
        return claimed

    store.claim = claim


def make_engine(url: str) -> plait.Engine:
    engine = plait.Engine(
        url,
        workflows=[held, calls],
        queues=[CAPPED, PACED],
        poll_interval=timedelta(milliseconds=50),
    )
    _record_claims(engine)
    return engine


engine = make_engine(os.environ.get("PLAIT_LIMITS_DB", "sqlite:///:memory:"))
