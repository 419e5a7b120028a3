"""Fingerprints on journal entries: a recorded operation whose request changed (another
fingerprint) parks the workflow ``blocked`` naming both fingerprints; the same fingerprint
replays the recorded outcome without running again.

The operation is a small durable operation written on the journal API the way the AI layer
will write model calls (its own kind, a request fingerprint), so this also shows that the
API is enough for one.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import plait
from plait.current import journal_var
from plait.journal import Journal
from plait.store.records import Entry
from plait.testing import TestEngine
from plait.types import EntryStatus

runs: list[str] = []
request: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    runs.clear()
    request.clear()


async def ask_model(prompt: str) -> str:
    """A test-only durable operation: kind ``test_model``, fingerprinted by its prompt."""
    journal = journal_var.get()
    assert isinstance(journal, Journal)
    fingerprint = f"sha:{prompt}"
    seq, entry = journal.reserve("test_model", "ask", fingerprint=fingerprint)
    try:
        if entry is not None:
            return str(journal.decode(entry.output, str, "test_model"))
        await journal.interrupts(seq, None, "test_model", "ask")
        runs.append(prompt)
        answer = f"answer to {prompt}"
        now = journal.now_ms()
        await journal.record(
            Entry(
                seq,
                "test_model",
                "ask",
                EntryStatus.COMPLETED,
                output=json.dumps(answer),
                started_at=now,
                completed_at=now,
                fingerprint=fingerprint,
            )
        )
        return answer
    finally:
        journal.done()


@plait.workflow
async def chat(ctx: plait.Context) -> str:
    answer = await ask_model(request["prompt"])
    await ctx.wait_for_signal("go")
    return answer


async def _recorded_then_replayed(test_engine: TestEngine, prompt: str) -> plait.WorkflowInfo:
    test_engine.register(chat)
    request["prompt"] = "hello"
    h = await test_engine.start(chat)
    await test_engine.run_until_idle(within=timedelta(minutes=1))
    assert (await test_engine.get(h.id)).status == plait.WorkflowStatus.WAITING
    assert runs == ["hello"]
    request["prompt"] = prompt  # the request changes under the waiting workflow (or not)
    await test_engine.signal(h.id, "go")
    await test_engine.run_until_idle(within=timedelta(minutes=1))
    return await test_engine.get(h.id)


async def test_the_fingerprint_is_stored_with_the_entry(test_engine: TestEngine) -> None:
    info = await _recorded_then_replayed(test_engine, "hello")
    entries = await test_engine.journal(info.id)
    assert [(e.kind, e.fingerprint) for e in entries][0] == ("test_model", "sha:hello")


async def test_the_same_fingerprint_replays_without_running_again(
    test_engine: TestEngine,
) -> None:
    info = await _recorded_then_replayed(test_engine, "hello")
    assert info.status == plait.WorkflowStatus.COMPLETED
    assert info.output == "answer to hello"
    assert runs == ["hello"]  # the replay returned the recorded answer


async def test_another_fingerprint_parks_blocked_naming_both(test_engine: TestEngine) -> None:
    info = await _recorded_then_replayed(test_engine, "goodbye")
    assert info.status == plait.WorkflowStatus.BLOCKED
    assert info.error is not None and info.error.type == "NondeterminismError"
    assert "'sha:hello'" in info.error.message  # what the journal recorded
    assert "'sha:goodbye'" in info.error.message  # what the code now asks
    assert "position 1" in info.error.message
    assert runs == ["hello"]  # nothing ran on the blocked replay

    request["prompt"] = "hello"  # the fix: the old request again
    await test_engine.resume(info.id)
    await test_engine.run_until_idle(within=timedelta(minutes=1))
    info = await test_engine.get(info.id)
    assert info.status == plait.WorkflowStatus.COMPLETED
    assert runs == ["hello"]
