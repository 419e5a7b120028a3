"""Human tasks inside a workflow: ``ctx.ask_human`` as a durable operation.

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

An answer is decoded into the form class when the workflow receives it. One that does not
decode (it was checked against the stored schema by a process without the form's code, or
the form changed since) re-opens the task with the errors (a ``reopened`` event that keeps
the answer), and the workflow waits again: it is not blocked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Collection, Coroutine, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from plait.clock import duration_ms, to_ms
from plait.errors import (
    ConfigurationError,
    InvalidAnswer,
    SerializationError,
    WaitTimeout,
    check_text,
)
from plait.human.forms import (
    Default,
    Escalate,
    FormSpec,
    OnTimeout,
    check_on_timeout,
    form_spec,
    offsets_ms,
)
from plait.journal import Journal, mark
from plait.store.records import TASK_SIGNAL, Entry, NewTask
from plait.types import Duration, EntryStatus

if TYPE_CHECKING:
    from plait.codec import Codec

KIND = "human_task"


def ask_human(
    journal: Journal,
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
    check_text(title, "the title of ask_human")
    if form is None:
        from plait.human.approval import Approval  # loaded on first use (see there)

        form = Approval
    spec = form_spec(form)
    check_on_timeout(on_timeout)
    if assignee is not None and (not isinstance(assignee, str) or not assignee):
        raise ConfigurationError("ask_human(assignee=...) must be a person or group name")
    if assignee is not None:
        check_text(assignee, "ask_human(assignee=...)")
    offsets = offsets_ms(remind)
    if due is not None and not isinstance(due, datetime):
        duration_ms(due, "ask_human(due=...)")
    if offsets and due is None:
        raise ConfigurationError("ask_human(remind=...) reminds before a deadline: give due=")
    seq, entry = journal.reserve(KIND, title)
    task_id = f"{journal.workflow_id}:{seq}"

    def new_task(now: int) -> NewTask:
        codec = journal.engine.codec
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
            workflow_id=journal.workflow_id,
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
            on_timeout=_policy(on_timeout, spec, codec, what, task_id),
        )

    async def run() -> Any:
        try:
            current = entry
            while True:
                out = await _wait(journal, seq, current, title, task_id, new_task)
                if out["outcome"] == "expired":
                    raise mark(  # resume() asks again
                        WaitTimeout(f"nobody answered human task {title!r} ({task_id}) in time"),
                        seq,
                    )
                answer, current = await _receive(journal, spec, seq, task_id, out)
                if current is None:
                    return answer
        finally:
            journal.done()

    return run()


async def _wait(
    journal: Journal,
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
    await journal.interrupts(seq, entry, KIND, title)
    now = journal.now_ms()
    new: NewTask | None = None
    if entry is None:
        new = new_task(now)
        entry = Entry(seq, KIND, title, EntryStatus.WAITING, wake_at=new.due_at, started_at=now)
    outcome = await journal.store_call(
        journal.engine.store.wait_task(
            journal.fence, now, journal.take_pending(), entry, new, journal.may_deliver_cancel
        )
    )
    if outcome.state == "park":
        journal.remember(dataclasses.replace(entry, wake_at=outcome.wake_at))
        await journal.park((TASK_SIGNAL + task_id,), outcome.wake_at)
    if outcome.state == "cancelled":
        raise journal.cancelled_by_store(
            dataclasses.replace(entry, status=EntryStatus.CANCELLED, completed_at=now)
        )
    journal.remember(
        dataclasses.replace(
            entry, status=EntryStatus.COMPLETED, output=outcome.output, completed_at=now
        )
    )
    return dict(json.loads(outcome.output or "{}"))


async def _receive(
    journal: Journal, spec: FormSpec, seq: int, task_id: str, out: dict[str, Any]
) -> tuple[Any, Entry | None]:
    """The answer decoded into the form: ``(answer, None)``. An answer the form class refuses
    (it was checked against the stored schema only, or the form changed since) re-opens the
    task with the errors: ``(None, waiting entry)``, and the caller waits again. When the
    task cannot be re-opened (a default, or the workflow went on), it blocks as before."""
    what = f"human task {task_id!r}"
    try:
        return journal.engine.codec.decode(out["payload"], spec.type, what=what), None
    except SerializationError as exc:
        refused = str(exc)
    try:
        spec.check(journal.engine.codec.loads(out["payload"]), what=what, task_id=task_id)
        errors = [("(answer)", refused)]
    except InvalidAnswer as invalid:
        errors = invalid.errors
    if out["outcome"] == "completed":
        reopened = await journal.store_call(
            journal.engine.store.reopen_task(
                journal.fence, journal.now_ms(), journal.take_pending(), seq, errors
            )
        )
        if reopened is not None:
            journal.remember(reopened)
            return None, reopened
    return journal.decode(out["payload"], spec.type, what), None  # raises: blocked, as ever


def _fit(spec: FormSpec, value: object, what: str, task_id: str) -> Any:
    """``value`` validated against the form as plain JSON; a misfit is a bug in the code."""
    try:
        return spec.check(value, what=what, task_id=task_id)[1]
    except InvalidAnswer as exc:
        listed = "; ".join(f"{field}: {why}" for field, why in exc.errors)
        raise ConfigurationError(f"{what} does not fit its form {spec.name}: {listed}") from None


def _policy(
    on_timeout: OnTimeout, spec: FormSpec, codec: Codec, what: str, task_id: str
) -> dict[str, Any]:
    if isinstance(on_timeout, Default):
        plain = _fit(spec, on_timeout.value, f"the Default answer of {what}", task_id)
        return {
            "kind": "default",
            "value": codec.encode(plain, what=f"the Default answer of {what}"),
        }
    if isinstance(on_timeout, Escalate):
        return {
            "kind": "escalate",
            "to": on_timeout.to,
            "due": duration_ms(on_timeout.due, "Escalate(due=...)"),
            "then": _policy(on_timeout.then, spec, codec, what, task_id),
        }
    return {"kind": "raise"}
