"""Model calls as people see them: the cost API (per call, per model, per step, the total,
failed attempts and re-asks), the workflow page (the prompt's new messages, the answer, the
structured output, tool calls, who answered, the cost table) and ``plait workflows show``.

A scripted model (tests/ai/scripted.py) answers a workflow of three calls: a summary, a
typed call that first meets a 503 and then an answer that does not fit (one re-ask), and a
call that proposes a tool. Prices are 1 USD per million tokens in and 10 out, so each answer
of 1000 in / 100 out tokens costs 0.002 USD.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

import plait
import plait.ai
from plait.ai import ChatRequest, ChatResponse, Message, ModelRetry, ToolCall, ToolSpec, Usage
from plait.cli.render import timeline as cli_timeline
from plait.cli.source import EngineSource
from plait.server.pages.model_calls import NOTHING
from plait.server.pages.timeline import build_timeline
from tests.ai.scripted import Scripted
from tests.server.apifixtures import Api

PRICES = plait.ai.Prices({"test:scripted": plait.ai.Price(1.0, 10.0)})
LOOKUP = ToolSpec(
    name="lookup",
    description="Find a skill in the catalogue",
    parameters={"type": "object", "properties": {"q": {"type": "string"}}},
)


class Skills(pydantic.BaseModel):
    skills: list[str]


@plait.workflow
async def screening(ctx: plait.Context, text: str) -> list[str]:
    history = [
        Message(role="system", content="You screen CVs."),
        Message(role="user", content=f"Summarise: {text}"),
    ]
    first = await ctx.ai.chat(None, history, name="summary")
    history += [first.message, Message(role="user", content="Now list the skills.")]
    found = await ctx.ai.chat(
        None,
        history,
        output=Skills,
        retry=ModelRetry(max_attempts=3, initial_interval=1.0),
        name="skills",
    )
    await ctx.ai.chat(None, "Check SQL in the catalogue", tools=[LOOKUP], name="check")
    return found.output.skills


def answer(request: ChatRequest, n: int) -> ChatResponse | str:
    if n == 2:
        raise plait.ai.ModelServerError("503 from the test server", model="test:scripted")
    if n == 5:
        return ChatResponse(
            tool_calls=(ToolCall(id="call_7", name="lookup", arguments={"q": "SQL"}),),
            model="test:scripted",
            usage=Usage(input_tokens=50, output_tokens=5),
            latency_ms=3.0,
        )
    return {1: "A data engineer.", 3: "SQL and Rust, I think", 4: '{"skills": ["SQL", "Rust"]}'}[n]


@pytest.fixture
async def screened(api: Api) -> str:
    engine = api.engine
    engine.register(screening)
    engine.model = Scripted(answer)
    engine.prices = PRICES
    await engine.start(screening, "Ada: SQL, Rust", id="scr-1")
    await engine.run_until_idle()
    assert await engine.handle("scr-1").result() == ["SQL", "Rust"]
    assert engine.model.calls == 5
    return "scr-1"


async def test_the_costs_api_sums_a_workflows_calls_attempts_and_models(
    api: Api, screened: str
) -> None:
    r = await api.get(f"/api/workflows/{screened}/costs")
    assert r.status_code == 200, r.text
    body = r.json()
    calls = [
        (c["seq"], c["step"], c["answered_by"], c["attempts"], c["failed"], c["reasks"])
        for c in body["calls"]
    ]
    assert calls == [
        (1, "summary", "test:scripted", 1, 0, 0),
        (2, "skills", "test:scripted", 3, 1, 1),  # a 503, an answer that did not fit, the fit
        (3, "check", "test:scripted", 1, 0, 0),
    ]
    skills = body["calls"][1]
    assert (skills["input_tokens"], skills["output_tokens"]) == (2000, 200)
    assert skills["cost_usd"] == pytest.approx(0.004)  # the 503 cost nothing
    assert body["total"]["cost_usd"] == pytest.approx(0.002 + 0.004 + 0.0001)
    assert body["total"]["input_tokens"] == 3050 and body["total"]["output_tokens"] == 305
    assert [m["key"] for m in body["by_model"]] == ["test:scripted"]
    assert [(a["seq"], a["outcome"], a["reask"]) for a in body["attempts"]] == [
        (1, "ok", 0),
        (2, "ModelServerError", 0),
        (2, "invalid_output", 0),
        (2, "ok", 1),
        (3, "ok", 0),
    ]
    assert datetime.fromisoformat(body["attempts"][0]["at"]).tzinfo is not None

    r = await api.get("/api/costs", params={"by": "step"})
    assert r.status_code == 200, r.text
    lines = {x["key"]: x for x in r.json()["lines"]}
    assert set(lines) == {"summary", "skills", "check"}
    assert lines["skills"]["attempts"] == 3
    assert r.json()["total"]["cost_usd"] == pytest.approx(0.0061)
    r = await api.get("/api/costs", params={"by": "workflow", "workflow_id": screened})
    assert [x["key"] for x in r.json()["lines"]] == [screened]


async def test_the_costs_api_refuses_what_it_cannot_answer(api: Api, screened: str) -> None:
    r = await api.get("/api/costs", params={"by": "colour"})
    assert r.status_code == 422 and r.json()["field"] == "by", r.text
    r = await api.get("/api/workflows/nope/costs")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await api.get("/api/costs", params={"workflow_id": "nope"})
    assert r.status_code == 404
    r = await api.get(f"/api/workflows/{screened}/costs", who=None)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    r = await api.get("/api/costs", who="nemo")  # signed in, but no role
    assert r.status_code == 403
    r = await api.get("/api/costs")  # nothing spent in another workflow yet: one line
    assert [x["key"] for x in r.json()["lines"]] == ["test:scripted"]


async def test_the_workflow_page_shows_model_calls_and_their_costs(api: Api, screened: str) -> None:
    r = await api.get(f"/workflows/{screened}")
    assert r.status_code == 200, r.text
    html = r.text
    # the timeline: the prompt's new messages, the answers, who answered, tokens, latency
    assert "model call" in html
    assert "Summarise: Ada: SQL, Rust" in html and "You screen CVs." in html
    assert "A data engineer." in html
    assert "2 earlier messages of the conversation (recorded with call #1)" in html
    assert "Now list the skills." in html
    assert "asked for a <b>Skills</b> object" in html
    assert "test:scripted · 2,000 → 200 tokens · $0.0040" in html
    assert "1 re-ask · 1 failed attempt" in html
    assert "failed attempts: test:scripted: ModelServerError" in html
    assert "proposes tool <b>lookup</b>" in html and "call_7" in html
    assert "tools offered: lookup" in html
    assert "raw JSON (as journaled)" in html and "&#34;reasks&#34;: 1" in html
    # the cost table, with the total
    assert 'id="model-calls"' in html
    assert "3 calls · 3,050 → 305 tokens · $0.0061" in html
    assert "1 failed: test:scripted: ModelServerError" in html
    # no token stream without a worker in this process
    assert "data-tokens" not in html
    r = await api.get(f"/workflows/{screened}/tokens")
    assert r.status_code == 409 and "runs no worker" in r.text


async def test_a_page_of_a_workflow_without_model_calls_has_no_cost_table(api: Api) -> None:
    wid = await api.start("waiter", 1)
    r = await api.get(f"/workflows/{wid}")
    assert r.status_code == 200 and 'id="model-calls"' not in r.text


async def test_timeline_rows_rebuild_what_each_call_asked(api: Api, screened: str) -> None:
    engine = api.engine
    info = await engine.get(screened)
    journal = await engine.journal(screened)
    tl = build_timeline(
        info,
        journal,
        await engine.attempts(screened),
        await engine.events(screened),
        [],
        datetime.now(UTC),
    )
    models = [r for r in tl.rows if r.kind == "model"]
    assert [r.title for r in models] == ["summary", "skills", "check"]
    first, second, third = (r.model for r in models)
    assert first is not None and second is not None and third is not None
    assert [(m.role, m.content) for m in first.messages] == [
        ("system", "You screen CVs."),
        ("user", "Summarise: Ada: SQL, Rust"),
    ]
    assert first.structured is NOTHING and first.text == "A data engineer."
    assert (second.base, second.kept) == (1, 2)  # only the two new messages are journaled
    assert [m.role for m in second.messages] == ["assistant", "user"]
    assert second.structured == {"skills": ["SQL", "Rust"]} and second.reasks == 1
    assert third.tool_calls[0]["name"] == "lookup" and third.tools == ["lookup"]
    assert third.output_name is None and third.latency_ms is not None


async def test_workflows_show_prints_a_model_calls_model_and_tokens(
    api: Api, screened: str
) -> None:
    text = cli_timeline(await EngineSource(api.engine).workflow(screened))
    lines = [line for line in text.splitlines() if " model " in line]
    assert len(lines) == 3, text
    assert "summary" in lines[0] and "test:scripted, 1000 in / 100 out tokens, $0.0020" in lines[0]
    assert "2 attempts" in lines[1] and "1 re-ask(s)" in lines[1]
    assert "50 in / 5 out tokens" in lines[2]
