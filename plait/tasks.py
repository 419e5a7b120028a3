"""Human tasks at work: ``ctx.ask_human`` inside a workflow, and the engine's task API.

A human task is a durable wait on the signal mailbox. ``ask_human`` reserves the next
sequence number at the call site (so ``asyncio.gather`` of questions is deterministic); the
task id is ``"<workflow id>:<seq>"``. In one fenced transaction the store writes the journal
entry and the task, then looks for the answer (signal ``plait:task:<id>``) and applies what
the deadline policy says is due. If nothing ends the wait, the workflow suspends until the
answer arrives or the next reminder or deadline.

The journal entry records only the outcome: ``completed`` (the answer), ``default`` (the
``Default`` value at the deadline), ``expired`` (``WaitTimeout``) or cancelled. Replays
return it without asking the store. Reminders and escalations are recorded once in the
task's audit trail, by the transaction that finds them due.

The engine side (:class:`TaskAPI`, mixed into :class:`~plait.engine.Engine`) validates an
answer against the form before anything is written, computes which fields changed from the
proposal, and leaves the one-winner check to the store's ``... WHERE status = 'open'``.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from plait.clock import duration_ms, to_ms
from plait.errors import (
    ConfigurationError,
    InvalidAnswer,
    PermissionDenied,
    TaskNotFound,
    WaitTimeout,
)
from plait.human import (
    Approval,
    Default,
    Directory,
    Escalate,
    FieldChange,
    FormSpec,
    HumanTask,
    OnTimeout,
    TaskEvent,
    TaskEventKind,
    TaskStatus,
    check_on_timeout,
    diff,
    form_spec,
    offsets_ms,
    resolve_form,
)
from plait.store.records import TASK_SIGNAL, Actor, Entry, NewTask, TaskFilter, TaskRow
from plait.types import Duration, EntryStatus, ms_to_datetime, parse_enum

if TYPE_CHECKING:
    from plait.clock import Clock
    from plait.codec import Codec
    from plait.context import Context
    from plait.engine import Beacon
    from plait.store import Store

KIND = "human_task"


# -- inside a workflow ---------------------------------------------------------------------
def ask_human(
    ctx: Context,
    title: str,
    *,
    form: type[Any] | None,
    proposal: object,
    context: Mapping[str, object] | None,
    assignee: str | None,
    due: Duration | datetime | None,
    on_timeout: OnTimeout,
    remind: Duration | Collection[Duration] | None,
) -> Coroutine[Any, Any, Any]:
    """The implementation of :meth:`plait.Context.ask_human`."""
    if not isinstance(title, str) or not title.strip():
        raise ConfigurationError("ask_human needs a title: what the person is asked")
    spec = form_spec(Approval if form is None else form)
    check_on_timeout(on_timeout)
    if assignee is not None and (not isinstance(assignee, str) or not assignee):
        raise ConfigurationError("ask_human(assignee=...) must be a person or group name")
    offsets = offsets_ms(remind)
    if due is not None and not isinstance(due, datetime):
        duration_ms(due, "ask_human(due=...)")
    if offsets and due is None:
        raise ConfigurationError("ask_human(remind=...) reminds before a deadline: give due=")
    seq, entry = ctx._reserve(KIND, title)
    task_id = f"{ctx.workflow_id}:{seq}"

    def new_task(now: int) -> NewTask:
        codec = ctx._engine.codec
        what = f"human task {title!r}"
        proposed = None
        if proposal is not None:
            plain = _fit(spec, proposal, f"the proposal of {what}", task_id)
            proposed = codec.encode(plain, what=f"the proposal of {what}")
        if isinstance(due, datetime):
            due_at: int | None = to_ms(due)
        else:
            due_at = None if due is None else now + duration_ms(due, "ask_human(due=...)")
        return NewTask(
            id=task_id,
            workflow_id=ctx.workflow_id,
            seq=seq,
            title=title,
            assignee=assignee,
            form_name=spec.name,
            form_schema=spec.schema,
            proposal=proposed,
            context=None
            if context is None
            else codec.encode(context, what=f"the context of {what}"),
            due_at=due_at,
            remind_offsets=offsets,
            on_timeout=_policy(on_timeout, spec, ctx, what, task_id),
        )

    async def run() -> Any:
        try:
            out = await _wait(ctx, seq, entry, title, task_id, new_task)
            if out["outcome"] == "expired":
                exc = WaitTimeout(f"nobody answered human task {title!r} ({task_id}) in time")
                exc.plait_seq = seq  # type: ignore[attr-defined]  # resume() asks again
                raise exc
            return ctx._decode(out["payload"], spec.type, f"human task {task_id!r}")
        finally:
            ctx._done()

    return run()


async def _wait(
    ctx: Context,
    seq: int,
    entry: Entry | None,
    title: str,
    task_id: str,
    new_task: Callable[[int], NewTask],
) -> dict[str, Any]:
    if entry is not None and entry.status == EntryStatus.COMPLETED:
        return dict(json.loads(entry.output or "{}"))
    if entry is not None and entry.status == EntryStatus.CANCELLED:
        raise asyncio.CancelledError()
    await ctx._interrupts(seq, entry, KIND, title)
    now = ctx._now()
    new: NewTask | None = None
    if entry is None:
        new = new_task(now)
        entry = Entry(seq, KIND, title, EntryStatus.WAITING, wake_at=new.due_at, started_at=now)
    outcome = await ctx._store(
        ctx._engine.store.wait_task(
            ctx._fence, now, ctx.take_pending(), entry, new, not ctx._cancel_delivered
        )
    )
    if outcome.state == "park":
        ctx._journal[seq] = dataclasses.replace(entry, wake_at=outcome.wake_at)
        await ctx._park((TASK_SIGNAL + task_id,), outcome.wake_at)
    if outcome.state == "cancelled":
        ctx._journal[seq] = dataclasses.replace(
            entry, status=EntryStatus.CANCELLED, completed_at=now
        )
        ctx._cancel_delivered = True
        raise asyncio.CancelledError()
    ctx._journal[seq] = dataclasses.replace(
        entry, status=EntryStatus.COMPLETED, output=outcome.output, completed_at=now
    )
    return dict(json.loads(outcome.output or "{}"))


def _fit(spec: FormSpec, value: object, what: str, task_id: str) -> Any:
    """``value`` validated against the form as plain JSON; a misfit is a bug in the code."""
    try:
        return spec.check(value, what=what, task_id=task_id)[1]
    except InvalidAnswer as exc:
        listed = "; ".join(f"{field}: {why}" for field, why in exc.errors)
        raise ConfigurationError(f"{what} does not fit its form {spec.name}: {listed}") from None


def _policy(
    on_timeout: OnTimeout, spec: FormSpec, ctx: Context, what: str, task_id: str
) -> dict[str, Any]:
    if isinstance(on_timeout, Default):
        plain = _fit(spec, on_timeout.value, f"the Default answer of {what}", task_id)
        return {
            "kind": "default",
            "value": ctx._engine.codec.encode(plain, what=f"the Default answer of {what}"),
        }
    if isinstance(on_timeout, Escalate):
        return {
            "kind": "escalate",
            "to": on_timeout.to,
            "due": duration_ms(on_timeout.due, "Escalate(due=...)"),
            "then": _policy(on_timeout.then, spec, ctx, what, task_id),
        }
    return {"kind": "raise"}


# -- the engine's API ----------------------------------------------------------------------
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
        _beacon: Beacon

        def _wake(self) -> None: ...

    async def tasks(
        self,
        *,
        status: TaskStatus | str | Sequence[TaskStatus | str] | None = None,
        assignee: str | Sequence[str] | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[HumanTask]:
        """Human tasks, oldest first, filtered by status, assignee (a name or several: a
        person and their groups make an inbox) and workflow."""
        statuses = () if status is None else (status,) if isinstance(status, str) else status
        names = () if assignee is None else (assignee,) if isinstance(assignee, str) else assignee
        flt = TaskFilter(
            status=tuple(parse_enum(TaskStatus, s, "task status").value for s in statuses),
            assignees=tuple(names),
            workflow_id=workflow_id,
            limit=limit,
            offset=offset,
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
        for an approval); it is validated before anything is written.

        Raises ``InvalidAnswer`` (each field and why), ``TaskAlreadyCompleted`` (someone
        was first), ``TaskNotOpen`` (expired or cancelled), ``PermissionDenied``,
        ``TaskNotFound``. On any error nothing changes."""
        actor = self._actor(by, "complete", task_id)
        row = await self._task_row(task_id)
        form = resolve_form(row.form_name)
        if form is None:
            raise ConfigurationError(
                f"cannot check the answer to human task {task_id!r}: its form "
                f"{row.form_name} is not loaded in this process; import the workflow's code "
                "(the module defining the form) first"
            )
        spec = form_spec(form)
        if spec.type is Approval:
            answer = _approval(answer, comment)
        _, plain = spec.check(answer, what=f"the answer to human task {task_id!r}", task_id=task_id)
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
            comment,
            self.clock.now_ms(),
        )
        self._wake()
        return self._human_task(done)

    async def claim_task(self, task_id: str, *, by: str) -> HumanTask:
        """Marks a task as taken by ``by`` (an inbox shows who works on it). A claimed task
        is completed or claimed only by its claimer or an admin, until it is reassigned."""
        if not isinstance(by, str) or not by:
            raise ConfigurationError("claim_task(by=...) needs the person's name")
        row = await self.store.claim_task(
            task_id, self._actor(by, "claim", task_id), self.clock.now_ms()
        )
        self._wake()
        return self._human_task(row)

    async def reassign_task(self, task_id: str, *, to: str, by: str | None = None) -> HumanTask:
        """Assigns an open task to another person or group; releases its claim."""
        if not isinstance(to, str) or not to:
            raise ConfigurationError("reassign_task(to=...) needs a person or group name")
        row = await self.store.reassign_task(
            task_id, to, self._actor(by, "reassign", task_id), self.clock.now_ms()
        )
        self._wake()
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
                payload=r.payload,
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
            mark = self._beacon.mark()
            events = await self.task_events(kinds=kinds, after=cursor)
            for event in events:
                cursor = event.id
                yield event
            if not events:
                await self._beacon.wait(self.poll_interval, since=mark)

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
            comment=r.comment,
            due_at=ms_to_datetime(r.due_at),
            remind_at=ms_to_datetime(r.remind_at),
            created_at=ms_to_datetime(r.created_at),  # type: ignore[arg-type]
            updated_at=ms_to_datetime(r.updated_at),  # type: ignore[arg-type]
            completed_at=ms_to_datetime(r.completed_at),
        )


def _approval(answer: object, comment: str | None) -> object:
    """``True``/``False`` stand for an approval; ``comment=`` fills its comment."""
    if isinstance(answer, bool):
        answer = {"approved": answer}
    if comment is not None:
        if isinstance(answer, Approval) and answer.comment is None:
            answer = answer.model_copy(update={"comment": comment})
        elif isinstance(answer, Mapping) and answer.get("comment") is None:
            answer = {**answer, "comment": comment}
    return answer
