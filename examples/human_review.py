"""A person reviews an AI draft before it goes out: ``ctx.ask_human`` with a form and a proposal.

A step drafts an announcement (an LLM call in a real application, canned text here). An
editor changes it; the workflow publishes the edited text; the task's audit trail shows who
changed what, and when. The deadline is two days, with a reminder four hours before it and
an escalation to the editor-in-chief if nobody answers.

It runs on plait.testing's fake clock, so two days pass in milliseconds and the output is
the same on every run (docs/human-tasks.md shows it). In production the workflow is the same;
the engine is ``plait.Engine("sqlite:///plait.db", workflows=[announce], directory=...)``
with a worker, and people answer through the web UI or ``engine.complete_task``.

    python examples/human_review.py
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pydantic

import plait
from plait.testing import TestEngine


class Announcement(pydantic.BaseModel):
    """The form the editor fills in; the AI's draft is offered as its starting value."""

    subject: str
    body: str
    approved: bool = True  # unticking it rejects the draft


@plait.step
async def draft_announcement(topic: str) -> Announcement:
    # A model call in a real application: journaled once, never repeated on replay.
    return Announcement(
        subject=f"Introducing {topic}",
        body=f"We are thrilled to announce {topic}, a revolutionary synergy of workflows.",
    )


@plait.step
async def publish(post: Announcement) -> str:
    return f"published {post.subject!r}: {post.body}"


@plait.workflow
async def announce(ctx: plait.Context, topic: str) -> str:
    draft = await draft_announcement(topic)
    post = await ctx.ask_human(
        "Review the announcement",
        form=Announcement,
        proposal=draft,
        context={"topic": topic},
        assignee="editors",
        due=timedelta(days=2),
        remind=timedelta(hours=4),
        on_timeout=plait.Escalate(to="editor-in-chief", due=timedelta(days=1)),
    )
    if not post.approved:
        return "not published"
    return await publish(post)  # the edited text, as an Announcement


def when(at: datetime | None) -> str:
    return "-" if at is None else at.strftime("%a %d %b %H:%M")


async def main() -> None:
    directory = plait.Directory(groups={"editors": ["ada", "lin"]}, admins=["grace"])
    start = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # a Monday morning
    async with TestEngine(workflows=[announce], directory=directory, start=start) as engine:
        handle = await engine.start(announce, "plait 1.0", id="announce-1")
        # Nobody looks at it for 45 hours: the reminder goes out 4 hours before the deadline.
        await engine.run_until_idle(within=timedelta(hours=45))

        inbox = await engine.tasks(status="open", assignee=["ada", *directory.groups_of("ada")])
        task = inbox[0]
        print(f"inbox of ada: {task.title!r} for {task.assignee}, due {when(task.due_at)}")
        print(f"  proposal: {task.proposal}")

        await engine.claim_task(task.id, by="ada")
        edited = dict(task.proposal)
        edited["subject"] = "plait 1.0 is out"
        edited["body"] = "plait 1.0 runs durable AI workflows in plain async Python."
        await engine.complete_task(task.id, edited, by="ada", comment="Cut the buzzwords")
        await engine.run_until_idle()
        print(f"workflow: {await handle.result()}")

        task = await engine.task(task.id)
        print(f"task {task.id}: {task.status}, by {task.completed_by} ({task.comment!r})")
        for change in task.changes:
            print(f"  {change.field}: {change.before!r}")
            print(f"  {' ' * len(change.field)}  -> {change.after!r}")
        print("audit trail:")
        for event in await engine.task_events(task.id):
            actor = event.actor or "plait"
            print(f"  {when(event.at)}  {event.kind:<9} {actor:<6} {event.payload}")


if __name__ == "__main__":
    asyncio.run(main())
