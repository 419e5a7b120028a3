"""The workflow page's timeline and value rendering, built from a real workflow's records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydantic

import plait
from plait.server.pages.render import relative, short_id, span, time_tag
from plait.server.pages.timeline import build_timeline, waiting_on
from plait.testing import TestEngine


class Offer(pydantic.BaseModel):
    salary: int
    note: str | None = None


@plait.step(retry=plait.Retry(max_attempts=2, initial_interval=0.01))
async def check(x: int) -> int:
    if x < 0:
        raise ValueError("negative amount")
    return x


@plait.workflow
async def sub(ctx: plait.Context, n: int) -> int:
    return n * 2


@plait.workflow
async def hire(ctx: plait.Context, n: int) -> str:
    await check(n)
    try:
        await check(-1)
    except plait.StepFailed:
        pass
    await ctx.sleep(timedelta(hours=1))
    await ctx.child(sub, 3)
    await ctx.wait_for_signal("go", timeout=timedelta(days=1))
    answer = await ctx.ask_human(
        "Check offer",
        form=Offer,
        proposal=Offer(salary=5),
        assignee="hr",
        due=timedelta(days=2),
    )
    return f"offer {answer.salary}"


async def records(engine, wid):
    info = await engine.get(wid)
    return (
        info,
        await engine.journal(wid),
        await engine.attempts(wid),
        await engine.events(wid),
        await engine.tasks(workflow_id=wid),
    )


async def test_timeline_rows_tell_what_happened():
    async with TestEngine(workflows=[hire, sub]) as engine:
        h = await engine.start(hire, 1, by="alice")
        await engine.signal(h.id, "go", {"ok": True}, by="bob")
        await engine.run_until_idle(within=timedelta(hours=2))
        info, journal, attempts, events, tasks = await records(engine, h.id)
        assert info.status == "waiting"
        tl = build_timeline(info, journal, attempts, events, tasks, engine.clock.now())
        kinds = [(r.kind, r.status) for r in tl.rows]
        assert kinds == [
            ("event", "action"),  # started by alice
            ("event", "action"),  # signal sent by bob
            ("step", "completed"),
            ("step", "failed"),
            ("sleep", "completed"),
            ("child", "completed"),
            ("signal", "completed"),
            ("human_task", "waiting"),
        ]
        assert tl.rows[0].by == "alice" and tl.rows[1].title == "sent signal go"
        failed = tl.rows[3]
        assert failed.retried and [a.error.message for a in failed.attempts] == [
            "negative amount",
            "negative amount",
        ]
        assert "ValueError" in failed.error.traceback
        assert tl.rows[4].deadline is not None and tl.rows[4].deadline_word == "until"
        child = tl.rows[5]
        assert child.link[1].startswith("/workflows/") and child.output == 6
        signal = tl.rows[6]
        assert (signal.title, signal.output, signal.by) == ("signal go", {"ok": True}, "bob")
        human = tl.rows[7]
        assert human.link == ("open task", f"/tasks/{tasks[0].id}")
        assert "assigned to hr" in human.notes and human.deadline == tasks[0].due_at
        assert tl.open and all(0 <= r.bar_left <= 100 and r.bar_width > 0 for r in tl.rows)
        line = waiting_on(info, tl.rows, tasks)
        assert [(w.what, w.detail, w.deadline_word) for w in line] == [("Check offer", "hr", "due")]

        await engine.complete_task(tasks[0].id, {"salary": 9}, by="carol")
        await engine.run_until_idle(within=timedelta(hours=1))
        info, journal, attempts, events, tasks = await records(engine, h.id)
        tl = build_timeline(info, journal, attempts, events, tasks, engine.clock.now())
        human = tl.rows[-1]
        assert (human.status, human.by, human.output) == (
            "completed",
            "carol",
            {"salary": 9, "note": None},
        )
        assert human.task.changes[0].field == "salary"
        assert not tl.open and waiting_on(info, tl.rows, []) == []


def test_durations_and_times_read_well():
    assert span(timedelta(milliseconds=850)) == "850 ms"
    assert span(timedelta(seconds=4.25)) == "4.2 s"
    assert span(timedelta(minutes=3, seconds=5)) == "3 min 5 s"
    assert span(timedelta(days=2, hours=4, minutes=1)) == "2 d 4 h"
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert relative(now - timedelta(minutes=5), now) == "5 min ago"
    assert relative(now + timedelta(days=2), now) == "in 2 d"
    tag = time_tag(now, now, mode="absolute")
    assert 'datetime="2030-01-01T00:00:00Z"' in tag and "2030-01-01 00:00 UTC" in tag


def test_long_ids_are_shortened_but_siblings_stay_apart():
    assert short_id("job-42") == "job-42"
    assert short_id("b7c9e17b45af4e1c9d:3") == "b7c9e17b\N{HORIZONTAL ELLIPSIS}:3"
    assert short_id("0123456789abcdef0123") == "0123456789ab\N{HORIZONTAL ELLIPSIS}"
