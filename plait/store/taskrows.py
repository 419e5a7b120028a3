"""Human-task rows: their columns and decoding, the permission check, and the messages of a
task that is no longer open. Nothing here runs a statement; :mod:`plait.store.tasks` does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from plait.errors import PermissionDenied, TaskAlreadyCompleted, TaskNotOpen
from plait.store.records import Actor, TaskRow
from plait.store.sqlbase import Row
from plait.types import ms_to_datetime

TASK_COLUMNS = (
    "id, workflow_id, seq, title, status, assignee, claimed_by, form_name, form_schema, "
    "proposal, context, answer, changes, completed_by, comment, on_timeout, remind_offsets, "
    "due_at, remind_at, created_at, updated_at, completed_at"
)
"""The columns :func:`task_row` reads."""


def dumps(value: object) -> str:
    """Compact JSON text of a value the store writes itself (policies, event payloads)."""
    return json.dumps(value, separators=(",", ":"))


def iso(ms: int | None) -> str | None:
    """An epoch-ms time as ISO 8601 text, for event payloads and messages."""
    when = ms_to_datetime(ms)
    return None if when is None else when.isoformat()


def next_reminder(due_at: int | None, offsets: Sequence[int], after: int) -> int | None:
    """The first reminder time for ``due_at`` later than ``after``, if any."""
    if due_at is None:
        return None
    times = [due_at - o for o in offsets if due_at - o > after]
    return min(times) if times else None


def check_actor(task: TaskRow, actor: Actor, action: str, *, claims: bool) -> None:
    """Raises ``PermissionDenied`` unless ``actor`` may ``action`` the task (``claims``: a
    claim by someone else stops them too)."""
    who = actor.name
    if actor.groups is not None and not actor.admin:
        if who is None:
            raise PermissionDenied(
                f"say who may {action} human task {task.id!r}: pass by='person' (the engine "
                "has a directory, so it checks who acts)"
            )
        if task.assignee is not None and task.assignee != who and task.assignee not in actor.groups:
            raise PermissionDenied(
                f"{who!r} may not {action} human task {task.id!r}: it is assigned to "
                f"{task.assignee!r}, and {who!r} is not that person, not in that group, and "
                "not an admin"
            )
    if claims and task.claimed_by is not None and task.claimed_by != who and not actor.admin:
        raise PermissionDenied(
            f"{who!r} may not {action} human task {task.id!r}: {task.claimed_by!r} has claimed "
            "it; only they or an admin may, or reassign the task to release the claim"
        )


def not_open(task: TaskRow) -> TaskNotOpen:
    """The error for acting on a task that is completed, expired or cancelled."""
    if task.status == "completed":
        return TaskAlreadyCompleted(
            task.id,
            task.status,
            f"human task {task.id!r} was already completed by {task.completed_by!r} at "
            f"{iso(task.completed_at)}; nothing was changed",
        )
    if task.status == "expired":
        return TaskNotOpen(
            task.id,
            task.status,
            f"human task {task.id!r} expired: its deadline {iso(task.due_at)} passed; it takes"
            " no answer, claim or reassignment",
        )
    return TaskNotOpen(
        task.id,
        task.status,
        f"human task {task.id!r} was cancelled at {iso(task.completed_at)} (its workflow was "
        "cancelled or ended); it takes no answer, claim or reassignment",
    )


def task_row(r: Row) -> TaskRow:
    """A ``human_tasks`` row (:data:`TASK_COLUMNS`) as a record."""
    return TaskRow(**{f.name: r[f.name] for f in dataclasses.fields(TaskRow)})
