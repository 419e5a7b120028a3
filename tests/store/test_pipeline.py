"""Operations sent together in one batch (on PostgreSQL: pipelined, their statements sent
before any result is read) keep each operation's outcome its own: a stale attempt's writes
fail alone and write nothing, and the others commit."""

from __future__ import annotations

import asyncio

from plait.store import Store
from plait.store.records import LeaseLostError, Wait
from plait.types import WorkflowStatus

from .helpers import LEASE, NOW, W2, claim, fence, running, step, waiting


async def test_stale_writes_in_a_shared_batch_fail_alone_and_write_nothing(store: Store) -> None:
    stale = await running(store, "a", queue="default")
    (c,) = await claim(store, W2, now=NOW + LEASE + 1)
    live_a = fence(c, W2)
    others = [await running(store, f"b{i}") for i in range(8)]
    later = NOW + LEASE + 2

    results = await asyncio.gather(
        *(store.record(f, later, [step(1)], []) for f in others[:4]),
        store.record(stale, later, [step(1)], []),
        store.wait(stale, later, [], waiting(1), ("go",), True, suspend=True),
        store.suspend(stale, later, [step(1)], Wait(until=later + 5)),
        store.finish(stale, later, [step(1)], WorkflowStatus.COMPLETED, '"x"', None),
        store.send_signal("b0", "go", '"p"', None, later),
        *(
            store.finish(f, later, [step(1)], WorkflowStatus.COMPLETED, '"done"', None)
            for f in others[4:]
        ),
        return_exceptions=True,
    )

    assert results[:4] == [False] * 4
    assert all(isinstance(r, LeaseLostError) for r in results[4:8]), results[4:8]
    assert results[8] is True
    assert results[9:] == [None] * 4
    assert await store.journal("a") == []
    info = await store.get("a")
    assert info is not None and (info.status, info.attempt) == ("running", live_a.attempt)
    for f in others[:4]:
        assert [e.seq for e in await store.journal(f.workflow_id)] == [1]
    for f in others[4:]:
        done = await store.get(f.workflow_id)
        assert done is not None and (done.status, done.output) == ("completed", '"done"')
    await store.record(live_a, later, [step(1)], [])  # the live attempt writes as before
    assert [e.worker_attempt for e in await store.journal("a")] == [live_a.attempt]
