"""Public records and options: statuses, retry policy, workflow and journal records.

All are frozen dataclasses validated on creation, so a bad option fails where it is written.
Durations are ``timedelta``; plain numbers of seconds are accepted too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from plait.errors import ConfigurationError, PlaitError
from plait.frozen import Frozen

Duration = timedelta | float | int
JSONValue = Any  # a value that came out of ``json.loads``


def to_seconds(value: Duration, what: str) -> float:
    """A duration in seconds; rejects negatives and non-durations with a clear message."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigurationError(
            f"{what} must be a timedelta or a number of seconds, not {type(value).__name__}"
        )
    if seconds < 0:
        raise ConfigurationError(f"{what} must not be negative (got {seconds} s)")
    return seconds


E = TypeVar("E", bound=StrEnum)


def parse_enum(kind: type[E], value: E | str, what: str) -> E:
    """``value`` as a member of ``kind``, or a ConfigurationError listing the choices."""
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ConfigurationError(f"unknown {what} {value!r}; use one of {known}") from None


def ms_to_datetime(ms: int | None) -> datetime | None:
    """Epoch milliseconds (as stored) to an aware UTC datetime."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class WorkflowStatus(StrEnum):
    """Where a workflow is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"

    @property
    def finished(self) -> bool:
        """Completed, failed or cancelled: nothing more will happen."""
        return self in (
            WorkflowStatus.COMPLETED,
            WorkflowStatus.FAILED,
            WorkflowStatus.CANCELLED,
        )


class EntryStatus(StrEnum):
    """Status of one journal entry."""

    COMPLETED = "completed"
    FAILED = "failed"
    WAITING = "waiting"
    CANCELLED = "cancelled"


class Retry(Frozen):
    """How a step is retried. ``max_attempts`` counts the first attempt.

    Every ``Exception`` is retried except those in ``non_retryable`` and plait's own errors;
    ``retry_on`` narrows that to the listed types, or to those a predicate accepts.
    """

    max_attempts: int = 3
    initial_interval: Duration = timedelta(seconds=1)
    backoff: float = 2.0
    max_interval: Duration = timedelta(seconds=60)
    jitter: float = 0.2
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool] | None = None
    non_retryable: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigurationError(
                f"Retry(max_attempts=...) must be an integer >= 1, got {self.max_attempts!r}"
            )
        to_seconds(self.initial_interval, "Retry(initial_interval=...)")
        to_seconds(self.max_interval, "Retry(max_interval=...)")
        if self.backoff < 1:
            raise ConfigurationError(f"Retry(backoff=...) must be >= 1, got {self.backoff}")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError(f"Retry(jitter=...) must be in [0, 1], got {self.jitter}")
        if isinstance(self.retry_on, list):
            object.__setattr__(self, "retry_on", tuple(self.retry_on))
        if isinstance(self.non_retryable, list):
            object.__setattr__(self, "non_retryable", tuple(self.non_retryable))

    def should_retry(self, error: BaseException) -> bool:
        """Whether ``error`` may be retried by this policy (attempts left aside)."""
        if not isinstance(error, Exception) or isinstance(error, PlaitError):
            return False
        if self.non_retryable and isinstance(error, self.non_retryable):
            return False
        if self.retry_on is None:
            return True
        if isinstance(self.retry_on, tuple):
            return isinstance(error, self.retry_on)
        return bool(self.retry_on(error))

    def interval(self, failed_attempts: int, rand: float) -> float:
        """Seconds to wait after ``failed_attempts`` failures; ``rand`` in [0, 1)."""
        base = to_seconds(self.initial_interval, "initial_interval") * self.backoff ** (
            failed_attempts - 1
        )
        capped = min(base, to_seconds(self.max_interval, "max_interval"))
        return max(0.0, capped * (1 + self.jitter * (2 * rand - 1)))


class ErrorInfo(Frozen):
    """A recorded error: its type name, message and traceback."""

    type: str
    message: str
    traceback: str | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ErrorInfo | None:
        if data is None:
            return None
        return cls(
            type=str(data.get("type", "Error")),
            message=str(data.get("message", "")),
            traceback=data.get("traceback"),
            seq=data.get("seq"),
        )


class WorkflowInfo(Frozen):
    """What the store knows about one workflow."""

    id: str
    name: str
    version: str
    status: WorkflowStatus
    queue: str
    priority: int
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    parent_id: str | None
    attempt: int
    recoveries: int
    cancel_requested: bool
    error: ErrorInfo | None
    waiting_on: dict[str, Any] | None
    available_at: datetime | None
    status_text: str | None
    attributes: dict[str, Any]
    concurrency_key: str | None
    lease_owner: str | None
    input: JSONValue
    output: JSONValue
    subject: str | None = None  # the person the workflow is about (engine.start(subject=))


class StepRecord(Frozen):
    """One journal entry: a step, sleep, signal wait, child, patch or recorded value."""

    workflow_id: str
    seq: int
    kind: str
    name: str
    status: EntryStatus
    output: JSONValue
    error: ErrorInfo | None
    wake_at: datetime | None
    attempts: int
    worker_attempt: int
    started_at: datetime
    completed_at: datetime | None
    fingerprint: str | None


class AttemptRecord(Frozen):
    """One attempt of a step: when it started and ended, and the error if it raised."""

    workflow_id: str
    seq: int
    attempt: int
    started_at: datetime
    ended_at: datetime
    error: ErrorInfo | None
    worker_attempt: int

    @property
    def duration(self) -> timedelta:
        return self.ended_at - self.started_at


class RunInfo(Frozen):
    """A run of a workflow that ended with ``ctx.continue_as_new``: its arguments and its
    journal as they were. The workflow's current run is number ``len(engine.runs(id)) + 1``."""

    workflow_id: str
    run: int
    input: JSONValue
    started_at: datetime
    ended_at: datetime
    journal: list[StepRecord]
    attempts: list[AttemptRecord]


class WorkflowEventKind(StrEnum):
    """What a client did to a workflow (``engine.events``)."""

    STARTED = "started"
    SIGNALLED = "signalled"
    CANCELLED = "cancelled"
    RESUMED = "resumed"
    ERASED = "erased"
    COLLECTED = "collected"  # deleted by gc or retention: the tombstone that stays


class WorkflowEvent(Frozen):
    """One action on a workflow: what, by whom (``by=``, ``"system"`` by default), when,
    and its details (the signal name and dedup key, the status a resume left, ...)."""

    id: int
    workflow_id: str
    kind: WorkflowEventKind
    by: str
    at: datetime
    details: dict[str, Any]


class ErasureReport(Frozen):
    """What ``engine.erase_subject`` erased: the subject's workflows (those started with
    ``subject=`` and their children), the ones it had to cancel first, and how many records
    and blobs were deleted."""

    subject: str
    workflows: tuple[str, ...]
    cancelled: tuple[str, ...]
    records: int
    blobs: int


class SubjectInfo(Frozen):
    """What carries one subject (``engine.subject``), i.e. what ``erase_subject`` would
    erase: the workflows started with ``subject=`` (newest first, up to a limit), how many
    workflows with their children, records and blobs, and whether it was erased before."""

    subject: str
    workflows: tuple[WorkflowInfo, ...]
    workflow_count: int
    records: int
    blobs: int
    erasures: tuple[WorkflowEvent, ...]

    @property
    def empty(self) -> bool:
        """Nothing carries the subject (nothing to erase)."""
        return not (self.workflow_count or self.records or self.blobs)


class GcReport(Frozen):
    """What ``engine.gc`` or ``engine.apply_retention`` deleted (or, with ``dry_run``, would
    delete): rows per table (``workflows``, ``journal``, ``blobs``, ``records``, ...)."""

    dry_run: bool
    deleted: dict[str, int]

    @property
    def workflows(self) -> int:
        return self.deleted.get("workflows", 0)

    @property
    def blobs(self) -> int:
        return self.deleted.get("blobs", 0)

    @property
    def records(self) -> int:
        return self.deleted.get("records", 0)


class Record(Frozen):
    """One entry of ``engine.records``: a JSON value under ``(kind, key)``, maybe about a
    person (``subject``)."""

    kind: str
    key: str
    value: JSONValue
    subject: str | None
    created_at: datetime
    updated_at: datetime
