"""Starting and inspecting: @plait.workflow forms, engine.start idempotent on id,
engine.get, engine.list(status=, name=, **attributes), handle.result(timeout=) and the
errors it raises, set_status."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

import plait
from plait.testing import TestEngine

calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


@plait.step
async def greet(name: str) -> str:
    calls[name] += 1
    return f"hello {name}"


@plait.workflow
async def hello(ctx: plait.Context, name: str, times: int = 1) -> list[str]:
    return [await greet(name) for _ in range(times)]


@plait.workflow(name="hiring", version="2")
async def hiring_v2(ctx: plait.Context, job: str) -> str:
    ctx.set_status("sourcing candidates", stage="sourcing", job=job, open=True, score=1.5)
    await ctx.wait_for_signal("next")
    ctx.set_status("interviewing", stage="interviews", job=job, open=True, score=2.5)
    await ctx.wait_for_signal("next")
    ctx.set_status("hired", stage="done", job=job, open=False)
    return f"hired for {job}"


def test_workflow_decorator_forms_and_validation() -> None:
    assert (hello.name, hello.version) == ("hello", "1")
    assert (hiring_v2.name, hiring_v2.version) == ("hiring", "2")
    with pytest.raises(plait.ConfigurationError, match="not async"):
        plait.workflow(lambda ctx: None)  # type: ignore[arg-type, return-value]

    async def no_context() -> None: ...

    with pytest.raises(plait.ConfigurationError, match="Context"):
        plait.workflow(no_context)  # type: ignore[arg-type]


def test_two_workflows_with_one_name_are_an_error() -> None:
    @plait.workflow(name="hello")
    async def impostor(ctx: plait.Context) -> None: ...

    with pytest.raises(plait.ConfigurationError, match="'hello'"):
        plait.Engine("sqlite:///:memory:", workflows=[hello, impostor])
    with pytest.raises(plait.ConfigurationError):
        plait.Engine("sqlite:///:memory:", workflows=[greet])  # type: ignore[list-item]


async def test_start_is_idempotent_on_id(test_engine: TestEngine) -> None:
    test_engine.register(hello)
    h1 = await test_engine.start(hello, "ada", id="greet-ada")
    h2 = await test_engine.start(hello, "ada", id="greet-ada")
    assert h1.id == h2.id == "greet-ada"
    await test_engine.run_until_idle()
    h3 = await test_engine.start(hello, "ada", id="greet-ada")  # also after it finished
    assert await h3.result() == ["hello ada"]
    assert calls == {"ada": 1}
    assert len(await test_engine.list()) == 1

    with pytest.raises(plait.WorkflowAlreadyExists, match="other arguments"):
        await test_engine.start(hello, "bob", id="greet-ada")
    with pytest.raises(plait.WorkflowAlreadyExists):
        await test_engine.start(hello, "ada", 2, id="greet-ada")
    test_engine.register(hiring_v2)
    with pytest.raises(plait.WorkflowAlreadyExists, match="workflow 'hello'"):
        await test_engine.start(hiring_v2, "ada", id="greet-ada")
    assert len(await test_engine.list()) == 1
    assert calls == {"ada": 1}


async def test_start_without_id_by_name_and_bad_arguments(test_engine: TestEngine) -> None:
    test_engine.register(hello)
    a = await test_engine.start(hello, "x")
    b = await test_engine.start("hello", "y", 3)
    assert a.id != b.id and len(a.id) == 32
    await test_engine.run_until_idle()
    assert await b.result() == ["hello y"] * 3
    with pytest.raises(plait.ConfigurationError, match="bad arguments"):
        await test_engine.start(hello)
    with pytest.raises(plait.ConfigurationError, match="bad arguments"):
        await test_engine.start(hello, "a", 1, 2)
    with pytest.raises(plait.ConfigurationError, match="no workflow named 'nope'"):
        await test_engine.start("nope")
    with pytest.raises(plait.ConfigurationError, match="non-empty"):
        await test_engine.start(hello, "x", id="")
    with pytest.raises(plait.SerializationError, match="arguments of workflow 'hello'"):
        await test_engine.start(hello, object())


async def test_get_returns_the_record(test_engine: TestEngine) -> None:
    test_engine.register(hello)
    h = await test_engine.start(hello, "ada", 2, id="g1")
    info = await test_engine.get("g1")
    assert (info.id, info.name, info.version, info.status) == ("g1", "hello", "1", "pending")
    assert info.input == ["ada", 2]
    assert info.output is None and info.completed_at is None
    assert info.created_at == test_engine.clock.now()
    await test_engine.run_until_idle()
    info = await h.info()
    assert info.status == plait.WorkflowStatus.COMPLETED
    assert info.output == ["hello ada", "hello ada"]
    assert info.completed_at is not None
    with pytest.raises(plait.WorkflowNotFound, match="no workflow 'missing'"):
        await test_engine.get("missing")
    assert isinstance(plait.WorkflowStatus.COMPLETED, str)
    assert [s.value for s in plait.WorkflowStatus] == [
        "pending",
        "running",
        "waiting",
        "completed",
        "failed",
        "cancelled",
        "blocked",
    ]


async def test_list_filters_on_status_name_and_status_attributes(test_engine: TestEngine) -> None:
    for wf in (hello, hiring_v2):
        test_engine.register(wf)
    for job in ("cook", "pilot", "nurse"):
        await test_engine.start(hiring_v2, job, id=f"job-{job}")
        test_engine.clock.advance(1)  # distinct creation times: newest first
    await test_engine.start(hello, "ada", id="greeting")
    await test_engine.run_until_idle()
    await test_engine.signal("job-pilot", "next")
    await test_engine.signal("job-nurse", "next")
    await test_engine.run_until_idle()
    await test_engine.signal("job-nurse", "next")
    await test_engine.run_until_idle()

    def ids(infos: list[plait.WorkflowInfo]) -> list[str]:
        return [i.id for i in infos]

    assert ids(await test_engine.list()) == ["greeting", "job-nurse", "job-pilot", "job-cook"]
    assert ids(await test_engine.list(name="hiring")) == ["job-nurse", "job-pilot", "job-cook"]
    assert ids(await test_engine.list(status="waiting")) == ["job-pilot", "job-cook"]
    assert ids(await test_engine.list(status=["completed"], name="hiring")) == ["job-nurse"]
    assert ids(
        await test_engine.list(status=[plait.WorkflowStatus.COMPLETED, "waiting"], name="hello")
    ) == ["greeting"]
    assert ids(await test_engine.list(stage="interviews")) == ["job-pilot"]
    assert ids(await test_engine.list(stage="sourcing", job="cook")) == ["job-cook"]
    assert ids(await test_engine.list(open=True)) == ["job-pilot", "job-cook"]
    assert ids(await test_engine.list(open=False)) == ["job-nurse"]
    assert ids(await test_engine.list(score=2.5)) == ["job-pilot"]
    assert ids(await test_engine.list(stage="nowhere")) == []
    assert ids(await test_engine.list(limit=2, offset=1)) == ["job-nurse", "job-pilot"]

    pilot = await test_engine.get("job-pilot")
    assert pilot.status_text == "interviewing"
    assert pilot.attributes == {"stage": "interviews", "job": "pilot", "open": True, "score": 2.5}
    nurse = await test_engine.get("job-nurse")
    assert nurse.status_text == "hired"  # the last set_status before the end is kept
    assert nurse.attributes == {"stage": "done", "job": "nurse", "open": False}
    with pytest.raises(plait.ConfigurationError, match="unknown status"):
        await test_engine.list(status="sleeping")


@plait.workflow
async def blows_up(ctx: plait.Context) -> None:
    raise KeyError("missing field")


async def test_result_raises_for_failed_and_times_out(test_engine: TestEngine) -> None:
    for wf in (blows_up, hiring_v2):
        test_engine.register(wf)
    failed = await test_engine.start(blows_up)
    waiting = await test_engine.start(hiring_v2, "x")
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed) as info:
        await failed.result()
    assert info.value.workflow_id == failed.id
    assert (info.value.error_type, info.value.message) == ("KeyError", "'missing field'")
    assert info.value.traceback is not None and "blows_up" in info.value.traceback

    with pytest.raises(plait.WaitTimeout) as timeout:
        await waiting.result(timeout=timedelta(milliseconds=50))
    assert isinstance(timeout.value, TimeoutError)
    with pytest.raises(TimeoutError):
        await waiting.result(timeout=0.01)
    with pytest.raises(plait.WorkflowNotFound, match="'nope'"):
        await test_engine.handle("nope").result()


async def test_result_returns_when_the_workflow_ends_later(test_engine: TestEngine) -> None:
    test_engine.register(hiring_v2)
    h = await test_engine.start(hiring_v2, "chef")
    await test_engine.run_until_idle()
    waiter = asyncio.create_task(h.result(timeout=30))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    for _ in range(2):
        await test_engine.signal(h.id, "next")
        await test_engine.run_until_idle()
    assert await waiter == "hired for chef"


async def test_start_with_delay(test_engine: TestEngine) -> None:
    test_engine.register(hello)
    start = test_engine.clock.now()
    h = await test_engine.start(hello, "later", delay=timedelta(hours=1))
    assert await test_engine.run_until_idle(within=timedelta(minutes=30)) == 0
    assert (await h.info()).status == plait.WorkflowStatus.PENDING
    await test_engine.run_until_idle()
    assert await h.result() == ["hello later"]
    assert test_engine.clock.now() == start + timedelta(hours=1)
