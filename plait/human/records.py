"""Human tasks, the records an engine returns: task statuses, events, field changes, tasks.

These are plain frozen values built from store rows by :mod:`plait.human.inbox`; payloads
(``proposal``, ``context``, ``answer``) are plain JSON data, never form instances.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from plait.frozen import Frozen
from plait.types import JSONValue


class TaskStatus(StrEnum):
    """Where a human task is in its life. Claiming sets ``claimed_by``; it is not a status."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class TaskEventKind(StrEnum):
    """What happened to a human task (its audit trail)."""

    CREATED = "created"
    REMINDED = "reminded"
    REASSIGNED = "reassigned"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    EXPIRED = "expired"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"
    REOPENED = "reopened"  # the answer no longer fit the form; the payload has the errors


class FieldChange(Frozen):
    """One field a person changed in a proposal: its dotted path, and the value before and
    after."""

    field: str
    before: JSONValue
    after: JSONValue


class HumanTask(Frozen):
    """A human task as the engine records it. Payloads (``proposal``, ``context``,
    ``answer``) are plain JSON data."""

    id: str
    workflow_id: str
    seq: int
    title: str
    status: TaskStatus
    assignee: str | None
    claimed_by: str | None
    form: str
    form_schema: dict[str, JSONValue]
    proposal: JSONValue
    context: JSONValue
    answer: JSONValue
    changes: tuple[FieldChange, ...]
    completed_by: str | None
    comment: str | None
    due_at: datetime | None
    remind_at: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @property
    def is_open(self) -> bool:
        """True while the task waits for an answer."""
        return self.status == TaskStatus.OPEN


class TaskEvent(Frozen):
    """One entry of a task's audit trail. ``actor`` is the person who acted, or ``None``
    when plait did (creation, reminders, deadlines, cancellation)."""

    id: int
    task_id: str
    workflow_id: str
    kind: TaskEventKind
    actor: str | None
    at: datetime
    payload: dict[str, JSONValue]
