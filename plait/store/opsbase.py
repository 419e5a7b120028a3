"""The storage contract's operator parts: re-encryption, health counts, alerts, gc and
schedules; :class:`plait.store.base.Store` includes them (see that module for the rules every
operation keeps: one transaction each, epoch-millisecond times, codec text payloads)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from plait.store.connection import Connection
from plait.store.records import (
    AlertEvent,
    AlertRow,
    GcBatch,
    GcFilter,
    HealthSnapshot,
    NewAlert,
    NewWorkflow,
    RekeyBatch,
    ScheduleRow,
)


class RekeyStore(Connection, Protocol):
    """Re-encryption of stored payloads, a batch per call (``plait/store/rekey.py``)."""

    async def rekey_batch(
        self,
        column: str,
        cursor: str | None,
        limit: int,
        rewrite: Callable[[str, str], str | None],
        dry_run: bool,
    ) -> RekeyBatch:
        """Reads up to ``limit`` non-NULL values of ``column`` (one of ``PAYLOAD_COLUMNS``)
        after ``cursor`` and replaces each with ``rewrite(value, shape)`` unless that is
        ``None``, in one transaction; a value changed since it was read is left alone.
        ``shape`` is ``"value"`` (one payload), ``"journal:<kind>"``, ``"child_end"``,
        ``"policy"``, ``"task_event"`` or ``"runs_journal"`` (JSON with payloads inside).
        ``dry_run`` writes nothing."""
        ...

    async def rekey_blobs(
        self,
        cursor: str | None,
        limit: int,
        rewrite: Callable[[bytes], bytes | None],
        dry_run: bool,
    ) -> RekeyBatch:
        """The same for blob bytes."""
        ...


class MetricsStore(Connection, Protocol):
    """The health counts ``/metrics`` reads (``plait/store/metrics.py``)."""

    async def health(self, now: int) -> HealthSnapshot:
        """Workflows by name and status, ready ones per queue, expired leases and open
        human tasks per assignee, as of ``now``; one read transaction."""
        ...


class AlertStore(Connection, Protocol):
    """Alerts: the events to alert on, and the outbox they are sent from, each event once per
    channel (``plait/store/alerts.py``)."""

    async def alert_mark(self) -> int | None:
        """How far the scanners have looked (epoch ms); ``None`` before the first scan."""
        ...

    async def alert_events(self, since: int, now: int) -> list[AlertEvent]:
        """Workflows failed or blocked since ``since``; human tasks open past a deadline
        between ``since`` and ``now``, expired or escalated since ``since``."""
        ...

    async def add_alerts(self, alerts: list[NewAlert], mark: int, now: int) -> int:
        """Adds the alerts whose ``(kind, subject, channel)`` is new; moves the mark forward."""
        ...

    async def claim_alerts(
        self, channels: tuple[str, ...], now: int, lease_ms: int, limit: int
    ) -> list[AlertRow]: ...

    async def settle_alert(
        self, alert_id: int, attempts: int, now: int, error: str | None, retry_at: int | None
    ) -> bool: ...

    async def list_alerts(self, status: str | None, limit: int) -> list[AlertRow]: ...


class GcStore(Connection, Protocol):
    """Garbage collection (``plait/store/gc.py``): each call one transaction; ``delete=False``
    counts what would go and writes nothing."""

    async def collect_workflows(self, flt: GcFilter, now: int, by: str, delete: bool) -> GcBatch:
        """Deletes a batch of ended trees (a top-level workflow and its children, all ended
        before ``flt.before``) with everything that belongs to them and the blobs only they
        held, leaving a ``collected`` event per workflow."""
        ...

    async def collect_orphans(self, blobs_before: int, now: int, delete: bool) -> dict[str, int]:
        """Deletes unreferenced blobs stored before ``blobs_before`` and expired limiter
        slots; rows per table."""
        ...

    async def collect_records(self, kind: str, before: int, limit: int, delete: bool) -> int:
        """Deletes up to ``limit`` records of ``kind`` not updated since ``before``."""
        ...

    async def claim_pass(self, key: str, now: int, interval_ms: int) -> bool:
        """True for at most one caller per ``interval_ms`` across the database: the turn to
        run the periodic job ``key`` (retention)."""
        ...


class ScheduleStore(Connection, Protocol):
    """Schedules: their definitions, and starting their ticks exactly once
    (``plait/store/schedules.py``)."""

    async def declare_schedule(self, row: ScheduleRow, now: int) -> ScheduleRow:
        """Inserts or replaces a code-declared schedule, keeping its ``paused`` flag, and its
        ``next_at`` unless the timing changed; returns what is stored."""
        ...

    async def add_schedule(self, row: ScheduleRow, now: int) -> ScheduleRow:
        """Inserts a schedule; ``ScheduleAlreadyExists`` when its id is taken."""
        ...

    async def get_schedule(self, schedule_id: str) -> ScheduleRow | None: ...

    async def list_schedules(self) -> list[ScheduleRow]: ...

    async def pause_schedule(
        self, schedule_id: str, paused: bool, next_at: int | None, now: int
    ) -> ScheduleRow:
        """Pauses or resumes (then from ``next_at``); ``ScheduleNotFound``."""
        ...

    async def delete_schedule(self, schedule_id: str) -> bool: ...

    async def due_schedules(self, now: int, limit: int) -> tuple[list[ScheduleRow], int | None]:
        """Unpaused schedules with a tick due at ``now``, and the next tick after ``now``."""
        ...

    async def start_scheduled(
        self,
        schedule_id: str,
        expect: tuple[int, int] | None,
        starts: list[tuple[int, NewWorkflow]],
        next_at: int | None,
        by: str,
        now: int,
    ) -> list[str] | None:
        """In one transaction: locks the schedule, checks it is as read (``expect``:
        ``next_at``, ``updated_at``; ``None`` for a manual trigger), creates the workflows of
        ``starts`` (tick, workflow; idempotent on their ids) and moves ``next_at`` on.
        Returns the ids created, ``None`` when another worker got there first."""
        ...
