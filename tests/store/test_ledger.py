"""The model-call ledger in the store contract: rows written with the journal entry in one
fenced transaction, fenced rows for failed attempts, sums by model, workflow and step, and
the weighted limiter's settlement. Every backend."""

from __future__ import annotations

import pytest

from plait.store import Store
from plait.store.records import Entry, LeaseLostError, LedgerRow

from .helpers import LEASE, NOW, W2, claim, running


def row(workflow_id: str, seq: int, *, cost: float, outcome: str = "ok", **kw: object) -> LedgerRow:
    values: dict[str, object] = {
        "workflow_id": workflow_id,
        "seq": seq,
        "step": "Skills",
        "model": "openai:gpt-4o-mini",
        "answered_by": "openai:gpt-4o-mini" if outcome == "ok" else None,
        "input_tokens": 1000 if outcome == "ok" else 0,
        "output_tokens": 100 if outcome == "ok" else 0,
        "cost_usd": cost,
        "outcome": outcome,
        "reask": 0,
        "latency_ms": 12.5,
        "at": NOW,
    }
    values.update(kw)
    return LedgerRow(**values)  # type: ignore[arg-type]


def model_entry(seq: int) -> Entry:
    return Entry(seq, "model", "Skills", "completed", output="{}", started_at=NOW,
                 completed_at=NOW, fingerprint="m1:abc,o:1,t:2,p:3")  # fmt: skip


async def test_a_call_and_its_row_commit_together(store: Store) -> None:
    fence = await running(store, "w")
    await store.add_ledger(fence, NOW, [row("w", 1, cost=0.0, outcome="ModelRateLimited")])
    cancel = await store.record_model(
        fence, NOW, [], model_entry(1), [row("w", 1, cost=0.25)], ("asking", "{}")
    )
    assert cancel is False
    journal = await store.journal("w")
    assert [(e.kind, e.fingerprint) for e in journal] == [("model", "m1:abc,o:1,t:2,p:3")]
    rows = await store.ledger("w")
    assert [(r.outcome, r.cost_usd, r.latency_ms) for r in rows] == [
        ("ModelRateLimited", 0.0, 12.5),
        ("ok", 0.25, 12.5),
    ]
    assert await store.ledger_spent("w") == pytest.approx(0.25)
    assert (await store.get("w")).status_text == "asking"  # type: ignore[union-attr]


async def test_a_stale_attempt_writes_neither_entry_nor_row(store: Store) -> None:
    fence = await running(store, "w")
    # The lease runs out and another worker takes the workflow over.
    assert [c.id for c in await claim(store, W2, now=NOW + LEASE + 1, queues=("only-w",))] == ["w"]
    with pytest.raises(LeaseLostError):
        await store.record_model(fence, NOW, [], model_entry(1), [row("w", 1, cost=1.0)])
    with pytest.raises(LeaseLostError):
        await store.add_ledger(fence, NOW, [row("w", 1, cost=1.0)])
    assert await store.journal("w") == [] and await store.ledger("w") == []
    # A call made inside a step is charged without a fence (the step's effects happened).
    await store.add_ledger(None, NOW, [row("w", 2, cost=0.5, step="summarise")])
    assert [(r.seq, r.step) for r in await store.ledger("w")] == [(2, "summarise")]


async def test_totals_by_model_workflow_and_step(store: Store) -> None:
    a = await running(store, "a")
    b = await running(store, "b")
    await store.add_ledger(
        a, NOW, [row("a", 1, cost=0.5), row("a", 1, cost=0.0, outcome="ModelTimeout")]
    )
    await store.add_ledger(a, NOW, [row("a", 2, cost=1.0, step="draft", answered_by="ollama:q")])
    await store.add_ledger(b, NOW, [row("b", 1, cost=2.0)])
    by_model = await store.ledger_totals(None, "model")
    assert [(t.key, t.attempts, t.failed, t.cost_usd) for t in by_model] == [
        ("openai:gpt-4o-mini", 3, 1, pytest.approx(2.5)),
        ("ollama:q", 1, 0, pytest.approx(1.0)),
    ]
    by_workflow = await store.ledger_totals(None, "workflow")
    assert [(t.key, t.cost_usd) for t in by_workflow] == [("b", 2.0), ("a", 1.5)]
    by_step = await store.ledger_totals("a", "step")
    assert [(t.key, t.input_tokens, t.output_tokens) for t in by_step] == [
        ("draft", 1000, 100),
        ("Skills", 1000, 100),
    ]
    assert await store.ledger_totals("nobody", "model") == []
    with pytest.raises(ValueError, match="group by"):
        await store.ledger_totals(None, "cost_usd; DROP TABLE journal")


async def test_settling_a_limit_moves_its_next_start(store: Store) -> None:
    granted, start = await store.acquire_limit("m#tokens", "h1", NOW, 5000, None, 60_000)
    assert (granted, start) == (True, NOW)
    await store.settle_limit("m#tokens", -4000, NOW)  # reserved 5,000 ms, used 1,000
    granted, start = await store.acquire_limit("m#tokens", "h2", NOW, 10, None, 60_000)
    assert (granted, start) == (True, NOW + 1000)
