"""Workflows the chaos tests run in real worker processes on PostgreSQL.

``python -m plait.cli worker tests.chaos.app:engine`` with ``PLAIT_CHAOS_DB`` (the database)
and ``PLAIT_CHAOS_EFFECTS`` (the execution record of ``tests/executions.py``: every step
execution appends its workflow, key, attempt and pid before its work, so the test can count
executions, those a kill interrupted included, against the journal). Leases are short
(2 s) so a frozen or killed worker's workflows are taken over within seconds.
"""

from __future__ import annotations

import asyncio
import os
import random
from datetime import timedelta

import plait
from tests import executions

EFFECTS = os.environ.get("PLAIT_CHAOS_EFFECTS")


@plait.step(name="chaos.work")
async def work(key: str) -> str:
    executions.begin(EFFECTS, key)
    await asyncio.sleep(random.uniform(0.05, 0.4))  # "I/O" (a model call), for kills to land in
    return key


@plait.workflow(name="chaos.child")
async def child(ctx: plait.Context, parent: str) -> str:
    executions.running(ctx)
    a = await work(f"{parent}/child-a")
    await ctx.sleep(timedelta(milliseconds=200))
    b = await work(f"{parent}/child-b")
    return f"{a}+{b}"


@plait.workflow(name="chaos.main")
async def main(ctx: plait.Context, n: int) -> str:
    executions.running(ctx)
    wid = ctx.workflow_id
    first = await work(f"{wid}/1")
    await ctx.sleep(timedelta(milliseconds=100 * (1 + n % 5)))
    kid = await ctx.child(child, wid) if n % 4 == 0 else "-"
    go = await ctx.wait_for_signal("go", timeout=timedelta(minutes=10))
    second, third = await asyncio.gather(work(f"{wid}/2"), work(f"{wid}/3"))
    return f"{first}|{kid}|{go}|{second}|{third}"


def expected_keys(workflow_id: str, n: int) -> list[str]:
    """The step keys a ``main`` workflow's journal holds, in order (its child's aside)."""
    return [f"{workflow_id}/{i}" for i in (1, 2, 3)]


engine = plait.Engine(
    os.environ.get("PLAIT_CHAOS_DB", "postgresql://postgres@127.0.0.1:5432/postgres"),
    workflows=[main, child],
    lease_ttl=timedelta(seconds=2),
    poll_interval=timedelta(milliseconds=250),
    max_recoveries=50,  # durability is under test here, not the crash-loop cap
)
