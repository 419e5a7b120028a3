"""A handle on one workflow: its id, its current record and its result."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from plait.clock import duration_ms
from plait.errors import WaitTimeout, WorkflowBlocked, WorkflowCancelled, WorkflowFailed
from plait.types import Duration, WorkflowInfo, WorkflowStatus
from plait.wakeups import set_done

if TYPE_CHECKING:
    from plait.definitions import WorkflowDef
    from plait.engine import Engine

R = TypeVar("R")


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
        while True:
            ended = e.endings.watch(self.id)  # before reading: an end in between wakes it
            try:
                info = await e.get(self.id, decode=False)
                if info.status == WorkflowStatus.COMPLETED:
                    return self._value(info.name, info.output)
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
                # An end in this process wakes this waiter at once; polling finds ends elsewhere.
                # Many waiters poll less often each, together about 1,000 reads a second.
                wait = max(e.poll_interval, len(e.endings) / 1000)
                if deadline is not None:
                    left = deadline - loop.time()
                    if left <= 0:
                        raise WaitTimeout(f"workflow {self.id!r} did not end within {timeout}")
                    wait = min(wait, left)
                timer = loop.call_later(wait, set_done, ended)
                completion = await ended
                timer.cancel()
                if completion is not None:  # it completed here; its output is committed
                    return self._value(completion.name, completion.output)
            finally:
                e.endings.unwatch(self.id, ended)

    def _value(self, name: str, output: str | None) -> R:
        e = self.engine
        wf = self._wf or e.registry_by_name.get(name)
        value: R = e.codec.decode(
            output, wf.return_type if wf else Any, what=f"the result of workflow {self.id!r}"
        )
        return value
