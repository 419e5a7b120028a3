"""The SQL store: the parts composed into one :class:`~plait.store.base.Store`.

Each part is a subclass of :class:`~plait.store.sqlbase.SQLBase` in its own module, written
once in portable SQL for every backend; a backend (``sqlite.py``, ``postgres.py``) subclasses
:class:`SQLStore` with its dialect, executor and migrations. The parts call one another only
through the hooks declared on ``SQLBase``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from plait.store.alerts import SQLAlerts
from plait.store.app_records import SQLRecords
from plait.store.blobs import SQLBlobs
from plait.store.claims import SQLClaims
from plait.store.clients import SQLClients
from plait.store.continuation import SQLContinuation
from plait.store.ends import SQLEnds
from plait.store.erasure import SQLErasure
from plait.store.events import SQLEvents
from plait.store.executor import Pipelined
from plait.store.gc import SQLGc
from plait.store.ledger import SQLLedger
from plait.store.limits import SQLLimits
from plait.store.metrics import SQLMetrics
from plait.store.records import Claimed, NewWorkflow
from plait.store.rekey import SQLRekey
from plait.store.runs import SQLRuns
from plait.store.schedules import SQLSchedules
from plait.store.sqlbase import Conn
from plait.store.tasks import SQLTasks
from plait.store.views import SQLViews
from plait.types import WorkflowInfo


class SQLStore(
    SQLClients,
    SQLRuns,
    SQLEnds,
    SQLClaims,
    SQLTasks,
    SQLLimits,
    SQLEvents,
    SQLRecords,
    SQLBlobs,
    SQLViews,
    SQLContinuation,
    SQLErasure,
    SQLLedger,
    SQLRekey,
    SQLMetrics,
    SQLAlerts,
    SQLGc,
    SQLSchedules,
):
    """A :class:`~plait.store.base.Store` over any SQL database a ``Dialect`` covers:

    - :class:`~plait.store.clients.SQLClients`: start, read, signal, cancel, resume;
    - :class:`~plait.store.runs.SQLRuns`: workers, leases, a running workflow's writes;
    - :class:`~plait.store.ends.SQLEnds`: a running workflow's end (``finish``, the parent told);
    - :class:`~plait.store.claims.SQLClaims`: the claim;
    - :class:`~plait.store.continuation.SQLContinuation`: ``continue_as_new``, finished runs;
    - :class:`~plait.store.tasks.SQLTasks`: human tasks;
    - :class:`~plait.store.limits.SQLLimits`: queue limits and the keyed limiter;
    - :class:`~plait.store.events.SQLEvents`: the per-workflow log of client actions;
    - :class:`~plait.store.app_records.SQLRecords`: application records;
    - :class:`~plait.store.blobs.SQLBlobs`: blobs and their references;
    - :class:`~plait.store.views.SQLViews`: the server's reads, and the change hints;
    - :class:`~plait.store.erasure.SQLErasure`: erasure of one person's data;
    - :class:`~plait.store.ledger.SQLLedger`: the model-call ledger;
    - :class:`~plait.store.rekey.SQLRekey`: re-encryption of payloads (``plait rekey``);
    - :class:`~plait.store.metrics.SQLMetrics`: the health counts ``/metrics`` reads;
    - :class:`~plait.store.alerts.SQLAlerts`: the alert scan and outbox;
    - :class:`~plait.store.gc.SQLGc`: gc of ended workflows, orphans and old records;
    - :class:`~plait.store.schedules.SQLSchedules`: schedules and starting their ticks.
    """

    url: str

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
        """``create_workflow`` then ``claim`` in one transaction: one commit where a start in
        the process of a worker with a free slot would take two (the start's, then the
        worker's claim after its wake-up). The claim is the ordinary one (limits, expired
        leases first, ``SKIP LOCKED``), so it may take another workflow than the new one."""
        send = functools.partial(
            self._send_start_and_claim,
            new,
            now,
            by,
            (worker_id, pairs, queues, limit, now, lease_ms, max_recoveries),
        )
        return await self._run(Pipelined(send))

    def _send_start_and_claim(
        self,
        new: NewWorkflow,
        now: int,
        by: str,
        claim_args: tuple[
            str, tuple[tuple[str, str], ...], tuple[str, ...] | None, int, int, int, int
        ],
        conn: Conn,
    ) -> Callable[[], tuple[tuple[WorkflowInfo, bool], list[Claimed]]]:
        if self.dialect.writes_in_with and new.parent_id is None and not new.blobs:
            if new.concurrency_key is None and new.deadline_at is None:
                worker_id, lease_ms = claim_args[0], claim_args[5]
                return self._send_claimed_insert(new, now, by, worker_id, lease_ms, conn)
            started = self._send_create(new, now, by, conn)  # the INSERT, not yet read
        else:
            done = self._create(new, now, by, conn)
            started = lambda: done  # noqa: E731
        claim = self._send_claim(*claim_args, conn)  # runs after the INSERT: it sees the row
        return lambda: (started(), claim())
