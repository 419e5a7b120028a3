"""Child workflows as durable operations: start one, wait for its end.

Starting a child is journaled as ``child`` (its output is the child's id,
``"<parent id>:<seq>"``), written in the same fenced transaction that creates the child, so a
replay never starts it twice. Waiting for its end is a ``child_result`` wait on the parent's
mailbox: the store puts the child's end there as signal ``plait:child:<child id>``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from plait.clock import duration_ms
from plait.errors import ChildWorkflowFailed, WaitTimeout
from plait.journal import Journal, mark
from plait.store.records import CHILD_SIGNAL, Entry
from plait.types import Duration, EntryStatus

if TYPE_CHECKING:
    from plait.definitions import WorkflowDef

R = TypeVar("R")


class ChildHandle:
    """A child workflow started with ``ctx.start_child``; ``await handle.result()``."""

    def __init__(self, journal: Journal, child_id: str, wf: WorkflowDef[..., Any]) -> None:
        self._journal = journal
        self.id = child_id
        self._wf = wf

    def result(self, *, timeout: Duration | None = None) -> Coroutine[Any, Any, Any]:
        """Waits durably for the child to end; returns its result or raises
        ``ChildWorkflowFailed``."""
        seq, entry = self._journal.reserve("child_result", self._wf.name)
        return child_result(self._journal, seq, entry, self.id, self._wf, timeout)


def start_child(
    journal: Journal,
    wf: WorkflowDef[..., Any],
    args: tuple[Any, ...],
    queue: str | None,
    subject: str | None = None,
) -> Coroutine[Any, Any, ChildHandle]:
    """Reserves the child's position now; the awaitable starts it (once) and returns its
    handle. Without ``subject`` the child is about its parent's subject."""
    seq, entry = journal.reserve("child", wf.name)
    return _start(journal, seq, entry, wf, args, queue, subject)


async def _start(
    journal: Journal,
    seq: int,
    entry: Entry | None,
    wf: WorkflowDef[..., Any],
    args: tuple[Any, ...],
    queue: str | None,
    subject: str | None,
) -> ChildHandle:
    try:
        if entry is not None:
            if entry.status == EntryStatus.CANCELLED:
                raise asyncio.CancelledError()
            return ChildHandle(journal, json.loads(entry.output or "null"), wf)
        await journal.interrupts(seq, None, "child", wf.name)
        engine = journal.engine
        child_id = f"{journal.workflow_id}:{seq}"
        new = engine.new_workflow(
            wf,
            args,
            id=child_id,
            queue=queue or journal.queue,
            parent_id=journal.workflow_id,
            subject=subject,
        )
        now = journal.now_ms()
        done = Entry(
            seq,
            "child",
            wf.name,
            EntryStatus.COMPLETED,
            output=json.dumps(child_id),
            started_at=now,
            completed_at=now,
        )
        await journal.store_call(
            engine.store.start_child(journal.fence, now, journal.take_pending(), done, new)
        )
        journal.remember(done)
        engine.wake()
        return ChildHandle(journal, child_id, wf)
    finally:
        journal.done()


def child(
    journal: Journal,
    wf: WorkflowDef[..., R],
    args: tuple[Any, ...],
    queue: str | None,
    subject: str | None = None,
) -> Coroutine[Any, Any, R]:
    """Starts a child and waits for its result: both positions are reserved now."""
    start = start_child(journal, wf, args, queue, subject)
    seq, entry = journal.reserve("child_result", wf.name)

    async def run() -> R:
        try:
            handle = await start
        except BaseException:
            journal.done()  # the result wait reserved above will never run
            raise
        result: R = await child_result(journal, seq, entry, handle.id, wf, None)
        return result

    return run()


async def child_result(
    journal: Journal,
    seq: int,
    entry: Entry | None,
    child_id: str,
    wf: WorkflowDef[..., Any],
    timeout: Duration | None,
) -> Any:
    """The ``child_result`` wait at ``seq``: the child's result, or its failure raised."""
    try:
        wake = None if timeout is None else journal.now_ms() + duration_ms(timeout, "timeout")
        signal = CHILD_SIGNAL + child_id
        out = await journal.wait(seq, entry, "child_result", wf.name, (signal,), wake)
        assert out is not None
        if out.get("timeout"):
            raise mark(WaitTimeout(f"child workflow {child_id!r} did not end in time"), seq)
        end = json.loads(out["payload"])
        if end["status"] == "completed":
            return journal.decode(end["output"], wf.return_type, f"child {child_id!r}")
        err = end.get("error") or {}
        raise mark(
            ChildWorkflowFailed(
                child_id,
                err.get("type", end["status"]),
                err.get("message", end["status"]),
                err.get("traceback"),
            ),
            seq,
        )
    finally:
        journal.done()
