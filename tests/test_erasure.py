"""engine.erase_subject: every payload about one person is gone from every table and blob,
the shape (kinds, names, times, statuses) and the audit trail remain; an unfinished workflow
is cancelled first, its parent goes on, and a stale worker can write nothing afterwards."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pydantic
import pytest

import plait
from plait.testing import TestEngine
from tests.test_gc import snapshot

SECRET = "Ada Lovelace, 12 Elm Street"


class Review(pydantic.BaseModel):
    notes: str


@plait.step
async def parse(person: str) -> dict[str, str]:
    record = await plait.current_engine().records.get("resume", person)
    assert record is not None
    text = str(record)
    await plait.put_blob(f"resume: {text}".encode(), content_type="text/plain", subject=person)
    return {"name": text}


@plait.step
async def flaky(text: str) -> str:
    raise ValueError(f"cannot read {text}")


@plait.workflow
async def candidate(ctx: plait.Context, person: str) -> int:
    parsed = await parse(person)
    text = parsed["name"]
    ctx.set_status(f"reviewing {parsed['name']}", who=parsed["name"])
    try:
        await flaky(text)
    except plait.StepFailed:
        pass
    review = await ctx.ask_human(
        f"Review {text}", form=Review, proposal=Review(notes=text), context={"resume": text}
    )
    reply = await ctx.wait_for_signal("reply", type=str)
    return len(review.notes) + len(reply)  # a score: the parent gets no personal data


@plait.workflow
async def job(ctx: plait.Context, people: list[str]) -> list[str]:
    """Passes ids and receives scores, as a job's workflow should (DESIGN: erasure)."""
    results = []
    for person in people:
        try:
            results.append(str(await ctx.child(candidate, person, subject=person)))
        except plait.ChildWorkflowFailed as exc:
            results.append(f"ended: {exc.error_type}")
    return results


async def child_of(engine: TestEngine, parent: str, subject: str) -> str:
    page = await engine.page(parent_id=parent)
    return next(w.id for w in page.items if w.subject == subject)


def everything(url: str) -> str:
    """Every column of every row of every table (blob bytes decoded), as one text to search:
    a payload that survives erasure anywhere, in a table known today or added later, shows."""
    parts = []
    for table, rows in snapshot(url).items():
        for row in rows:
            for value in row.values():
                if isinstance(value, bytes):
                    value = value.decode(errors="replace")
                parts.append(f"{table}: {value}")
    return "\n".join(parts)


async def test_erasure_removes_the_payloads_and_keeps_the_shape(test_engine: TestEngine) -> None:
    test_engine.register(job)
    test_engine.register(candidate)
    await test_engine.records.put("resume", "person-0", SECRET, subject="person-0")
    await test_engine.records.put("resume", "person-1", "Grace Hopper", subject="person-1")
    await test_engine.start(job, ["person-0", "person-1"], id="job-1")
    await test_engine.run_until_idle()
    cand = await child_of(test_engine, "job-1", "person-0")
    task = (await test_engine.tasks(workflow_id=cand))[0]
    await test_engine.complete_task(task.id, {"notes": f"strong: {SECRET}"}, by="lin")
    await test_engine.signal(cand, "reply", f"yes from {SECRET}", by="mail")
    await test_engine.run_until_idle()
    assert (await test_engine.get(cand)).status == plait.WorkflowStatus.COMPLETED
    await test_engine.records.put("note", "n1", {"text": SECRET}, subject="person-0")
    await test_engine.records.put("note", "n2", {"text": "Grace"}, subject="person-1")
    before = await test_engine.journal(cand)
    assert SECRET in everything(test_engine.url)

    report = await test_engine.erase_subject("person-0", by="dpo")

    assert report.workflows == (cand,) and report.cancelled == ()
    assert (report.records, report.blobs) == (2, 1)
    text = everything(test_engine.url)
    assert "Ada" not in text and "Elm" not in text
    assert "Grace" in text  # the other candidate's data is untouched
    after = await test_engine.journal(cand)
    assert [(e.seq, e.kind, e.status) for e in after] == [(e.seq, e.kind, e.status) for e in before]
    # names stay, but a human task's (its title, free text) is erased
    assert [e.name for e in after if e.kind != "human_task"] == [
        e.name for e in before if e.kind != "human_task"
    ]
    assert [e.name for e in after if e.kind == "human_task"] == ["[erased]"]
    failed = next(e for e in after if e.name.endswith("flaky"))
    assert failed.error is not None and failed.error.type == "ValueError"
    info = await test_engine.get(cand)
    assert info.status == plait.WorkflowStatus.COMPLETED and info.output is None
    assert info.status_text is None and info.attributes == {}
    events = await test_engine.events(cand)
    assert (events[-1].kind, events[-1].by) == (plait.WorkflowEventKind.ERASED, "dpo")
    (erased_task,) = await test_engine.tasks(workflow_id=cand)
    assert erased_task.answer is None and erased_task.completed_by == "lin"
    assert [e.kind for e in await test_engine.task_events(task_id=task.id)][-1] == "completed"
    assert await test_engine.records.get("note", "n1") is None
    assert await test_engine.records.get("note", "n2") is not None


async def test_an_unfinished_workflow_is_cancelled_first_and_its_parent_goes_on(
    test_engine: TestEngine,
) -> None:
    test_engine.register(job)
    test_engine.register(candidate)
    await test_engine.records.put("resume", "person-0", SECRET, subject="person-0")
    await test_engine.start(job, ["person-0"], id="job-2")
    await test_engine.run_until_idle()
    cand = await child_of(test_engine, "job-2", "person-0")
    assert (await test_engine.get(cand)).status == plait.WorkflowStatus.WAITING

    report = await test_engine.erase_subject("person-0")

    assert report.cancelled == (cand,)
    assert (await test_engine.tasks(workflow_id=cand))[0].status == plait.TaskStatus.CANCELLED
    await test_engine.run_until_idle()
    assert await test_engine.handle("job-2").result() == ["ended: Cancelled"]
    assert "Ada" not in everything(test_engine.url)
    with pytest.raises(plait.WorkflowFinished):
        await test_engine.signal(cand, "reply", "too late")


async def test_a_subject_with_nothing_erases_nothing_and_bad_input_is_refused(
    test_engine: TestEngine,
) -> None:
    report = await test_engine.erase_subject("nobody")
    assert report == plait.ErasureReport("nobody", (), (), 0, 0)
    with pytest.raises(plait.ConfigurationError, match="subject"):
        await test_engine.erase_subject("")
    with pytest.raises(plait.ConfigurationError, match="by="):
        await test_engine.erase_subject("x", by="")


async def test_a_blob_another_workflow_holds_is_kept(test_engine: TestEngine) -> None:
    e = test_engine
    shared = await e.put_blob(b"shared", content_type="text/plain", subject="person-0")
    await e.put_blob(b"shared", content_type="text/plain", subject="person-9")
    report = await test_engine.erase_subject("person-0")
    assert report.blobs == 0
    assert (await e.get_blob(shared)).data == b"shared"
    await test_engine.erase_subject("person-9")
    with pytest.raises(plait.BlobNotFound):
        await e.get_blob(shared)


async def test_a_sleeping_run_is_fenced_out(test_engine: TestEngine) -> None:
    @plait.workflow(name="sleeper")
    async def sleeper(ctx: plait.Context, text: str) -> str:
        await ctx.sleep(timedelta(days=1))
        return text

    test_engine.register(sleeper)
    await test_engine.start(sleeper, SECRET, id="s1", subject="person-0")
    await test_engine.run_until_idle(within=timedelta(hours=1))
    await test_engine.erase_subject("person-0")
    await test_engine.run_until_idle()
    info = await test_engine.get("s1")
    assert info.status == plait.WorkflowStatus.CANCELLED and info.output is None


GATES: dict[str, asyncio.Event] = {}  # made in each test, on its event loop


@plait.step
async def slow_lookup(person: str) -> str:
    GATES["started"].set()
    await GATES["release"].wait()
    return f"found {SECRET}"


@plait.workflow
async def running(ctx: plait.Context, person: str) -> str:
    return await slow_lookup(person)


async def test_a_running_worker_can_write_nothing_after_erasure(test_engine: TestEngine) -> None:
    GATES.update(started=asyncio.Event(), release=asyncio.Event())
    test_engine.register(running)
    await test_engine.start(running, "person-0", id="r1", subject="person-0")
    async with test_engine.worker():
        await asyncio.wait_for(GATES["started"].wait(), 30)  # the step is running in this worker
        report = await test_engine.erase_subject("person-0")
        GATES["release"].set()  # its result comes back now: the write is refused (fenced)
        with pytest.raises(plait.WorkflowCancelled):
            await asyncio.wait_for(test_engine.handle("r1").result(), 30)
    assert report.cancelled == ("r1",)
    info = await test_engine.get("r1")
    assert info.status == plait.WorkflowStatus.CANCELLED and info.output is None
    assert "Ada" not in everything(test_engine.url)
