"""Journal and replay: completed steps are not re-run, gather fan-out is deterministic,
a changed workflow body parks as blocked and resumes after a fix, ctx.patched, recorded
values (now/uuid/random), idempotency keys and the replay-aware logger."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pydantic
import pytest

import plait
from plait.testing import TestEngine

calls: Counter[str] = Counter()
seen: list[object] = []
flags: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    seen.clear()
    flags.clear()


class Score(pydantic.BaseModel):
    candidate: str
    value: float


@plait.step
async def score(candidate: str) -> Score:
    calls[f"score:{candidate}"] += 1
    return Score(candidate=candidate, value=len(candidate) / 10)


@plait.step
async def notify(text: str) -> str:
    calls["notify"] += 1
    return f"sent {text}"


@plait.workflow
async def review(ctx: plait.Context, who: str) -> str:
    calls["body"] += 1
    s = await score(who)
    seen.append(type(s))  # decoded to the annotated type, on replay too
    await ctx.sleep(timedelta(days=1))
    s2 = await score(who + "!")
    await ctx.wait_for_signal("go")
    return await notify(f"{s.candidate}:{s.value}:{s2.value}")


async def test_replay_does_not_rerun_completed_steps(test_engine: TestEngine) -> None:
    test_engine.register(review)
    h = await test_engine.start(review, "ada")
    await test_engine.run_until_idle()  # sleeps a day, then waits for the signal
    assert (await test_engine.get(h.id)).status == plait.WorkflowStatus.WAITING
    await test_engine.signal(h.id, "go")
    await test_engine.run_until_idle()
    assert await h.result() == "sent ada:0.3:0.4"
    assert calls["body"] == 3  # first run, after the timer, after the signal
    assert calls["score:ada"] == 1
    assert calls["score:ada!"] == 1
    assert calls["notify"] == 1
    assert seen == [Score, Score, Score]
    kinds = [(e.kind, e.name) for e in await test_engine.journal(h.id)]
    assert kinds == [
        ("step", "score"),
        ("sleep", "sleep"),
        ("step", "score"),
        ("signal", "go"),
        ("step", "notify"),
    ]


# -- gather fan-out ------------------------------------------------------------------------

DELAYS = list(range(50))
random.Random(7).shuffle(DELAYS)


@plait.step
async def square(i: int) -> int:
    calls["square"] += 1
    await asyncio.sleep(DELAYS[i] / 5000)  # random durations: completion order != call order
    seen.append(i)
    return i * i


@plait.workflow
async def fan_out(ctx: plait.Context, n: int) -> list[int]:
    results = await asyncio.gather(*(square(i) for i in range(n)))
    flags.setdefault("runs", []).append(list(results))  # type: ignore[union-attr]
    await ctx.sleep(timedelta(hours=1))
    after = await notify("done")
    return [*results, len(after)]


async def test_gather_fan_out_of_50_steps_is_deterministic_across_replays(
    test_engine: TestEngine,
) -> None:
    test_engine.register(fan_out)
    h = await test_engine.start(fan_out, 50)
    await test_engine.run_until_idle()
    result = await h.result()
    assert result == [i * i for i in range(50)] + [len("sent done")]
    assert calls["square"] == 50  # the replay after the sleep re-ran none of them
    assert seen != sorted(seen)  # they really finished out of call order
    assert sorted(seen) == list(range(50))
    runs = flags["runs"]
    assert isinstance(runs, list) and len(runs) == 2 and runs[0] == runs[1]

    journal = await test_engine.journal(h.id)
    steps = [e for e in journal if e.name == "square"]
    assert [e.seq for e in steps] == list(range(1, 51))  # journal order == call order
    assert [e.output for e in steps] == [i * i for i in range(50)]
    assert [(e.seq, e.kind) for e in journal[50:]] == [(51, "sleep"), (52, "step")]


@plait.step
async def slow_name(tag: str) -> str:
    await asyncio.sleep(0.002 if tag == "a" else 0)
    return tag


@plait.workflow
async def gather_mixed(ctx: plait.Context) -> list[object]:
    r = await asyncio.gather(
        slow_name("a"),
        ctx.sleep(timedelta(minutes=5)),
        notify("b"),
        ctx.wait_for_signal("c", timeout=timedelta(minutes=1)),
        return_exceptions=True,  # suspensions must not leak out as values
    )
    return [x if not isinstance(x, BaseException) else type(x).__name__ for x in r]


async def test_gather_of_mixed_operations_journals_in_call_order(test_engine: TestEngine) -> None:
    test_engine.register(gather_mixed)
    h = await test_engine.start(gather_mixed)
    await test_engine.run_until_idle()
    assert await h.result() == ["a", None, "sent b", "WaitTimeout"]
    assert [(e.seq, e.kind, e.name) for e in await test_engine.journal(h.id)] == [
        (1, "step", "slow_name"),
        (2, "sleep", "sleep"),
        (3, "step", "notify"),
        (4, "signal", "c"),
    ]
    assert calls["notify"] == 1


@plait.step
async def fails_at_once() -> None:
    calls["fails_at_once"] += 1
    raise ValueError("nope")


@plait.workflow
async def fails_beside_a_wait(ctx: plait.Context) -> None:
    await asyncio.gather(ctx.wait_for_signal("never"), fails_at_once())


async def test_a_step_failing_beside_a_parked_wait_fails_the_workflow(
    test_engine: TestEngine,
) -> None:
    test_engine.register(fails_beside_a_wait)
    h = await test_engine.start(fails_beside_a_wait)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="nope"):
        await h.result()
    assert calls["fails_at_once"] == 1


# -- non-determinism -----------------------------------------------------------------------


@plait.step
async def step_a() -> str:
    calls["a"] += 1
    return "a"


@plait.step
async def step_b() -> str:
    calls["b"] += 1
    return "b"


@plait.step
async def step_c() -> str:
    calls["c"] += 1
    return "c"


@plait.workflow
async def changing(ctx: plait.Context) -> list[str]:
    first = await (step_c() if flags.get("changed") else step_a())
    await ctx.sleep(timedelta(days=2))
    return [first, await step_b()]


async def test_changed_body_parks_blocked_naming_both_operations_and_resumes_after_fix(
    test_engine: TestEngine,
) -> None:
    test_engine.register(changing)
    h = await test_engine.start(changing)
    await test_engine.run_until_idle(within=timedelta(hours=1))
    assert (await test_engine.get(h.id)).status == plait.WorkflowStatus.WAITING

    flags["changed"] = True  # a deploy changes the code under the sleeping workflow
    await test_engine.run_until_idle()
    info = await test_engine.get(h.id)
    assert info.status == plait.WorkflowStatus.BLOCKED
    assert info.error is not None and info.error.type == "NondeterminismError"
    assert "step 'step_a'" in info.error.message  # what the journal recorded
    assert "step 'step_c'" in info.error.message  # what the code now calls
    assert "position 1" in info.error.message
    assert calls == {"a": 1}  # nothing ran on the blocked replay
    with pytest.raises(plait.WorkflowBlocked, match="step_c"):
        await h.result()
    assert [i.id for i in await test_engine.list(status="blocked")] == [h.id]

    flags["changed"] = False  # the fix: restore the old code path
    await test_engine.resume(h.id)
    await test_engine.run_until_idle()
    assert await h.result() == ["a", "b"]
    assert calls == {"a": 1, "b": 1}


async def test_a_kind_change_is_also_caught(test_engine: TestEngine) -> None:
    @plait.workflow(name="kind_change")
    async def kind_change(ctx: plait.Context) -> str:
        if flags.get("changed"):
            await ctx.wait_for_signal("step_a", timeout=1)
        else:
            await step_a()
        await ctx.sleep(60)
        return "done"

    test_engine.register(kind_change)
    h = await test_engine.start(kind_change)
    await test_engine.run_until_idle(within=timedelta(seconds=1))
    flags["changed"] = True
    await test_engine.run_until_idle()
    info = await test_engine.get(h.id)
    assert info.status == plait.WorkflowStatus.BLOCKED
    assert info.error is not None
    assert "step 'step_a'" in info.error.message and "signal 'step_a'" in info.error.message


async def test_nondeterminism_cannot_be_swallowed_by_user_code(test_engine: TestEngine) -> None:
    @plait.workflow(name="swallower")
    async def swallower(ctx: plait.Context) -> str:
        await ctx.sleep(60)
        try:
            await (step_c() if flags.get("changed") else step_a())
        except Exception:
            pass
        await ctx.sleep(60)
        return "done"

    test_engine.register(swallower)
    h = await test_engine.start(swallower)
    await test_engine.run_until_idle(within=timedelta(seconds=90))
    flags["changed"] = True
    await test_engine.run_until_idle()
    assert (await test_engine.get(h.id)).status == plait.WorkflowStatus.BLOCKED
    assert calls["c"] == 0


def _make_pipeline(version: str) -> plait.WorkflowDef[..., list[str]]:
    """The same workflow name, as it looks in successive deploys."""

    async def pipeline(ctx: plait.Context) -> list[str]:
        out = [await step_a()]
        if version == "broken":
            out.append(await step_c())  # inserted without a patch marker
        elif version == "patched" and ctx.patched("add-c"):
            out.append(await step_c())
        await ctx.sleep(timedelta(days=3))
        out.append(await step_b())
        return out

    return plait.workflow(name="pipeline")(pipeline)


async def test_new_engine_with_changed_code_blocks_then_patch_and_resume(db_url: str) -> None:
    async with TestEngine(db_url, workflows=[_make_pipeline("v1")]) as engine:
        await engine.start("pipeline", id="old")
        await engine.run_until_idle(within=timedelta(days=1))
        assert (await engine.get("old")).status == plait.WorkflowStatus.WAITING

    async with TestEngine(db_url, workflows=[_make_pipeline("broken")]) as engine:
        await engine.run_until_idle()
        info = await engine.get("old")
        assert info.status == plait.WorkflowStatus.BLOCKED
        assert info.error is not None
        assert "recorded sleep 'sleep'" in info.error.message
        assert "calls step 'step_c'" in info.error.message
        assert "ctx.patched" in info.error.message

    async with TestEngine(db_url, workflows=[_make_pipeline("patched")]) as engine:
        await engine.resume("old")
        new = await engine.start("pipeline", id="new")
        await engine.run_until_idle()
        # the in-flight workflow keeps the old path; a new one takes the patched path
        assert await engine.handle("old").result() == ["a", "b"]
        assert await new.result() == ["a", "c", "b"]
        assert [e.kind for e in await engine.journal("new")] == [
            "step",
            "patch",
            "step",
            "sleep",
            "step",
        ]
    assert calls == {"a": 2, "b": 2, "c": 1}


@plait.workflow
async def patched_after_wait(ctx: plait.Context) -> list[str]:
    out = [await step_a()]
    await ctx.sleep(timedelta(days=1))
    if flags.get("deployed") and ctx.patched("notify-after"):
        out.append(await notify("patched"))
    out.append(await step_b())
    return out


async def test_patch_past_the_recorded_journal_runs_new_code_in_flight(
    test_engine: TestEngine,
) -> None:
    test_engine.register(patched_after_wait)
    h = await test_engine.start(patched_after_wait)
    await test_engine.run_until_idle(within=timedelta(hours=1))
    flags["deployed"] = True
    await test_engine.run_until_idle()
    assert await h.result() == ["a", "sent patched", "b"]
    assert [e.kind for e in await test_engine.journal(h.id)] == [
        "step",
        "sleep",
        "patch",
        "step",
        "step",
    ]


# -- recorded values, idempotency keys, logging ----------------------------------------------


@plait.workflow
async def recorded(ctx: plait.Context) -> list[str]:
    values = [ctx.now().isoformat(), str(ctx.uuid()), repr(ctx.random())]
    key = ctx.idempotency_key
    sent = await notify(key)
    seen.append((values, key, sent))
    await ctx.sleep(timedelta(days=1))
    seen.append(("after", ctx.now().isoformat()))
    return [*values, key]


async def test_now_uuid_random_and_idempotency_key_are_stable_across_replays(
    test_engine: TestEngine,
) -> None:
    test_engine.register(recorded)
    start = test_engine.clock.now()
    h = await test_engine.start(recorded, id="wf-1")
    await test_engine.run_until_idle()
    result = await h.result()
    (first, second, after) = seen
    assert first == second  # same now/uuid/random/key on replay
    assert result == [*first[0], first[1]]
    assert datetime.fromisoformat(result[0]) == start
    uuid.UUID(result[1])
    assert 0 <= float(result[2]) < 1
    assert first[1] == "wf-1:4"  # "<workflow_id>:<seq>" of the step it was handed to
    assert calls["notify"] == 1
    assert datetime.fromisoformat(after[1]) == start + timedelta(days=1)
    assert [e.kind for e in await test_engine.journal(h.id)] == [
        "now",
        "uuid",
        "random",
        "step",
        "sleep",
        "now",
    ]


@plait.workflow
async def chatty(ctx: plait.Context) -> None:
    ctx.logger.info("starting")
    await step_a()
    ctx.logger.info("scored")
    await ctx.sleep(timedelta(days=1))
    ctx.logger.info("woke up")
    await step_b()
    ctx.logger.warning("done")


async def test_logger_is_quiet_while_replaying(
    test_engine: TestEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plait.workflow")
    test_engine.register(chatty)
    h = await test_engine.start(chatty)
    await test_engine.run_until_idle()
    await h.result()
    messages = [r.getMessage() for r in caplog.records if r.name == "plait.workflow"]
    assert messages == ["starting", "scored", "woke up", "done"]  # each once, over two runs
    assert all(
        getattr(r, "workflow_id", None) == h.id
        for r in caplog.records
        if r.name == "plait.workflow"
    )


@plait.workflow
async def replay_flag(ctx: plait.Context) -> None:
    seen.append(ctx.is_replaying)
    await step_a()
    seen.append(ctx.is_replaying)
    await ctx.sleep(1)
    seen.append(ctx.is_replaying)


async def test_is_replaying(test_engine: TestEngine) -> None:
    test_engine.register(replay_flag)
    await test_engine.start(replay_flag)
    await test_engine.run_until_idle()
    assert seen == [False, False, True, True, False]
