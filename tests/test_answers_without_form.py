"""Answers from a process without the app's code (``plait server --database URL``): the
answer is checked against the JSON Schema stored with the task, with the same
``InvalidAnswer``; the workflow decodes it into its form class when it resumes, and an answer
the class refuses re-opens the task (a ``reopened`` event with the errors) instead of
blocking the workflow. The answering process is a ``python -c`` subprocess on the same
database that never imports this module (where the form lives). SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

import plait
from plait.testing import TestEngine

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2030, 1, 1, tzinfo=UTC)


class Rating(pydantic.BaseModel):
    score: int
    note: str = ""

    @pydantic.field_validator("score")
    @classmethod
    def at_most_five(cls, value: int) -> int:
        # A rule the JSON Schema does not carry: only the form class checks it.
        if value > 5:
            raise ValueError("at most 5")
        return value


@plait.workflow
async def rate(ctx: plait.Context) -> str:
    rating = await ctx.ask_human("Rate it", form=Rating)
    assert isinstance(rating, Rating)
    return f"{rating.score}:{rating.note}"


ANSWER = """
import asyncio, json, sys
import plait

async def main(url, task_id, answers):
    async with plait.Engine(url) as engine:
        for answer in json.loads(answers):
            try:
                task = await engine.complete_task(task_id, answer, by="ada")
                print(json.dumps({"status": str(task.status)}))
            except plait.InvalidAnswer as exc:
                print(json.dumps({"errors": exc.errors, "message": str(exc)}))
    print(json.dumps({"form_loaded": any("answers_without_form" in m for m in sys.modules)}))

asyncio.run(main(*sys.argv[1:]))
"""


def answer_elsewhere(url: str, task_id: str, *answers: object) -> list[dict[str, Any]]:
    """Completes ``task_id`` with each answer in turn from a process without the form."""
    done = subprocess.run(
        [sys.executable, "-c", ANSWER, url, task_id, json.dumps(answers)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    *results, loaded = [json.loads(line) for line in done.stdout.splitlines()]
    assert loaded == {"form_loaded": False}
    return results


@pytest.fixture
async def engine(db_url: str) -> Any:
    async with TestEngine(db_url, workflows=[rate], start=START) as e:
        yield e


async def waiting_task(engine: TestEngine) -> plait.HumanTask:
    await engine.start(rate, id="w")
    await engine.run_until_idle()
    [task] = await engine.tasks()
    assert task.form.endswith(":Rating")
    return task


async def test_a_valid_answer_is_checked_by_the_schema_and_decoded_on_resume(
    engine: TestEngine, db_url: str
) -> None:
    task = await waiting_task(engine)
    [result] = answer_elsewhere(db_url, task.id, {"score": 4, "note": "good"})
    assert result == {"status": "completed"}
    assert (await engine.task(task.id)).answer == {"score": 4, "note": "good"}
    await engine.run_until_idle()
    assert await engine.handle("w").result() == "4:good"  # the workflow got a Rating


async def test_an_invalid_answer_names_each_field_and_changes_nothing(
    engine: TestEngine, db_url: str
) -> None:
    task = await waiting_task(engine)
    before = await engine.task_events(task.id)
    wrong, missing, not_a_dict = answer_elsewhere(
        db_url, task.id, {"score": "high", "extra": 1}, {"note": "x"}, "yes"
    )
    assert sorted(field for field, _ in wrong["errors"]) == ["extra", "score"]
    why = dict(wrong["errors"])
    assert "unknown field" in why["extra"] and "integer" in why["score"]
    assert "Rating" in wrong["message"] and "Nothing was changed" in wrong["message"]
    assert missing["errors"] == [["score", "Field required"]]
    assert [field for field, _ in not_a_dict["errors"]] == ["(answer)"]
    assert (await engine.task(task.id)).status == plait.TaskStatus.OPEN
    assert await engine.task_events(task.id) == before
    await engine.run_until_idle()
    assert (await engine.handle("w").info()).status == plait.WorkflowStatus.WAITING


async def test_an_answer_the_form_refuses_reopens_the_task(engine: TestEngine, db_url: str) -> None:
    task = await waiting_task(engine)
    [result] = answer_elsewhere(db_url, task.id, {"score": 7, "note": "great"})
    assert result == {"status": "completed"}  # the schema has no "at most 5"
    await engine.run_until_idle()

    info = await engine.handle("w").info()
    assert info.status == plait.WorkflowStatus.WAITING  # not blocked: it waits again
    assert info.waiting_on == {"signals": [f"plait:task:{task.id}"], "until": None}
    reopened = await engine.task(task.id)
    assert reopened.status == plait.TaskStatus.OPEN and reopened.answer is None
    [event] = await engine.task_events(task.id, kinds=["reopened"])
    assert event.kind == plait.TaskEventKind.REOPENED
    assert [e["field"] for e in event.payload["errors"]] == ["score"]
    assert "at most 5" in event.payload["errors"][0]["why"]
    assert event.payload["answered_by"] == "ada"
    assert json.loads(event.payload["answer"]) == {"score": 7, "note": "great"}  # kept
    journal = await engine.journal("w")
    assert [str(r.status) for r in journal] == ["waiting"]

    # A corrected answer completes it (here the form is loaded: the class checks it).
    with pytest.raises(plait.InvalidAnswer, match="at most 5"):
        await engine.complete_task(task.id, {"score": 9}, by="ada")
    await engine.complete_task(task.id, {"score": 5, "note": "fixed"}, by="ada")
    await engine.run_until_idle()
    assert await engine.handle("w").result() == "5:fixed"
    assert [str(e.kind) for e in await engine.task_events(task.id)] == [
        "created",
        "completed",
        "reopened",
        "completed",
    ]
