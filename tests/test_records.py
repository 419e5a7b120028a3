"""``engine.records``: JSON values by kind and key, about a subject; from steps through
``plait.current_engine()``, refused in workflow code (not journaled)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

import plait
from plait.testing import TestEngine


@dataclasses.dataclass
class OptOut:
    email: str
    at: dt.datetime


@plait.step
async def remember(candidate: str, token: str) -> str:
    records = plait.current_engine().records
    await records.put("reply-token", token, {"candidate": candidate}, subject=candidate)
    got = await records.get("reply-token", token)
    return str(got["candidate"])


@plait.workflow
async def outreach(ctx: plait.Context, candidate: str) -> str:
    return await remember(candidate, f"tok-{candidate}")


@plait.workflow
async def reads_records_in_workflow_code(ctx: plait.Context) -> object:
    return await plait.current_engine().records.get("k", "v")


async def test_put_get_delete_and_defaults(test_engine: TestEngine) -> None:
    records = test_engine.records
    assert await records.get("optout", "a@x.org") is None
    assert await records.get("optout", "a@x.org", "absent") == "absent"
    when = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    await records.put("optout", "a@x.org", OptOut("a@x.org", when))
    assert await records.get("optout", "a@x.org") == {
        "email": "a@x.org",
        "at": "2026-01-02T00:00:00Z",
    }
    assert await records.get("optout", "a@x.org", type=OptOut) == OptOut("a@x.org", when)
    await records.put("optout", "a@x.org", None)  # a stored null is not a missing record
    assert await records.get("optout", "a@x.org", "absent") is None
    record = await records.record("optout", "a@x.org")
    assert record is not None and record.created_at <= record.updated_at
    assert await records.delete("optout", "a@x.org")
    assert not await records.delete("optout", "a@x.org")
    assert await records.record("optout", "a@x.org") is None


async def test_list_by_prefix_and_subject(test_engine: TestEngine) -> None:
    records = test_engine.records
    await records.put("audit", "cand-1/2", {"n": 2}, subject="cand-1")
    await records.put("audit", "cand-1/1", {"n": 1}, subject="cand-1")
    await records.put("audit", "cand-2/1", {"n": 3}, subject="cand-2")
    await records.put("selfid", "cand-1", {"pronouns": "she"}, subject="cand-1")
    await records.put("suppression", "x@y.org", True)
    assert [(r.key, r.value) for r in await records.list("audit", "cand-1/")] == [
        ("cand-1/1", {"n": 1}),
        ("cand-1/2", {"n": 2}),
    ]
    about = await records.list(subject="cand-1")
    assert [(r.kind, r.key) for r in about] == [
        ("audit", "cand-1/1"),
        ("audit", "cand-1/2"),
        ("selfid", "cand-1"),
    ]
    assert {r.subject for r in about} == {"cand-1"}
    assert [r.key for r in await records.list("audit", subject="cand-2")] == ["cand-2/1"]
    with pytest.raises(plait.ConfigurationError, match="needs a kind"):
        await records.list(prefix="cand")


async def test_a_value_that_is_not_json_writes_nothing(test_engine: TestEngine) -> None:
    with pytest.raises(plait.SerializationError, match="record 'tokens' 'k1'"):
        await test_engine.records.put("tokens", "k1", object())
    assert await test_engine.records.list("tokens") == []
    test_engine.codec.max_payload_bytes = 100
    with pytest.raises(plait.SerializationError, match="max_payload_bytes"):
        await test_engine.records.put("tokens", "k2", "x" * 200)
    assert await test_engine.records.list("tokens") == []
    with pytest.raises(plait.ConfigurationError, match="plait"):
        await test_engine.records.put("plait:internal", "k", 1)
    with pytest.raises(plait.ConfigurationError, match="key"):
        await test_engine.records.put("tokens", "", 1)


async def test_steps_reach_records_through_the_current_engine(test_engine: TestEngine) -> None:
    test_engine.register(outreach)
    h = await test_engine.start(outreach, "cand-9")
    await test_engine.run_until_idle()
    assert await h.result() == "cand-9"
    assert [r.key for r in await test_engine.records.list(subject="cand-9")] == ["tok-cand-9"]


async def test_workflow_code_may_not_use_records(test_engine: TestEngine) -> None:
    test_engine.register(reads_records_in_workflow_code)
    h = await test_engine.start(reads_records_in_workflow_code)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="use it in a step"):
        await h.result()
