"""Finding and sending alerts, in workers, apart from the workflows they run.

A worker of an engine with alert settings runs one :class:`AlertRunner` loop beside its claim
and heartbeat loops: every ``scan_interval`` it looks for events since the last scan (the
store's durable mark, less :data:`OVERLAP_MS`, since a transaction may commit a little after
the time it wrote, and workers' clocks differ), adds them to the outbox (each event once per
channel, whichever worker finds it), then claims the pending alerts that are due and sends
them. Nothing here runs on a workflow's path.

Invariants kept here:
- An alert is marked sent only after the receiver took it; one whose delivery failed stays
  pending with its error and is tried again after a backoff, until ``max_attempts``.
- A claim leases an alert for longer than a delivery may take (:func:`lease_ms`), so while
  one worker sends it, no other does. A worker killed between the receiver's answer and the
  mark leaves the alert to be sent again once its lease ends: at least once, with the same
  idempotency key.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from plait.alerts.config import AlertKind, Alerts, AlertStatus
from plait.alerts.deliver import DeliveryFailed, alert_key, link, post_webhook, send_email
from plait.clock import duration_ms
from plait.errors import ConfigurationError
from plait.frozen import Frozen
from plait.store.records import AlertEvent, AlertRow, NewAlert
from plait.types import ms_to_datetime, parse_enum

if TYPE_CHECKING:
    import httpx

    from plait.clock import Clock
    from plait.store import Store

log = logging.getLogger("plait.alerts")

OVERLAP_MS = 60_000  # how late after its time an event may commit and still be found
MARK_EVERY_MS = 60_000  # a scan that found nothing writes the mark at most this often
SEND_BATCH = 20
MAX_BACKOFF_MS = 3_600_000


class AlertInfo(Frozen):
    """An alert in the outbox: what happened, where it goes, whether it was sent."""

    id: int
    kind: AlertKind
    channel: str  # webhook | email
    status: AlertStatus
    workflow_id: str
    workflow_name: str
    task_id: str | None
    message: str
    at: datetime  # when the event happened
    created_at: datetime
    attempts: int
    sent_at: datetime | None
    last_error: str | None
    key: str  # the idempotency key receivers see (Idempotency-Key, Message-ID)
    link: str | None


def alert_info(row: AlertRow, ui_url: str | None) -> AlertInfo:
    return AlertInfo(
        id=row.id,
        kind=AlertKind(row.kind),
        channel=row.channel,
        status=AlertStatus(row.status),
        workflow_id=row.workflow_id,
        workflow_name=row.workflow_name,
        task_id=row.task_id,
        message=row.message,
        at=ms_to_datetime(row.at),  # type: ignore[arg-type]
        created_at=ms_to_datetime(row.created_at),  # type: ignore[arg-type]
        attempts=row.attempts,
        sent_at=ms_to_datetime(row.sent_at),
        last_error=row.last_error,
        key=alert_key(row.kind, row.subject),
        link=link(row, ui_url),
    )


def message(event: AlertEvent) -> str:
    """What happened, in one line."""
    d, name = event.details, f"{event.workflow_name} ({event.workflow_id})"
    error = f"{d.get('type', 'Error')}: {d.get('message', '')}"
    match AlertKind(event.kind):
        case AlertKind.WORKFLOW_FAILED:
            return f"workflow {name} failed: {error}"
        case AlertKind.WORKFLOW_BLOCKED:
            return f"workflow {name} is blocked: {error} (fix the code, then resume it)"
        case AlertKind.CRASH_LOOP:
            return f"workflow {name} was stopped as a crash loop: {d.get('message', '')}"
        case AlertKind.TASK_OVERDUE:
            due = ms_to_datetime(d.get("due_at"))
            return (
                f"human task {d.get('title')!r} ({event.task_id}) of workflow {name} is "
                f"overdue: it was due {due.isoformat() if due else '?'}, assigned to "
                f"{d.get('assignee') or 'nobody'}"
            )
        case AlertKind.TASK_ESCALATED:
            return (
                f"human task {d.get('title')!r} ({event.task_id}) of workflow {name} was "
                f"escalated to {d.get('assignee') or 'nobody'}"
            )


def lease_ms(config: Alerts) -> int:
    """How long a claimed alert is left to its sender: two deliveries' time and some."""
    return 2 * duration_ms(config.timeout, "timeout") + 5000


def backoff_ms(config: Alerts, attempts: int) -> int:
    """The wait before try ``attempts + 1``: ``retry_interval``, doubling, at most an hour."""
    first = duration_ms(config.retry_interval, "retry_interval")
    return int(min(first * 2 ** max(attempts - 1, 0), MAX_BACKOFF_MS))


class AlertRunner:
    """One worker's alert loop: scan for events, add them to the outbox, send what is due."""

    def __init__(self, store: Store, clock: Clock, config: Alerts) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self._mark: int | None = None  # how far this runner has looked
        self._written = 0  # when it last wrote the mark
        self._client: httpx.AsyncClient | None = None

    async def run(self) -> None:
        """Scans and sends every ``scan_interval`` until cancelled."""
        interval = duration_ms(self.config.scan_interval, "scan_interval") / 1000
        try:
            while True:
                cycle = asyncio.ensure_future(self._cycle())
                try:
                    await asyncio.shield(cycle)
                except asyncio.CancelledError:
                    # The worker stops: let a delivery under way be marked sent, so it is not
                    # sent again when its lease ends.
                    limit = lease_ms(self.config) / 2000
                    with contextlib.suppress(BaseException):
                        await asyncio.wait_for(cycle, limit)
                    raise
                await asyncio.sleep(interval)
        finally:
            await self.close()

    async def _cycle(self) -> None:
        try:
            await self.scan()
            await self.send()
        except Exception:
            log.exception("alerts: scanning or sending failed; trying again")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def scan(self) -> int:
        """Adds the events since the last scan to the outbox; returns how many were new."""
        now = self.clock.now_ms()
        if self._mark is None:
            stored = await self.store.alert_mark()
            self._mark = (
                stored
                if stored is not None
                else now - duration_ms(self.config.lookback, "lookback")
            )
        events = await self.store.alert_events(self._mark - OVERLAP_MS, now)
        new = [
            NewAlert(
                kind=e.kind,
                subject=e.subject,
                channel=channel,
                workflow_id=e.workflow_id,
                workflow_name=e.workflow_name,
                task_id=e.task_id,
                message=message(e),
                at=e.at,
            )
            for e in events
            if AlertKind(e.kind) in self.config.kinds
            for channel in self.config.channels
        ]
        added = 0
        if new or now - self._written >= MARK_EVERY_MS:
            added = await self.store.add_alerts(new, now, now)
            self._written = now
        self._mark = max(self._mark, now)
        if added:
            log.info("alerts: %d new", added)
        return added

    async def send(self) -> int:
        """Sends the pending alerts that are due; returns how many were sent."""
        sent = 0
        while True:
            now = self.clock.now_ms()
            batch = await self.store.claim_alerts(
                self.config.channels, now, lease_ms(self.config), SEND_BATCH
            )
            if not batch:
                return sent
            results = await asyncio.gather(*(self._deliver(a) for a in batch))
            sent += sum(results)
            if len(batch) < SEND_BATCH:
                return sent

    async def _deliver(self, alert: AlertRow) -> bool:
        timeout = duration_ms(self.config.timeout, "timeout") / 1000
        error: str | None = None
        try:
            if alert.channel == "webhook" and self.config.webhook:
                if self._client is None:
                    import httpx  # here: only a worker that sends webhooks loads it

                    self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
                await post_webhook(self._client, self.config, alert)
            elif alert.channel == "email" and self.config.email:
                await send_email(self.config, alert, timeout)
            else:  # claimed only for configured channels
                error = f"no {alert.channel} configured on this worker"
        except DeliveryFailed as exc:
            error = str(exc)
        now = self.clock.now_ms()
        retry_at = None
        if error is not None:
            if alert.attempts < self.config.max_attempts:
                retry_at = now + backoff_ms(self.config, alert.attempts)
            log.warning(
                "alerts: %s alert %d (%s) not delivered (attempt %d): %s",
                alert.channel,
                alert.id,
                alert.kind,
                alert.attempts,
                error,
            )
        settled = await self.store.settle_alert(alert.id, alert.attempts, now, error, retry_at)
        if not settled:
            log.warning("alerts: alert %d was taken over by another worker", alert.id)
        return error is None and settled


class AlertAPI:
    """The alert methods of :class:`~plait.engine.Engine`."""

    if TYPE_CHECKING:  # provided by Engine
        store: Store
        alerts: Alerts | None

    async def list_alerts(
        self, *, status: AlertStatus | str | None = None, limit: int = 50
    ) -> builtins.list[AlertInfo]:
        """The alerts in the outbox, newest first: what happened, where it went, whether it
        was sent (and the last error of one not sent yet)."""
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ConfigurationError(f"list_alerts(limit=...) must be 1 to 1000, not {limit!r}")
        wanted = None if status is None else str(parse_enum(AlertStatus, status, "alert status"))
        ui_url = self.alerts.ui_url if self.alerts is not None else None
        return [alert_info(r, ui_url) for r in await self.store.list_alerts(wanted, limit)]
