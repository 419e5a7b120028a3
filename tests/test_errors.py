"""Errors a person can act on: a failed step's attempts and a failed workflow keep the
traceback of the original exception (also through a child, and shown by ``plait workflows
show``); ``engine.start`` checks the arguments against the workflow's annotations and
raises ``InvalidArguments`` naming the workflow and the argument, writing nothing; stored
arguments the code no longer takes park the workflow blocked with advice that fits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest
from click.testing import CliRunner

import plait
from plait.cli import main
from plait.testing import TestEngine

seen: list[object] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    seen.clear()


# -- tracebacks ---------------------------------------------------------------------------


def check_the_value(n: int) -> None:
    raise ValueError(f"bad value {n}")


@plait.step(retry=plait.Retry(max_attempts=3, initial_interval=0, jitter=0))
async def explodes(n: int) -> int:
    check_the_value(n)
    return n


@plait.step
def explodes_in_a_thread(n: int) -> int:
    check_the_value(n)
    return n


@plait.workflow
async def fails_in_a_step(ctx: plait.Context, n: int) -> int:
    return await explodes(n)


@plait.workflow
async def fails_in_a_sync_step(ctx: plait.Context, n: int) -> int:
    return await explodes_in_a_thread(n)  # type: ignore[misc]


@plait.workflow
async def catches_and_sleeps(ctx: plait.Context) -> str:
    try:
        await explodes(7)
    except plait.StepFailed as exc:
        seen.append((exc.step, exc.error_type, exc.message, exc.attempts, exc.traceback))
    await ctx.sleep(60)  # suspends: the next run replays the failed step from the journal
    return "done"


@plait.workflow
async def child_that_fails(ctx: plait.Context) -> None:
    check_the_value(3)


@plait.workflow
async def parent_of_a_failure(ctx: plait.Context) -> None:
    await ctx.child(child_that_fails)


async def test_attempts_and_the_workflow_error_keep_the_traceback(
    test_engine: TestEngine,
) -> None:
    test_engine.register(fails_in_a_step)
    h = await test_engine.start(fails_in_a_step, 1, id="tb")
    await test_engine.run_until_idle()
    attempts = await test_engine.attempts("tb")
    assert [a.attempt for a in attempts] == [1, 2, 3]
    for a in attempts:
        assert a.error is not None and a.error.type == "ValueError"
        assert a.error.traceback is not None
        assert "in check_the_value" in a.error.traceback
        assert "ValueError: bad value 1" in a.error.traceback
    (entry,) = await test_engine.journal("tb")
    assert entry.error is not None and "in check_the_value" in (entry.error.traceback or "")
    with pytest.raises(plait.WorkflowFailed) as caught:
        await h.result()
    assert caught.value.error_type == "StepFailed"
    tb = caught.value.traceback or ""
    # the original exception first, then where the workflow raised StepFailed
    assert tb.index("in check_the_value") < tb.index("StepFailed: step 'explodes'")
    assert "in fails_in_a_step" in tb
    info = await test_engine.get("tb")
    assert info.error is not None and info.error.traceback == tb


async def test_a_sync_step_keeps_its_traceback(test_engine: TestEngine) -> None:
    test_engine.register(fails_in_a_sync_step)
    h = await test_engine.start(fails_in_a_sync_step, 2, id="sync")
    await test_engine.run_until_idle()
    (attempt,) = await test_engine.attempts("sync")
    assert attempt.error is not None and "in check_the_value" in (attempt.error.traceback or "")
    with pytest.raises(plait.WorkflowFailed) as caught:
        await h.result()
    assert "in check_the_value" in (caught.value.traceback or "")


async def test_a_replayed_step_failure_is_raised_identically(test_engine: TestEngine) -> None:
    test_engine.register(catches_and_sleeps)
    h = await test_engine.start(catches_and_sleeps, id="replay")
    await test_engine.run_until_idle()
    assert await h.result() == "done"
    assert len(seen) == 2  # the first run and the replay after the sleep
    assert seen[0] == seen[1]
    step, error_type, message, attempts, tb = seen[0]  # type: ignore[misc]
    assert (step, error_type, message, attempts) == ("explodes", "ValueError", "bad value 7", 3)
    assert "in check_the_value" in tb


async def test_a_failed_child_s_traceback_reaches_the_parent(test_engine: TestEngine) -> None:
    for wf in (parent_of_a_failure, child_that_fails):
        test_engine.register(wf)
    h = await test_engine.start(parent_of_a_failure, id="parent")
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed) as caught:
        await h.result()
    assert caught.value.error_type == "ChildWorkflowFailed"
    tb = caught.value.traceback or ""
    assert tb.index("in check_the_value") < tb.index("in parent_of_a_failure")


async def test_cli_show_prints_the_tracebacks(test_engine: TestEngine) -> None:
    test_engine.register(fails_in_a_step)
    await test_engine.start(fails_in_a_step, 1, id="shown")
    await test_engine.run_until_idle()
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke,
        main,
        ["workflows", "show", "--database", test_engine.url, "shown", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert "in check_the_value" in shown["workflow"]["error"]["traceback"]
    assert all("in check_the_value" in a["error"]["traceback"] for a in shown["attempts"])
    assert "in check_the_value" in shown["journal"][0]["error"]["traceback"]
    readable = await asyncio.to_thread(
        runner.invoke,
        main,
        ["workflows", "show", "--database", test_engine.url, "shown"],
        catch_exceptions=False,
    )
    assert readable.exit_code == 0, readable.output
    assert "FAILED" in readable.stdout and "in check_the_value" in readable.stdout
    assert "journal:" in readable.stdout and "attempt 1: ValueError" in readable.stdout


def test_a_huge_traceback_is_cut_in_the_middle() -> None:
    try:
        check_the_value("x" * 40_000 + " the end")  # type: ignore[arg-type]
    except ValueError as exc:
        error = exc
    text = plait.errors.traceback_text(error)
    assert len(text) < plait.errors.MAX_TRACEBACK_CHARS + 100
    assert text.startswith("Traceback") and "in check_the_value" in text
    assert "characters cut" in text and text.endswith("the end\n")


# -- start arguments ------------------------------------------------------------------------


class Candidate(pydantic.BaseModel):
    name: str
    applied: datetime


@dataclasses.dataclass
class Attachment:
    filename: str
    content: bytes


@plait.workflow
async def add(ctx: plait.Context, x: int, y: int = 2) -> int:
    return x + y


@plait.workflow
async def screen(
    ctx: plait.Context, candidate: Candidate, files: list[Attachment], note, extra: str = ""
) -> str:
    seen.append((candidate, files, note))
    return candidate.name


@plait.workflow
async def starts_a_bad_child(ctx: plait.Context) -> None:
    await ctx.child(add, "notint")


async def test_start_rejects_an_argument_of_the_wrong_type(test_engine: TestEngine) -> None:
    test_engine.register(add)
    with pytest.raises(plait.InvalidArguments) as caught:
        await test_engine.start(add, "notint", id="a1")
    message = str(caught.value)
    assert "workflow 'add'" in message and "argument 'x'" in message
    assert "expects int, got 'notint'" in message
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, plait.ConfigurationError)  # as arity errors always were
    with pytest.raises(plait.InvalidArguments, match="argument 'y' expects int"):
        await test_engine.start("add", 1, [1])
    assert await test_engine.list() == []  # nothing was written
    with pytest.raises(plait.WorkflowNotFound):
        await test_engine.get("a1")


async def test_start_rejects_the_wrong_number_of_arguments(test_engine: TestEngine) -> None:
    test_engine.register(add)
    for args in ((), (1, 2, 3)):
        with pytest.raises(plait.InvalidArguments) as caught:
            await test_engine.start(add, *args)
        assert "workflow 'add'" in str(caught.value)
        assert "add(x: int, y: int = 2)" in str(caught.value)
    assert await test_engine.list() == []


@plait.workflow
async def plain(ctx: plait.Context, n: int, flag: bool, ratio: float, text: str) -> list[Any]:
    return [n, flag, ratio, text]


@plait.workflow
async def keyed(ctx: plait.Context, x: int, *, k: int) -> int:
    return x + k


async def test_plain_values_are_checked_exactly_as_the_worker_decodes_them(
    test_engine: TestEngine,
) -> None:
    # Values of exactly their JSON-native annotation skip pydantic at start; the others
    # must still be refused when the worker could not decode them.
    test_engine.register(plain)
    with pytest.raises(plait.InvalidArguments, match="argument 'n' expects int, got 1.5"):
        await test_engine.start(plain, 1.5, True, 1.5, "x")
    with pytest.raises(plait.InvalidArguments, match="workflow 'plain': Invalid JSON"):
        await test_engine.start(plain, 1, True, 1.5, "\ud800")  # a lone surrogate
    with pytest.raises(plait.InvalidArguments, match="missing a required argument: 'k'"):
        await test_engine.start(keyed, 1)
    assert await test_engine.list() == []
    h = await test_engine.start(plain, 2**70, False, 0.25, "héllo ✓")
    await test_engine.run_until_idle()
    assert await h.result() == [2**70, False, 0.25, "héllo ✓"]


async def test_start_names_the_field_of_a_model_argument(test_engine: TestEngine) -> None:
    test_engine.register(screen)
    with pytest.raises(plait.InvalidArguments) as caught:
        await test_engine.start(screen, {"name": "Ada"}, [], None)
    message = str(caught.value)
    assert "argument 'candidate' expects Candidate" in message and "applied" in message
    ada = Candidate(name="Ada", applied=datetime.now(UTC))
    with pytest.raises(plait.InvalidArguments) as caught:
        await test_engine.start(screen, ada, [{"filename": "cv.pdf", "content": "!"}], 0)
    message = str(caught.value)
    assert "argument 'files' expects list[Attachment]" in message
    assert "[0].content: Data should be valid base64" in message
    with pytest.raises(plait.SerializationError, match="arguments of workflow 'screen'"):
        await test_engine.start(screen, {"name": "Ada", "applied": "2026-01-01"}, [], object())
    assert await test_engine.list() == []


async def test_what_start_accepts_is_what_the_workflow_gets(test_engine: TestEngine) -> None:
    test_engine.register(screen)
    applied = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    files = [Attachment("cv.pdf", b"\x00\xffpdf")]
    note = {"anything": [1, "json", None]}  # unannotated: any JSON-encodable value
    h1 = await test_engine.start(screen, Candidate(name="Ada", applied=applied), files, note)
    h2 = await test_engine.start(
        screen, {"name": "Bo", "applied": applied.isoformat()}, [], "a note", "extra"
    )
    await test_engine.run_until_idle()
    assert (await h1.result(), await h2.result()) == ("Ada", "Bo")
    got = dict((c.name, (c, f, n)) for c, f, n in seen)  # type: ignore[misc]
    assert got["Ada"] == (Candidate(name="Ada", applied=applied), files, note)
    assert got["Bo"] == (Candidate(name="Bo", applied=applied), [], "a note")


async def test_a_child_with_bad_arguments_fails_the_parent(test_engine: TestEngine) -> None:
    for wf in (starts_a_bad_child, add):
        test_engine.register(wf)
    h = await test_engine.start(starts_a_bad_child, id="p")
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="argument 'x' expects int") as caught:
        await h.result()
    assert caught.value.error_type == "InvalidArguments"
    assert [i.id for i in await test_engine.list()] == ["p"]  # no child was written


@plait.workflow(name="greet")
async def greet_v1(ctx: plait.Context, name: str) -> str:
    return f"hello {name}"


@plait.workflow(name="greet")
async def greet_v2(ctx: plait.Context, name: int) -> str:  # changed under a pending workflow
    return f"hello {name}"


async def test_stored_arguments_the_code_no_longer_takes_block_with_advice(db_url: str) -> None:
    async with TestEngine(db_url, workflows=[greet_v1]) as engine:
        await engine.start(greet_v1, "ada", id="g")
    async with TestEngine(db_url, workflows=[greet_v2]) as engine:
        await engine.run_until_idle()
        info = await engine.get("g")
        assert info.status == plait.WorkflowStatus.BLOCKED and info.error is not None
        message = info.error.message
        assert "argument 'name' of workflow 'greet' no longer fits its type int" in message
        assert "then resume the workflow" in message and "Rename the step" not in message
    async with TestEngine(db_url, workflows=[greet_v1]) as engine:  # the code goes back
        await engine.resume("g")
        await engine.run_until_idle()
        assert await engine.handle("g").result() == "hello ada"


@plait.step
async def first_step() -> int:
    return 1


@plait.step
async def other_step() -> int:
    return 2


@plait.workflow(name="changes")
async def changes_v1(ctx: plait.Context) -> int:
    n = await first_step()
    await ctx.sleep(60)
    return n


@plait.workflow(name="changes")
async def changes_v2(ctx: plait.Context) -> int:
    n = await other_step()  # the code changed under a sleeping workflow
    await ctx.sleep(60)
    return n


async def test_a_blocked_workflow_s_error_shows_the_line_that_no_longer_replays(
    db_url: str,
) -> None:
    async with TestEngine(db_url, workflows=[changes_v1]) as engine:
        await engine.start(changes_v1, id="c")
        await engine.run_until_idle(within=1)
    async with TestEngine(db_url, workflows=[changes_v2]) as engine:
        await engine.run_until_idle()
        info = await engine.get("c")
        assert info.status == plait.WorkflowStatus.BLOCKED and info.error is not None
        assert info.error.type == "NondeterminismError"
        assert "in changes_v2" in (info.error.traceback or "")
        assert "n = await other_step()" in (info.error.traceback or "")


# -- text the database cannot store ---------------------------------------------------------


@plait.workflow
async def titled(ctx: plait.Context, title: str) -> str:
    ctx.set_status("asking")
    await ctx.ask_human(title, assignee="bob")
    return "answered"


@plait.workflow
async def status_nul(ctx: plait.Context) -> None:
    ctx.set_status("half\x00way")


async def test_a_nul_character_fails_where_it_is_given_on_both_backends(
    test_engine: TestEngine,
) -> None:
    # PostgreSQL's text type cannot hold NUL: such text used to reach the store and fail
    # there (a worker retrying the run); now it is refused by name, the same on SQLite.
    test_engine.register(titled)
    test_engine.register(status_nul)
    for h in (await test_engine.start(titled, "hi\x00"), await test_engine.start(status_nul)):
        await test_engine.run_until_idle()
        with pytest.raises(plait.WorkflowFailed, match="NUL character"):
            await h.result()
    for call in (
        lambda: test_engine.start(titled, "x", id="a\x00"),
        lambda: test_engine.start(titled, "x", subject="b\x00"),
        lambda: test_engine.signal("a", "go\x00"),
        lambda: test_engine.records.put("kind", "k\x00", 1),
    ):
        with pytest.raises(plait.ConfigurationError, match="NUL character"):
            await call()
    with pytest.raises(plait.ConfigurationError, match="NUL character"):
        plait.Escalate(to="team\x00", due=60)
    # A NUL inside a payload is fine: JSON escapes it.
    await test_engine.records.put("kind", "k", {"text": "a\x00b"})
    assert await test_engine.records.get("kind", "k") == {"text": "a\x00b"}
