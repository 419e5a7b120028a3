"""What a server shows, read through the engine: counts, pages, workers and the change feed.

:class:`ViewAPI` is mixed into :class:`~plait.engine.Engine`. It only reads (the feed
subscribes to the store's change hints), so it keeps no state between calls.

Invariants kept here:
- A page cursor is opaque: the keyset (created time in ms, id) of the page's last row,
  base64 of JSON. A cursor that does not decode to one is an :class:`InvalidCursor`, never a
  silently different page.
- The change feed is correct by polling alone: it reads changes by their time, again from a
  window of ``FEED_OVERLAP_MS`` before the latest one it yielded (a transaction may commit
  later than the time it wrote) and skips those it already yielded. Hints (the store's
  change subscription: this process's writes, and on PostgreSQL other processes') only cut
  the wait short.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from plait.clock import duration_ms
from plait.errors import ConfigurationError, PlaitError
from plait.frozen import Frozen
from plait.store.records import ChangeRow, PageFilter
from plait.types import Duration, EntryStatus, WorkflowInfo, WorkflowStatus, parse_enum
from plait.wakeups import Beacon

if TYPE_CHECKING:
    from plait.clock import Clock
    from plait.store import Store

FEED_OVERLAP_MS = 2000  # how late after its time a change may commit and still be seen
FEED_BATCH = 500
FEED_POLL = 0.25  # seconds: a feed's default poll, bounding how late it sees other processes
MAX_PAGE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidCursor(PlaitError, ValueError):
    """A page cursor that is not one ``engine.page`` returned."""


class Page(Frozen):
    """One page of workflows, newest first; ``next_cursor`` is ``None`` on the last page."""

    items: list[WorkflowInfo]
    next_cursor: str | None


class HeldWorkflow(Frozen):
    """A workflow a worker runs now (holds the lease of), and since when: its last status
    change, which is its claim unless a cancellation was asked for since."""

    id: str
    name: str
    since: datetime


class WorkerInfo(Frozen):
    """A registered worker: where it runs, when it last renewed its leases, what it holds.

    A worker that died without stopping stays listed until another worker on its host reaps
    it or its leases expire; ``last_heartbeat`` tells how long it has been silent."""

    id: str
    hostname: str | None
    pid: int | None
    started_at: datetime
    last_heartbeat: datetime
    queues: tuple[str, ...] | None  # None: every queue
    concurrency: int | None
    workflows: tuple[str, ...]  # the "name@version" it can run
    holds: tuple[HeldWorkflow, ...]


class VersionCount(Frozen):
    """How many workflows of one name and code version are in flight (not finished), by
    status: during a rollout, old versions drain to zero before their workers stop."""

    name: str
    version: str
    pending: int = 0
    running: int = 0
    waiting: int = 0
    blocked: int = 0

    @property
    def in_flight(self) -> int:
        return self.pending + self.running + self.waiting + self.blocked


class WorkflowChange(Frozen):
    """A change the feed saw: a workflow's status (``kind="status"``: ``name`` is the
    workflow's, ``status`` a :class:`WorkflowStatus`) or a journal entry (``kind="journal"``:
    ``seq``, ``entry_kind`` and the entry's ``name``, ``status`` an :class:`EntryStatus`).
    A workflow's status is its status when read: two quick changes may show as the last."""

    kind: Literal["status", "journal"]
    workflow_id: str
    at: datetime
    name: str
    status: WorkflowStatus | EntryStatus
    seq: int | None = None
    entry_kind: str | None = None


class ViewAPI:
    """Read methods of :class:`~plait.engine.Engine` for a server's pages."""

    if TYPE_CHECKING:  # provided by Engine
        url: str
        store: Store
        clock: Clock
        poll_interval: float

        def _plain(self, info: WorkflowInfo) -> WorkflowInfo: ...

    async def versions(self) -> builtins.list[VersionCount]:
        """The workflows in flight (pending, running, waiting, blocked) per name and
        version, by name then version."""
        found: dict[tuple[str, str], dict[str, int]] = {}
        for name, version, status, n in await self.store.count_versions():
            found.setdefault((name, version), {})[status] = n
        return [
            VersionCount(name, version, **counts)
            for (name, version), counts in sorted(
                found.items(), key=lambda kv: (kv[0][0], _version_order(kv[0][1]))
            )
        ]

    async def counts(self, *, name: str | None = None) -> dict[WorkflowStatus, int]:
        """How many workflows are in each status (every status, zeros included); of one
        workflow name with ``name=``."""
        counts = dict.fromkeys(WorkflowStatus, 0)
        for _, status, n in await self.store.count_workflows(name):
            counts[WorkflowStatus(status)] += n
        return counts

    async def counts_by_name(self) -> dict[str, dict[WorkflowStatus, int]]:
        """For each workflow name, how many of its workflows are in each status."""
        out: dict[str, dict[WorkflowStatus, int]] = {}
        for name, status, n in sorted(await self.store.count_workflows(None)):
            out.setdefault(name, dict.fromkeys(WorkflowStatus, 0))[WorkflowStatus(status)] = n
        return out

    async def page(
        self,
        *,
        status: WorkflowStatus | str | Sequence[WorkflowStatus | str] | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        parent_id: str | None = None,
        attributes: Mapping[str, str | int | float | bool] | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """A page of workflows, newest first, created in ``[since, until)``, filtered by
        status (one or several), name, parent and status attributes. Pass the page's
        ``next_cursor`` for the next one; rows started meanwhile do not shift it."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ConfigurationError(f"page(limit=...) must be 1 to {MAX_PAGE}, got {limit!r}")
        flt = PageFilter(
            status=_statuses(status),
            name=name,
            parent_id=parent_id,
            attributes=tuple((k, _attr_text(v)) for k, v in (attributes or {}).items()),
            since=None if since is None else _ms(since, "since"),
            until=None if until is None else _ms(until, "until"),
            after=None if cursor is None else _decode_cursor(cursor),
            limit=limit + 1,  # one more tells whether there is a next page
        )
        rows = await self.store.page_workflows(flt)
        items = [self._plain(i) for i in rows[:limit]]
        more = len(rows) > limit
        last = items[-1] if items else None
        next_cursor = _encode_cursor(_ms(last.created_at), last.id) if more and last else None
        return Page(items, next_cursor)

    async def workers(self) -> builtins.list[WorkerInfo]:
        """The registered workers, oldest first, each with the workflows it holds now."""
        out = []
        for w in await self.store.list_workers():
            queues = w.info.get("queues")
            out.append(
                WorkerInfo(
                    id=w.id,
                    hostname=w.hostname,
                    pid=w.pid,
                    started_at=_dt(w.started_at),
                    last_heartbeat=_dt(w.heartbeat_at),
                    queues=None if queues is None else tuple(queues),
                    concurrency=w.info.get("concurrency"),
                    workflows=tuple(w.info.get("workflows", ())),
                    holds=tuple(HeldWorkflow(h.workflow_id, h.name, _dt(h.since)) for h in w.holds),
                )
            )
        return out

    def watch(
        self,
        workflow_id: str | None = None,
        *,
        since: datetime | None = None,
        poll_interval: Duration | None = None,
    ) -> AsyncIterator[WorkflowChange]:
        """Yields status and journal changes, of one workflow or of all, from ``since``
        (default: the time of this call) on, as they are committed by any process::

            async with contextlib.aclosing(engine.watch(wf_id)) as feed:
                async for change in feed: ...

        On PostgreSQL other processes' changes arrive at once; on SQLite within
        ``poll_interval`` (default 0.25 s), as do this process's at once on both."""
        # The start is taken now, not when the caller first iterates: changes made between
        # the call and the first ``anext`` are in the feed.
        start = self.clock.now_ms() if since is None else _ms(since, "since")
        poll = FEED_POLL if poll_interval is None else duration_ms(poll_interval, "poll") / 1000
        return self._feed(workflow_id, start, poll)

    async def _feed(
        self, workflow_id: str | None, start: int, poll: float
    ) -> AsyncIterator[WorkflowChange]:
        beacon = Beacon()
        unsubscribe = self.store.subscribe_changes(beacon.fire)
        seen: dict[tuple[str, str, int, str, int], int] = {}
        high = start  # the latest change time yielded
        try:
            while True:
                mark = beacon.mark()  # before reading: a change in between ends the wait
                found = False
                lower = max(start, high - FEED_OVERLAP_MS)
                after: tuple[int, str, int] | None = None
                while True:
                    rows = await self.store.changes(lower, after, workflow_id, FEED_BATCH)
                    for r in rows:
                        key = (r.kind, r.workflow_id, r.seq, r.status, r.at)
                        if key in seen:
                            continue
                        seen[key] = r.at
                        high = max(high, r.at)
                        found = True
                        yield _change(r)
                    if len(rows) < FEED_BATCH:
                        break
                    after = (rows[-1].at, rows[-1].workflow_id, rows[-1].seq)
                floor = high - FEED_OVERLAP_MS
                seen = {k: at for k, at in seen.items() if at >= floor}
                if not found:
                    await beacon.wait(poll, since=mark)
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        # Python 3.11's wait_for (in Beacon.wait) returns instead of raising
                        # when a cancel races a wake-up: the feed would never end.
                        raise asyncio.CancelledError
        finally:
            unsubscribe()


def _change(r: ChangeRow) -> WorkflowChange:
    if r.kind == "status":
        return WorkflowChange("status", r.workflow_id, _dt(r.at), r.name, WorkflowStatus(r.status))
    return WorkflowChange(
        "journal", r.workflow_id, _dt(r.at), r.name, EntryStatus(r.status), r.seq, r.entry_kind
    )


def _statuses(
    status: WorkflowStatus | str | Sequence[WorkflowStatus | str] | None,
) -> tuple[WorkflowStatus, ...]:
    if status is None:
        return ()
    if isinstance(status, str):
        return (parse_enum(WorkflowStatus, status, "status"),)
    return tuple(parse_enum(WorkflowStatus, s, "status") for s in status)


def _attr_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ms(when: datetime, what: str = "time") -> int:
    """Exact epoch milliseconds (``to_ms`` goes through a float and may lose one)."""
    if not isinstance(when, datetime):
        raise ConfigurationError(f"{what} must be a datetime, not {type(when).__name__}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _dt(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _encode_cursor(created_ms: int, workflow_id: str) -> str:
    raw = json.dumps([created_ms, workflow_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (AttributeError, TypeError, ValueError, binascii.Error):
        value = None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], str)
    ):
        return value[0], value[1]
    raise InvalidCursor(
        f"bad page cursor {cursor!r}: pass the next_cursor of the page before, "
        "or cursor=None for the first page"
    )


def _version_order(version: str) -> tuple[int, tuple[int, ...], str]:
    """Versions in numeric order where they are numbers ("2" < "10"), else by text."""
    try:
        return (0, tuple(int(p) for p in version.split(".")), "")
    except ValueError:
        return (1, (), version)
