"""Streaming: a call's tokens reach ``on_token`` and the subscribers of its workflow in this
process; the journal records the final answer once; a replay streams nothing."""

from __future__ import annotations

import pytest

import plait
import plait.ai
from plait.ai.stream import StreamEvent
from plait.testing import TestEngine

from .scripted import Scripted, says

SEEN: list[str] = []


@plait.workflow
async def streamed(ctx: plait.Context) -> str:
    answer = await ctx.ai.chat(None, "Write a haiku", on_token=SEEN.append)
    await ctx.wait_for_signal("go")
    return answer.text or ""


@pytest.mark.backends("sqlite")
async def test_tokens_reach_observers_and_the_journal_has_the_answer_once(
    test_engine: TestEngine,
) -> None:
    SEEN.clear()
    model = Scripted(says("old pond frog"), tokens=["old ", "pond ", "frog"])
    test_engine.register(streamed)
    test_engine.model = model
    events: list[StreamEvent] = []
    async with plait.ai.stream.subscribe("s") as subscription:
        await test_engine.start(streamed, id="s")
        await test_engine.run_until_idle()
        while not subscription.queue.empty():
            events.append(await anext(subscription))
    assert SEEN == ["old ", "pond ", "frog"]
    assert [(e.seq, e.text, e.done) for e in events] == [
        (1, "old ", False),
        (1, "pond ", False),
        (1, "frog", False),
        (1, "", True),
    ]
    assert not plait.ai.stream.listening("s")
    await test_engine.signal("s", "go")
    await test_engine.run_until_idle()  # the replay sends nothing and streams nothing
    assert await test_engine.handle("s").result() == "old pond frog"
    assert SEEN == ["old ", "pond ", "frog"] and model.calls == 1
    (entry,) = [e for e in await test_engine.journal("s") if e.kind == "model"]
    assert entry.output["response"]["text"] == "old pond frog"


async def test_a_call_nobody_watches_does_not_ask_for_a_stream() -> None:
    model = Scripted(says("plain"), tokens=["pl", "ain"])
    got: list[str] = []

    def broken(text: str) -> None:
        got.append(text)
        raise RuntimeError("an observer's bug never fails the call")

    assert (await plait.ai.chat(model, "hi")).text == "plain"
    assert (await plait.ai.chat(model, "hi", on_token=broken)).text == "plain"
    assert got == ["pl", "ain"]
    assert model.streamed == [False, True]
