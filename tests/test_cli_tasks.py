"""plait tasks list|show|claim|complete|reassign, and the readable ``workflows show``:
tables by default, ``--json`` on every read command, exit codes for bad input and unknown
ids, the answer's changes against the proposal."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

import plait
from plait.cli import main
from plait.testing import TestEngine
from tests.cli_app import review


async def cli(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
async def waiting(test_engine: TestEngine) -> TestEngine:
    test_engine.register(review)
    await test_engine.start(review, "Engineer", id="r1")
    await test_engine.run_until_idle()
    return test_engine


async def test_list_shows_open_tasks_as_a_table_and_json(waiting: TestEngine) -> None:
    db = ["--database", waiting.url]
    code, out, _ = await cli("tasks", "list", *db)
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split()[:3] == ["ID", "TITLE", "STATUS"]
    assert row.split()[0] == "r1:1" and "recruiters" in row and "open" in row
    code, out, _ = await cli("tasks", "list", *db, "--json")
    assert code == 0
    (task,) = json.loads(out)
    assert (task["id"], task["assignee"], task["proposal"]) == (
        "r1:1",
        "recruiters",
        {"salary": 100, "title": "Engineer"},
    )
    code, out, _ = await cli("tasks", "list", *db, "--assignee", "nobody")
    assert (code, out.strip()) == (0, "no human tasks match")


async def test_show_claim_complete_with_changes_then_approve(waiting: TestEngine) -> None:
    db = ["--database", waiting.url]
    code, out, _ = await cli("tasks", "show", *db, "r1:1")
    assert code == 0
    assert "Check the offer" in out and "candidate  c-1" in out and "salary  100" in out
    code, out, _ = await cli("tasks", "claim", *db, "r1:1", "--by", "lin")
    assert (code, out.strip()) == (0, "claimed by lin")
    code, out, _ = await cli(
        "tasks",
        "complete",
        *db,
        "r1:1",
        "--by",
        "lin",
        "--answer",
        '{"salary": 120, "title": "Engineer"}',
    )
    assert (code, out.strip()) == (0, "completed by lin (changed: salary)")
    code, out, _ = await cli("tasks", "show", *db, "r1:1", "--json")
    shown = json.loads(out)
    assert shown["status"] == "completed" and shown["answer"]["salary"] == 120
    assert [e["kind"] for e in shown["events"]] == ["created", "claimed", "completed"]
    assert shown["changes"] == [{"field": "salary", "before": 100, "after": 120}]
    await waiting.run_until_idle()
    code, out, _ = await cli("tasks", "list", *db, "--for", "ada")
    assert code == 0 and "Send it?" in out
    code, out, _ = await cli("tasks", "complete", *db, "r1:2", "--approve", "--by", "ada")
    assert code == 0
    await waiting.run_until_idle()
    assert await waiting.handle("r1").result() == 120


async def test_reassign_and_the_readable_timeline(waiting: TestEngine) -> None:
    db = ["--database", waiting.url]
    code, out, _ = await cli("tasks", "reassign", *db, "r1:1", "--to", "ada", "--by", "lin")
    assert (code, out.strip()) == (0, "assigned to ada")
    code, out, _ = await cli("workflows", "show", *db, "r1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["review", "r1", "WAITING"]
    assert "waiting for human task r1:1" in out
    assert any(line.split()[:2] == ["1", "human_task"] for line in lines)
    assert "r1:1  Check the offer  open" in out and "-> ada" in out
    code, out, _ = await cli("workflows", "list", *db)
    assert code == 0 and out.splitlines()[1].split()[:4] == ["r1", "review", "1", "waiting"]


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["show", "nope"], 3, "no human task 'nope'"),
        (["claim", "nope", "--by", "lin"], 3, "no human task 'nope'"),
        (["claim", "r1:1"], 2, "claim needs --by"),
        (["complete", "r1:1"], 2, "exactly one of --answer"),
        (["complete", "r1:1", "--answer", "{", "--by", "x"], 2, "--answer must be JSON"),
        (["complete", "r1:1", "--answer", '{"salary": "lots"}', "--by", "x"], 2, "salary"),
        (["reassign", "r1:1"], 2, "Missing option '--to'"),
        (["list", "--status", "sleeping"], 2, "sleeping"),
    ],
)
async def test_bad_input_is_one_line_with_the_exit_code(
    waiting: TestEngine, args: list[str], code: int, expected: str
) -> None:
    full = ["tasks", args[0], "--database", waiting.url, *args[1:]]
    got, out, err = await cli(*full)
    assert got == code, err
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert expected in err


async def test_a_second_completion_fails_and_changes_nothing(waiting: TestEngine) -> None:
    db = ["--database", waiting.url]
    answer = '{"salary": 110, "title": "Engineer"}'
    assert (await cli("tasks", "complete", *db, "r1:1", "--answer", answer))[0] == 0
    code, _, err = await cli(
        "tasks", "complete", *db, "r1:1", "--answer", '{"salary": 1, "title": "x"}'
    )
    assert code == 2 and "already" in err
    task = await waiting.task("r1:1")
    assert task.status == plait.TaskStatus.COMPLETED and task.answer == {
        "salary": 110,
        "title": "Engineer",
    }
