"""The API's bodies: Pydantic models (the OpenAPI document is generated from them) and how
the engine's records become them.

Payloads (inputs, outputs, signal payloads, proposals, answers) are plain JSON values and
appear as such. Times are ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

import plait

NO_NUL = r"^[^\x00]*$"  # text the databases can store (PostgreSQL refuses NUL in text)


def _storable(value: Any) -> Any:
    """``value`` if no string in it (key or value) holds a NUL character, which PostgreSQL
    cannot store in text: refused here, at the edge, rather than failing a workflow later."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("text must not contain NUL characters (\\u0000)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


JSON = Any  # a plain JSON value
Storable = Annotated[Any, AfterValidator(_storable)]  # JSON a request gives: no NUL in text


class Strict(BaseModel):
    """A request body: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


# -- workflows --------------------------------------------------------------------------------
class ErrorModel(BaseModel):
    """A recorded error: type name, message, traceback."""

    type: str
    message: str
    traceback: str | None = None
    seq: int | None = None


class WorkflowSummary(BaseModel):
    """A workflow as a list shows it."""

    id: str
    name: str
    version: str
    status: plait.WorkflowStatus
    status_text: str | None
    attributes: dict[str, JSON]
    queue: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    parent_id: str | None
    subject: str | None
    waiting_on: dict[str, JSON] | None
    available_at: datetime | None
    error: ErrorModel | None = Field(description="type and message; the detail has the traceback")


class WorkflowInfoModel(WorkflowSummary):
    """Everything the store knows about one workflow."""

    priority: int
    attempt: int
    recoveries: int
    cancel_requested: bool
    concurrency_key: str | None
    lease_owner: str | None
    input: JSON
    output: JSON


class AttemptModel(BaseModel):
    """One attempt of a step."""

    attempt: int
    started_at: datetime
    ended_at: datetime
    duration_ms: int
    error: ErrorModel | None
    worker_attempt: int


class JournalEntry(BaseModel):
    """One durable operation of the workflow (a step, sleep, signal wait, child, task, ...),
    with every attempt of a step."""

    seq: int
    kind: str
    name: str
    status: plait.EntryStatus
    output: JSON
    error: ErrorModel | None
    wake_at: datetime | None
    started_at: datetime
    completed_at: datetime | None
    attempt_count: int = Field(description="attempts the step took")
    attempts: list[AttemptModel]


class WorkflowEventModel(BaseModel):
    """An action on the workflow: what, by whom, when."""

    id: int
    kind: plait.WorkflowEventKind
    by: str
    at: datetime
    details: dict[str, JSON]


class RunModel(BaseModel):
    """An earlier run of the workflow (ended with ``continue_as_new``)."""

    run: int
    input: JSON
    started_at: datetime
    ended_at: datetime
    journal: list[JournalEntry]


class FieldChangeModel(BaseModel):
    """A field a person changed from the proposal."""

    field: str
    before: JSON
    after: JSON


class TaskSummary(BaseModel):
    """A human task as an inbox shows it."""

    id: str
    workflow_id: str
    title: str
    status: plait.TaskStatus
    assignee: str | None
    claimed_by: str | None
    completed_by: str | None
    form: str
    due_at: datetime | None
    overdue: bool
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class TaskEventModel(BaseModel):
    """One entry of a task's audit trail (``actor`` null when plait acted)."""

    id: int
    kind: plait.TaskEventKind
    actor: str | None
    at: datetime
    payload: dict[str, JSON]


class TaskDetail(TaskSummary):
    """A human task with its form, proposal, context, answer and audit trail."""

    seq: int
    form_schema: dict[str, JSON]
    proposal: JSON
    context: JSON
    answer: JSON
    changes: list[FieldChangeModel]
    comment: str | None
    remind_at: datetime | None
    events: list[TaskEventModel]


class WorkflowDetail(BaseModel):
    """One workflow: its record, journal, children, event log, earlier runs and tasks."""

    info: WorkflowInfoModel
    journal: list[JournalEntry]
    children: list[WorkflowSummary]
    events: list[WorkflowEventModel]
    runs: list[RunModel]
    tasks: list[TaskSummary]


class WorkflowPage(BaseModel):
    """A page of workflows, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[WorkflowSummary]
    next_cursor: str | None


class Counts(BaseModel):
    """How many workflows are in each status, overall and per workflow name."""

    by_status: dict[str, int]
    by_name: dict[str, dict[str, int]]


class VersionCountModel(BaseModel):
    """The workflows of one name and code version in flight (not finished), by status."""

    name: str
    version: str
    pending: int
    running: int
    waiting: int
    blocked: int
    in_flight: int


class VersionList(BaseModel):
    """Every (name, version) with workflows in flight, by name then version: during a
    rollout, the old version's count drains to zero before its workers are stopped."""

    versions: list[VersionCountModel]


class StartRequest(Strict):
    """Start a workflow of the server's application code."""

    workflow: str = Field(min_length=1, pattern=NO_NUL, description="the workflow's name")
    args: list[Storable] = Field(default_factory=list, description="its arguments, as JSON")
    id: str | None = Field(
        default=None, min_length=1, max_length=500, pattern=NO_NUL, description="idempotency key"
    )
    queue: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    concurrency_key: str | None = Field(default=None, min_length=1, max_length=500, pattern=NO_NUL)
    delay_seconds: float | None = Field(default=None, ge=0, le=10 * 365 * 86400)
    timeout_seconds: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)
    subject: str | None = Field(default=None, min_length=1, max_length=500, pattern=NO_NUL)


class SignalRequest(Strict):
    """A signal for the workflow's mailbox."""

    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    payload: Storable = None
    dedup_key: str | None = Field(default=None, min_length=1, max_length=500, pattern=NO_NUL)


class SignalResult(BaseModel):
    """Whether the signal was sent (false: its dedup key was used before)."""

    sent: bool


class CancelResult(BaseModel):
    """The workflow's status after the cancellation was asked for."""

    status: plait.WorkflowStatus


# -- tasks --------------------------------------------------------------------------------------
class TaskPage(BaseModel):
    """A page of human tasks (open ones most overdue first); pass ``next_cursor`` on."""

    items: list[TaskSummary]
    next_cursor: str | None


class CompleteRequest(Strict):
    """The answer to a human task: an object with the form's fields (for an approval,
    ``{"approved": true, "comment": "..."}``)."""

    answer: Storable
    comment: str | None = Field(default=None, max_length=10_000, pattern=NO_NUL)


class ReassignRequest(Strict):
    """Who gets the task: a person or a group."""

    to: str = Field(min_length=1, max_length=200, pattern=NO_NUL)


# -- workers ----------------------------------------------------------------------------------
class HeldModel(BaseModel):
    """A workflow a worker runs now."""

    id: str
    name: str
    since: datetime


class WorkerModel(BaseModel):
    """A registered worker: where it runs, when it was last heard of, what it holds."""

    id: str
    hostname: str | None
    pid: int | None
    started_at: datetime
    last_heartbeat: datetime
    queues: list[str] | None = Field(description="null: every queue")
    concurrency: int | None
    workflows: list[str]
    holds: list[HeldModel]


class WorkerList(BaseModel):
    """The workers, oldest first."""

    items: list[WorkerModel]


class Change(BaseModel):
    """One change of the live feed (``/api/events/stream``)."""

    kind: str
    workflow_id: str
    at: datetime
    name: str
    status: str
    seq: int | None
    entry_kind: str | None


# -- conversions ----------------------------------------------------------------------------------
def error_model(e: plait.ErrorInfo | None, *, traceback: bool = True) -> ErrorModel | None:
    if e is None:
        return None
    return ErrorModel(
        type=e.type, message=e.message, traceback=e.traceback if traceback else None, seq=e.seq
    )


def _summary_fields(i: plait.WorkflowInfo) -> dict[str, Any]:
    return {
        "id": i.id,
        "name": i.name,
        "version": i.version,
        "status": i.status,
        "status_text": i.status_text,
        "attributes": i.attributes,
        "queue": i.queue,
        "created_at": i.created_at,
        "updated_at": i.updated_at,
        "completed_at": i.completed_at,
        "parent_id": i.parent_id,
        "subject": i.subject,
        "waiting_on": i.waiting_on,
        "available_at": i.available_at,
    }


def summary(i: plait.WorkflowInfo) -> WorkflowSummary:
    return WorkflowSummary(**_summary_fields(i), error=error_model(i.error, traceback=False))


def info_model(i: plait.WorkflowInfo) -> WorkflowInfoModel:
    return WorkflowInfoModel(
        **_summary_fields(i),
        error=error_model(i.error),
        priority=i.priority,
        attempt=i.attempt,
        recoveries=i.recoveries,
        cancel_requested=i.cancel_requested,
        concurrency_key=i.concurrency_key,
        lease_owner=i.lease_owner,
        input=i.input,
        output=i.output,
    )


def journal_entries(
    journal: list[plait.StepRecord], attempts: list[plait.AttemptRecord]
) -> list[JournalEntry]:
    by_seq: dict[int, list[AttemptModel]] = {}
    for a in attempts:
        by_seq.setdefault(a.seq, []).append(
            AttemptModel(
                attempt=a.attempt,
                started_at=a.started_at,
                ended_at=a.ended_at,
                duration_ms=int(a.duration.total_seconds() * 1000),
                error=error_model(a.error),
                worker_attempt=a.worker_attempt,
            )
        )
    return [
        JournalEntry(
            seq=s.seq,
            kind=s.kind,
            name=s.name,
            status=s.status,
            output=s.output,
            error=error_model(s.error),
            wake_at=s.wake_at,
            started_at=s.started_at,
            completed_at=s.completed_at,
            attempt_count=s.attempts,
            attempts=sorted(by_seq.get(s.seq, []), key=lambda a: a.attempt),
        )
        for s in journal
    ]


def event_model(e: plait.WorkflowEvent) -> WorkflowEventModel:
    return WorkflowEventModel(id=e.id, kind=e.kind, by=e.by, at=e.at, details=e.details)


def _overdue(t: plait.HumanTask, now: datetime) -> bool:
    return t.is_open and t.due_at is not None and t.due_at < now


def _task_fields(t: plait.HumanTask, now: datetime) -> dict[str, Any]:
    return {
        "id": t.id,
        "workflow_id": t.workflow_id,
        "title": t.title,
        "status": t.status,
        "assignee": t.assignee,
        "claimed_by": t.claimed_by,
        "completed_by": t.completed_by,
        "form": t.form,
        "due_at": t.due_at,
        "overdue": _overdue(t, now),
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "completed_at": t.completed_at,
    }


def task_summary(t: plait.HumanTask, now: datetime) -> TaskSummary:
    return TaskSummary(**_task_fields(t, now))


def task_detail(t: plait.HumanTask, events: list[plait.TaskEvent], now: datetime) -> TaskDetail:
    return TaskDetail(
        **_task_fields(t, now),
        seq=t.seq,
        form_schema=t.form_schema,
        proposal=t.proposal,
        context=t.context,
        answer=t.answer,
        changes=[
            FieldChangeModel(field=c.field, before=c.before, after=c.after) for c in t.changes
        ],
        comment=t.comment,
        remind_at=t.remind_at,
        events=[
            TaskEventModel(id=e.id, kind=e.kind, actor=e.actor, at=e.at, payload=e.payload)
            for e in events
        ],
    )


def worker_model(w: plait.WorkerInfo) -> WorkerModel:
    return WorkerModel(
        id=w.id,
        hostname=w.hostname,
        pid=w.pid,
        started_at=w.started_at,
        last_heartbeat=w.last_heartbeat,
        queues=None if w.queues is None else list(w.queues),
        concurrency=w.concurrency,
        workflows=list(w.workflows),
        holds=[HeldModel(id=h.id, name=h.name, since=h.since) for h in w.holds],
    )


def change_model(c: plait.WorkflowChange) -> Change:
    return Change(
        kind=c.kind,
        workflow_id=c.workflow_id,
        at=c.at,
        name=c.name,
        status=str(c.status),
        seq=c.seq,
        entry_kind=c.entry_kind,
    )


def now_of(engine: plait.Engine) -> datetime:
    """The engine's clock as an aware datetime (a test's fake clock too)."""
    return datetime.fromtimestamp(engine.clock.now_ms() / 1000, tz=UTC)
