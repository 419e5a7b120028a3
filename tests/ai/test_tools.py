"""``plait.ai.run_tools``: tools are steps (journaled), results go back to the model until it
answers; a tool that needs approval becomes a human task (approve, edit, refuse); a 100-turn
loop's journal grows linearly. On both backends, on the fake clock."""

from __future__ import annotations

import pytest

import plait
import plait.ai
from plait.ai import ChatRequest, ChatResponse, Usage
from plait.testing import TestEngine
from tests.rawsql import sql

from .scripted import Scripted, tool_call

RAN: list[tuple[str, object]] = []


@plait.step
async def lookup(city: str, days: int = 1) -> dict[str, object]:
    """Looks up the weather of a city."""
    RAN.append(("lookup", city))
    return {"city": city, "days": days, "celsius": 21}


@plait.step
async def send_email(to: str, body: str) -> str:
    """Sends an e-mail."""
    RAN.append(("send_email", to))
    return f"sent to {to}"


def planner(request: ChatRequest, n: int) -> ChatResponse:
    """Looks up Paris, then e-mails Ada, then answers with what the tools said."""
    results = [m.content or "" for m in request.messages if m.role == "tool"]
    usage = Usage(input_tokens=100, output_tokens=10)
    if len(results) == 0:
        calls = (tool_call("lookup", "c1", city="Paris"),)
    elif len(results) == 1:
        calls = (tool_call("send_email", "c2", to="ada@example.org", body="21 C in Paris"),)
    else:
        return ChatResponse(text="done: " + " | ".join(results), model="test:scripted", usage=usage)
    return ChatResponse(tool_calls=calls, model="test:scripted", usage=usage)


@plait.workflow
async def assistant(ctx: plait.Context, approval: bool) -> str:
    email = plait.ai.tool(send_email, needs_approval=approval, assignee="ops")
    run = await ctx.ai.run_tools(None, "Tell Ada the weather in Paris", tools=[lookup, email])
    return f"{run.turns} turns: {run.text}"


@pytest.fixture
def model(test_engine: TestEngine) -> Scripted:
    RAN.clear()
    m = Scripted(planner)
    test_engine.register(assistant)
    test_engine.model = m
    return m


async def test_tool_results_go_back_to_the_model(test_engine: TestEngine, model: Scripted) -> None:
    h = await test_engine.start(assistant, False, id="a")
    await test_engine.run_until_idle()
    assert await h.result() == (
        '3 turns: done: {"city": "Paris", "days": 1, "celsius": 21} | sent to ada@example.org'
    )
    assert model.calls == 3 and RAN == [("lookup", "Paris"), ("send_email", "ada@example.org")]
    journal = await test_engine.journal("a")
    assert [(e.kind, e.name) for e in journal] == [
        ("model", "chat"),
        ("step", "lookup"),
        ("model", "chat"),
        ("step", "send_email"),
        ("model", "chat"),
    ]
    offered = model.requests[0].tools
    assert [t.name for t in offered] == ["lookup", "send_email"]
    assert offered[0].description == "Looks up the weather of a city."
    assert offered[0].parameters["required"] == ["city"]  # type: ignore[comparison-overlap]
    tool_message = model.requests[1].messages[-1]
    assert (tool_message.role, tool_message.tool_call_id, tool_message.name) == (
        "tool",
        "c1",
        "lookup",
    )


async def _the_task(engine: TestEngine, model: Scripted) -> plait.HumanTask:
    await engine.run_until_idle()
    assert model.calls == 2 and RAN == [("lookup", "Paris")]  # waiting before send_email
    (task,) = await engine.tasks(status="open")
    assert task.title == "Run tool send_email?" and task.assignee == "ops"
    assert task.proposal == {
        "approved": True,
        "arguments": {"to": "ada@example.org", "body": "21 C in Paris"},
        "comment": None,
    }
    assert task.context is not None and task.context["tool"] == "send_email"
    return task


async def test_an_approved_call_runs(test_engine: TestEngine, model: Scripted) -> None:
    h = await test_engine.start(assistant, True, id="a")
    task = await _the_task(test_engine, model)
    await test_engine.complete_task(task.id, task.proposal, by="lin")
    await test_engine.run_until_idle()
    assert (await h.result()).endswith("sent to ada@example.org")
    # The resumed run replayed the first model call and lookup: neither ran again.
    assert model.calls == 3 and RAN == [("lookup", "Paris"), ("send_email", "ada@example.org")]


async def test_an_edited_call_runs_with_the_persons_arguments(
    test_engine: TestEngine, model: Scripted
) -> None:
    h = await test_engine.start(assistant, True, id="a")
    task = await _the_task(test_engine, model)
    edited = {"approved": True, "arguments": {"to": "bob@example.org", "body": "hi"}}
    await test_engine.complete_task(task.id, edited, by="lin")
    await test_engine.run_until_idle()
    assert (await h.result()).endswith("sent to bob@example.org")
    assert RAN[-1] == ("send_email", "bob@example.org")


async def test_a_refused_call_is_reported_to_the_model(
    test_engine: TestEngine, model: Scripted
) -> None:
    h = await test_engine.start(assistant, True, id="a")
    task = await _the_task(test_engine, model)
    refusal = {**(task.proposal or {}), "approved": False, "comment": "not on a Sunday"}
    await test_engine.complete_task(task.id, refusal, by="lin")
    await test_engine.run_until_idle()
    assert "A person refused this tool call: not on a Sunday" in await h.result()
    assert RAN == [("lookup", "Paris")]  # the e-mail never went out
    assert model.requests[-1].messages[-1].content is not None
    assert "refused" in model.requests[-1].messages[-1].content


async def test_bad_arguments_are_reported_not_run(test_engine: TestEngine) -> None:
    def answer(request: ChatRequest, n: int) -> ChatResponse:
        if n == 1:
            bad = (tool_call("lookup", "c1", town="Paris"), tool_call("nope", "c2"))
            return ChatResponse(tool_calls=bad, model="test:scripted")
        return ChatResponse(text="gave up", model="test:scripted")

    model = Scripted(answer)
    RAN.clear()
    result = await plait.ai.run_tools(model, "weather?", tools=[lookup])
    assert result.text == "gave up" and RAN == []
    said = [m.content or "" for m in model.requests[1].messages if m.role == "tool"]
    assert said[0].startswith("error: the arguments do not fit tool 'lookup': city: Field required")
    assert said[1].startswith("error: there is no tool named 'nope'")
    with pytest.raises(plait.ai.MaxTurnsExceeded, match="after 1 model calls"):
        await plait.ai.run_tools(Scripted(planner), "x", tools=[lookup, send_email], max_turns=1)
    with pytest.raises(plait.ConfigurationError, match="workflow code"):
        await plait.ai.run_tools(model, "x", tools=[plait.ai.tool(send_email, needs_approval=True)])


@plait.step
async def note(i: int, text: str) -> str:
    return f"noted {i}"


def looper(request: ChatRequest, n: int) -> ChatResponse:
    """Calls ``note`` until the conversation holds ``turns`` tool results, then answers."""
    done = sum(1 for m in request.messages if m.role == "tool")
    turns = int(request.messages[0].content or "0")
    if done >= turns:
        return ChatResponse(text=f"{done} notes", model="test:scripted")
    call = tool_call("note", f"c{done}", i=done, text="x" * 200)
    return ChatResponse(tool_calls=(call,), model="test:scripted")


@plait.workflow
async def long_loop(ctx: plait.Context, turns: int) -> str:
    run = await ctx.ai.run_tools(None, str(turns), tools=[note], max_turns=turns + 1)
    return run.text or ""


async def test_a_100_turn_loops_journal_grows_linearly(test_engine: TestEngine) -> None:
    test_engine.register(long_loop)
    test_engine.model = Scripted(looper)
    sizes = {}
    for turns in (25, 50, 100):
        h = await test_engine.start(long_loop, turns, id=f"loop-{turns}")
        await test_engine.run_until_idle()
        assert await h.result() == f"{turns} notes"
        ((size,),) = sql(
            test_engine.url,
            "SELECT sum(length(output)) FROM journal WHERE workflow_id = ?",
            (h.id,),
        )
        sizes[turns] = int(size)  # type: ignore[call-overload]
    # Per turn the journal holds the turn's new messages, its answer and the tool's result:
    # doubling the turns about doubles the bytes (resending the conversation would be 4x).
    assert 1.8 < sizes[50] / sizes[25] < 2.2, sizes
    assert 1.8 < sizes[100] / sizes[50] < 2.2, sizes
    assert sizes[100] < 100 * 1500, sizes  # ~1 KB per turn, not the whole conversation
