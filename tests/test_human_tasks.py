"""Human tasks: approvals, typed forms with proposals and diffs, validation, assignment with a
directory, claims, deadlines (raise, default, escalate) and reminders on the fake clock,
cancellation, the audit trail, replay determinism, and the race of two people answering.
Every test that uses an engine runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydantic
import pytest

import plait
from plait.store.records import Entry, Fence, NewTask
from plait.testing import TestEngine

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2030, 1, 1, tzinfo=UTC)
calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


class Address(pydantic.BaseModel):
    city: str
    zip: str


class Email(pydantic.BaseModel):
    subject: str
    body: str
    tone: str = "formal"
    approved: bool = True
    to: Address | None = None


@plait.step
async def draft_email(topic: str) -> Email:
    calls["draft"] += 1
    return Email(subject=f"About {topic}", body="AI draft", to=Address(city="Oslo", zip="0150"))


@plait.step
async def send(email: Email) -> str:
    calls["send"] += 1
    return f"sent {email.subject}: {email.body}"


@plait.workflow
async def approve(ctx: plait.Context) -> str:
    answer = await ctx.ask_human("Ship it?", assignee="ada")
    assert isinstance(answer, plait.Approval)
    return f"{answer.approved}:{answer.comment}"


@plait.workflow
async def review(ctx: plait.Context, topic: str) -> str:
    draft = await draft_email(topic)
    email = await ctx.ask_human(
        "Review the e-mail",
        form=Email,
        proposal=draft,
        context={"topic": topic},
        assignee="recruiters",
    )
    assert isinstance(email, Email)
    if not email.approved:
        return "rejected"
    await ctx.sleep(timedelta(hours=1))  # one more run: the answer must replay from the journal
    return await send(email)


@plait.workflow
async def deadline(ctx: plait.Context) -> str:
    try:
        answer = await ctx.ask_human(
            "Approve by Wednesday",
            assignee="ada",
            due=timedelta(days=2),
            remind=timedelta(hours=4),
        )
    except plait.WaitTimeout as exc:
        assert isinstance(exc, TimeoutError)
        return f"timed out at {ctx.now().isoformat()}"
    return f"answered {answer.approved}"


@plait.workflow
async def defaulted(ctx: plait.Context) -> str:
    answer = await ctx.ask_human(
        "Approve or it goes ahead",
        due=timedelta(days=2),
        on_timeout=plait.Default(plait.Approval(approved=True, comment="nobody objected")),
    )
    return f"{answer.approved}:{answer.comment}"


@plait.workflow
async def escalated(ctx: plait.Context) -> str:
    answer = await ctx.ask_human(
        "Approve the offer",
        assignee="ada",
        due=timedelta(days=2),
        remind=timedelta(hours=4),
        on_timeout=plait.Escalate(
            to="managers", due=timedelta(days=1), then=plait.Default({"approved": False})
        ),
    )
    return f"{answer.approved}:{answer.comment}"


@plait.workflow
async def two_questions(ctx: plait.Context) -> list[bool]:
    a, b = await asyncio.gather(
        ctx.ask_human("first", assignee="ada"), ctx.ask_human("second", assignee="lin")
    )
    return [a.approved, b.approved]


@plait.workflow
async def cancellable(ctx: plait.Context) -> str:
    try:
        await asyncio.gather(ctx.ask_human("one"), ctx.ask_human("two"))
    except asyncio.CancelledError:
        calls["cancelled"] += 1
        raise
    return "unreachable"


@plait.workflow
async def parent_asks(ctx: plait.Context) -> bool:
    return (await ctx.child(child_asks)).approved


@plait.workflow
async def child_asks(ctx: plait.Context) -> plait.Approval:
    return await ctx.ask_human("child question")


@plait.workflow
async def strict_deadline(ctx: plait.Context) -> str:
    answer = await ctx.ask_human("Approve", due=timedelta(days=2))
    return f"answered {answer.approved}"


ALL = [
    approve,
    review,
    deadline,
    defaulted,
    escalated,
    two_questions,
    cancellable,
    parent_asks,
    child_asks,
    strict_deadline,
]


def _url(plait_backend: str, new_db_url: Callable[..., str]) -> str | None:
    return None if plait_backend == "sqlite" else new_db_url()


@pytest.fixture
async def engine(plait_backend: str, new_db_url: Callable[..., str]) -> AsyncIterator[TestEngine]:
    async with TestEngine(_url(plait_backend, new_db_url), workflows=ALL, start=START) as e:
        yield e


DIRECTORY = plait.Directory(
    groups={"recruiters": ["ada", "lin"], "managers": ["max"]}, admins=["root"]
)


@pytest.fixture
async def guarded(plait_backend: str, new_db_url: Callable[..., str]) -> AsyncIterator[TestEngine]:
    url = _url(plait_backend, new_db_url)
    async with TestEngine(url, workflows=ALL, start=START, directory=DIRECTORY) as e:
        yield e


def kinds(events: list[plait.TaskEvent]) -> list[str]:
    return [str(e.kind) for e in events]


# -- approvals ---------------------------------------------------------------------------
async def test_approval_without_form_suspends_until_answered(engine: TestEngine) -> None:
    h = await engine.start(approve, id="w")
    await engine.run_until_idle()
    info = await h.info()
    assert info.status == plait.WorkflowStatus.WAITING
    assert info.waiting_on == {"signals": ["plait:task:w:1"], "until": None}
    [task] = await engine.tasks()
    assert task.id == "w:1"  # "<workflow id>:<seq>"
    assert task.status == plait.TaskStatus.OPEN and task.is_open
    assert task.title == "Ship it?" and task.assignee == "ada"
    assert task.form == "plait.human:Approval"
    assert task.form_schema == plait.Approval.model_json_schema()

    done = await engine.complete_task("w:1", {"approved": False}, by="ada", comment="not yet")
    assert done.status == plait.TaskStatus.COMPLETED and done.completed_by == "ada"
    assert done.answer == {"approved": False, "comment": "not yet"}  # comment= fills it
    await engine.run_until_idle()
    assert await h.result() == "False:not yet"  # rejecting is part of the answer


@pytest.mark.parametrize(
    "answer",
    [True, plait.Approval(approved=True, comment="ok"), {"approved": "yes", "comment": "ok"}],
)
async def test_approval_answer_forms(engine: TestEngine, answer: object) -> None:
    h = await engine.start(approve, id="w")
    await engine.run_until_idle()
    await engine.complete_task("w:1", answer, by="ada", comment="ok")
    await engine.run_until_idle()
    assert await h.result() == "True:ok"


# -- forms, proposals and what changed -----------------------------------------------------
async def test_edited_proposal_reaches_the_workflow_and_the_task_keeps_the_diff(
    engine: TestEngine,
) -> None:
    h = await engine.start(review, "the offer", id="w")
    await engine.run_until_idle()
    [task] = await engine.tasks(workflow_id="w")
    assert task.form == f"{__name__}:Email"
    assert task.form_schema == Email.model_json_schema()  # a UI renders it without our code
    assert task.context == {"topic": "the offer"}
    assert task.proposal == {
        "subject": "About the offer",
        "body": "AI draft",
        "tone": "formal",
        "approved": True,
        "to": {"city": "Oslo", "zip": "0150"},
    }
    edited = {**task.proposal, "body": "Written by a person", "to": {"city": "Oslo", "zip": "0151"}}
    await engine.complete_task(task.id, edited, by="ada")
    await engine.run_until_idle()
    assert await h.result() == "sent About the offer: Written by a person"
    assert calls == {"draft": 1, "send": 1}

    task = await engine.task(task.id)
    assert task.answer == edited
    assert task.changes == (
        plait.FieldChange("body", "AI draft", "Written by a person"),
        plait.FieldChange("to.zip", "0150", "0151"),
    )
    completed = (await engine.task_events(task.id))[-1]
    assert completed.kind == plait.TaskEventKind.COMPLETED and completed.actor == "ada"
    assert completed.payload == {"changed": ["body", "to.zip"]}


async def test_proposal_approved_as_is_has_no_changes(engine: TestEngine) -> None:
    h = await engine.start(review, "x", id="w")
    await engine.run_until_idle()
    [task] = await engine.tasks()
    answer = Email.model_validate(task.proposal)  # a form instance works as well as a dict
    done = await engine.complete_task(task.id, answer, by="ada")
    assert done.changes == ()
    await engine.run_until_idle()
    assert await h.result() == "sent About x: AI draft"


async def test_rejecting_through_a_form_field(engine: TestEngine) -> None:
    h = await engine.start(review, "x", id="w")
    await engine.run_until_idle()
    [task] = await engine.tasks()
    await engine.complete_task(task.id, {**task.proposal, "approved": False}, by="lin")
    await engine.run_until_idle()
    assert await h.result() == "rejected"
    assert calls["send"] == 0


async def test_invalid_answer_names_each_field_and_changes_nothing(engine: TestEngine) -> None:
    h = await engine.start(review, "x", id="w")
    await engine.run_until_idle()
    [task] = await engine.tasks()
    before = await engine.task_events(task.id)
    with pytest.raises(plait.InvalidAnswer) as caught:
        await engine.complete_task(
            task.id, {"subject": ["not", "text"], "bdy": "typo", "to": {"city": "X"}}, by="ada"
        )
    err = caught.value
    assert sorted(field for field, _ in err.errors) == ["bdy", "body", "subject", "to.zip"]
    why = dict(err.errors)
    assert "unknown field" in why["bdy"] and "required" in why["body"].lower()
    assert "string" in why["subject"] and "required" in why["to.zip"].lower()
    assert "subject" in str(err) and "to.zip" in str(err) and "Email" in str(err)
    with pytest.raises(plait.InvalidAnswer):
        await engine.complete_task(task.id, "yes", by="ada")
    # nothing changed: the task is open, no event, the workflow still waits
    assert (await engine.task(task.id)).status == plait.TaskStatus.OPEN
    assert await engine.task_events(task.id) == before
    await engine.run_until_idle()
    assert (await h.info()).status == plait.WorkflowStatus.WAITING
    await engine.complete_task(task.id, task.proposal, by="ada")
    await engine.run_until_idle()
    assert await h.result() == "sent About x: AI draft"


async def test_completing_twice_or_an_unknown_task(engine: TestEngine) -> None:
    await engine.start(approve, id="w")
    await engine.run_until_idle()
    await engine.complete_task("w:1", True, by="ada")
    with pytest.raises(plait.TaskAlreadyCompleted, match="already completed by 'ada'") as caught:
        await engine.complete_task("w:1", False, by="lin")
    assert isinstance(caught.value, plait.TaskNotOpen) and caught.value.status == "completed"
    assert (await engine.task("w:1")).answer == {"approved": True, "comment": None}
    with pytest.raises(plait.TaskNotFound, match="no human task 'nope'"):
        await engine.complete_task("nope", True)
    with pytest.raises(plait.TaskNotFound):
        await engine.task("nope")


# -- the race of two people answering at once -----------------------------------------------
async def test_two_concurrent_answers_exactly_one_wins(engine: TestEngine) -> None:
    for i in range(10):
        await engine.start(approve, id=f"w{i}")
    await engine.run_until_idle()
    for i in range(10):
        results = await asyncio.gather(
            engine.complete_task(f"w{i}:1", True, by="ada", comment="ada"),
            engine.complete_task(f"w{i}:1", False, by="lin", comment="lin"),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, plait.HumanTask)]
        lost = [r for r in results if isinstance(r, plait.TaskAlreadyCompleted)]
        assert len(won) == 1 and len(lost) == 1, results
        events = await engine.task_events(f"w{i}:1", kinds=["completed"])
        assert [e.actor for e in events] == [won[0].completed_by]
    await engine.run_until_idle()
    for i in range(10):
        task = await engine.task(f"w{i}:1")
        expected = f"{task.completed_by == 'ada'}:{task.completed_by}"
        assert await engine.handle(f"w{i}").result() == expected  # the winner's answer


async def test_two_engines_on_one_database_exactly_one_wins(db_url: str) -> None:
    # [sqlite]: two Engine objects, two connections, one SQLite file
    async with TestEngine(db_url, workflows=ALL, start=START) as first:
        for i in range(10):
            await first.start(approve, id=f"w{i}")
        await first.run_until_idle()
        async with plait.Engine(db_url, clock=first.clock) as second:
            for i in range(10):
                results = await asyncio.gather(
                    first.complete_task(f"w{i}:1", True, by="ada", comment="ada"),
                    second.complete_task(f"w{i}:1", False, by="lin", comment="lin"),
                    return_exceptions=True,
                )
                won = [r for r in results if isinstance(r, plait.HumanTask)]
                assert len(won) == 1, results
                assert sum(isinstance(r, plait.TaskAlreadyCompleted) for r in results) == 1
        await first.run_until_idle()
        for i in range(10):
            task = await first.task(f"w{i}:1")
            assert len(await first.task_events(task.id, kinds=["completed"])) == 1
            result = await first.handle(f"w{i}").result()
            assert result == f"{task.completed_by == 'ada'}:{task.completed_by}"


async def test_the_answer_survives_restarts(db_url: str) -> None:
    async with TestEngine(db_url, workflows=[review], start=START) as e:
        await e.start(review, "x", id="w")
        await e.run_until_idle()
    async with plait.Engine(db_url) as client:  # another process: no worker, no workflows
        [task] = await client.tasks(status="open")
        await client.complete_task(task.id, {**task.proposal, "body": "edited"}, by="ada")
    async with TestEngine(db_url, workflows=[review], start=START) as e:
        await e.run_until_idle()
        assert await e.handle("w").result() == "sent About x: edited"
    assert calls == {"draft": 1, "send": 1}


# -- assignment: groups, a directory, claims, reassignment ---------------------------------
async def test_directory_checks_who_may_complete(guarded: TestEngine) -> None:
    h = await guarded.start(review, "x", id="w")
    await guarded.run_until_idle()
    [task] = await guarded.tasks(assignee=["lin", *DIRECTORY.groups_of("lin")])  # lin's inbox
    assert task.assignee == "recruiters"
    with pytest.raises(plait.PermissionDenied, match="'max' may not complete"):
        await guarded.complete_task(task.id, task.proposal, by="max")
    with pytest.raises(plait.PermissionDenied, match="by="):
        await guarded.complete_task(task.id, task.proposal)
    assert (await guarded.task(task.id)).is_open
    done = await guarded.complete_task(task.id, task.proposal, by="lin")  # a group member
    assert done.completed_by == "lin"
    await guarded.run_until_idle()
    assert await h.result() == "sent About x: AI draft"


async def test_admin_may_complete_any_task(guarded: TestEngine) -> None:
    await guarded.start(approve, id="w")  # assigned to the person "ada"
    await guarded.run_until_idle()
    with pytest.raises(plait.PermissionDenied):
        await guarded.complete_task("w:1", True, by="lin")
    assert (await guarded.complete_task("w:1", True, by="root")).completed_by == "root"


async def test_claim_and_reassign(guarded: TestEngine) -> None:
    h = await guarded.start(review, "x", id="w")
    await guarded.run_until_idle()
    [task] = await guarded.tasks()
    claimed = await guarded.claim_task(task.id, by="ada")
    assert claimed.claimed_by == "ada" and claimed.status == plait.TaskStatus.OPEN
    await guarded.claim_task(task.id, by="ada")  # claiming again is a no-op
    with pytest.raises(plait.PermissionDenied, match="'ada' has claimed it"):
        await guarded.claim_task(task.id, by="lin")
    with pytest.raises(plait.PermissionDenied, match="'ada' has claimed it"):
        await guarded.complete_task(task.id, task.proposal, by="lin")
    with pytest.raises(plait.PermissionDenied):
        await guarded.reassign_task(task.id, to="max", by="max")  # not the assignee's group
    moved = await guarded.reassign_task(task.id, to="managers", by="lin")
    assert moved.assignee == "managers" and moved.claimed_by is None
    with pytest.raises(plait.PermissionDenied):
        await guarded.complete_task(task.id, task.proposal, by="ada")  # not a manager
    await guarded.complete_task(task.id, task.proposal, by="max")
    await guarded.run_until_idle()
    assert await h.result() == "sent About x: AI draft"
    events = await guarded.task_events(task.id)
    assert [(str(e.kind), e.actor) for e in events] == [
        ("created", None),
        ("claimed", "ada"),
        ("reassigned", "lin"),
        ("completed", "max"),
    ]
    assert events[2].payload == {"from": "recruiters", "to": "managers"}
    assert await guarded.tasks(assignee="managers", status="open") == []


async def test_without_a_directory_by_is_recorded_as_given(engine: TestEngine) -> None:
    await engine.start(approve, id="w")
    await engine.start(approve, id="v")
    await engine.run_until_idle()
    assert (await engine.complete_task("w:1", True, by="anyone")).completed_by == "anyone"
    await engine.claim_task("v:1", by="lin")
    with pytest.raises(plait.PermissionDenied):  # a claim still holds
        await engine.claim_task("v:1", by="ada")
    assert (await engine.reassign_task("v:1", to="ada")).claimed_by is None
    assert (await engine.complete_task("v:1", True)).completed_by is None


async def test_tasks_filters(engine: TestEngine) -> None:
    await engine.start(two_questions, id="w")
    await engine.start(approve, id="v")
    await engine.run_until_idle()
    assert [t.id for t in await engine.tasks()] == ["v:1", "w:1", "w:2"]  # same time: by id
    assert [t.title for t in await engine.tasks(workflow_id="w")] == ["first", "second"]
    assert [t.id for t in await engine.tasks(assignee="ada")] == ["v:1", "w:1"]
    assert [t.id for t in await engine.tasks(assignee=["lin", "nobody"])] == ["w:2"]
    await engine.complete_task("v:1", True)
    assert [t.id for t in await engine.tasks(status="completed")] == ["v:1"]
    assert [t.id for t in await engine.tasks(status=["open"], assignee="ada")] == ["w:1"]
    with pytest.raises(plait.ConfigurationError, match="unknown task status"):
        await engine.tasks(status="done")


# -- deadlines and reminders, on the fake clock ------------------------------------------------
async def test_two_day_deadline_raises_wait_timeout_with_a_reminder_before(
    engine: TestEngine,
) -> None:
    began = time.monotonic()
    h = await engine.start(deadline, id="w")
    await engine.run_until_idle()
    assert engine.clock.now() == START + timedelta(days=2)
    assert await h.result() == f"timed out at {(START + timedelta(days=2)).isoformat()}"
    assert time.monotonic() - began < 60  # two days did not pass for real (a hang would)
    task = await engine.task("w:1")
    assert task.status == plait.TaskStatus.EXPIRED and task.answer is None
    events = await engine.task_events("w:1")
    assert kinds(events) == ["created", "reminded", "expired"]
    assert [e.at for e in events] == [
        START,
        START + timedelta(days=2) - timedelta(hours=4),
        START + timedelta(days=2),
    ]
    assert events[1].payload == {"assignee": "ada", "due_at": "2030-01-03T00:00:00+00:00"}
    with pytest.raises(plait.TaskNotOpen, match="expired") as caught:
        await engine.complete_task("w:1", True, by="ada")
    assert caught.value.status == "expired"
    assert not isinstance(caught.value, plait.TaskAlreadyCompleted)


async def test_an_answer_before_the_deadline_wins(engine: TestEngine) -> None:
    h = await engine.start(deadline, id="w")
    await engine.run_until_idle(within=timedelta(days=1))  # nobody answers for a day
    assert (await h.info()).status == plait.WorkflowStatus.WAITING
    task = await engine.task("w:1")
    assert task.due_at == START + timedelta(days=2)
    assert task.remind_at == START + timedelta(days=2) - timedelta(hours=4)
    await engine.complete_task("w:1", True, by="ada")
    await engine.run_until_idle()
    assert await h.result() == "answered True"
    assert kinds(await engine.task_events("w:1")) == ["created", "completed"]  # no reminder


async def test_an_answer_after_the_deadline_is_refused_even_before_a_worker_sees_it(
    engine: TestEngine,
) -> None:
    h = await engine.start(strict_deadline, id="w")
    await engine.run_until_idle(within=timedelta(hours=1))
    engine.clock.advance(timedelta(days=2))  # the deadline passed; no worker has run since
    with pytest.raises(plait.TaskNotOpen, match="expired"):
        await engine.complete_task("w:1", True, by="ada")
    assert (await engine.task("w:1")).is_open  # nothing changed; the worker expires it
    await engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="WaitTimeout"):
        await h.result()
    assert (await engine.task("w:1")).status == plait.TaskStatus.EXPIRED


async def test_default_on_timeout(engine: TestEngine) -> None:
    h = await engine.start(defaulted, id="w")
    await engine.run_until_idle()
    assert await h.result() == "True:nobody objected"
    task = await engine.task("w:1")
    assert task.status == plait.TaskStatus.EXPIRED
    assert task.answer == {"approved": True, "comment": "nobody objected"}
    events = await engine.task_events("w:1")
    assert kinds(events) == ["created", "expired"]
    assert events[-1].payload == {"due_at": "2030-01-03T00:00:00+00:00", "default": True}


async def test_escalation_reassigns_with_a_new_deadline_and_keeps_waiting(
    engine: TestEngine,
) -> None:
    h = await engine.start(escalated, id="w")
    await engine.run_until_idle(within=timedelta(days=2, hours=1))
    assert (await h.info()).status == plait.WorkflowStatus.WAITING
    task = await engine.task("w:1")
    assert task.assignee == "managers" and task.is_open
    assert task.due_at == START + timedelta(days=3)
    events = await engine.task_events("w:1")
    assert kinds(events) == ["created", "reminded", "escalated"]
    assert events[2].payload == {
        "from": "ada",
        "to": "managers",
        "due_at": "2030-01-04T00:00:00+00:00",
    }
    await engine.complete_task("w:1", {"approved": True}, by="max", comment="go")
    await engine.run_until_idle()
    assert await h.result() == "True:go"


async def test_escalation_then_default(engine: TestEngine) -> None:
    h = await engine.start(escalated, id="w")
    await engine.run_until_idle()
    assert await h.result() == "False:None"
    events = await engine.task_events("w:1")
    assert kinds(events) == ["created", "reminded", "escalated", "reminded", "expired"]
    assert [e.at - START for e in events] == [
        timedelta(0),
        timedelta(hours=44),
        timedelta(hours=48),
        timedelta(hours=68),  # 4 hours before the new deadline
        timedelta(hours=72),
    ]
    assert events[3].payload["assignee"] == "managers"


async def test_reminders_can_be_read_from_a_cursor_and_watched(engine: TestEngine) -> None:
    seen: list[plait.TaskEvent] = []

    async def watch() -> None:
        async for event in engine.watch_task_events(kinds=["reminded"]):
            seen.append(event)

    watcher = asyncio.create_task(watch())
    try:
        await engine.start(deadline, id="a")
        await engine.start(escalated, id="b")
        await engine.run_until_idle(within=timedelta(days=2, hours=21))
        reminders = await engine.task_events(kinds=["reminded"])
        # the two workflows are reminded at the same moment: their order between them varies
        assert sorted((e.task_id, e.payload["assignee"]) for e in reminders) == [
            ("a:1", "ada"),
            ("b:1", "ada"),
            ("b:1", "managers"),
        ]
        cursor = reminders[0].id
        assert [e.id for e in await engine.task_events(kinds=["reminded"], after=cursor)] == [
            e.id for e in reminders[1:]
        ]
        for _ in range(3000):  # up to 30 s: only a hang fails
            if len(seen) == 3:
                break
            await asyncio.sleep(0.01)
        assert seen == reminders
    finally:
        watcher.cancel()


# -- cancellation -------------------------------------------------------------------------
async def test_cancelling_a_workflow_cancels_its_open_tasks(engine: TestEngine) -> None:
    h = await engine.start(cancellable, id="w")
    await engine.run_until_idle()
    assert [t.status for t in await engine.tasks(workflow_id="w")] == ["open", "open"]
    await engine.cancel("w")
    # in the same transaction as the cancel, before any worker ran
    tasks = await engine.tasks(workflow_id="w")
    assert [t.status for t in tasks] == ["cancelled", "cancelled"]
    events = await engine.task_events(workflow_id="w", kinds=["cancelled"])
    assert [(e.task_id, e.actor, e.payload) for e in events] == [
        ("w:1", None, {"reason": "the workflow was cancelled"}),
        ("w:2", None, {"reason": "the workflow was cancelled"}),
    ]
    with pytest.raises(plait.TaskNotOpen, match="cancelled") as caught:
        await engine.complete_task("w:1", True)
    assert caught.value.status == "cancelled"
    await engine.run_until_idle()
    with pytest.raises(plait.WorkflowCancelled):
        await h.result()
    assert calls["cancelled"] == 1  # the workflow saw CancelledError, once
    journal = await engine.journal("w")
    assert [(r.kind, str(r.status)) for r in journal] == [
        ("human_task", "cancelled"),
        ("human_task", "cancelled"),
    ]


async def test_a_cancel_arriving_mid_run_is_delivered_at_the_task(engine: TestEngine) -> None:
    # The store half of ask_human, driven by hand: the run was claimed before the cancel,
    # so the workflow learns of it only from the fenced write that would create the task.
    await engine.start(approve, id="w")
    now = engine.clock.now_ms()
    [claimed] = await engine.store.claim(
        "worker-1", engine.registered_pairs, None, 1, now, engine.lease_ms, 5
    )
    assert await engine.cancel("w") == plait.WorkflowStatus.RUNNING
    fence = Fence("w", claimed.attempt, "worker-1", engine.lease_ms)
    entry = Entry(1, "human_task", "Ship it?", plait.EntryStatus.WAITING, started_at=now)
    new = NewTask(
        id="w:1",
        workflow_id="w",
        seq=1,
        title="Ship it?",
        assignee=None,
        form_name="plait.human:Approval",
        form_schema="{}",
        proposal=None,
        context=None,
        due_at=None,
        remind_offsets=(),
        on_timeout={"kind": "raise"},
    )
    outcome = await engine.store.wait_task(fence, now, [], entry, new, True)
    assert outcome.state == "cancelled"
    assert await engine.tasks() == []  # no task is created for a cancelled workflow
    [record] = await engine.journal("w")
    assert (record.kind, record.status) == ("human_task", plait.EntryStatus.CANCELLED)


async def test_cancelling_a_parent_cancels_its_childrens_tasks(engine: TestEngine) -> None:
    await engine.start(parent_asks, id="p")
    await engine.run_until_idle()
    [task] = await engine.tasks()
    assert task.workflow_id == "p:1"
    await engine.cancel("p")
    assert (await engine.task(task.id)).status == plait.TaskStatus.CANCELLED
    await engine.run_until_idle()
    assert (await engine.get("p:1")).status == plait.WorkflowStatus.CANCELLED


# -- determinism and durability --------------------------------------------------------------
async def test_gathered_questions_take_seqs_in_program_order(engine: TestEngine) -> None:
    h = await engine.start(two_questions, id="w")
    await engine.run_until_idle()
    tasks = await engine.tasks(workflow_id="w")
    assert [(t.id, t.title, t.assignee) for t in tasks] == [
        ("w:1", "first", "ada"),
        ("w:2", "second", "lin"),
    ]
    await engine.complete_task("w:2", False, by="lin")  # answered in the other order
    await engine.run_until_idle()
    await engine.complete_task("w:1", True, by="ada")
    await engine.run_until_idle()
    assert await h.result() == [True, False]


async def test_replay_returns_the_journaled_answer_and_repeats_no_transition(
    engine: TestEngine,
) -> None:
    h = await engine.start(review, "x", id="w")
    await engine.run_until_idle()
    await engine.complete_task("w:2", {**(await engine.task("w:2")).proposal, "body": "b"})
    await engine.run_until_idle()
    assert await h.result() == "sent About x: b"
    journal = await engine.journal("w")
    assert [(r.kind, r.name, str(r.status)) for r in journal] == [
        ("step", "draft_email", "completed"),
        ("human_task", "Review the e-mail", "completed"),
        ("sleep", "sleep", "completed"),
        ("step", "send", "completed"),
    ]
    assert journal[1].output["outcome"] == "completed"
    # the run after the sleep replayed the task from the journal: one task, one creation
    assert kinds(await engine.task_events(workflow_id="w")) == ["created", "completed"]
    assert calls == {"draft": 1, "send": 1}


async def test_resume_after_a_deadline_asks_again(engine: TestEngine) -> None:
    h = await engine.start(strict_deadline, id="w")
    await engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="WaitTimeout"):
        await h.result()
    assert (await engine.task("w:1")).status == plait.TaskStatus.EXPIRED
    await engine.resume("w")
    await engine.run_until_idle(within=timedelta(hours=1))
    task = await engine.task("w:1")
    assert task.is_open and task.due_at == START + timedelta(days=4)
    created = await engine.task_events("w:1", kinds=["created"])
    assert [e.payload.get("reopened") for e in created] == [None, True]
    await engine.complete_task("w:1", True)
    await engine.run_until_idle()
    assert await h.result() == "answered True"


# -- mistakes in the workflow's code -----------------------------------------------------------
@dataclasses.dataclass
class Rating:
    stars: int


@plait.workflow
async def misuse(ctx: plait.Context, case: str) -> str:
    if case == "form":
        await ctx.ask_human("x", form=int)  # type: ignore[arg-type]
    elif case == "remind":
        await ctx.ask_human("x", remind=timedelta(hours=1))
    elif case == "proposal":
        await ctx.ask_human("x", form=Rating, proposal={"stars": "many"})
    elif case == "policy":
        await ctx.ask_human("x", due=1, on_timeout="ignore")  # type: ignore[arg-type]
    elif case == "default":
        await ctx.ask_human("x", due=1, form=Rating, on_timeout=plait.Default({"stars": "?"}))
    return "ok"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("form", "takes a Pydantic model or a dataclass"),
        ("remind", "give due="),
        ("proposal", "the proposal of human task 'x' does not fit its form .*Rating: stars"),
        ("policy", "on_timeout must be"),
        ("default", "the Default answer of human task 'x' does not fit"),
    ],
)
async def test_mistakes_are_clear_errors(engine: TestEngine, case: str, message: str) -> None:
    engine.register(misuse)
    h = await engine.start(misuse, case, id=case)
    await engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed, match="ConfigurationError") as caught:
        await h.result()
    assert re.search(message, caught.value.message), caught.value.message
    assert await engine.tasks(workflow_id=case) == []


@plait.workflow
async def rated(ctx: plait.Context) -> int:
    return (await ctx.ask_human("Rate it", form=Rating, proposal=Rating(stars=3))).stars


async def test_a_dataclass_form(engine: TestEngine) -> None:
    engine.register(rated)
    h = await engine.start(rated, id="w")
    await engine.run_until_idle()
    task = await engine.task("w:1")
    assert task.form_schema["properties"]["stars"]["type"] == "integer"
    assert (await engine.complete_task("w:1", Rating(stars=5))).changes == (
        plait.FieldChange("stars", 3, 5),
    )
    await engine.run_until_idle()
    assert await h.result() == 5


# -- the worked example in docs/human-tasks.md ----------------------------------------------
def test_the_worked_example_runs_and_matches_the_docs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "human_review.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "workflow: published 'plait 1.0 is out'" in out
    assert "completed ada" in out and "reminded" in out
    doc = (ROOT / "docs" / "human-tasks.md").read_text()
    shown = doc.split("<!-- output of examples/human_review.py -->\n```text\n", 1)[1]
    assert out == shown.split("```", 1)[0]
