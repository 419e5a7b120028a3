"""A workflow that kills its worker every time ends ``failed`` after ``max_recoveries``."""

from __future__ import annotations

import signal

import plait

from .conftest import Cluster

MAX_RECOVERIES = 2


async def test_a_poison_workflow_is_failed_not_retried_forever(
    cluster: Cluster, client: plait.Engine
) -> None:
    await client.start("doomed", id="doomed")
    crashed = 0
    for _ in range(MAX_RECOVERIES + 1):
        worker = cluster.spawn(max_recoveries=MAX_RECOVERIES)
        assert cluster.wait_exit(worker, 15) == -signal.SIGKILL
        crashed += 1
    # The next worker finds the workflow's worker dead again, once too often: it fails it
    # instead of running it, and keeps running itself.
    last = cluster.spawn(max_recoveries=MAX_RECOVERIES)
    await cluster.all_status(client, ["doomed"], "failed", 15)
    assert last.poll() is None

    info = await client.get("doomed")
    assert info.error is not None and info.error.type == "CrashLoop"
    assert f"max_recoveries={MAX_RECOVERIES}" in info.error.message
    assert info.recoveries == MAX_RECOVERIES
    keys = [x.key for x in cluster.executions()]
    assert keys.count("first") == 1  # recorded before the first crash: never again
    assert keys.count("poison") == crashed == MAX_RECOVERIES + 1
    assert "never" not in keys
    assert len({x.attempt for x in cluster.executions() if x.key == "poison"}) == crashed
    try:
        await client.handle("doomed").result(timeout=1)
    except plait.WorkflowFailed as exc:
        assert "CrashLoop" in str(exc)
    else:
        raise AssertionError("result() did not raise WorkflowFailed")
