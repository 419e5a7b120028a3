"""SIGTERM: a worker process stops promptly and hands its workflows back at once."""

from __future__ import annotations

import signal
import time

import pytest

import plait

from .conftest import Cluster

TICKS = 60


@pytest.mark.parametrize("held", ["", "pipeline", "threaded"])
async def test_sigterm_hands_workflows_back(
    cluster: Cluster, client: plait.Engine, held: str
) -> None:
    """Workflows of short steps stop at their next step, so the worker exits long before
    its 120 s grace; a workflow inside a 600 s step (async, or sync in a thread) is
    interrupted when a 1 s grace ends.
    Either way all are ``pending`` with no lease when the process exits, and a new worker
    finishes them without waiting out the 600 s lease; no recorded step runs again.
    (The bounds are far from the figures they tell apart, so a loaded machine cannot
    cross them.)"""
    grace = 1.0 if held else 120.0
    tickers = [f"t{i}" for i in range(3)]
    holders = [f"h{i}" for i in range(3)] if held else []
    for wid in tickers:
        await client.start("ticker", TICKS, id=wid)
    for wid in holders:
        await client.start(held, 2, 0, id=wid)
    ids = tickers + holders
    first = cluster.spawn(hold=600, grace=grace, lease=600)

    async def all_running() -> bool:
        return {x.workflow_id for x in cluster.executions()} >= set(ids)

    await cluster.until(all_running, 30, "every workflow started")
    start = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert cluster.wait_exit(first, 60) == 0  # not the held step's 600 s, nor a 120 s grace
    took = time.monotonic() - start
    if held:  # it gave the held step its grace before interrupting it
        assert took >= grace, f"stopped in {took:.1f} s (grace {grace} s)"

    for wid in ids:
        info = await client.get(wid)
        assert (info.status, info.lease_owner, info.recoveries) == ("pending", None, 0), info
    assert cluster.sql("SELECT id FROM workers") == []  # the worker unregistered
    crash = await cluster.crashed(client, ids)
    assert all(0 < len(crash.recorded[w]) < TICKS for w in tickers)  # stopped part-way
    assert all(crash.recorded[w] == set() for w in holders)  # interrupted inside s0

    cluster.spawn(hold=0, lease=600)
    # handed back, so taken at once: the 600 s lease would outlast this wait
    await cluster.all_status(client, ids, "completed", 60)

    def keys(wid: str) -> list[str]:
        return [f"t{i}" for i in range(TICKS)] if wid in tickers else ["s0", "s1"]

    counts = await cluster.check_exactly_once(client, ids, crash, keys)
    assert all(counts[w, "s0"] == 2 for w in holders)  # the interrupted step, run again
    assert all(counts[w, f"t{i}"] == 1 for w in tickers for i in range(TICKS))
    for wid in ids:  # handed back, not recovered: no step towards the crash-loop cap
        info = await client.get(wid)
        assert (info.attempt, info.recoveries) == (2, 0), info
