"""Versioning: replay-check catches a changed workflow before it is deployed (and passes a
patched one), without side effects; ctx.deprecate_patch; golden journal files; the
``plait replay-check`` command and its exit codes."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import plait
from plait.cli import main
from plait.replaycheck import ReplayOutcome, export_journals
from plait.testing import TestEngine

calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


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


def deploy(kind: str) -> plait.WorkflowDef[..., list[str]]:
    """Workflow "order" as it looks in successive deploys."""

    async def order(ctx: plait.Context, n: int) -> list[str]:
        out = [await step_a()]
        if kind == "inserted":
            out.append(await step_c())  # a step inserted without a patch marker
        elif kind == "patched" and ctx.patched("add-c"):
            out.append(await step_c())
        elif kind == "deprecated":
            ctx.deprecate_patch("add-c")
            out.append(await step_c())
        elif kind == "removed":
            out.append(await step_c())
        elif kind == "raises":
            raise ValueError("a bug in the new code")
        await ctx.sleep(timedelta(days=3))
        if kind == "shortened":
            return out  # the last step removed
        out.append(await (step_c() if kind == "renamed" else step_b()))
        return out

    return plait.workflow(name="order")(order)


async def _v1_waiting(db_url: str, *ids: str) -> None:
    async with TestEngine(db_url, workflows=[deploy("v1")]) as engine:
        for wid in ids:
            await engine.start("order", 1, id=wid)
        await engine.run_until_idle(within=timedelta(days=1))


async def test_inserted_step_is_caught_without_side_effects(db_url: str) -> None:
    await _v1_waiting(db_url, "o-1")
    async with TestEngine(db_url, workflows=[deploy("inserted")]) as engine:
        before = await engine.journal("o-1")
        info_before = await engine.get("o-1")
        writes: list[object] = []
        real_run = engine.store._run  # type: ignore[attr-defined]

        async def watched(fn: object, *, write: bool = True) -> object:
            if write:
                writes.append(fn)
            return await real_run(fn, write=write)

        engine.store._run = watched  # type: ignore[attr-defined]
        report = await engine.replay_check()
        engine.store._run = real_run  # type: ignore[attr-defined]
        assert writes == []  # not one write transaction
        assert not report.ok
        (result,) = report.results
        assert result.outcome == ReplayOutcome.BLOCKED
        assert result.workflow_id == "o-1"
        assert (result.position, result.recorded, result.called) == (
            2,
            "sleep 'sleep'",
            "step 'step_c'",
        )
        # nothing ran, nothing was written
        assert calls["c"] == 0 and calls["a"] == 1
        assert await engine.journal("o-1") == before
        assert await engine.get("o-1") == info_before


async def test_patched_change_passes_and_rename_after_the_wait_passes_until_reached(
    db_url: str,
) -> None:
    await _v1_waiting(db_url, "o-1")
    async with TestEngine(db_url, workflows=[deploy("patched")]) as engine:
        report = await engine.replay_check()
        assert report.ok and [r.outcome for r in report.results] == [ReplayOutcome.PASSED]
        assert report.results[0].replayed == 2
    # a step renamed after the recorded wait is not reached by the replay: it passes
    async with TestEngine(db_url, workflows=[deploy("renamed")]) as engine:
        assert (await engine.replay_check()).ok
    assert calls["c"] == 0


async def test_deprecate_patch_recipe(db_url: str) -> None:
    # deploy 2: patched; a workflow waits with the marker recorded
    async with TestEngine(db_url, workflows=[deploy("patched")]) as engine:
        await engine.start("order", 1, id="with-marker")
        await engine.run_until_idle(within=timedelta(days=1))
        journal = await engine.journal("with-marker")
        assert [e.kind for e in journal] == ["step", "patch", "step", "sleep"]
    url = db_url
    # deploy 3: deprecate_patch replays the marker silently, new runs record none
    async with TestEngine(url, workflows=[deploy("deprecated")]) as engine:
        assert (await engine.replay_check()).ok
        new = await engine.start("order", 2, id="new")
        await engine.run_until_idle()
        assert await engine.handle("with-marker").result() == ["a", "c", "b"]
        assert await new.result() == ["a", "c", "b"]
        assert [e.kind for e in await engine.journal("new")] == ["step", "step", "sleep", "step"]
    # deploy 4: the call removed; a journal with the marker would now block, one without passes
    async with TestEngine(url, workflows=[deploy("removed")]) as engine:
        report = await engine.replay_check(workflow_ids=["with-marker", "new"])
        outcome = {r.workflow_id: r for r in report.results}
        assert outcome["new"].outcome == ReplayOutcome.PASSED
        assert outcome["with-marker"].outcome == ReplayOutcome.BLOCKED
        assert outcome["with-marker"].recorded == "patch 'add-c'"


async def test_deprecate_patch_on_an_old_path_journal_blocks(db_url: str) -> None:
    """deprecate_patch too early (a workflow still on the old path) is caught."""
    await _v1_waiting(db_url, "old")
    async with TestEngine(db_url, workflows=[deploy("deprecated")]) as engine:
        (result,) = (await engine.replay_check()).results
        assert result.outcome == ReplayOutcome.BLOCKED
        assert result.called == "step 'step_c'"


async def test_code_that_raises_or_ends_early_is_reported(db_url: str) -> None:
    async with TestEngine(db_url, workflows=[deploy("v1")]) as engine:
        await engine.start("order", 2, id="done")
        await engine.run_until_idle()
        assert (await engine.get("done")).status == "completed"
    await _v1_waiting(db_url, "waits")
    async with TestEngine(db_url, workflows=[deploy("raises")]) as engine:
        (result,) = (await engine.replay_check()).results
        assert result.outcome == ReplayOutcome.FAILED
        assert "ValueError: a bug in the new code" in (result.message or "")
    async with TestEngine(db_url, workflows=[deploy("shortened")]) as engine:
        report = await engine.replay_check(workflow_ids=["done", "waits"])
        done, waits = report.results
        assert waits.outcome == ReplayOutcome.PASSED  # it has not reached the removed step
        assert done.outcome == ReplayOutcome.DIVERGED and not report.ok
        assert (done.position, done.recorded) == (3, "step 'step_b'")


async def test_versions_not_registered_are_listed_not_checked(db_url: str) -> None:
    await _v1_waiting(db_url, "o-1")
    v2 = plait.workflow(name="order", version="2")(deploy("inserted").fn)
    async with TestEngine(db_url, workflows=[v2]) as engine:
        report = await engine.replay_check()
        assert report.ok
        (result,) = report.not_checked
        assert "version '1' of 'order' is not registered" in (result.message or "")


async def test_golden_export_and_replay(db_url: str, tmp_path: Path) -> None:
    await _v1_waiting(db_url, "o:1")
    async with TestEngine(db_url, workflows=[deploy("v1")]) as engine:
        (path,) = await export_journals(engine, ["o:1"], tmp_path)
    data = json.loads(path.read_text())
    assert path.name == "o_1.json"
    assert data["format"] == "plait-golden-journal" and data["format_version"] == 1
    assert data["workflow"]["name"] == "order" and data["input"] == [1]
    assert [(e["kind"], e["name"], e["status"]) for e in data["journal"]] == [
        ("step", "step_a", "completed"),
        ("sleep", "sleep", "waiting"),
    ]
    async with TestEngine(workflows=[deploy("inserted")]) as other:  # an empty database
        report = await other.replay_check(golden=[tmp_path])
        assert [(r.outcome, r.source) for r in report.results] == [
            (ReplayOutcome.BLOCKED, str(path))
        ]
    async with TestEngine(workflows=[deploy("patched")]) as other:
        assert (await other.replay_check(golden=[path])).ok


async def test_a_step_past_the_end_of_the_journal_does_not_run(db_url: str, tmp_path: Path) -> None:
    """The replay stops where the journal ends: a new step there is not run for real."""
    await _v1_waiting(db_url, "o-2")
    async with TestEngine(db_url, workflows=[deploy("v1")]) as engine:
        (path,) = await export_journals(engine, ["o-2"], tmp_path)
    data = json.loads(path.read_text())
    data["journal"] = data["journal"][:1]  # step_a only: the code calls step_c next
    path.write_text(json.dumps(data))
    calls.clear()
    async with TestEngine(workflows=[deploy("inserted")]) as other:
        report = await other.replay_check(golden=[path])
    assert [r.outcome for r in report.results] == [ReplayOutcome.PASSED]
    assert calls["c"] == 0


def test_cli_replay_check_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command: exit 1 with the first mismatch when a workflow would block, 0 when the
    patched code replays, --json, --export; the app loaded with --app module:engine."""
    db = f"sqlite:///{tmp_path / 'p.db'}"
    app = tmp_path / "rc_app.py"
    app.write_text(
        "import os, plait\n"
        "from tests.test_replay_check import deploy\n"
        "engine = plait.Engine(os.environ['RC_DB'], workflows=[deploy(os.environ['RC_KIND'])])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("RC_DB", db)
    import asyncio

    asyncio.run(_v1_waiting(db, "o-1"))
    runner = CliRunner()

    def run(kind: str, *args: str) -> tuple[int, str]:
        import sys

        sys.modules.pop("rc_app", None)
        monkeypatch.setenv("RC_KIND", kind)
        res = runner.invoke(main, ["replay-check", "--app", "rc_app:engine", *args])
        return res.exit_code, res.output

    code, out = run("inserted")
    assert code == 1, out
    assert "o-1" in out and "would block" in out
    assert "position 2" in out and "sleep 'sleep'" in out and "step 'step_c'" in out
    code, out = run("patched")
    assert code == 0, out
    assert "1 passed" in out
    code, out = run("inserted", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False and doc["results"][0]["outcome"] == "blocked"
    assert doc["results"][0]["position"] == 2
    code, out = run("v1", "--export", str(tmp_path / "golden"), "--workflow", "o-1")
    assert code == 0, out
    assert (tmp_path / "golden" / "o-1.json").exists()
    code, out = run("inserted", "--golden", str(tmp_path / "golden"))
    assert code == 1 and "o-1" in out
    code, out = run("v1", "--workflow", "nope")
    assert code == 3, out
