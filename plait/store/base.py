"""The storage contract: what the engine needs from a database, at the level of its domain.

The engine never writes SQL; it calls these operations, each one transaction. Every write
made on behalf of a running workflow carries a :class:`Fence` (the workflow id and the
``attempt`` it was claimed with): a store accepts the write only while that attempt still
holds the lease, so a worker that lost its lease can never write (``LeaseLostError``).
Times are epoch milliseconds supplied by the engine's clock. Payloads are stored text
produced by the codec; the store never interprets them, except to copy them.

Every backend passes the same conformance suite (``tests/store/``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from plait.types import AttemptRecord, StepRecord, WorkflowInfo, WorkflowStatus

if TYPE_CHECKING:
    from plait.store.limits import QueueLimits
    from plait.store.tasks import Actor, NewTask, TaskEventRow, TaskFilter, TaskOutcome, TaskRow


class LeaseLostError(Exception):
    """A fenced write found that its attempt no longer holds the workflow's lease."""


@dataclasses.dataclass(frozen=True)
class Fence:
    """Identifies the attempt allowed to write for a workflow."""

    workflow_id: str
    attempt: int
    worker_id: str
    lease_ms: int


@dataclasses.dataclass(frozen=True)
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


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One finished attempt of a step, to record."""

    seq: int
    attempt: int
    started_at: int
    ended_at: int
    error: dict[str, Any] | None


@dataclasses.dataclass(frozen=True)
class Claimed:
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


@dataclasses.dataclass(frozen=True)
class Wait:
    """What a suspended workflow waits for: signal names and/or a time."""

    signals: tuple[str, ...] = ()
    until: int | None = None


@dataclasses.dataclass(frozen=True)
class WaitOutcome:
    """Result of trying to finish a wait now."""

    state: str  # "signal" | "timeout" | "elapsed" | "park" | "suspended"
    signal_name: str | None = None
    payload: str | None = None


@dataclasses.dataclass(frozen=True)
class ListFilter:
    """Which workflows ``list`` returns."""

    status: tuple[WorkflowStatus, ...] = ()
    name: str | None = None
    parent_id: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    limit: int = 100
    offset: int = 0


class Store(Protocol):
    """Storage operations, each one transaction."""

    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # -- wake-up hints between processes (correctness never depends on them) -----------
    def notify(self, queue: str | None) -> None:
        """After a commit that made work runnable on ``queue`` (``None``: any): tell workers
        in other processes. Non-blocking; hints are coalesced and may be dropped."""
        ...

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (on the event loop) when another process sends a hint."""
        ...

    # -- starting and inspecting -------------------------------------------------------
    async def create_workflow(self, new: NewWorkflow, now: int) -> tuple[WorkflowInfo, bool]: ...

    async def get(self, workflow_id: str) -> WorkflowInfo | None: ...

    async def list_workflows(self, flt: ListFilter) -> list[WorkflowInfo]: ...

    async def journal(self, workflow_id: str) -> list[StepRecord]: ...

    async def attempts(self, workflow_id: str) -> list[AttemptRecord]: ...

    async def next_due(self, queues: tuple[str, ...] | None) -> int | None: ...

    # -- commands from clients ---------------------------------------------------------
    async def send_signal(
        self, workflow_id: str, name: str, payload: str | None, dedup_key: str | None, now: int
    ) -> bool: ...

    async def cancel(self, workflow_id: str, now: int) -> WorkflowStatus: ...

    async def resume(self, workflow_id: str, now: int) -> None: ...

    # -- workers -----------------------------------------------------------------------
    async def register_worker(self, worker_id: str, info: dict[str, Any], now: int) -> None: ...

    async def unregister_worker(self, worker_id: str) -> None: ...

    async def expire_workers(self, worker_ids: Iterable[str], now: int) -> int: ...

    async def workers_on(self, hostname: str) -> list[tuple[str, int, str | None]]: ...

    async def claim(
        self,
        worker_id: str,
        pairs: tuple[tuple[str, str], ...],
        queues: tuple[str, ...] | None,
        limit: int,
        now: int,
        lease_ms: int,
        max_recoveries: int,
    ) -> list[Claimed]: ...

    async def heartbeat(self, worker_id: str, now: int, lease_ms: int) -> set[str]: ...

    async def release(self, fence: Fence, now: int) -> None: ...

    # -- fenced writes of a running workflow --------------------------------------------
    async def record(
        self,
        fence: Fence,
        now: int,
        entries: list[Entry],
        attempts: list[Attempt],
        status: tuple[str | None, str | None] | None = None,
        updates: list[Entry] | None = None,
    ) -> bool: ...

    async def wait(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        entry: Entry,
        signals: tuple[str, ...],
        create: bool,
        suspend: bool = False,
        status: tuple[str | None, str | None] | None = None,
    ) -> WaitOutcome: ...

    async def start_child(
        self, fence: Fence, now: int, pending: list[Entry], entry: Entry, child: NewWorkflow
    ) -> str: ...

    async def suspend(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        wait: Wait,
        status: tuple[str | None, str | None] | None = None,
    ) -> None: ...

    async def finish(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        status: WorkflowStatus,
        output: str | None,
        error: dict[str, Any] | None,
    ) -> None: ...

    # -- queues and limits (plait/store/limits.py) ----------------------------------------
    async def configure_queues(
        self, queues: Sequence[QueueLimits], now: int
    ) -> list[tuple[QueueLimits, QueueLimits]]: ...

    async def acquire_limit(
        self,
        key: str,
        holder: str,
        now: int,
        interval_ms: int | None,
        slots: int | None,
        lease_ms: int,
    ) -> tuple[bool, int]: ...

    async def renew_limit(self, key: str, holder: str, expires_at: int) -> bool: ...

    async def release_limit(self, key: str, holder: str) -> None: ...

    # -- human tasks (plait/store/tasks.py) ------------------------------------------------
    async def wait_task(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        entry: Entry,
        new: NewTask | None,
        deliver_cancel: bool,
    ) -> TaskOutcome: ...

    async def get_task(self, task_id: str) -> TaskRow | None: ...

    async def list_tasks(self, flt: TaskFilter) -> list[TaskRow]: ...

    async def complete_task(
        self,
        task_id: str,
        answer: str,
        changes: str | None,
        changed: list[str],
        actor: Actor,
        comment: str | None,
        now: int,
    ) -> TaskRow: ...

    async def claim_task(self, task_id: str, actor: Actor, now: int) -> TaskRow: ...

    async def reassign_task(self, task_id: str, to: str, actor: Actor, now: int) -> TaskRow: ...

    async def task_events(
        self,
        task_id: str | None,
        workflow_id: str | None,
        kinds: tuple[str, ...],
        after: int | None,
        limit: int,
    ) -> list[TaskEventRow]: ...
