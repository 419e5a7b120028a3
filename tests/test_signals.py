"""Signals: a durable mailbox. Typed payloads, signals sent before the wait are kept,
dedup_key idempotency, timeouts (WaitTimeout is a TimeoutError), several names, clear errors
for unknown and finished workflows."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pydantic
import pytest

import plait
from plait.testing import TestEngine


class Reply(pydantic.BaseModel):
    sender: str
    accepted: bool


@dataclasses.dataclass
class Note:
    text: str
    stars: int


@plait.workflow
async def typed(ctx: plait.Context) -> list[str]:
    reply = await ctx.wait_for_signal("reply", type=Reply)
    note = await ctx.wait_for_signal("note", type=Note)
    assert isinstance(reply, Reply) and isinstance(note, Note)
    return [type(reply).__name__, reply.sender, str(reply.accepted), note.text, str(note.stars)]


async def test_payload_is_decoded_to_the_requested_type(test_engine: TestEngine) -> None:
    test_engine.register(typed)
    h = await test_engine.start(typed)
    await test_engine.run_until_idle()
    info = await h.info()
    assert info.status == plait.WorkflowStatus.WAITING
    assert info.waiting_on is not None and info.waiting_on["signals"] == ["reply"]
    assert await test_engine.signal(h.id, "reply", Reply(sender="ada", accepted=True))
    await test_engine.run_until_idle()
    assert await test_engine.signal(h.id, "note", {"text": "great", "stars": 5})  # a dict works
    await test_engine.run_until_idle()
    assert await h.result() == ["Reply", "ada", "True", "great", "5"]


@plait.workflow
async def untyped(ctx: plait.Context) -> object:
    return await ctx.wait_for_signal("data")


async def test_payload_without_type_is_plain_json(test_engine: TestEngine) -> None:
    test_engine.register(untyped)
    h = await test_engine.start(untyped)
    await test_engine.signal(h.id, "data", {"a": [1, 2.5, None, "x"]})
    await test_engine.run_until_idle()
    assert await h.result() == {"a": [1, 2.5, None, "x"]}


@plait.workflow
async def late_listener(ctx: plait.Context) -> list[str]:
    await ctx.sleep(timedelta(days=1))
    first = await ctx.wait_for_signal("msg")
    second = await ctx.wait_for_signal("msg")
    return [first, second]


async def test_signals_sent_before_the_wait_are_kept_in_order(test_engine: TestEngine) -> None:
    test_engine.register(late_listener)
    h = await test_engine.start(late_listener)
    await test_engine.signal(h.id, "msg", "one")  # before the workflow even ran
    await test_engine.run_until_idle(within=timedelta(hours=1))
    assert (await h.info()).status == plait.WorkflowStatus.WAITING  # still sleeping
    await test_engine.signal(h.id, "msg", "two")  # during the sleep
    await test_engine.run_until_idle()
    assert await h.result() == ["one", "two"]


@plait.workflow
async def once(ctx: plait.Context) -> list[object]:
    got = [await ctx.wait_for_signal("pay")]
    try:
        got.append(await ctx.wait_for_signal("pay", timeout=timedelta(hours=1)))
    except plait.WaitTimeout:
        got.append("no second payment")
    return got


async def test_dedup_key_makes_a_send_idempotent(test_engine: TestEngine) -> None:
    test_engine.register(once)
    h = await test_engine.start(once)
    assert await test_engine.signal(h.id, "pay", 100, dedup_key="invoice-7") is True
    assert await test_engine.signal(h.id, "pay", 100, dedup_key="invoice-7") is False
    await test_engine.run_until_idle()
    assert await h.result() == [100, "no second payment"]


async def test_concurrent_sends_with_one_dedup_key_deliver_once(test_engine: TestEngine) -> None:
    test_engine.register(once)
    h = await test_engine.start(once)
    sent = await asyncio.gather(
        *(test_engine.signal(h.id, "pay", i, dedup_key="same") for i in range(20))
    )
    assert sent.count(True) == 1
    await test_engine.run_until_idle()
    assert (await h.result())[1] == "no second payment"


@plait.workflow
async def impatient(ctx: plait.Context) -> str:
    try:
        await ctx.wait_for_signal("answer", timeout=timedelta(days=2))
    except TimeoutError as exc:  # WaitTimeout is a TimeoutError
        assert isinstance(exc, plait.WaitTimeout) and isinstance(exc, plait.PlaitError)
        return f"timed out at {ctx.now().isoformat()}: {exc}"
    return "answered"


async def test_wait_timeout_raises_wait_timeout(test_engine: TestEngine) -> None:
    test_engine.register(impatient)
    start = test_engine.clock.now()
    h = await test_engine.start(impatient)
    await test_engine.run_until_idle()
    result = await h.result()
    assert result.startswith(f"timed out at {(start + timedelta(days=2)).isoformat()}")
    assert "'answer'" in result


async def test_signal_before_the_timeout_wins(test_engine: TestEngine) -> None:
    test_engine.register(impatient)
    h = await test_engine.start(impatient)
    await test_engine.run_until_idle(within=timedelta(days=1))
    await test_engine.signal(h.id, "answer", "yes")
    await test_engine.run_until_idle()
    assert await h.result() == "answered"


@plait.workflow
async def unhandled_timeout(ctx: plait.Context) -> None:
    await ctx.wait_for_signal("answer", timeout=60)


async def test_uncaught_wait_timeout_fails_the_workflow(test_engine: TestEngine) -> None:
    test_engine.register(unhandled_timeout)
    h = await test_engine.start(unhandled_timeout)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed) as info:
        await h.result()
    assert info.value.error_type == "WaitTimeout"


@plait.workflow
async def either(ctx: plait.Context) -> list[object]:
    first = await ctx.wait_for_signal(["approve", "reject"])
    second = await ctx.wait_for_signal(("approve", "reject"), type=Reply)
    return [list(first), second[0], second[1].sender]


async def test_a_list_of_names_returns_name_and_payload(test_engine: TestEngine) -> None:
    test_engine.register(either)
    h = await test_engine.start(either)
    await test_engine.run_until_idle()
    assert (await h.info()).waiting_on["signals"] == ["approve", "reject"]  # type: ignore[index]
    await test_engine.signal(h.id, "reject", "too expensive")
    await test_engine.run_until_idle()
    await test_engine.signal(h.id, "approve", {"sender": "bo", "accepted": True})
    await test_engine.run_until_idle()
    assert await h.result() == [["reject", "too expensive"], "approve", "bo"]


@plait.workflow
async def picky(ctx: plait.Context) -> str:
    return await ctx.wait_for_signal("wanted")


async def test_a_signal_with_another_name_does_not_wake_the_wait(test_engine: TestEngine) -> None:
    test_engine.register(picky)
    h = await test_engine.start(picky)
    await test_engine.run_until_idle()
    await test_engine.signal(h.id, "other", 1)
    assert (await h.info()).status == plait.WorkflowStatus.WAITING
    assert await test_engine.run_until_idle() == 0
    await test_engine.signal(h.id, "wanted", "yes")
    await test_engine.run_until_idle()
    assert await h.result() == "yes"


async def test_signal_to_unknown_or_finished_workflow_is_a_clear_error(
    test_engine: TestEngine,
) -> None:
    with pytest.raises(plait.WorkflowNotFound, match="no-such-id"):
        await test_engine.signal("no-such-id", "reply", 1)
    test_engine.register(untyped)
    h = await test_engine.start(untyped)
    await test_engine.signal(h.id, "data", 1)
    await test_engine.run_until_idle()
    assert await h.result() == 1
    with pytest.raises(plait.WorkflowFinished, match="completed"):
        await test_engine.signal(h.id, "data", 2)
    assert issubclass(plait.WorkflowFinished, plait.PlaitError)


async def test_bad_signal_names_are_rejected(test_engine: TestEngine) -> None:
    test_engine.register(untyped)
    h = await test_engine.start(untyped)
    with pytest.raises(plait.ConfigurationError):
        await test_engine.signal(h.id, "plait:child:x", 1)
    with pytest.raises(plait.ConfigurationError):
        await test_engine.signal(h.id, "", 1)


@plait.workflow
async def reserved_wait(ctx: plait.Context) -> None:
    await ctx.wait_for_signal("plait:internal")


async def test_waiting_on_a_reserved_name_fails_the_workflow(test_engine: TestEngine) -> None:
    test_engine.register(reserved_wait)
    h = await test_engine.start(reserved_wait)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="reserved"):
        await h.result()


async def test_payload_that_cannot_be_encoded_is_refused_at_send(test_engine: TestEngine) -> None:
    test_engine.register(untyped)
    h = await test_engine.start(untyped)
    with pytest.raises(plait.SerializationError, match="signal 'data'"):
        await test_engine.signal(h.id, "data", object())


async def test_a_payload_that_does_not_fit_the_type_fails_the_wait_and_resume_waits_again(
    test_engine: TestEngine,
) -> None:
    test_engine.register(typed)
    h = await test_engine.start(typed)
    await test_engine.run_until_idle()
    await test_engine.signal(h.id, "reply", {"sender": 1})  # wrong shape for Reply
    await test_engine.run_until_idle()
    info = await h.info()
    assert info.status == plait.WorkflowStatus.FAILED  # the sender's mistake, raised in the wait
    assert info.error is not None and info.error.type == "SerializationError"
    assert "signal 'reply'" in info.error.message and "Reply" in info.error.message
    # resuming re-opens the wait (the bad signal stays consumed): correct signals complete it
    await test_engine.resume(h.id)
    await test_engine.run_until_idle()
    assert (await h.info()).status == plait.WorkflowStatus.WAITING
    await test_engine.signal(h.id, "reply", {"sender": "ada", "accepted": True})
    await test_engine.signal(h.id, "note", {"text": "ok", "stars": 5})
    await test_engine.run_until_idle()
    assert await h.result() == ["Reply", "ada", "True", "ok", "5"]


finally_runs: list[str] = []


@plait.workflow
async def cleans_up(ctx: plait.Context) -> str:
    try:
        return str(await ctx.wait_for_signal("go"))
    finally:
        finally_runs.append("finally")


async def test_a_finally_block_runs_each_time_the_workflow_suspends(
    test_engine: TestEngine,
) -> None:
    """README ("What must be deterministic"): a suspending run is unwound by an exception,
    so ``finally`` runs at the suspension and again at the real end."""
    finally_runs.clear()
    test_engine.register(cleans_up)
    h = await test_engine.start(cleans_up)
    await test_engine.run_until_idle()
    assert (await h.info()).status == plait.WorkflowStatus.WAITING
    assert finally_runs == ["finally"]  # the suspension unwound the run
    await test_engine.signal(h.id, "go", 1)
    await test_engine.run_until_idle()
    assert await h.result() == "1"
    assert finally_runs == ["finally", "finally"]
