"""A rollout: a worker process of the old version (workflow "x" version "1") and one of the
new (version "2") run against one database; workflows of both versions are started, and
each worker claims only its own version (the process that ran each is recorded). A version
no worker registers stays pending. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import plait
from tests.procs import WorkerProcesses
from tests.rollout_app import x_workflow

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[WorkerProcesses]:
    p = WorkerProcesses(tmp_path, "tests.rollout_app:engine")
    try:
        yield p
    finally:
        p.cleanup()


async def test_old_and_new_version_workers_side_by_side(
    db_url: str, procs: WorkerProcesses
) -> None:
    v1, v2, v3 = x_workflow("1"), x_workflow("2"), x_workflow("3")
    async with plait.Engine(db_url, workflows=[v1, v2, v3]) as client:  # starts, never runs
        old = procs.start_worker({"ROLLOUT_DB": db_url, "ROLLOUT_VERSION": "1"},
                                 concurrency=4, grace=5)  # fmt: skip
        new = procs.start_worker({"ROLLOUT_DB": db_url, "ROLLOUT_VERSION": "2"},
                                 concurrency=4, grace=5)  # fmt: skip
        ids = {}
        for n in range(6):
            version = v1 if n % 2 else v2
            ids[(await client.start(version, n, id=f"x-{n}")).id] = version.version
        orphan = await client.start(v3, 99, id="x-v3")

        async def all_done() -> bool:
            infos = [await client.get(i) for i in ids]
            return all(i.status == plait.WorkflowStatus.COMPLETED for i in infos)

        await procs.until(all_done, 60, "every workflow of versions 1 and 2 completed")
        pids = {"1": old.pid, "2": new.pid}
        for wid, version in ids.items():
            result = await client.handle(wid).result()
            assert result["version"] == version, (wid, result)
            assert result["pid"] == pids[version], (wid, result, pids)
            assert (await client.get(wid)).version == version
        # nobody registers version 3: it waits for a worker of its own
        assert (await client.get(orphan.id)).status == plait.WorkflowStatus.PENDING
        versions = {(v.name, v.version): v.in_flight for v in await client.versions()}
        assert versions == {("x", "3"): 1}
        # and replay-check of the new code lists it as not checked
        async with plait.Engine(db_url, workflows=[v2]) as new_code:
            report = await new_code.replay_check()
            assert report.ok and [r.workflow_id for r in report.not_checked] == ["x-v3"]
