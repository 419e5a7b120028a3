"""The SQL store: the parts composed into one :class:`~plait.store.base.Store`.

Each part is a subclass of :class:`~plait.store.sqlbase.SQLBase` in its own module, written
once in portable SQL for every backend; a backend (``sqlite.py``, ``postgres.py``) subclasses
:class:`SQLStore` with its dialect, executor and migrations. The parts call one another only
through the hooks declared on ``SQLBase``.
"""

from __future__ import annotations

from plait.store.alerts import SQLAlerts
from plait.store.app_records import SQLRecords
from plait.store.blobs import SQLBlobs
from plait.store.claims import SQLClaims
from plait.store.clients import SQLClients
from plait.store.continuation import SQLContinuation
from plait.store.erasure import SQLErasure
from plait.store.events import SQLEvents
from plait.store.gc import SQLGc
from plait.store.ledger import SQLLedger
from plait.store.limits import SQLLimits
from plait.store.metrics import SQLMetrics
from plait.store.rekey import SQLRekey
from plait.store.runs import SQLRuns
from plait.store.schedules import SQLSchedules
from plait.store.tasks import SQLTasks
from plait.store.views import SQLViews


class SQLStore(
    SQLClients,
    SQLRuns,
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
