"""A handle on one workflow: its id, its current record and its result."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from plait.clock import duration_ms
from plait.errors import (
    WaitTimeout,
    WorkflowBlocked,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowNotFound,
)
from plait.types import Duration, WorkflowInfo, WorkflowStatus
from plait.wakeups import Completion, set_done

if TYPE_CHECKING:
    from plait.definitions import WorkflowDef
    from plait.engine import Engine
    from plait.store.records import ResultRow

R = TypeVar("R")

_ENDED = (
    WorkflowStatus.COMPLETED,
    WorkflowStatus.FAILED,
    WorkflowStatus.CANCELLED,
    WorkflowStatus.BLOCKED,
)


class WorkflowHandle(Generic[R]):
    """A reference to one workflow: its id, its state and its result."""

    def __init__(
        self, engine: Engine, workflow_id: str, wf: WorkflowDef[..., R] | None = None
    ) -> None:
        self.engine = engine
        self.id = workflow_id
        self._wf = wf

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.id!r}>"

    async def info(self) -> WorkflowInfo:
        """The workflow's current record."""
        return await self.engine.get(self.id)

    async def result(self, timeout: Duration | None = None) -> R:
        """Waits for the workflow to end and returns its result. Raises ``WorkflowFailed``,
        ``WorkflowCancelled``, ``WorkflowBlocked``, or ``WaitTimeout`` after ``timeout``."""
        e = self.engine
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + duration_ms(timeout, "timeout") / 1000
        completed: Completion | None = None
        first = True
        while True:
            ended = e.endings.watch(self.id)  # before reading: an end in between wakes it
            # While a worker of this process runs it, the first read is skipped: it would
            # find the row not ended, and the end here wakes this waiter (with the output).
            skip_read = first and any(w.runs_here(self.id) for w in e.local_workers)
            first = False
            try:
                if completed is not None and self._wf is not None:
                    return self._decode(completed.output, self._wf)  # committed here
                if not skip_read:
                    row = await e.store.get_result(self.id)
                    if row is None:
                        raise WorkflowNotFound(f"no workflow {self.id!r} in {e.url}")
                    if row.status in _ENDED:
                        return self._ended(row)
                # An end in this process wakes this waiter at once; polling finds ends elsewhere.
                # Many waiters poll less often each, together about 1,000 reads a second.
                wait = max(e.poll_interval, len(e.endings) / 1000)
                if deadline is not None:
                    left = deadline - loop.time()
                    if left <= 0:
                        raise WaitTimeout(f"workflow {self.id!r} did not end within {timeout}")
                    wait = min(wait, left)
                timer = loop.call_later(wait, set_done, ended)
                completed = await ended
                timer.cancel()
            finally:
                e.endings.unwatch(self.id, ended)

    def _ended(self, info: ResultRow) -> R:
        """The result of an ended workflow (or its error raised)."""
        if info.status == WorkflowStatus.FAILED:
            err = info.error
            raise WorkflowFailed(
                self.id,
                err.type if err else "Error",
                err.message if err else "",
                err.traceback if err else None,
            )
        if info.status == WorkflowStatus.CANCELLED:
            raise WorkflowCancelled(f"workflow {self.id!r} was cancelled")
        if info.status == WorkflowStatus.BLOCKED:
            raise WorkflowBlocked(
                f"workflow {self.id!r} is blocked: "
                f"{info.error.message if info.error else ''} (fix the code, then resume it)"
            )
        return self._decode(info.output, self._wf or self.engine.registry_by_name.get(info.name))

    def _decode(self, output: str | None, wf: WorkflowDef[..., Any] | None) -> R:
        value: R = self.engine.codec.decode(
            output, wf.return_type if wf else Any, what=f"the result of workflow {self.id!r}"
        )
        return value
