"""The workflow page's timeline, built from what the engine recorded.

One :class:`Row` per journal entry (steps with their attempts, sleeps, signal waits, human
tasks, children, recorded values), with the client actions of the event log (started,
signalled, cancelled, resumed — and by whom) placed among them by time. Each row has what the
page draws: a kind, a status word, start/end and duration, a bar positioned on the workflow's
span, attempts with errors, a deadline, a link.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from plait import (
    AttemptRecord,
    ErrorInfo,
    HumanTask,
    StepRecord,
    WorkflowEvent,
    WorkflowInfo,
)
from plait.server.pages.model_calls import NOTHING, ModelView, model_records, model_view

# NOTHING: a row without an output to show

KIND_LABEL = {
    "step": "step",
    "sleep": "sleep",
    "signal": "signal",
    "human_task": "human task",
    "child": "child",
    "now": "value",
    "uuid": "value",
    "random": "value",
    "patch": "patch",
    "event": "action",
    "model": "model call",
}
CHILD_SIGNAL = "plait:child:"
TASK_SIGNAL = "plait:task:"


@dataclasses.dataclass
class Attempt:
    number: int
    started: datetime
    ended: datetime
    duration: timedelta
    error: ErrorInfo | None


@dataclasses.dataclass
class Row:
    """One line of the timeline."""

    kind: str  # step, sleep, signal, human_task, child, value kinds, event
    title: str
    status: str  # completed, failed, waiting, cancelled, action
    started: datetime
    seq: int | None = None
    ended: datetime | None = None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    error: ErrorInfo | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    deadline: datetime | None = None
    deadline_word: str = "deadline"
    link: tuple[str, str] | None = None  # (text, href)
    task: HumanTask | None = None
    output: Any = NOTHING
    by: str | None = None
    model: ModelView | None = None
    bar_left: float = 0.0
    bar_width: float = 0.0

    @property
    def kind_label(self) -> str:
        return KIND_LABEL.get(self.kind, self.kind)

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended is None else self.ended - self.started

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1


@dataclasses.dataclass
class Timeline:
    rows: list[Row]
    start: datetime
    end: datetime
    open: bool  # still running or waiting: the end is "now"


def build_timeline(
    info: WorkflowInfo,
    journal: Sequence[StepRecord],
    attempts: Sequence[AttemptRecord],
    events: Sequence[WorkflowEvent],
    tasks: Sequence[HumanTask],
    now: datetime,
) -> Timeline:
    """The timeline of one workflow's current run, as of ``now``."""
    by_seq: dict[int, list[AttemptRecord]] = {}
    for a in attempts:
        by_seq.setdefault(a.seq, []).append(a)
    task_by_seq = {t.seq: t for t in tasks}
    signalled = [e for e in events if e.kind == "signalled"]
    rows: list[Row] = []
    children: dict[str, Row] = {}
    models = model_records(journal)
    for entry in journal:
        if entry.kind == "child_result":
            _child_result(entry, children, rows)
            continue
        row = _row(entry, by_seq.get(entry.seq, []), task_by_seq.get(entry.seq), signalled)
        if entry.kind == "child" and isinstance(entry.output, str):
            children[entry.output] = row
        elif entry.kind == "model":
            row.model = model_view(entry, models)
        rows.append(row)
    _place_events(rows, events)
    finished = info.status.finished
    end = (info.completed_at or info.updated_at) if finished else max(now, info.updated_at)
    start = min([info.created_at, *(r.started for r in rows)])
    total = max((end - start).total_seconds(), 0.001)
    for row in rows:
        row_end = row.ended if row.ended is not None else end
        # An action after the end (an erasure, a gc days later) sits at the right edge.
        left = (row.started - start).total_seconds() / total * 100
        row.bar_left = round(min(max(0.0, left), 99.6), 2)
        width = (row_end - row.started).total_seconds() / total * 100
        row.bar_width = round(min(max(width, 0.4), 100 - row.bar_left), 2)
    return Timeline(rows, start, end, not finished)


def _row(
    entry: StepRecord,
    tries: list[AttemptRecord],
    task: HumanTask | None,
    signalled: list[WorkflowEvent],
) -> Row:
    status = str(entry.status)
    row = Row(
        kind=entry.kind,
        title=entry.name,
        status=status,
        started=entry.started_at,
        seq=entry.seq,
        ended=entry.completed_at,
        error=entry.error,
    )
    row.attempts = [
        Attempt(a.attempt, a.started_at, a.ended_at, a.duration, a.error)
        for a in sorted(tries, key=lambda a: a.attempt)
    ]
    if entry.kind == "step":
        if entry.status == "completed":
            row.output = entry.output
        if entry.status == "waiting" and row.attempts:
            row.notes.append(f"retrying after {len(row.attempts)} failed attempt(s)")
    elif entry.kind == "sleep":
        row.deadline, row.deadline_word = entry.wake_at, "until"
    elif entry.kind == "signal":
        _signal(row, entry, signalled)
    elif entry.kind == "human_task":
        _human(row, entry, task)
    elif entry.kind == "child":
        row.title = f"{entry.name}"
        if isinstance(entry.output, str):
            row.link = (entry.output, f"/workflows/{entry.output}")
    elif entry.kind != "model":  # now, uuid, random, patch: recorded values
        row.output = entry.output
    return row


def _signal(row: Row, entry: StepRecord, signalled: list[WorkflowEvent]) -> None:
    row.deadline = entry.wake_at if entry.status == "waiting" else None
    row.title = f"wait for {entry.name}"
    out = entry.output if isinstance(entry.output, dict) else {}
    if entry.status == "completed" and out:
        got = str(out.get("signal", entry.name))
        row.title = f"signal {got}"
        row.output = _loads(out.get("payload"))
        sender = next((e for e in signalled if e.details.get("name") == got), None)
        if sender is not None:
            signalled.remove(sender)
            row.by = sender.by
    elif entry.status == "completed" and entry.wake_at is not None:
        row.notes.append("timed out")
    if entry.status == "waiting" and entry.wake_at is not None:
        row.deadline_word = "times out"


def _human(row: Row, entry: StepRecord, task: HumanTask | None) -> None:
    row.task = task
    out = entry.output if isinstance(entry.output, dict) else {}
    outcome = out.get("outcome")
    if task is not None:
        row.link = ("open task", f"/tasks/{task.id}")
        if entry.status == "waiting":
            row.deadline, row.deadline_word = task.due_at, "due"
        if task.assignee:
            row.notes.append(f"assigned to {task.assignee}")
        if task.completed_by:
            row.by = task.completed_by
        if task.comment:
            row.notes.append(f"comment: {task.comment}")
    if outcome == "default":
        row.notes.append("deadline passed: the default answer was used")
    elif outcome == "expired":
        row.notes.append("deadline passed without an answer")
    if entry.status == "completed" and task is not None and task.answer is not None:
        row.output = task.answer


def _child_result(entry: StepRecord, children: dict[str, Row], rows: list[Row]) -> None:
    out = entry.output if isinstance(entry.output, dict) else {}
    signal = str(out.get("signal", ""))
    child_id = signal[len(CHILD_SIGNAL) :] if signal.startswith(CHILD_SIGNAL) else None
    row = children.get(child_id) if child_id else None
    if row is None:  # still waiting: the last child row of that name
        row = next((r for r in reversed(rows) if r.kind == "child" and r.title == entry.name), None)
    if row is None:
        return
    row.ended = entry.completed_at
    row.status = str(entry.status)
    result = _loads(out.get("payload"))
    if isinstance(result, dict):
        child_status = result.get("status")
        if child_status and child_status != "completed":
            row.notes.append(f"child {child_status}")
            row.status = "failed" if child_status == "failed" else row.status
        if "output" in result and child_status == "completed":
            row.output = _loads(result["output"])


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_EVENT_TITLE = {
    "started": "started",
    "signalled": "sent signal",
    "cancelled": "cancel requested",
    "resumed": "resumed",
}


def _place_events(rows: list[Row], events: Sequence[WorkflowEvent]) -> None:
    """Client actions placed before the first entry that started after them."""
    for event in events:
        title = _EVENT_TITLE.get(str(event.kind), str(event.kind))
        name = event.details.get("name")
        if event.kind == "signalled" and name:
            title = f"sent signal {name}"
        row = Row(kind="event", title=title, status="action", started=event.at, by=event.by)
        if event.kind == "resumed" and event.details:
            row.notes.append(", ".join(f"{k}: {v}" for k, v in event.details.items()))
        schedule = event.details.get("schedule")
        if event.kind == "started" and schedule and event.by != f"schedule:{schedule}":
            row.notes.append(f"run now, of schedule {schedule}")
        at = next(
            (
                i
                for i, r in enumerate(rows)
                if r.started > event.at or (r.started == event.at and r.kind != "event")
            ),
            len(rows),
        )
        rows.insert(at, row)


# -- what the workflow waits for -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Waiting:
    """The header's "waiting for ..." line."""

    what: str  # "Approve shortlist", "signal reply", "child 1234", "timer"
    detail: str | None  # "recruiters", ...
    deadline: datetime | None
    deadline_word: str
    href: str | None


def waiting_on(
    info: WorkflowInfo, rows: Sequence[Row], open_tasks: Sequence[HumanTask]
) -> list[Waiting]:
    """What a waiting workflow waits for: its open human tasks, signals, children, timers."""
    if info.status != "waiting":
        return []
    out = [
        Waiting(t.title, t.assignee, t.due_at, "due", f"/tasks/{t.id}")
        for t in open_tasks
        if t.workflow_id == info.id
    ]
    for row in rows:
        if row.status != "waiting" or row.kind == "human_task":
            continue
        if row.kind == "sleep":
            out.append(Waiting("a timer", None, row.deadline, "ends", None))
        elif row.kind == "signal":
            out.append(
                Waiting(
                    row.title.removeprefix("wait for "), "a signal", row.deadline, "times out", None
                )
            )
        elif row.kind == "child" and row.link:
            out.append(Waiting(f"child {row.link[0]}", row.title, None, "", row.link[1]))
        elif row.kind == "step":
            out.append(Waiting(f"step {row.title}", "retry", None, "", None))
    if not out and info.waiting_on:
        signals = [
            str(s) for s in info.waiting_on.get("signals", ()) if not str(s).startswith("plait:")
        ]
        if signals:
            out.append(
                Waiting(", ".join(signals), "a signal", info.available_at, "times out", None)
            )
        elif info.available_at is not None:
            out.append(Waiting("a timer", None, info.available_at, "ends", None))
    return out
