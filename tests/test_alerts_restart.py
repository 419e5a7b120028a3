"""An alert fires once per event across a worker restart: real worker processes, killed
with SIGKILL, and a real webhook receiver.

The first worker sends the alert of a failed workflow; while the webhook is down it keeps
the alert of a second failure pending. It is killed; the webhook comes back; a new worker
scans the same window again (the events are well within its overlap) and sends the pending
alert, once, and not the one already sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import plait
from tests import alerts_app
from tests.alerting import Receiver
from tests.procs import WorkerProcesses


@pytest.fixture
def workers(tmp_path: Path, db_url: str) -> Iterator[WorkerProcesses]:
    """Worker processes, killed before the database is released (it depends on db_url)."""
    procs = WorkerProcesses(tmp_path, "tests.alerts_app:engine")
    try:
        yield procs
    finally:
        procs.cleanup()


async def test_an_alert_fires_once_per_event_across_a_worker_restart(
    workers: WorkerProcesses, db_url: str
) -> None:
    hook = Receiver().start()
    env = {"PLAIT_ALERTS_TEST_DB": db_url, "PLAIT_ALERTS_TEST_WEBHOOK": hook.url}
    client = alerts_app.make_engine(db_url, hook.url)  # no worker: only reads and starts
    try:
        async with client:
            first = workers.start_worker(env, concurrency=10, grace=1)
            await client.start(alerts_app.failing, id="sent")

            async def status(wid: str) -> str | None:
                found = [a for a in await client.list_alerts() if a.workflow_id == wid]
                return str(found[0].status) if found else None

            async def sent_then_marked() -> bool:
                return len(hook.received) == 1 and await status("sent") == "sent"

            await workers.until(sent_then_marked, 30, "the first alert sent and marked")

            hook.stop()  # the webhook goes down: the next alert stays pending
            await client.start(alerts_app.failing, id="pending")

            async def tried() -> bool:
                found = [a for a in await client.list_alerts() if a.workflow_id == "pending"]
                return bool(found and found[0].attempts >= 1 and found[0].last_error)

            await workers.until(tried, 30, "the second alert tried and kept pending")
            first.kill()
            first.wait(10)
            assert await status("pending") == "pending"

            hook.start()  # back, on the same address
            workers.start_worker(env, concurrency=10, grace=1)

            async def delivered() -> bool:
                return await status("pending") == "sent"

            await workers.until(delivered, 30, "the pending alert sent by the new worker")
            await asyncio.sleep(1.0)  # ~10 more scans and sends by the new worker
            got = [a["workflow_id"] for a in hook.alerts()]
            assert got == ["sent", "pending"], workers.log_text()
            listed = await client.list_alerts()
            assert {a.workflow_id: a.status for a in listed} == {
                "sent": plait.AlertStatus.SENT,
                "pending": plait.AlertStatus.SENT,
            }
            assert [a["link"] for a in hook.alerts()] == [
                "https://plait.example/workflows/sent",
                "https://plait.example/workflows/pending",
            ]
    finally:
        hook.stop()
