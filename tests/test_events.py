"""The event log: ``by=`` on start/signal/cancel/resume, one event per action that wrote,
none for an action that wrote nothing or was refused; the workflow's subject."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import plait
from plait.cli import main
from plait.testing import TestEngine

FAILING: set[str] = set()


@plait.step
async def flaky(workflow_id: str) -> str:
    if workflow_id in FAILING:
        raise RuntimeError("no")
    return "ok"


@plait.workflow
async def waits(ctx: plait.Context, fail: bool) -> str:
    await ctx.wait_for_signal("go")
    result = await flaky(ctx.workflow_id)
    await ctx.wait_for_signal("go")
    return result


def kinds(events: list[plait.WorkflowEvent]) -> list[tuple[str, str]]:
    return [(str(e.kind), e.by) for e in events]


async def test_every_action_is_logged_with_who_did_it(test_engine: TestEngine) -> None:
    test_engine.register(waits)
    FAILING.add("w1")
    h = await test_engine.start(waits, True, id="w1", by="ana")
    assert (await test_engine.start(waits, True, id="w1", by="bob")).id == "w1"  # no write
    await test_engine.run_until_idle()
    assert await test_engine.signal("w1", "go", 1, dedup_key="m1", by="carl")
    assert not await test_engine.signal("w1", "go", 1, dedup_key="m1", by="carl")
    await test_engine.run_until_idle()
    assert (await h.info()).status == plait.WorkflowStatus.FAILED
    FAILING.discard("w1")
    await test_engine.resume("w1", by="ops")
    await test_engine.run_until_idle()
    assert await test_engine.signal("w1", "go") is True  # by defaults to "system"
    await test_engine.cancel("w1", by="dana")
    events = await test_engine.events("w1")
    assert kinds(events) == [
        ("started", "ana"),
        ("signalled", "carl"),
        ("resumed", "ops"),
        ("signalled", "system"),
        ("cancelled", "dana"),
    ]
    assert events[1].details == {"name": "go", "dedup_key": "m1"}
    assert events[2].details == {"from": "failed"}
    assert [e.at for e in events] == sorted(e.at for e in events)


async def test_refused_actions_log_nothing(test_engine: TestEngine) -> None:
    test_engine.register(waits)
    with pytest.raises(plait.WorkflowNotFound):
        await test_engine.signal("ghost", "go", by="eve")
    with pytest.raises(plait.WorkflowNotFound):
        await test_engine.events("ghost")
    await test_engine.start(waits, False, id="w2", by="ana")
    with pytest.raises(plait.WorkflowAlreadyExists):
        await test_engine.start(waits, True, id="w2", by="eve")
    with pytest.raises(plait.InvalidState):
        await test_engine.resume("w2", by="eve")
    with pytest.raises(plait.ConfigurationError, match="by="):
        await test_engine.cancel("w2", by="")
    assert kinds(await test_engine.events("w2")) == [("started", "ana")]


async def test_a_workflow_carries_its_subject(test_engine: TestEngine) -> None:
    test_engine.register(waits)
    await test_engine.start(waits, False, id="about-ada", subject="cand-ada")
    await test_engine.start(waits, False, id="about-bob", subject="cand-bob")
    await test_engine.start(waits, False, id="about-nobody")
    assert (await test_engine.get("about-ada")).subject == "cand-ada"
    assert (await test_engine.get("about-nobody")).subject is None
    assert [i.id for i in await test_engine.list(subject="cand-bob")] == ["about-bob"]
    with pytest.raises(plait.WorkflowAlreadyExists, match="subject"):
        await test_engine.start(waits, False, id="about-ada", subject="cand-bob")
    with pytest.raises(plait.ConfigurationError, match="subject"):
        await test_engine.start(waits, False, subject="")


@plait.workflow
async def about_one(ctx: plait.Context, name: str) -> str:
    if name == "ada":
        await ctx.child(about_one, "ada's reference")  # about the same person as its parent
    return name


@plait.workflow
async def job(ctx: plait.Context, names: list[str]) -> list[str]:
    return list(
        await asyncio.gather(*(ctx.child(about_one, n, subject=f"cand-{n}") for n in names))
    )


async def test_children_carry_the_subject_they_are_given_or_their_parent_s(
    test_engine: TestEngine,
) -> None:
    test_engine.register(job)
    test_engine.register(about_one)
    h = await test_engine.start(job, ["ada", "bob"], id="job-1")
    await test_engine.run_until_idle()
    assert await h.result() == ["ada", "bob"]
    assert (await h.info()).subject is None
    about_ada = await test_engine.list(subject="cand-ada")
    assert sorted(i.id for i in about_ada) == ["job-1:1", "job-1:1:1"]
    assert [i.id for i in await test_engine.list(subject="cand-bob")] == ["job-1:3"]


@pytest.mark.backends("sqlite")
def test_the_cli_passes_by(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("PLAIT_CLI_DB", url)
    monkeypatch.chdir(Path(__file__).parent.parent)
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)
    app = ["--app", "tests.cli_app:engine"]
    db = ["--database", url]

    def run(*args: str) -> None:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output

    run("workflows", "start", *app, "doubler", "1", "--id", "d1", "--by", "ana")
    run("workflows", "signal", *db, "d1", "go", "1", "--by", "bob")
    run("workflows", "cancel", *db, "d1", "--by", "carl")
    run("workflows", "start", *app, "doubler", "2", "--id", "d2")

    async def read() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        async with plait.Engine(url) as e:
            return kinds(await e.events("d1")), kinds(await e.events("d2"))

    d1, d2 = asyncio.run(read())
    assert d1 == [("started", "ana"), ("signalled", "bob"), ("cancelled", "carl")]
    assert d2 == [("started", "system")]
