"""Builders for the conformance tests: workflows, journal entries, claims and fences."""

from __future__ import annotations

from plait.store import Store
from plait.store.records import Claimed, Entry, Fence, NewWorkflow

NOW = 1_900_000_000_000  # epoch ms; the store takes every time from its caller
LEASE = 30_000
PAIRS = (("wf", "1"),)
W1 = "host-a:101:w1"
W2 = "host-b:202:w2"


def new(
    workflow_id: str,
    *,
    name: str = "wf",
    version: str = "1",
    input: str = "[1]",
    input_hash: str = "h1",
    queue: str = "default",
    priority: int = 0,
    available_at: int = 0,
    deadline_at: int | None = None,
    parent_id: str | None = None,
) -> NewWorkflow:
    return NewWorkflow(
        id=workflow_id,
        name=name,
        version=version,
        input=input,
        input_hash=input_hash,
        queue=queue,
        priority=priority,
        available_at=available_at,
        deadline_at=deadline_at,
        parent_id=parent_id,
    )


def step(seq: int, name: str = "s", output: str = '"ok"', at: int = NOW) -> Entry:
    return Entry(seq, "step", name, "completed", output=output, started_at=at, completed_at=at)


def waiting(seq: int, kind: str = "signal", name: str = "go", wake_at: int | None = None) -> Entry:
    return Entry(seq, kind, name, "waiting", wake_at=wake_at, started_at=NOW)


async def claim(
    store: Store,
    worker: str = W1,
    *,
    now: int = NOW,
    limit: int = 10,
    pairs: tuple[tuple[str, str], ...] = PAIRS,
    queues: tuple[str, ...] | None = None,
    lease: int = LEASE,
    max_recoveries: int = 5,
) -> list[Claimed]:
    return await store.claim(worker, pairs, queues, limit, now, lease, max_recoveries)


def fence(c: Claimed, worker: str = W1, lease: int = LEASE) -> Fence:
    return Fence(c.id, c.attempt, worker, lease)


async def running(
    store: Store, workflow_id: str, worker: str = W1, *, now: int = NOW, **options: object
) -> Fence:
    """Creates a workflow (on a queue of its own unless ``queue=`` is given) and claims
    it; returns the claiming attempt's fence."""
    options.setdefault("queue", f"only-{workflow_id}")
    await store.create_workflow(new(workflow_id, **options), now)  # type: ignore[arg-type]
    queue = str(options["queue"])
    claimed = await claim(store, worker, now=now, queues=(queue,), limit=1)
    assert [c.id for c in claimed] == [workflow_id], f"{workflow_id} was not claimable"
    return fence(claimed[0], worker)
