"""Store conformance: creating, reading and listing workflows, journals and attempts.

Every test here runs on SQLite and on PostgreSQL (``store_url``).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from plait.errors import WorkflowAlreadyExists, WorkflowNotFound
from plait.store import Store
from plait.store.records import Attempt, ListFilter
from plait.types import EntryStatus, WorkflowStatus, ms_to_datetime

from .helpers import NOW, claim, fence, new, running, step


async def test_create_returns_a_pending_workflow_and_is_idempotent(store: Store) -> None:
    info, created = await store.create_workflow(new("a", priority=3, queue="q"), NOW)
    assert created
    assert (info.id, info.name, info.version, info.status) == ("a", "wf", "1", "pending")
    assert (info.queue, info.priority, info.attempt, info.recoveries) == ("q", 3, 0, 0)
    assert info.available_at == ms_to_datetime(NOW)
    assert info.created_at == ms_to_datetime(NOW)
    assert info.input == "[1]" and info.output is None and info.lease_owner is None

    again, created = await store.create_workflow(new("a"), NOW + 5)
    assert not created
    assert again.created_at == info.created_at and again.priority == 3


async def test_what_create_returns_is_the_stored_row(store: Store) -> None:
    # A fresh start is not read back from the table: what it returns must equal get().
    for made in (
        new("plain"),
        new("later", queue="q", priority=-2, available_at=NOW + 60_000, deadline_at=NOW + 9),
        dataclasses.replace(new("ada", input='{"x":"é"}'), subject="ada", concurrency_key="k"),
        new("plain:1", parent_id="plain"),  # a child takes its parent's subject: read back
    ):
        info, created = await store.create_workflow(made, NOW)
        assert created and info == await store.get(made.id)


async def test_create_with_other_arguments_or_name_is_refused(store: Store) -> None:
    await store.create_workflow(new("a"), NOW)
    with pytest.raises(WorkflowAlreadyExists, match="other arguments"):
        await store.create_workflow(new("a", input="[2]", input_hash="h2"), NOW)
    with pytest.raises(WorkflowAlreadyExists, match="workflow 'wf'"):
        await store.create_workflow(new("a", name="other"), NOW)
    assert len(await store.list_workflows(ListFilter())) == 1


async def test_a_delayed_start_is_available_later(store: Store) -> None:
    info, _ = await store.create_workflow(new("later", available_at=NOW + 60_000), NOW)
    assert info.available_at == ms_to_datetime(NOW + 60_000)
    assert await claim(store) == []
    assert [c.id for c in await claim(store, now=NOW + 60_000)] == ["later"]


async def test_get_and_missing_workflows(store: Store) -> None:
    assert await store.get("nope") is None
    with pytest.raises(WorkflowNotFound, match="nope"):
        await store.journal("nope")
    with pytest.raises(WorkflowNotFound, match="nope"):
        await store.attempts("nope")


async def test_list_filters_orders_and_pages(store: Store) -> None:
    for i, name in enumerate(["wf", "wf", "other", "wf"]):
        await store.create_workflow(new(f"w{i}", name=name), NOW + i)
    f = await running(store, "w9", now=NOW + 9)
    await store.record(f, NOW + 9, [], [], ("scoring", json.dumps({"stage": "screen", "n": 3})))
    everything = await store.list_workflows(ListFilter())
    assert [i.id for i in everything] == ["w9", "w3", "w2", "w1", "w0"]  # newest first

    def ids(infos: list) -> list[str]:
        return [i.id for i in infos]

    assert ids(await store.list_workflows(ListFilter(name="other"))) == ["w2"]
    running_only = ListFilter(status=(WorkflowStatus.RUNNING,))
    assert ids(await store.list_workflows(running_only)) == ["w9"]
    both = ListFilter(status=(WorkflowStatus.RUNNING, WorkflowStatus.PENDING), name="wf")
    assert ids(await store.list_workflows(both)) == ["w9", "w3", "w1", "w0"]
    assert ids(await store.list_workflows(ListFilter(limit=2, offset=1))) == ["w3", "w2"]
    by_stage = ListFilter(attributes=(("stage", "screen"),))
    assert ids(await store.list_workflows(by_stage)) == ["w9"]
    assert ids(await store.list_workflows(ListFilter(attributes=(("n", "3"),)))) == ["w9"]
    assert ids(await store.list_workflows(ListFilter(attributes=(("n", "4"),)))) == []
    info = await store.get("w9")
    assert info is not None
    assert info.status_text == "scoring" and info.attributes == {"stage": "screen", "n": 3}


async def test_list_filters_on_boolean_and_text_attributes(store: Store) -> None:
    for wid, attrs in [("x", {"hot": True, "who": "ada"}), ("y", {"hot": False, "who": "bo"})]:
        f = await running(store, wid)
        await store.record(f, NOW, [], [], (None, json.dumps(attrs)))
    hot = await store.list_workflows(ListFilter(attributes=(("hot", "true"),)))
    assert [i.id for i in hot] == ["x"]
    both = ListFilter(attributes=(("hot", "false"), ("who", "bo")))
    assert [i.id for i in await store.list_workflows(both)] == ["y"]


async def test_children_are_listed_by_parent(store: Store) -> None:
    await store.create_workflow(new("p"), NOW)
    await store.create_workflow(new("p:1", parent_id="p"), NOW)
    await store.create_workflow(new("q:1"), NOW)
    kids = await store.list_workflows(ListFilter(parent_id="p"))
    assert [(k.id, k.parent_id) for k in kids] == [("p:1", "p")]


async def test_journal_and_attempts_are_in_program_order(store: Store) -> None:
    f = await running(store, "a")
    failed = [
        Attempt(2, 1, NOW, NOW + 5, {"type": "Flaky", "message": "try again"}),
        Attempt(2, 2, NOW + 10, NOW + 20, None),
    ]
    await store.record(f, NOW + 20, [step(2, "second", at=NOW + 10)], failed)
    await store.record(f, NOW + 30, [step(1, "first")], [Attempt(1, 1, NOW, NOW + 1, None)])
    journal = await store.journal("a")
    assert [(e.seq, e.name, e.status) for e in journal] == [
        (1, "first", EntryStatus.COMPLETED),
        (2, "second", EntryStatus.COMPLETED),
    ]
    assert journal[0].output == "ok" and journal[0].worker_attempt == f.attempt
    attempts = await store.attempts("a")
    assert [(a.seq, a.attempt, a.error and a.error.type) for a in attempts] == [
        (1, 1, None),
        (2, 1, "Flaky"),
        (2, 2, None),
    ]
    assert attempts[1].duration.total_seconds() == 0.005
    assert all(a.worker_attempt == f.attempt for a in attempts)


async def test_a_claim_loads_the_whole_journal(store: Store) -> None:
    f = await running(store, "a")
    await store.record(f, NOW, [step(1, "one"), step(2, "two")], [])
    await store.release(f, NOW)
    (c,) = await claim(store, now=NOW + 1)
    assert [(e.seq, e.name, e.output) for e in c.journal] == [
        (1, "one", '"ok"'),
        (2, "two", '"ok"'),
    ]
    assert fence(c).attempt == f.attempt + 1
