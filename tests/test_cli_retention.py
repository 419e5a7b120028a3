"""``plait gc`` and ``plait erase`` on the database: what they print, --dry-run and --json,
the confirmation question, and the exit codes (2 for a bad duration, 3 for a subject nothing
carries, 1 when the question is answered no)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import plait
from plait.cli import main
from plait.testing import TestEngine

pytestmark = pytest.mark.backends("sqlite")


@plait.workflow
async def quick(ctx: plait.Context, text: str) -> str:
    return text


@plait.workflow
async def waits(ctx: plait.Context, text: str) -> str:
    await ctx.wait_for_signal("go")
    return text


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A database with two workflows that ended in 2020, one waiting, about p1 and p2."""
    db = f"sqlite:///{tmp_path}/cli.db"

    async def build() -> None:
        async with TestEngine(
            db, workflows=[quick, waits], start=datetime(2020, 1, 1, tzinfo=UTC)
        ) as e:
            await e.start(quick, "Ada", id="q1", subject="p1")
            await e.start(quick, "Bob", id="q2", subject="p2")
            await e.start(waits, "Cy", id="w1", subject="p2")
            await e.records.put("note", "n1", "about p1", subject="p1")
            await e.run_until_idle(within=timedelta(minutes=1))

    asyncio.run(build())
    return db


def test_gc_dry_run_then_for_real(url: str) -> None:
    code, out, _ = run("gc", "--database", url, "--older-than", "30d", "--dry-run", "--json")
    assert code == 0
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["deleted"]["workflows"] == 2
    code, out, _ = run("gc", "--database", url, "--older-than", "30d", "--name", "quick")
    assert code == 0 and out.startswith("deleted: 2 workflow(s), rows per table:")
    assert "workflow_events  2" in out  # the started events (a tombstone replaces them)
    code, out, _ = run("gc", "--database", url, "--older-than", "12h")
    assert (code, out.strip()) == (0, "nothing to delete (done)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--older-than", "30 days"), "30d, 12h, 90m"),
        (("--older-than", "0m"), "longer than zero"),
        ((), "give --older-than"),
        (("--policies",), "needs --app"),
    ],
)
def test_gc_bad_input_exits_2(url: str, args: tuple[str, ...], message: str) -> None:
    code, out, err = run("gc", "--database", url, *args)
    assert code == 2 and err.startswith("error: ") and message in err and out == ""


def test_erase_asks_first_and_says_what_it_erased(url: str) -> None:
    code, _, err = run("erase", "nobody", "--database", url)
    assert code == 3 and "nothing carries the subject 'nobody'" in err
    code, out, err = run("erase", "p2", "--database", url, input="n\n")
    assert code == 1 and "nothing was erased" in err
    assert "subject p2: 2 workflow(s)" in out and "w1  waits  waiting" in out
    code, out, _ = run("erase", "p2", "--database", url, "--by", "dpo", input="y\n")
    assert code == 0
    assert out.strip().endswith(
        "erased p2: 2 workflow(s) (1 cancelled first), 0 record(s), 0 blob(s)"
    )
    code, out, _ = run("erase", "p1", "--database", url, "--yes", "--json")
    report = json.loads(out)
    assert code == 0 and report["workflows"] == ["q1"] and report["records"] == 1

    async def events() -> list[plait.WorkflowEvent]:
        async with plait.Engine(url) as e:
            return await e.events("w1")

    last = asyncio.run(events())[-1]
    assert (last.kind, last.by) == ("erased", "dpo")


def test_gc_policies_apply_the_apps_retention(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    monkeypatch.setenv("PLAIT_CLI_DB", url)
    monkeypatch.chdir(Path(__file__).parent.parent)
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)  # read the new URL
    code, out, _ = run("gc", "--app", "tests.cli_app:engine", "--policies", "--dry-run")
    assert (code, out.strip()) == (0, "nothing to delete (dry run)")  # it has no policies
    code, _, err = run("gc", "--app", "tests.cli_app:engine", "--policies", "--older-than", "1d")
    assert code == 2 and "without --older-than" in err
