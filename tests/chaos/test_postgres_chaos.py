"""Chaos on PostgreSQL with real processes (issue 3, "It must show" 2 and 3).

4 worker processes run workflows with steps, sleeps, signals and children while workers are
``kill -9``ed and restarted, and frozen past their lease (zombies that wake up and try to
write), at random; or while every database connection is killed. Every workflow must
complete, every step be recorded exactly once, no write from a stale attempt be accepted
(the audit trigger of ``conftest.py``), and the execution record (written at each step's
start) show that no step ran again once journaled and that every re-run had a cause: the
worker running it was killed or frozen, or lost the workflow's lease.

Sized for CI (about a minute together). Bigger runs: ``PLAIT_CHAOS_WORKFLOWS=5000
PLAIT_CHAOS_SECONDS=120``. ``PLAIT_CHAOS_RESTART_SERVER=1`` also restarts the PostgreSQL
server itself in the middle of the second test (``pg_ctlcluster ... restart``; it disturbs
anything else using that server), or set it to a shell command that restarts the server
``PLAIT_TEST_POSTGRES_URL`` names, e.g. a private one:
``pg_ctl -D /tmp/pg -o '-p 5433' restart``.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import time

import pytest

import plait

from . import app
from .conftest import PgCluster

WORKFLOWS = int(os.environ.get("PLAIT_CHAOS_WORKFLOWS", "500"))
CHAOS_SECONDS = float(os.environ.get("PLAIT_CHAOS_SECONDS", "20"))
RESTART_SERVER = os.environ.get("PLAIT_CHAOS_RESTART_SERVER", "")


async def start_all(client: plait.Engine, ids: list[str]) -> None:
    for chunk in range(0, len(ids), 100):
        await asyncio.gather(
            *(
                client.start(app.main, n, id=ids[n])
                for n in range(chunk, min(chunk + 100, len(ids)))
            )
        )


async def signal_all(client: plait.Engine, ids: list[str], over: float, rng: random.Random) -> None:
    """Sends each workflow its "go" signal at a random moment within ``over`` seconds."""
    order = sorted(ids, key=lambda _: rng.random())
    start = time.monotonic()
    for i, wid in enumerate(order):
        due = start + over * i / len(order)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await client.signal(wid, "go", f"go-{wid}", dedup_key="go")


def check_outputs(cluster: PgCluster, ids: list[str]) -> None:
    outputs = dict(cluster.sql("SELECT id, output FROM workflows WHERE parent_id IS NULL"))
    for n, wid in enumerate(ids):
        kid = f"{wid}/child-a+{wid}/child-b" if n % 4 == 0 else "-"
        assert outputs[wid] == f'"{wid}/1|{kid}|go-{wid}|{wid}/2|{wid}/3"', (wid, outputs[wid])


@pytest.mark.timeout(600)
async def test_kill9_and_frozen_workers_lose_nothing_and_write_nothing_stale(
    pg_cluster: PgCluster, chaos_client: plait.Engine
) -> None:
    cluster, rng = pg_cluster, random.Random(1)
    cluster.install_audit()
    for _ in range(4):
        cluster.spawn()
    await cluster.ready(4)
    ids = [f"c{n}" for n in range(WORKFLOWS)]
    began = time.monotonic()
    await start_all(chaos_client, ids)
    signals = asyncio.create_task(signal_all(chaos_client, ids, CHAOS_SECONDS * 0.7, rng))

    frozen: set[int] = set()
    freezes: list[asyncio.Task[None]] = []
    while time.monotonic() - began < CHAOS_SECONDS:
        await asyncio.sleep(rng.uniform(0.4, 1.2))
        candidates = [p for p in cluster.live() if p.pid not in frozen]
        if rng.random() < 0.25 and not frozen:
            victim = cluster.busiest_worker()
            if victim is not None and victim.pid not in frozen:
                frozen.add(victim.pid)
                task = asyncio.create_task(cluster.freeze(victim, rng.uniform(3.0, 4.0)))
                task.add_done_callback(lambda _, pid=victim.pid: frozen.discard(pid))
                freezes.append(task)
                continue
        if candidates:
            cluster.kill9(rng.choice(candidates))
            cluster.spawn()  # a process manager restarts it
    await signals
    await asyncio.gather(*freezes)

    async def all_done() -> bool:
        ((left,),) = cluster.sql("SELECT count(*) FROM workflows WHERE status <> 'completed'")
        return left == 0

    await cluster.until(all_done, 180, f"all {WORKFLOWS} workflows and their children completed")
    elapsed = time.monotonic() - began
    cluster.stop_all()

    runs = cluster.check_journals(ids)
    check_outputs(cluster, ids)
    audited = cluster.check_fencing()
    assert audited >= 4 * WORKFLOWS
    # The chaos was real: workers died and workflows were taken over; frozen workers woke
    # up as zombies, tried to write, and were refused.
    taken_over = cluster.log_count(r"took over \d+ workflow")
    assert cluster.kills >= 5 and cluster.freezes >= 1, (cluster.kills, cluster.freezes)
    assert taken_over > 0, cluster.log_text()
    refused = cluster.log_count(r"lease lost")
    assert refused > 0, cluster.log_text()
    again = sum(1 for n in runs.values() if n > 1)
    # The kills landed inside steps: some steps ran again (each re-run explained above).
    assert again > 0, runs
    print(
        f"\n{WORKFLOWS} workflows in {elapsed:.1f} s: {cluster.kills} kill -9, "
        f"{cluster.freezes} freezes, {taken_over} takeovers of a dead worker's workflows, "
        f"{refused} stale writes "
        f"refused, {audited} journal writes audited, {again} of {len(runs)} steps ran again "
        "after a crash (each recorded once)"
    )


def terminate_all(cluster: PgCluster, postgres: object) -> int:
    rows = postgres.admin_sql(  # type: ignore[attr-defined]
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
        " AND pid <> pg_backend_pid()",
        (cluster.url.rsplit("/", 1)[1],),
    )
    return len(rows)


def restart_server() -> None:
    """``PLAIT_CHAOS_RESTART_SERVER=1``: the local cluster via ``pg_ctlcluster``; any other
    value is a shell command that restarts the test server (e.g. ``pg_ctl -D ... restart``)."""
    if RESTART_SERVER == "1":
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        command = f"pg_ctlcluster --skip-systemctl-redirect {version} main restart"
    else:
        command = RESTART_SERVER
    subprocess.run(command, shell=True, check=True, capture_output=True, timeout=120)


@pytest.mark.timeout(300)
async def test_workers_reconnect_when_the_database_drops_every_connection(
    pg_cluster: PgCluster, chaos_client: plait.Engine, postgres: object
) -> None:
    if RESTART_SERVER == "1" and not shutil.which("pg_ctlcluster"):
        pytest.skip("PLAIT_CHAOS_RESTART_SERVER=1 needs pg_ctlcluster")
    cluster, rng = pg_cluster, random.Random(2)
    cluster.install_audit()
    workers = [cluster.spawn() for _ in range(4)]
    await cluster.ready(4)
    ids = [f"r{n}" for n in range(200)]
    began = time.monotonic()
    await start_all(chaos_client, ids)
    signals = asyncio.create_task(signal_all(chaos_client, ids, 4.0, rng))
    killed = []
    for at in (1.0, 2.5, 4.0):
        await asyncio.sleep(max(0.0, began + at - time.monotonic()))
        if at == 2.5 and RESTART_SERVER:
            await asyncio.to_thread(restart_server)  # refuses connections for a while, too
        else:
            killed.append(terminate_all(cluster, postgres))
    await signals

    async def all_done() -> bool:
        ((left,),) = cluster.sql("SELECT count(*) FROM workflows WHERE status <> 'completed'")
        return left == 0

    await cluster.until(all_done, 120, "all workflows completed after the connections died")
    assert all(p.poll() is None for p in workers), (
        f"a worker died instead of reconnecting\n{cluster.log_text()}"
    )
    cluster.stop_all()
    # Every worker lost its connections (after a long restart they may not be back yet).
    assert all(k >= 4 for k in (killed[:1] if RESTART_SERVER else killed)), killed
    cluster.check_journals(ids)
    check_outputs(cluster, ids)
    cluster.check_fencing()
    retried = cluster.log_count(r"retrying a batch after")
    assert retried > 0, cluster.log_text()  # they did reconnect and run batches again
    print(f"\n200 workflows in {time.monotonic() - began:.1f} s; connections killed: {killed}")
