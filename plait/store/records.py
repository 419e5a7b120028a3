"""The store contract's vocabulary: the records passed across it and the names it reserves.

Everything the engine and a store exchange is defined here, so the contract
(:mod:`plait.store.base`) and its implementations (the SQL parts of ``plait/store/``) import
their vocabulary from one place, never from each other. Records carry payloads as stored
text (the codec's output), times as epoch milliseconds from the engine's clock.

Reserved names: signal names and dedup keys starting with :data:`RESERVED_PREFIX` belong to
plait; a client may not send them. The engine puts a child's end in its parent's mailbox
as :data:`CHILD_SIGNAL` + child id, a human task's answer in its workflow's mailbox as
:data:`TASK_SIGNAL` + task id.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from plait.frozen import Frozen
from plait.types import AttemptRecord, ErrorInfo, StepRecord, WorkflowStatus

# -- reserved names ------------------------------------------------------------------------
RESERVED_PREFIX = "plait:"
"""Signal names (and dedup keys) plait uses itself; clients may not send these."""
CHILD_SIGNAL = RESERVED_PREFIX + "child:"
"""+ child id: the signal that tells a parent its child ended (payload: status, output, error)."""
TASK_SIGNAL = RESERVED_PREFIX + "task:"
"""+ task id: the signal that carries a human task's answer to its workflow."""
END_DEDUP = RESERVED_PREFIX + "end:"
"""+ ``<child id>:<time>``: the dedup key of a child's end signal."""

FINISHED = ("completed", "failed", "cancelled")
"""Workflow statuses that are final: such a workflow takes no signals and is never claimed."""


# -- workflows and their journal ----------------------------------------------------------
class LeaseLostError(Exception):
    """A fenced write found that its attempt no longer holds the workflow's lease."""


class Fence(Frozen):
    """Identifies the attempt allowed to write for a workflow."""

    workflow_id: str
    attempt: int
    worker_id: str
    lease_ms: int


@dataclasses.dataclass(frozen=True, slots=True)  # a burst of starts holds thousands
class NewWorkflow:
    """A workflow to create."""

    id: str
    name: str
    version: str
    input: str
    input_hash: str
    queue: str = "default"
    priority: int = 0
    concurrency_key: str | None = None
    available_at: int = 0
    deadline_at: int | None = None
    parent_id: str | None = None
    subject: str | None = None  # the person the workflow is about
    blobs: tuple[str, ...] = ()  # digests of the blobs its arguments refer to (adopted)


@dataclasses.dataclass
class Entry:
    """A journal entry as the engine reads and writes it (payloads still encoded)."""

    seq: int
    kind: str
    name: str
    status: str
    output: str | None = None
    error: dict[str, Any] | None = None
    wake_at: int | None = None
    attempts: int = 1
    started_at: int = 0
    completed_at: int | None = None
    fingerprint: str | None = None


class Attempt(Frozen):
    """One finished attempt of a step, to record."""

    seq: int
    attempt: int
    started_at: int
    ended_at: int
    error: dict[str, Any] | None


class Claimed(Frozen):
    """A workflow a worker has just claimed, with its whole journal."""

    id: str
    name: str
    version: str
    input: str
    attempt: int
    cancel_requested: bool
    parent_id: str | None
    queue: str
    journal: list[Entry]
    run: int = 1  # 1, then one more at each continue_as_new
    seq_base: int = 0  # the run's journal positions start after this one


class Wait(Frozen):
    """What a suspended workflow waits for: signal names and/or a time."""

    signals: tuple[str, ...] = ()
    until: int | None = None


class WaitOutcome(Frozen):
    """Result of trying to finish a wait now."""

    state: str  # "signal" | "timeout" | "elapsed" | "park" | "suspended"
    signal_name: str | None = None
    payload: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ResultRow:
    """What ``WorkflowHandle.result`` reads of a workflow: its status, and its output
    (as stored) or error once it has ended."""

    name: str
    status: WorkflowStatus
    output: str | None
    error: ErrorInfo | None


class ListFilter(Frozen):
    """Which workflows ``list`` returns."""

    status: tuple[WorkflowStatus, ...] = ()
    name: str | None = None
    parent_id: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    limit: int = 100
    offset: int = 0
    subject: str | None = None


# -- human tasks ----------------------------------------------------------------------------
class NewTask(Frozen):
    """A human task to create. ``on_timeout`` is the deadline policy as JSON data:
    ``{"kind": "raise"}``, ``{"kind": "default", "value": <stored text>}`` or
    ``{"kind": "escalate", "to": ..., "due": <ms>, "then": <policy>}``."""

    id: str
    workflow_id: str
    seq: int
    title: str
    assignee: str | None
    form_name: str
    form_schema: str
    proposal: str | None
    context: str | None
    due_at: int | None
    remind_offsets: tuple[int, ...]
    on_timeout: dict[str, Any]


class TaskRow(Frozen):
    """A human task as stored (payloads still encoded, times in epoch milliseconds)."""

    id: str
    workflow_id: str
    seq: int
    title: str
    status: str
    assignee: str | None
    claimed_by: str | None
    form_name: str
    form_schema: str
    proposal: str | None
    context: str | None
    answer: str | None
    changes: str | None
    completed_by: str | None
    comment: str | None
    on_timeout: str
    remind_offsets: str
    due_at: int | None
    remind_at: int | None
    created_at: int
    updated_at: int
    completed_at: int | None


class TaskEventRow(Frozen):
    """One audit event as stored."""

    id: int
    task_id: str
    workflow_id: str
    kind: str
    actor: str | None
    at: int
    payload: dict[str, Any]


class TaskFilter(Frozen):
    """Which tasks ``list_tasks`` returns (an empty tuple means any)."""

    status: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    workflow_id: str | None = None
    limit: int = 100
    offset: int = 0
    # Overdue: open with due_at before ``now``. ``overdue`` keeps only those (True) or only
    # the others (False); ``urgent`` sorts them first, most overdue first, then by age.
    overdue: bool | None = None
    urgent: bool = False
    now: int = 0


class Actor(Frozen):
    """Who acts on a task. ``groups`` is ``None`` when the engine has no directory: then
    only claims are checked, and ``name`` is recorded as given."""

    name: str | None
    groups: frozenset[str] | None = None
    admin: bool = False


class TaskOutcome(Frozen):
    """What a workflow's wait on a task came to: ``completed``, ``default``, ``expired``,
    ``cancelled``, or ``park`` (wait until ``wake_at`` or the answer)."""

    state: str
    output: str | None = None
    wake_at: int | None = None


# -- records and blobs ----------------------------------------------------------------------
class StoredRecord(Frozen):
    """A row of ``engine.records`` (its value still codec text)."""

    kind: str
    key: str
    value: str
    subject: str | None
    created_at: int
    updated_at: int


class StoredBlob(Frozen):
    """A blob's bytes and what was stored with them."""

    digest: str
    size: int
    content_type: str
    data: bytes
    created_at: int


# -- queues ---------------------------------------------------------------------------------
class QueueLimits(Frozen):
    """A queue's limits as stored (``plait.Queue`` is the public spelling)."""

    name: str
    concurrency: int | None = None
    per_key_concurrency: int = 1
    rate_limit: int | None = None
    rate_per_ms: int | None = None

    @property
    def restricted(self) -> bool:
        """Whether claiming from the queue needs its lock and a count."""
        return self.concurrency is not None or self.rate_limit is not None

    @property
    def interval_ms(self) -> int:
        """The time between two starts (rounded up: never faster than the rate)."""
        assert self.rate_limit is not None and self.rate_per_ms is not None
        return -(-self.rate_per_ms // self.rate_limit)


# -- the server's reads (plait/store/views.py) -------------------------------------------
class PageFilter(Frozen):
    """Which workflows ``page_workflows`` returns: newest first (``created_at``, then ``id``,
    both descending), strictly after the keyset ``after`` (the last row of the page before);
    ``since``/``until`` bound ``created_at`` (``since <= created_at < until``)."""

    status: tuple[WorkflowStatus, ...] = ()
    name: str | None = None
    parent_id: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    since: int | None = None
    until: int | None = None
    after: tuple[int, str] | None = None
    limit: int = 50


class HeldRow(Frozen):
    """A running workflow a worker holds the lease of, since its last status change."""

    workflow_id: str
    name: str
    since: int


class WorkerRow(Frozen):
    """A registered worker (``info`` as it registered) and the workflows it holds."""

    id: str
    hostname: str | None
    pid: int | None
    info: dict[str, Any]
    started_at: int
    heartbeat_at: int
    holds: tuple[HeldRow, ...]


class ChangeRow(Frozen):
    """One change for the feed: a workflow's status (``seq`` is -1) or a journal entry.
    ``at`` is the change's time: ``updated_at``, or the entry's completion (else start)."""

    kind: str  # "status" | "journal"
    workflow_id: str
    seq: int
    at: int
    name: str  # the workflow's name, or the entry's
    status: str  # a WorkflowStatus, or an EntryStatus
    entry_kind: str | None = None


# -- runs ---------------------------------------------------------------------------------
class FinishedRun(Frozen):
    """A run of a workflow that ended with ``continue_as_new``: its arguments (as stored)
    and its journal and step attempts as they were when it ended."""

    workflow_id: str
    run: int
    input: str
    started_at: int
    ended_at: int
    journal: list[StepRecord]
    attempts: list[AttemptRecord]


# -- the model-call ledger (plait/store/ledger.py) ------------------------------------------
class LedgerRow(Frozen):
    """One attempt of a model call: who was asked, who answered, tokens, cost, how it went.

    ``outcome`` is ``"ok"``, ``"invalid_output"`` (answered, but not in the asked-for shape:
    a re-ask follows) or the error's class name (``"ModelRateLimited"``, ...). ``reask`` is
    0 for the first request of a call, then 1, 2, ... ``seq`` is the call's journal position
    (``None`` for a call made outside workflow code)."""

    workflow_id: str
    seq: int | None
    step: str
    model: str
    answered_by: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    outcome: str
    reask: int
    latency_ms: float
    at: int


class LedgerTotal(Frozen):
    """Ledger rows summed under one key (a model, a workflow id or a step name)."""

    key: str
    attempts: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


LEDGER_GROUPS = ("model", "workflow", "step")
"""What ``ledger_totals`` may group by."""


# -- re-encryption (plait/store/rekey.py) ---------------------------------------------------
PAYLOAD_COLUMNS = (
    "workflows.input",
    "workflows.output",
    "journal.output",
    "signals.payload",
    "human_tasks.proposal",
    "human_tasks.context",
    "human_tasks.answer",
    "human_tasks.changes",
    "human_tasks.comment",
    "human_tasks.on_timeout",
    "task_events.payload",
    "records.value",
    "workflow_runs.input",
    "workflow_runs.journal",
    "schedules.args",
)
"""The ``table.column``s that hold codec text (sealed payloads, or JSON with sealed payloads
in it), the ones ``rekey_batch`` takes; blob bytes are ``rekey_blobs``'."""


class RekeyBatch(Frozen):
    """One batch of a re-encryption pass: rows read, rows rewritten (or that would be, in a
    dry run), and the cursor of the next batch (``None``: the column is done)."""

    scanned: int
    changed: int
    cursor: str | None


class HealthSnapshot(Frozen):
    """What the database says about the system's health at one time (``/metrics``).

    ``workflows``: (name, status, count); ``ready``: (queue, count) of workflows runnable now
    (pending or waiting, due) that no worker has claimed yet; ``expired_leases``: running
    workflows whose lease has expired (a dead worker's, not yet taken over);
    ``recovering``: running workflows taken over from a dead worker at least once since their
    last progress; ``tasks``: (assignee or "", open count, oldest ``created_at``, overdue
    count) of open human tasks."""

    workflows: list[tuple[str, str, int]]
    ready: list[tuple[str, int]]
    expired_leases: int
    recovering: int
    tasks: list[tuple[str, int, int, int]]


# -- alerts (plait/store/alerts.py) ---------------------------------------------------------
class AlertEvent(Frozen):
    """Something an operator should hear about, as a scan found it. ``subject`` names the
    event itself (a workflow's failure in one attempt, a task's passed deadline), so finding it
    again, on any worker, adds nothing. ``details``: the error (``type``, ``message``) of a
    workflow, or a task's ``title``, ``assignee`` and ``due_at``."""

    kind: str
    subject: str
    at: int
    workflow_id: str
    workflow_name: str
    task_id: str | None
    details: dict[str, Any]


class NewAlert(Frozen):
    """An alert to add to the outbox: one event for one channel (``webhook``, ``email``)."""

    kind: str
    subject: str
    channel: str
    workflow_id: str
    workflow_name: str
    task_id: str | None
    message: str
    at: int


class AlertRow(Frozen):
    """An alert in the outbox. ``attempts`` counts claims: a sender settles the row only
    with the count it claimed it with (its fencing token)."""

    id: int
    kind: str
    subject: str
    channel: str
    workflow_id: str
    workflow_name: str
    task_id: str | None
    message: str
    at: int
    created_at: int
    status: str  # pending | sent | failed
    attempts: int
    next_at: int
    sent_at: int | None
    last_error: str | None


# -- gc and retention (plait/store/gc.py) --------------------------------------------------
class GcFilter(Frozen):
    """Which ended workflows one gc batch looks at: top-level workflows (with their children)
    that ended before ``before``, of ``name`` or of any name but those in ``exclude``, after
    the keyset ``after`` = ``(completed_at, id)`` of the last batch's last one."""

    before: int
    name: str | None = None
    exclude: tuple[str, ...] = ()
    after: tuple[int, str] | None = None
    limit: int = 100


class GcBatch(Frozen):
    """What one gc batch deleted (or, dry, would delete): rows per table; and the keyset to
    go on from (``None``: no more candidates)."""

    deleted: dict[str, int]
    last: tuple[int, str] | None


# -- schedules ----------------------------------------------------------------------------
class ScheduleRow(Frozen):
    """A schedule as stored (``plait/store/schedules.py``): ``args`` is sealed codec text,
    ``next_at`` the first tick not yet started (epoch ms)."""

    id: str
    workflow: str
    version: str
    args: str
    args_hash: str
    blobs: tuple[str, ...]
    cron: str | None
    every_ms: int | None
    timezone: str
    catchup: str
    queue: str | None
    paused: bool
    next_at: int
    last_at: int | None
    last_workflow_id: str | None
    source: str  # "code" (Engine(schedules=...)) or "api"
    created_at: int
    updated_at: int


SCHEDULE_SOURCES = ("code", "api")
"""Where a schedule was declared: in the engine's code, or through the CLI, API or UI."""
