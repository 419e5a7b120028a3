"""Store conformance for versioning: ``snapshot`` (a workflow's run and journal as a claim
reads them, without claiming) and ``count_versions`` (in-flight workflows per name and
version). SQLite and PostgreSQL."""

from __future__ import annotations

from plait.store import Store
from plait.types import WorkflowStatus

from .helpers import NOW, claim, new, running, step, waiting


async def test_snapshot_reads_the_claimed_shape_without_claiming(store: Store) -> None:
    f = await running(store, "w1", input='["x"]')
    await store.record(f, NOW, [step(1, "a"), waiting(2)], [], None)
    before = await store.get("w1")
    snap = await store.snapshot("w1")
    assert snap is not None
    assert (snap.id, snap.name, snap.version, snap.input) == ("w1", "wf", "1", '["x"]')
    assert [(e.seq, e.kind, e.name, e.status) for e in snap.journal] == [
        (1, "step", "a", "completed"),
        (2, "signal", "go", "waiting"),
    ]
    assert snap.journal[0].output == '"ok"'
    assert (snap.run, snap.seq_base, snap.attempt) == (1, 0, f.attempt)
    assert await store.get("w1") == before  # not claimed, nothing changed
    assert await store.snapshot("nope") is None


async def test_count_versions_counts_only_workflows_in_flight(store: Store) -> None:
    await store.create_workflow(new("a", version="1"), NOW)
    await store.create_workflow(new("b", version="1"), NOW)
    await store.create_workflow(new("c", version="2"), NOW)
    await store.create_workflow(new("o", name="other", version="7"), NOW)
    (c,) = [x for x in await claim(store, pairs=(("wf", "2"),))]
    assert c.id == "c"
    f = await running(store, "done")
    await store.finish(f, NOW, [], WorkflowStatus.COMPLETED, '"ok"', None)
    assert sorted(await store.count_versions()) == [
        ("other", "7", "pending", 1),
        ("wf", "1", "pending", 2),
        ("wf", "2", "running", 1),
    ]
