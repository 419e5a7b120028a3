"""``plait.ai.chat`` in workflow code: journaled, replayed without calling the model, guarded
by a request fingerprint, typed by a Pydantic output with re-asks; and a plain call outside.
On both backends, on the fake clock."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

import plait
import plait.ai
from plait.ai import ChatRequest, Message, ModelAuthError, ModelServerError, Usage
from plait.ai.retrying import ModelRetry
from plait.testing import TestEngine

from .scripted import Scripted, fails_then, says


class Skills(pydantic.BaseModel):
    skills: list[str]


PROMPT = {"text": "Extract the skills of: Ada, Python and SQL"}


@plait.workflow
async def extract(ctx: plait.Context) -> dict[str, object]:
    first = await ctx.ai.chat(None, [Message(role="user", content=PROMPT["text"])], output=Skills)
    await ctx.wait_for_signal("go")
    second = await plait.ai.chat(None, "Summarise", max_tokens=50)
    return {
        "skills": first.output.skills,
        "summary": second.text,
        "first_replayed": first.replayed,
        "first_cost": first.cost_usd,
    }


PRICES = plait.ai.Prices({"test:scripted": plait.ai.Price(1.0, 10.0)})  # USD per Mtok


def engine_with(test_engine: TestEngine, model: Scripted, **options: object) -> TestEngine:
    """The fixture's engine, configured with ``model`` and ``PRICES`` (as Engine(...) would)."""
    test_engine.register(extract)
    test_engine.model = model
    test_engine.prices = PRICES
    for k, v in options.items():
        setattr(test_engine, k, v)
    return test_engine


async def test_replay_returns_the_recorded_answer_without_calling(test_engine: TestEngine) -> None:
    model = Scripted(says('{"skills": ["Python", "SQL"]}', "A data engineer."))
    engine = engine_with(test_engine, model)
    h = await engine.start(extract, id="w")
    await engine.run_until_idle()
    assert model.calls == 1
    await engine.signal("w", "go")
    await engine.run_until_idle()  # replays the first call from the journal
    assert model.calls == 2
    result = await h.result()
    assert result == {
        "skills": ["Python", "SQL"],
        "summary": "A data engineer.",
        "first_replayed": True,
        "first_cost": pytest.approx(0.002),  # 1000 in at 1 USD/Mtok + 100 out at 10
    }
    journal = await engine.journal("w")
    calls = [e for e in journal if e.kind == "model"]
    assert [(e.name, e.status) for e in calls] == [("Skills", "completed"), ("chat", "completed")]
    assert all(e.fingerprint and e.fingerprint.startswith("m1:") for e in calls)
    assert calls[0].output["response"]["text"] == '{"skills": ["Python", "SQL"]}'
    assert calls[0].output["request"]["messages"] == [{"role": "user", "content": PROMPT["text"]}]
    rows = await engine.ledger("w")
    assert [(r.seq, r.step, r.outcome, r.answered_by) for r in rows] == [
        (1, "Skills", "ok", "test:scripted"),
        (3, "chat", "ok", "test:scripted"),
    ]
    costs = await engine.costs("w")
    assert costs.total.cost_usd == pytest.approx(0.004)
    assert (costs.total.input_tokens, costs.total.output_tokens) == (2000, 200)


async def test_a_changed_prompt_blocks_the_workflow_and_says_what_changed(
    test_engine: TestEngine,
) -> None:
    model = Scripted(says('{"skills": ["Python"]}', "ok"))
    engine = engine_with(test_engine, model)
    await engine.start(extract, id="w")
    await engine.run_until_idle()
    PROMPT["text"] = "Extract the skills of: Ada, Rust"  # the code now asks something else
    try:
        await engine.signal("w", "go")
        await engine.run_until_idle()
    finally:
        PROMPT["text"] = "Extract the skills of: Ada, Python and SQL"
    info = await engine.get("w")
    assert info.status == "blocked"
    assert info.error is not None
    assert "model 'Skills'" in info.error.message
    assert "changed: the messages (1 recorded, 1 now, same count but other content)" in (
        info.error.message
    )
    assert model.calls == 1  # never answered with the old result, never asked again
    # The old code back: resume replays and goes on.
    await engine.resume("w")
    await engine.run_until_idle()
    assert (await engine.get("w")).status == "completed"
    assert model.calls == 2


async def test_switching_the_model_does_not_block(test_engine: TestEngine) -> None:
    engine = engine_with(test_engine, Scripted(says('{"skills": ["Go"]}')))
    await engine.start(extract, id="w")
    await engine.run_until_idle()
    other = Scripted(says("never asked", "from the other"), name="other:model")
    engine.model = other  # a provider switch between the runs
    await engine.signal("w", "go")
    await engine.run_until_idle()
    result = await engine.handle("w").result()
    assert result["skills"] == ["Go"] and result["summary"] == "never asked"
    assert other.calls == 1
    rows = await engine.ledger("w")
    assert [r.answered_by for r in rows] == ["test:scripted", "other:model"]


async def test_structured_output_is_asked_again_with_the_error(test_engine: TestEngine) -> None:
    model = Scripted(says("Python, SQL", '{"skills": "Python"}', '{"skills": ["Python"]}', "s"))
    engine = engine_with(test_engine, model)
    await engine.start(extract, id="w")
    await engine.run_until_idle()
    assert model.calls == 3
    reask = model.requests[1].messages
    assert [m.role for m in reask] == ["user", "assistant", "user"]
    assert reask[1].content == "Python, SQL"
    assert "does not fit the JSON schema of Skills" in (reask[2].content or "")
    assert model.requests[0].output_schema == Skills.model_json_schema()
    rows = await engine.ledger("w")
    assert [(r.reask, r.outcome) for r in rows] == [
        (0, "invalid_output"),
        (1, "invalid_output"),
        (2, "ok"),
    ]
    (entry,) = [e for e in await engine.journal("w") if e.kind == "model"]
    assert entry.attempts == 3 and entry.output["reasks"] == 2


@plait.workflow
async def strict(ctx: plait.Context) -> str:
    try:
        await ctx.ai.chat(None, "Skills of Ada?", output=Skills, reasks=1)
    except plait.StepFailed as exc:
        return f"{exc.error_type}: {exc.message}"
    return "fit"


async def test_an_answer_that_never_fits_fails_as_step_failed(test_engine: TestEngine) -> None:
    model = Scripted(says("no JSON here"))
    engine = engine_with(test_engine, model)
    engine.register(strict)
    h = await engine.start(strict, id="s")
    await engine.run_until_idle()
    message = await h.result()
    assert message.startswith("OutputInvalid: the model's answer did not fit Skills after 1 re-ask")
    assert model.calls == 2
    (entry,) = [e for e in await engine.journal("s") if e.kind == "model"]
    assert entry.status == "failed" and entry.error is not None
    assert [r.outcome for r in await engine.ledger("s")] == ["invalid_output", "invalid_output"]


async def test_the_ledger_adds_up_across_retries_reasks_and_replays(
    test_engine: TestEngine,
) -> None:
    flaky = fails_then(ModelServerError("503 from the test", model="test:scripted"), 2, "")

    def answer(request: ChatRequest, n: int) -> str:
        if n <= 2:
            return flaky(request, n)
        return ["not json", '{"skills": ["SQL"]}', "summary"][min(n - 3, 2)]

    model = Scripted(answer)
    engine = engine_with(test_engine, model)
    engine.register(retried)
    await engine.start(retried, id="r")
    await engine.run_until_idle()
    await engine.signal("r", "go")
    await engine.run_until_idle()  # the replay of the first call costs nothing
    assert model.calls == 5
    rows = await engine.ledger("r")
    assert [(r.outcome, r.reask) for r in rows] == [
        ("ModelServerError", 0),
        ("ModelServerError", 0),
        ("invalid_output", 0),
        ("ok", 1),
        ("ok", 0),
    ]
    by_step = {line.key: line for line in (await engine.costs("r", by="step")).lines}
    assert by_step["Skills"].attempts == 4 and by_step["Skills"].failed == 3
    assert by_step["Skills"].cost_usd == pytest.approx(0.004)  # two answered requests
    assert by_step["chat"].cost_usd == pytest.approx(0.002)
    total = (await engine.costs()).total
    assert total.cost_usd == pytest.approx(0.006) and total.attempts == 5
    assert (await engine.costs(by="workflow")).lines[0].key == "r"
    result = await engine.handle("r").result()
    assert result == pytest.approx(0.004)  # the replayed result still says what it cost


@plait.workflow
async def retried(ctx: plait.Context) -> float:
    first = await ctx.ai.chat(
        None, "Skills?", output=Skills, retry=ModelRetry(max_attempts=3, initial_interval=1.0)
    )
    await ctx.wait_for_signal("go")
    await ctx.ai.chat(None, "Summary?")
    return first.cost_usd


@plait.workflow
async def spender(ctx: plait.Context, calls: int) -> list[str]:
    out = []
    for i in range(calls):
        try:
            r = await ctx.ai.chat(None, f"question {i}", max_tokens=100, budget_usd=0.0025)
            out.append(r.text or "")
        except plait.ai.BudgetExceeded as exc:
            out.append(f"stopped: {exc}")
    return out


async def test_a_budget_stops_a_call_before_it_is_sent(test_engine: TestEngine) -> None:
    model = Scripted(says("answer"))
    engine = engine_with(test_engine, model)
    engine.register(spender)
    h = await engine.start(spender, 3, id="b")
    await engine.run_until_idle()
    out = await h.result()
    # Each call costs 0.002 USD; the second's estimate would take the workflow past 0.0025.
    assert out[0] == "answer"
    assert out[1].startswith("stopped: workflow 'b' has spent 0.0020 USD of its budget of 0.0025")
    assert "nothing was sent" in out[1] and out[2].startswith("stopped:")
    assert model.calls == 1
    assert len(await engine.ledger("b")) == 1
    failed = [e for e in await engine.journal("b") if e.kind == "model" and e.status == "failed"]
    assert [e.error.type for e in failed if e.error] == ["BudgetExceeded", "BudgetExceeded"]


async def test_an_engine_budget_applies_to_every_workflow(test_engine: TestEngine) -> None:
    model = Scripted(says("answer"))
    engine = engine_with(test_engine, model, ai_budget_usd=0.0)
    engine.register(strict)
    await engine.start(strict, id="s")
    await engine.run_until_idle()
    info = await engine.get("s")
    assert info.status == "failed" and info.error is not None
    assert info.error.type == "BudgetExceeded" and model.calls == 0
    engine.ai_budget_usd = 1.0  # a bigger budget, then resume: the call is made
    await engine.resume("s")
    await engine.run_until_idle()
    message = await engine.handle("s").result()
    assert message.startswith("OutputInvalid: the model's answer did not fit Skills")
    assert model.calls == 2  # the resumed call was sent (and re-asked once)


async def test_errors_that_are_not_retried_are_journaled(test_engine: TestEngine) -> None:
    model = Scripted(fails_then(ModelAuthError("401: set OPENAI_API_KEY", model="x:y"), 9, ""))
    engine = engine_with(test_engine, model)
    engine.register(strict)
    await engine.start(strict, id="s")
    await engine.run_until_idle()
    info = await engine.get("s")
    assert info.status == "failed" and info.error is not None
    assert info.error.type == "ModelAuthError" and "OPENAI_API_KEY" in info.error.message
    assert model.calls == 1
    assert [r.outcome for r in await engine.ledger("s")] == ["ModelAuthError"]


async def test_each_call_journals_only_its_new_messages(test_engine: TestEngine) -> None:
    engine = engine_with(test_engine, Scripted(says("one", "two", "three")))
    engine.register(conversation)
    await engine.start(conversation, id="c")
    await engine.run_until_idle()
    calls = [e.output for e in await engine.journal("c") if e.kind == "model"]
    assert [c["request"]["messages"] for c in calls] == [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        [{"role": "assistant", "content": "one"}, {"role": "user", "content": "More"}],
        [{"role": "assistant", "content": "two"}, {"role": "user", "content": "Again"}],
    ]
    assert [(c["request"]["base"], c["request"]["keep"]) for c in calls] == [
        (None, 0),
        (1, 2),
        (2, 4),
    ]
    full = plait.ai.durable.conversation({i + 1: c for i, c in enumerate(calls)}, 3)
    assert [m["content"] for m in full] == ["Be brief.", "Hi", "one", "More", "two", "Again"]


@plait.workflow
async def conversation(ctx: plait.Context) -> str:
    messages: list[Message] = [
        Message(role="system", content="Be brief."),
        Message(role="user", content="Hi"),
    ]
    for follow in ("More", "Again", None):
        answer = await ctx.ai.chat(None, messages)
        if follow is None:
            return answer.text or ""
        messages += [answer.message, Message(role="user", content=follow)]
    return ""


@pytest.mark.backends("sqlite")
async def test_outside_a_workflow_a_call_is_plain() -> None:
    model = Scripted(says('{"skills": ["C"]}'))
    result = await plait.ai.chat(model, "Skills of Ada?", output=Skills)
    assert result.output == Skills(skills=["C"]) and not result.replayed
    assert result.usage == Usage(input_tokens=1000, output_tokens=100)
    assert result.cost_usd == 0.0  # test:scripted has no default price
    with pytest.raises(plait.ConfigurationError, match="PLAIT_MODEL"):
        await plait.ai.chat(None, "hello")
    with pytest.raises(plait.ConfigurationError, match="Pydantic model class"):
        await plait.ai.chat(model, "hello", output=dict)  # type: ignore[call-overload]
    assert json.loads(model.requests[0].model_dump_json())["output_name"] == "Skills"


async def test_a_fallback_answering_is_recorded_in_the_journal_and_ledger(
    test_engine: TestEngine,
) -> None:
    from plait.ai.fallback import Fallback

    down = Scripted(
        fails_then(ModelServerError("503", model="hosted:big"), 99, ""), name="hosted:big"
    )
    local = Scripted(says('{"skills": ["Rust"]}', "fine"), name="ollama:small")
    engine = engine_with(test_engine, down)
    engine.model = Fallback(down, local, retry=ModelRetry(max_attempts=2, initial_interval=0))
    await engine.start(extract, id="f")
    await engine.run_until_idle()
    rows = await engine.ledger("f")
    assert [(r.model, r.answered_by, r.outcome) for r in rows] == [
        ("hosted:big", None, "ModelServerError"),
        ("hosted:big", None, "ModelServerError"),
        ("ollama:small", "ollama:small", "ok"),
    ]
    assert rows[-1].cost_usd == 0.0  # ollama:* is free in the default price table
    (entry,) = [e for e in await engine.journal("f") if e.kind == "model"]
    assert entry.output["response"]["model"] == "ollama:small"


@plait.step
async def summarise(text: str) -> str:
    answer = await plait.ai.chat(None, f"Summarise: {text}", max_tokens=50)
    return answer.text or ""


@plait.workflow
async def summary_in_a_step(ctx: plait.Context) -> str:
    text = await summarise("a long CV")
    await ctx.wait_for_signal("go")
    return text


async def test_a_call_inside_a_step_is_charged_to_the_step(test_engine: TestEngine) -> None:
    model = Scripted(says("short"))
    engine = engine_with(test_engine, model)
    engine.register(summary_in_a_step)
    await engine.start(summary_in_a_step, id="st")
    await engine.run_until_idle()
    await engine.signal("st", "go")
    await engine.run_until_idle()  # the step is replayed: no call, no new row
    assert await engine.handle("st").result() == "short" and model.calls == 1
    rows = await engine.ledger("st")
    assert [(r.seq, r.step, r.outcome) for r in rows] == [(1, "summarise", "ok")]
    assert (await engine.costs("st")).total.cost_usd == pytest.approx(0.002)
    assert [e.kind for e in await engine.journal("st")] == ["step", "signal"]


@plait.workflow
async def together(ctx: plait.Context) -> list[str]:
    import asyncio

    answers = await asyncio.gather(
        ctx.ai.chat(None, "slow question", name="a"), ctx.ai.chat(None, "fast question", name="b")
    )
    await ctx.wait_for_signal("go")
    return [a.text or "" for a in answers]


async def test_calls_under_gather_take_their_positions_in_call_order(
    test_engine: TestEngine,
) -> None:
    import asyncio

    class Slow(Scripted):
        async def complete(self, request: ChatRequest, *, on_token: object = None) -> Any:
            if request.messages[0].content == "slow question":
                await asyncio.sleep(0.01)  # answers after the second call
            return await super().complete(request)

    model = Slow(lambda request, n: f"re: {request.messages[0].content}")
    engine = engine_with(test_engine, model)
    engine.register(together)
    await engine.start(together, id="g")
    await engine.run_until_idle()
    await engine.signal("g", "go")
    await engine.run_until_idle()
    assert await engine.handle("g").result() == ["re: slow question", "re: fast question"]
    assert model.calls == 2
    journal = [(e.seq, e.name) for e in await engine.journal("g") if e.kind == "model"]
    assert journal == [(1, "a"), (2, "b")]
