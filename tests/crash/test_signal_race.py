"""Signals sent while workflows suspend: hundreds of rounds, never a lost wake-up.

A workflow waiting on a signal has no timer, so no poll would ever pick it up again: if a
wake-up were lost (the signal committed between the waiter's "mailbox empty" and its
"now waiting"), the workflow would stay ``waiting`` forever and the bounded wait would fail.
On SQLite and on PostgreSQL. ``PLAIT_RACE_SCALE=10`` runs ten times as many workflows.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import plait

from . import app
from .conftest import Cluster

WORKFLOWS = 300 * int(os.environ.get("PLAIT_RACE_SCALE", "1"))
ROUNDS = 5


async def _send_all(
    engine: plait.Engine,
    ids: list[str],
    max_delay: float,
    seed: int,
    parked: Callable[[str, str], Awaitable[None]] | None = None,
) -> None:
    """Per workflow, ROUNDS signals, each after a random delay of up to ``max_delay``
    (counted from the moment the workflow parked on that signal, when ``parked`` says)."""
    rng = random.Random(seed)
    delays = {wid: [rng.random() * max_delay for _ in range(ROUNDS)] for wid in ids}

    async def send(wid: str) -> None:
        for r in range(ROUNDS):
            if parked is not None:
                await parked(wid, f"go{r}")
            await asyncio.sleep(delays[wid][r])
            await engine.signal(wid, f"go{r}", r, dedup_key=f"{wid}:{r}")

    # A bound that only catches a hang: on PostgreSQL, batches that deadlock on workflow
    # rows wait out the server's deadlock_timeout (1 s) before they are retried.
    await asyncio.wait_for(asyncio.gather(*(send(w) for w in ids)), 300)


async def _all_woken(engine: plait.Engine, ids: list[str]) -> None:
    tasks = {w: asyncio.ensure_future(engine.handle(w).result()) for w in ids}
    _, late = await asyncio.wait(tasks.values(), timeout=120)
    for task in late:
        task.cancel()
    stuck = [(w, str((await engine.get(w)).status)) for w, t in tasks.items() if t in late]
    assert not stuck, f"lost wake-ups: {len(stuck)} workflows never woke, e.g. {stuck[:5]}"
    # every signal, once, in order
    assert [tasks[w].result() for w in ids] == [list(range(ROUNDS))] * len(ids)


class _Window:
    """Counts signals sent while their workflow was between "mailbox empty" (the wait
    parked) and the commit of its suspension: the window a lost wake-up would fall in.
    ``parked(workflow, signal)`` returns once that workflow's wait for that signal parked,
    so the sender can aim at the window however slow a loaded machine makes the worker."""

    def __init__(self) -> None:
        self.hits = 0
        self.events: collections.defaultdict[tuple[str, str], asyncio.Event] = (
            collections.defaultdict(asyncio.Event)
        )

    async def parked(self, workflow_id: str, name: str) -> None:
        await asyncio.wait_for(self.events[workflow_id, name].wait(), 120)  # only a hang


def _watch_the_window(store: Any) -> _Window:
    open_: set[str] = set()
    window = _Window()
    wait, suspend, send_signal = store.wait, store.suspend, store.send_signal

    async def watched_wait(fence: Any, *args: Any, **kw: Any) -> Any:
        outcome = await wait(fence, *args, **kw)
        if outcome.state == "park":
            open_.add(fence.workflow_id)
            signals = kw["signals"] if "signals" in kw else args[3]
            for name in signals:
                window.events[fence.workflow_id, name].set()
        return outcome

    async def watched_suspend(fence: Any, *args: Any, **kw: Any) -> Any:
        try:
            return await suspend(fence, *args, **kw)
        finally:
            open_.discard(fence.workflow_id)

    async def watched_send(workflow_id: str, *args: Any, **kw: Any) -> Any:
        inside = workflow_id in open_
        sent = await send_signal(workflow_id, *args, **kw)
        window.hits += inside or workflow_id in open_
        return sent

    store.wait, store.suspend, store.send_signal = watched_wait, watched_suspend, watched_send
    return window


@pytest.mark.timeout(600)
async def test_signals_race_suspension_in_one_process(db_url: str) -> None:
    ids = [f"r{i}" for i in range(WORKFLOWS)]
    engine = app.make_engine(db_url)
    window = _watch_the_window(engine.store)
    async with engine, engine.worker(concurrency=len(ids)):
        await asyncio.gather(*(engine.start("racer_beside", ROUNDS, id=w) for w in ids))
        await _send_all(engine, ids, 0.02, seed=1, parked=window.parked)
        await _all_woken(engine, ids)
    assert window.hits > 0, "no signal was sent inside the window: the race was not exercised"


@pytest.mark.timeout(600)
async def test_signals_race_suspension_across_processes(
    cluster: Cluster, client: plait.Engine
) -> None:
    """The sender (this process) and the worker (another) share only the database: on
    SQLite its write lock (BEGIN IMMEDIATE), on PostgreSQL the workflow row's lock, is what
    orders a send against a suspension."""
    ids = [f"x{i}" for i in range(WORKFLOWS)]
    cluster.spawn(concurrency=len(ids))
    await asyncio.gather(*(client.start("racer", ROUNDS, id=w) for w in ids))
    await cluster.all_status(client, ids, "waiting", 120)  # the worker is up and suspending
    # Delays span the worker's cycle (it learns of signals from another process by polling
    # every 50 ms), so sends land before, during and after its suspensions.
    await _send_all(client, ids, 0.1, seed=2)
    await _all_woken(client, ids)
    attempts = [(await client.get(w)).attempt for w in ids]
    assert min(attempts) >= 2  # each was woken from a suspension at least once
