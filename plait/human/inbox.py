"""Human tasks from outside a workflow: the engine's inbox API (:class:`TaskAPI`).

``TaskAPI`` is mixed into :class:`~plait.engine.Engine`: the inbox, answers, claims,
reassignment and the audit trail. It validates an answer against the form before anything
is written, computes which fields changed from the proposal, and leaves the one-winner check
to the store's ``... WHERE status = 'open'``.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from plait.errors import ConfigurationError, PermissionDenied, TaskNotFound
from plait.human.directory import Directory
from plait.human.forms import diff, form_spec, resolve_form
from plait.human.records import FieldChange, HumanTask, TaskEvent, TaskEventKind, TaskStatus
from plait.human.schema import check_answer
from plait.store.records import Actor, TaskFilter, TaskRow
from plait.types import ms_to_datetime, parse_enum

if TYPE_CHECKING:
    from plait.clock import Clock
    from plait.codec import Codec
    from plait.human.approval import Approval
    from plait.store import Store
    from plait.wakeups import Beacon


class TaskAPI:
    """Human-task methods of :class:`~plait.engine.Engine`: the inbox, answers, claims,
    reassignment and the audit trail."""

    if TYPE_CHECKING:  # provided by Engine
        url: str
        store: Store
        codec: Codec
        clock: Clock
        directory: Directory | None
        poll_interval: float
        beacon: Beacon

        def wake(self, queue: str | None = None) -> None: ...

    async def tasks(
        self,
        *,
        status: TaskStatus | str | Sequence[TaskStatus | str] | None = None,
        assignee: str | Sequence[str] | None = None,
        workflow_id: str | None = None,
        for_user: str | None = None,
        overdue: bool | None = None,
        order: Literal["oldest", "urgent"] = "oldest",
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[HumanTask]:
        """Human tasks, oldest first, filtered by status, assignee (a name or several: a
        person and their groups make an inbox), workflow, ``for_user`` (assigned to that
        person or, with a directory, to one of their groups) and ``overdue`` (open and past
        ``due_at``: ``True`` only those, ``False`` all others). ``order="urgent"`` puts the
        overdue ones first, the most overdue first, then the rest oldest first."""
        statuses = () if status is None else (status,) if isinstance(status, str) else status
        names = () if assignee is None else (assignee,) if isinstance(assignee, str) else assignee
        if for_user is not None:
            if not isinstance(for_user, str) or not for_user:
                raise ConfigurationError(f"tasks(for_user=...) must be a name, not {for_user!r}")
            mine = {for_user} | (self.directory.groups_of(for_user) if self.directory else set())
            # Both given: the assignees of the inbox that are also asked for.
            names = sorted(mine & set(names)) if names else sorted(mine)
            if not names:
                return []
        if order not in ("oldest", "urgent"):
            raise ConfigurationError(f"tasks(order=...) is 'oldest' or 'urgent', not {order!r}")
        flt = TaskFilter(
            status=tuple(parse_enum(TaskStatus, s, "task status").value for s in statuses),
            assignees=tuple(names),
            workflow_id=workflow_id,
            limit=limit,
            offset=offset,
            overdue=overdue,
            urgent=order == "urgent",
            now=self.clock.now_ms(),
        )
        return [self._human_task(r) for r in await self.store.list_tasks(flt)]

    async def task(self, task_id: str) -> HumanTask:
        """One human task; raises ``TaskNotFound``."""
        return self._human_task(await self._task_row(task_id))

    async def complete_task(
        self,
        task_id: str,
        answer: object,
        *,
        by: str | None = None,
        comment: str | None = None,
    ) -> HumanTask:
        """Answers a human task and wakes its workflow, which receives the answer as an
        instance of the form. ``answer`` is a dict or a form instance (``True``/``False``
        for an approval); it is validated before anything is written, against the form, or
        against the JSON Schema stored with the task when this process has not loaded the
        form's code.

        Raises ``InvalidAnswer`` (each field and why), ``TaskAlreadyCompleted`` (someone
        was first), ``TaskNotOpen`` (expired or cancelled), ``PermissionDenied``,
        ``TaskNotFound``. On any error nothing changes."""
        actor = self._actor(by, "complete", task_id)
        row = await self._task_row(task_id)
        plain = _checked(row, answer, comment)
        changes = [] if row.proposal is None else diff(self.codec.loads(row.proposal), plain)
        what = f"the answer to human task {task_id!r}"
        done = await self.store.complete_task(
            task_id,
            self.codec.encode(plain, what=what),
            self.codec.encode([dataclasses.asdict(c) for c in changes], what=what)
            if changes
            else None,
            [c.field for c in changes],
            actor,
            None if comment is None else self.codec.seal(comment),  # free text: sealed too
            self.clock.now_ms(),
        )
        self.wake()
        return self._human_task(done)

    async def claim_task(self, task_id: str, *, by: str) -> HumanTask:
        """Marks a task as taken by ``by`` (an inbox shows who works on it). A claimed task
        is completed or claimed only by its claimer or an admin, until it is reassigned."""
        if not isinstance(by, str) or not by:
            raise ConfigurationError("claim_task(by=...) needs the person's name")
        row = await self.store.claim_task(
            task_id, self._actor(by, "claim", task_id), self.clock.now_ms()
        )
        self.wake()
        return self._human_task(row)

    async def reassign_task(self, task_id: str, *, to: str, by: str | None = None) -> HumanTask:
        """Assigns an open task to another person or group; releases its claim."""
        if not isinstance(to, str) or not to:
            raise ConfigurationError("reassign_task(to=...) needs a person or group name")
        row = await self.store.reassign_task(
            task_id, to, self._actor(by, "reassign", task_id), self.clock.now_ms()
        )
        self.wake()
        return self._human_task(row)

    async def task_events(
        self,
        task_id: str | None = None,
        *,
        workflow_id: str | None = None,
        kinds: Sequence[TaskEventKind | str] | None = None,
        after: int | None = None,
        limit: int = 1000,
    ) -> builtins.list[TaskEvent]:
        """The audit trail, oldest first: of one task, of one workflow's tasks, or of all.
        ``after`` (an event id) reads on from a cursor, e.g. to send reminder e-mails."""
        rows = await self.store.task_events(
            task_id,
            workflow_id,
            tuple(parse_enum(TaskEventKind, k, "task event").value for k in kinds or ()),
            after,
            limit,
        )
        return [
            TaskEvent(
                id=r.id,
                task_id=r.task_id,
                workflow_id=r.workflow_id,
                kind=TaskEventKind(r.kind),
                actor=r.actor,
                at=ms_to_datetime(r.at),  # type: ignore[arg-type]
                payload=self.codec.reveal(r.payload),  # a comment, a reopened answer
            )
            for r in rows
        ]

    async def watch_task_events(
        self, *, kinds: Sequence[TaskEventKind | str] | None = None, after: int = 0
    ) -> AsyncIterator[TaskEvent]:
        """Yields task events as they are recorded, from any process, starting after event
        id ``after``: ``async for ev in engine.watch_task_events(kinds=["reminded"]): ...``.
        Keep the last ``ev.id`` to continue after a restart without missing one."""
        cursor = after
        while True:
            mark = self.beacon.mark()
            events = await self.task_events(kinds=kinds, after=cursor)
            for event in events:
                cursor = event.id
                yield event
            if not events:
                await self.beacon.wait(self.poll_interval, since=mark)

    # -- helpers -------------------------------------------------------------------------
    async def _task_row(self, task_id: str) -> TaskRow:
        row = await self.store.get_task(task_id)
        if row is None:
            raise TaskNotFound(f"no human task {task_id!r} in {self.url}")
        return row

    def _actor(self, by: str | None, action: str, task_id: str) -> Actor:
        if by is not None and (not isinstance(by, str) or not by):
            raise ConfigurationError(f"by= must be a person's name, not {by!r}")
        if self.directory is None:
            return Actor(by)
        if by is None:
            raise PermissionDenied(
                f"say who may {action} human task {task_id!r}: pass by='person' (the engine "
                "has a directory, so it checks who acts)"
            )
        return Actor(by, self.directory.groups_of(by), self.directory.is_admin(by))

    def _human_task(self, r: TaskRow) -> HumanTask:
        changes = self.codec.loads(r.changes) or []
        return HumanTask(
            id=r.id,
            workflow_id=r.workflow_id,
            seq=r.seq,
            title=r.title,
            status=TaskStatus(r.status),
            assignee=r.assignee,
            claimed_by=r.claimed_by,
            form=r.form_name,
            form_schema=json.loads(r.form_schema),
            proposal=self.codec.loads(r.proposal),
            context=self.codec.loads(r.context),
            answer=self.codec.loads(r.answer),
            changes=tuple(FieldChange(**c) for c in changes),
            completed_by=r.completed_by,
            comment=None if r.comment is None else self.codec.unseal(r.comment),
            due_at=ms_to_datetime(r.due_at),
            remind_at=ms_to_datetime(r.remind_at),
            created_at=ms_to_datetime(r.created_at),  # type: ignore[arg-type]
            updated_at=ms_to_datetime(r.updated_at),  # type: ignore[arg-type]
            completed_at=ms_to_datetime(r.completed_at),
        )


def _checked(row: TaskRow, answer: object, comment: str | None) -> object:
    """The answer as plain JSON data, validated by the form when this process has loaded it,
    else by the schema stored with the task (the workflow decodes it when it resumes)."""
    form = resolve_form(row.form_name)
    if form is None:
        return check_answer(row.form_schema, row.form_name, answer, task_id=row.id)
    spec = form_spec(form)
    if spec.type is _approval_type():
        answer = _approval(answer, comment)
    _, plain = spec.check(answer, what=f"the answer to human task {row.id!r}", task_id=row.id)
    return plain


def _approval_type() -> type[Approval]:
    from plait.human.approval import Approval  # loaded on first use (see there)

    return Approval


def _approval(answer: object, comment: str | None) -> object:
    """``True``/``False`` stand for an approval; ``comment=`` fills its comment."""
    if isinstance(answer, bool):
        answer = {"approved": answer}
    if comment is not None:
        if isinstance(answer, _approval_type()) and answer.comment is None:
            answer = answer.model_copy(update={"comment": comment})
        elif isinstance(answer, Mapping) and answer.get("comment") is None:
            answer = {**answer, "comment": comment}
    return answer
