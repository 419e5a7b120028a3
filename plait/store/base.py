"""The storage contract: what the engine needs from a database, at the level of its domain.

The engine never writes SQL; it calls these operations, each one transaction. The contract is
split by role, one protocol each: :class:`ClientStore` (what clients start, read and command),
:class:`RunStore` (what workers claim and write for a running workflow), :class:`HumanTaskStore`,
:class:`LimitStore` and :class:`ViewStore` (the server's reads), and the operator parts in
:mod:`plait.store.opsbase`; :class:`Store` is all of them, what a backend implements. The
records passed across it and the names it reserves are in :mod:`plait.store.records`.

Every write made on behalf of a running workflow carries a :class:`Fence` (the workflow id and
the ``attempt`` it was claimed with): a store accepts the write only while that attempt still
holds the lease, so a worker that lost its lease can never write (``LeaseLostError``).
Times are epoch milliseconds supplied by the engine's clock. Payloads are stored text
produced by the codec; the store never interprets them, except to copy them.

Every backend passes the same conformance suite (``tests/store/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from plait.store.connection import Connection
from plait.store.opsbase import (
    AlertStore,
    GcStore,
    MetricsStore,
    RekeyStore,
    ScheduleStore,
)
from plait.store.records import (
    Actor,
    Attempt,
    ChangeRow,
    Claimed,
    Entry,
    Fence,
    FinishedRun,
    LedgerRow,
    LedgerTotal,
    ListFilter,
    NewTask,
    NewWorkflow,
    PageFilter,
    QueueLimits,
    ResultRow,
    StoredBlob,
    StoredRecord,
    TaskEventRow,
    TaskFilter,
    TaskOutcome,
    TaskRow,
    Wait,
    WaitOutcome,
    WorkerRow,
)
from plait.types import (
    AttemptRecord,
    ErasureReport,
    StepRecord,
    WorkflowEvent,
    WorkflowInfo,
    WorkflowStatus,
)


class ClientStore(Connection, Protocol):
    """What clients do: start workflows, read them, and command them (each one transaction)."""

    # -- starting and inspecting -------------------------------------------------------
    async def create_workflow(
        self, new: NewWorkflow, now: int, by: str = "system"
    ) -> tuple[WorkflowInfo, bool]: ...

    async def get(self, workflow_id: str) -> WorkflowInfo | None: ...

    async def get_result(self, workflow_id: str) -> ResultRow | None:
        """The workflow's status, output and error (``get`` narrowed to what a waiter for
        its result reads)."""
        ...

    async def list_workflows(self, flt: ListFilter) -> list[WorkflowInfo]: ...

    async def journal(self, workflow_id: str) -> list[StepRecord]: ...

    async def attempts(self, workflow_id: str) -> list[AttemptRecord]: ...

    async def snapshot(self, workflow_id: str) -> Claimed | None:
        """The workflow's current run as a worker would claim it (arguments and journal as
        stored), read without claiming it: for replay-check and golden journals."""
        ...

    # -- commands from clients ---------------------------------------------------------
    async def send_signal(
        self,
        workflow_id: str,
        name: str,
        payload: str | None,
        dedup_key: str | None,
        now: int,
        by: str = "system",
        blobs: tuple[str, ...] = (),
    ) -> bool: ...

    async def cancel(self, workflow_id: str, now: int, by: str = "system") -> WorkflowStatus: ...

    async def resume(self, workflow_id: str, now: int, by: str = "system") -> None: ...


class RunStore(Connection, Protocol):
    """What workers do: register, claim workflows, hold their leases, and write for a
    running workflow (fenced: accepted only while its attempt holds the lease)."""

    # -- workers and leases ------------------------------------------------------------
    async def register_worker(self, worker_id: str, info: dict[str, Any], now: int) -> None: ...

    async def unregister_worker(self, worker_id: str) -> None: ...

    async def expire_workers(self, worker_ids: Iterable[str], now: int) -> int: ...

    async def workers_on(self, hostname: str) -> list[tuple[str, int, str | None]]: ...

    async def next_due(self, queues: tuple[str, ...] | None) -> int | None: ...

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

    async def start_and_claim(
        self,
        new: NewWorkflow,
        now: int,
        by: str,
        worker_id: str,
        pairs: tuple[tuple[str, str], ...],
        queues: tuple[str, ...] | None,
        limit: int,
        lease_ms: int,
        max_recoveries: int,
    ) -> tuple[tuple[WorkflowInfo, bool], list[Claimed]]:
        """``create_workflow`` and ``claim`` in one transaction (a start in the process of a
        worker with a free slot)."""
        ...

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
        *,
        alone: bool = False,
    ) -> None:
        """Ends the running workflow (fenced). ``alone``: the caller knows it has no parent
        (a hint that lets the store try its shortest path first)."""
        ...


class HumanTaskStore(Connection, Protocol):
    """Human tasks: the running workflow's fenced wait on a task, and the inbox operations
    of the people who answer them (implemented in ``plait/store/tasks.py``)."""

    async def wait_task(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        entry: Entry,
        new: NewTask | None,
        deliver_cancel: bool,
    ) -> TaskOutcome: ...

    async def reopen_task(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        seq: int,
        errors: list[tuple[str, str]],
    ) -> Entry | None:
        """Re-opens the completed task of the wait at ``seq`` (its answer no longer decodes
        into the form): open again, its entry waiting, a ``reopened`` event with the answer
        and ``errors``. ``None`` when it cannot (not completed; the workflow went on)."""
        ...

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


class LimitStore(Connection, Protocol):
    """Queue limits and the keyed limiter (implemented in ``plait/store/limits.py``)."""

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

    async def settle_limit(self, key: str, delta_ms: int, now: int) -> None:
        """Moves the key's next start time by ``delta_ms`` (negative: gives back time a
        weighted acquire reserved and did not use)."""
        ...


class EventStore(Connection, Protocol):
    """The per-workflow log of client actions (``plait/store/events.py``). Its rows are
    written by the actions themselves (``by=`` of create, signal, cancel, resume), in their
    transaction; an action that writes nothing, or fails, logs nothing."""

    async def events(self, workflow_id: str) -> list[WorkflowEvent]: ...


class RecordStore(Connection, Protocol):
    """Application records: a codec-text value per ``(kind, key)``, maybe about a subject
    (``plait/store/app_records.py``)."""

    async def put_record(
        self, kind: str, key: str, value: str, subject: str | None, now: int
    ) -> None: ...

    async def get_record(self, kind: str, key: str) -> StoredRecord | None: ...

    async def delete_record(self, kind: str, key: str) -> bool: ...

    async def list_records(
        self, kind: str | None, prefix: str | None, subject: str | None
    ) -> list[StoredRecord]: ...


class BlobStore(Connection, Protocol):
    """Blobs stored once per digest, kept alive by references (``plait/store/blobs.py``)."""

    async def put_blob(
        self,
        digest: str,
        data: bytes,
        content_type: str,
        workflow_id: str | None,
        subject: str | None,
        now: int,
    ) -> None:
        """Stores ``data`` unless its digest is stored, and adds the reference (a workflow, a
        subject; with neither, an orphan until a workflow adopts it). ``WorkflowNotFound``."""
        ...

    async def get_blob(self, digest: str) -> StoredBlob | None: ...

    async def collect_blobs(self, before: int) -> int:
        """Deletes blobs without references last stored or adopted before ``before``."""
        ...


class ViewStore(Connection, Protocol):
    """What the server reads to show workflows, workers and changes (``store/views.py``)."""

    async def count_workflows(self, name: str | None) -> list[tuple[str, str, int]]:
        """(name, status, count) of every workflow, or of one name's."""
        ...

    async def count_versions(self) -> list[tuple[str, str, str, int]]:
        """(name, version, status, count) of the workflows not finished."""
        ...

    async def page_workflows(self, flt: PageFilter) -> list[WorkflowInfo]: ...

    async def list_workers(self) -> list[WorkerRow]:
        """Every registered worker, oldest first, with the workflows it holds."""
        ...

    async def changes(
        self,
        since: int,
        after: tuple[int, str, int] | None,
        workflow_id: str | None,
        limit: int,
    ) -> list[ChangeRow]:
        """Changes at or after ``since`` in (``at``, ``workflow_id``, ``seq``) order, strictly
        after the keyset ``after``; of one workflow, or of all."""
        ...

    def subscribe_changes(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` (on the event loop) after a write in this process and, where the
        backend can tell (PostgreSQL), in others. A hint only. Returns the unsubscriber."""
        ...


class ContinuationStore(Connection, Protocol):
    """``continue_as_new``: a running workflow's run ends and the next begins with a fresh
    journal, in one fenced transaction; the finished runs stay readable."""

    async def continue_as_new(
        self, fence: Fence, now: int, pending: list[Entry], input: str, input_hash: str
    ) -> int:
        """Ends the fenced run (its journal and attempts kept as a finished run) and makes the
        workflow ``pending`` with ``input`` and a fresh journal; returns the new run number.
        Raises ``LeaseLostError`` (nothing written) when the fence no longer holds."""
        ...

    async def finished_runs(self, workflow_id: str) -> list[FinishedRun]:
        """The runs that ended with ``continue_as_new``, oldest first (``WorkflowNotFound``)."""
        ...


class ErasureStore(Connection, Protocol):
    """Erasure of one person's data (``plait/store/erasure.py``)."""

    async def erase_subject(self, subject: str, by: str, now: int) -> ErasureReport:
        """Ends the subject's unfinished workflows ``cancelled`` (fenced), removes every
        payload of its workflows and their children, deletes its records and the blobs only
        it held, and logs an ``erased`` event per workflow; one transaction."""
        ...

    async def describe_subject(self, subject: str) -> dict[str, int]:
        """What erasing ``subject`` would touch: ``workflows`` (with their children),
        ``records``, ``blobs`` (those a reference of the subject or its workflows holds)."""
        ...


class LedgerStore(Connection, Protocol):
    """The model-call ledger: a row per attempt (``plait/store/ledger.py``)."""

    async def record_model(
        self,
        fence: Fence,
        now: int,
        pending: list[Entry],
        entry: Entry,
        rows: list[LedgerRow],
        status: tuple[str | None, str | None] | None = None,
    ) -> bool:
        """Journals a model call's ``entry`` (after ``pending``) and its ledger ``rows`` in
        one fenced transaction; returns whether cancellation was requested."""
        ...

    async def add_ledger(self, fence: Fence | None, now: int, rows: list[LedgerRow]) -> None:
        """Adds ledger rows: fenced for a running workflow's own calls (failed attempts,
        re-asks); without a fence for calls made inside its steps."""
        ...

    async def ledger(self, workflow_id: str) -> list[LedgerRow]: ...

    async def ledger_spent(self, workflow_id: str) -> float: ...

    async def ledger_totals(self, workflow_id: str | None, by: str) -> list[LedgerTotal]:
        """Rows summed by ``by`` (one of ``LEDGER_GROUPS``), most expensive first."""
        ...


class Store(
    ClientStore,
    RunStore,
    HumanTaskStore,
    LimitStore,
    EventStore,
    RecordStore,
    BlobStore,
    ViewStore,
    ContinuationStore,
    ErasureStore,
    LedgerStore,
    RekeyStore,
    MetricsStore,
    AlertStore,
    GcStore,
    ScheduleStore,
    Protocol,
):
    """The whole contract: what a backend implements and the engine holds."""


__all__ = [
    "AlertStore",
    "BlobStore",
    "ClientStore",
    "Connection",
    "ContinuationStore",
    "ErasureStore",
    "EventStore",
    "GcStore",
    "HumanTaskStore",
    "LedgerStore",
    "LimitStore",
    "MetricsStore",
    "RecordStore",
    "RekeyStore",
    "RunStore",
    "ScheduleStore",
    "Store",
    "ViewStore",
]
