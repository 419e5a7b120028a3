"""Workers with the real clock (short durations): running workflows, waiting workflows are
not held in memory, graceful stop hands work back, heartbeats keep leases, expired leases
are taken over with fencing, the crash-loop cap, registered (name, version) pairs and
queues, and ``plait worker module:engine`` as a separate process stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
import weakref
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import plait
from plait.store.records import Entry, Fence, LeaseLostError
from plait.testing import TestEngine

calls: Counter[str] = Counter()
events: dict[str, asyncio.Event] = {}
flags: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    events.clear()
    flags.clear()


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Polls ``predicate`` (a plain or async function) until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


@plait.step
async def fetch(i: int) -> int:
    calls["fetch"] += 1
    return i


@plait.step
def compute(i: int) -> int:
    calls["compute"] += 1
    return i * i


@plait.workflow
async def job(ctx: plait.Context, i: int) -> int:
    a = await fetch(i)
    await ctx.sleep(timedelta(milliseconds=30))
    b = await compute(a)
    return a + b


async def test_a_real_worker_runs_workflows(db_url: str) -> None:
    async with plait.Engine(db_url, workflows=[job], poll_interval=0.05) as engine:
        async with engine.worker(concurrency=8):
            handles = [await engine.start(job, i) for i in range(30)]
            results = await asyncio.gather(*(h.result(timeout=10) for h in handles))
        assert results == [i + i * i for i in range(30)]
        assert calls == {"fetch": 30, "compute": 30}
        assert len(await engine.list(status="completed")) == 30


gauge = {"now": 0, "max": 0}


@plait.step
async def occupy() -> None:
    gauge["now"] += 1
    gauge["max"] = max(gauge["max"], gauge["now"])
    await asyncio.sleep(0.03)
    gauge["now"] -= 1


@plait.workflow
async def busy(ctx: plait.Context) -> None:
    await occupy()


async def test_worker_concurrency_bounds_running_workflows(db_url: str) -> None:
    gauge.update(now=0, max=0)
    async with plait.Engine(db_url, workflows=[busy], poll_interval=0.05) as engine:
        async with engine.worker(concurrency=3):
            handles = [await engine.start(busy) for _ in range(12)]
            await asyncio.gather(*(h.result(timeout=10) for h in handles))
    assert gauge["max"] == 3


@plait.workflow
async def waiter(ctx: plait.Context, i: int) -> str:
    await fetch(i)
    reply = await ctx.wait_for_signal("reply")
    return f"{i}:{reply}"


async def test_waiting_workflows_are_not_held_by_the_worker(db_url: str) -> None:
    async with plait.Engine(db_url, workflows=[waiter], poll_interval=0.05) as engine:
        async with engine.worker(concurrency=50) as worker:
            handles = [await engine.start(waiter, i, id=f"w{i}") for i in range(200)]

            async def all_waiting() -> bool:
                return len(await engine.list(status="waiting", limit=1000)) == 200

            await until(all_waiting, timeout=20)
            await until(lambda: not worker._running)
            assert worker._running == {}  # 200 waits cost 200 rows, no coroutine, no task
            assert all(i.lease_owner is None for i in await engine.list(limit=1000))

            sent = await asyncio.gather(*(engine.signal(h.id, "reply", "ok") for h in handles))
            assert all(sent)
            results = await asyncio.gather(*(h.result(timeout=20) for h in handles))
        assert results == [f"{i}:ok" for i in range(200)]
        assert calls["fetch"] == 200


@plait.step
async def slow_part(label: str) -> str:
    calls["slow"] += 1
    events["started"].set()
    await asyncio.sleep(float(flags.get("slow_for", 0.2)))  # type: ignore[arg-type]
    return f"slow {label}"


@plait.step
async def after_part() -> str:
    calls["after"] += 1
    return "after"


@plait.workflow
async def handed_back(ctx: plait.Context, label: str) -> list[str]:
    return [await slow_part(label), await after_part()]


async def test_graceful_stop_hands_running_workflows_back(db_url: str) -> None:
    events["started"] = asyncio.Event()
    async with plait.Engine(db_url, workflows=[handed_back], poll_interval=0.05) as first:
        worker = first.worker()
        await worker.start()
        await first.start(handed_back, "a", id="hb")
        await asyncio.wait_for(events["started"].wait(), 30)
        await worker.stop()  # the running step finishes, then the workflow is handed back
        info = await first.get("hb")
        assert info.status == plait.WorkflowStatus.PENDING
        assert info.lease_owner is None
        assert calls == {"slow": 1}
        assert [e.name for e in await first.journal("hb")] == ["slow_part"]
    async with plait.Engine(db_url, workflows=[handed_back], poll_interval=0.05) as second:
        async with second.worker():
            assert await second.handle("hb").result(timeout=30) == ["slow a", "after"]
    assert calls == {"slow": 1, "after": 1}  # the finished step was not run again


async def test_stop_past_the_grace_period_releases_the_lease_at_once(db_url: str) -> None:
    events["started"] = asyncio.Event()
    flags["slow_for"] = 30
    async with plait.Engine(db_url, workflows=[handed_back], poll_interval=0.05) as engine:
        worker = engine.worker(shutdown_grace=timedelta(milliseconds=100))
        await worker.start()
        await engine.start(handed_back, "b", id="late")
        await asyncio.wait_for(events["started"].wait(), 30)
        t = time.monotonic()
        await worker.stop()
        assert time.monotonic() - t < 15  # the 100 ms grace, not the 30 s step
        info = await engine.get("late")
        assert info.status == plait.WorkflowStatus.PENDING and info.lease_owner is None
        assert await engine.journal("late") == []  # the interrupted step was not recorded
        flags["slow_for"] = 0
        async with engine.worker():
            assert await engine.handle("late").result(timeout=30) == ["slow b", "after"]
    assert calls == {"slow": 2, "after": 1}  # at least once: the interrupted step ran again


@plait.step
async def longer_than_the_lease() -> str:
    calls["long"] += 1
    await asyncio.sleep(9.0)  # more than twice the lease
    return "done"


@plait.workflow
async def long_step(ctx: plait.Context) -> str:
    return await longer_than_the_lease()


async def test_heartbeats_keep_the_lease_of_a_long_step(db_url: str) -> None:
    async with plait.Engine(
        # A 4 s lease: a loaded machine that stalls the process for a second or two keeps
        # it (a 2 s lease was lost twice in one run beside two CPU-bound loops).
        db_url,
        workflows=[long_step],
        lease_ttl=timedelta(seconds=4),
        poll_interval=0.05,
    ) as engine:
        async with engine.worker():
            h = await engine.start(long_step)
            assert await h.result(timeout=60) == "done"
        info = await h.info()
    assert calls["long"] == 1
    assert (info.attempt, info.recoveries) == (1, 0)  # never taken over


contexts: list[weakref.ref[plait.Context]] = []


@plait.workflow
async def remembered(ctx: plait.Context, i: int) -> str:
    contexts.append(weakref.ref(ctx))
    await fetch(i)
    return await ctx.wait_for_signal("reply")


async def test_a_suspended_workflow_leaves_nothing_in_memory(test_engine: TestEngine) -> None:
    contexts.clear()
    test_engine.register(remembered)
    handles = [await test_engine.start(remembered, i) for i in range(50)]
    await test_engine.run_until_idle()
    assert {(await h.info()).status for h in handles} == {plait.WorkflowStatus.WAITING}
    gc.collect()
    assert len(contexts) == 50
    assert [r for r in contexts if r() is not None] == []  # coroutines and contexts dropped
    for h in handles:
        await test_engine.signal(h.id, "reply", "ok")
    await test_engine.run_until_idle()
    assert [await h.result() for h in handles] == ["ok"] * 50


@plait.workflow
async def parked(ctx: plait.Context, i: int) -> str:
    await fetch(i)
    return await ctx.wait_for_signal("reply")


async def _park(engine: TestEngine, first: int, n: int) -> None:
    for i in range(first, first + n):
        await engine.start(parked, i, id=f"parked-{i}")  # the handle is not kept
    await engine.run_until_idle()


async def test_waiting_workflows_cost_the_process_no_memory(test_engine: TestEngine) -> None:
    # The objects the process holds (Python allocations, traced) must not grow with the
    # number of workflows waiting: no cache keyed by workflow, no retained run. A retained
    # id alone is one more block per workflow. The first 200 warm up what is bounded
    # (statement and validator caches, free lists, tables sized for 200 runs at once);
    # the next 200, run the same way, are measured. psycopg's prepared-statement cache
    # (bounded, keyed by query) is left out: its entries keep the parameters of claims.
    # Measured twice: a leak holds blocks in both rounds; the other things a busy process
    # allocates now and then (a bounded cache filling up, a background loop's turn) do not.
    test_engine.register(parked)
    bounded = [
        tracemalloc.Filter(False, f"*/psycopg/{name}.py", all_frames=True)
        for name in ("_queries", "_preparing")
    ]
    rounds: list[tuple[int, list[str]]] = []
    tracemalloc.start(4)
    try:
        await _park(test_engine, 0, 200)
        for first in (200, 400):
            gc.collect()
            before = tracemalloc.take_snapshot()
            await _park(test_engine, first, 200)
            gc.collect()
            after = tracemalloc.take_snapshot()
            grown = after.filter_traces(bounded).compare_to(before.filter_traces(bounded), "lineno")
            held = [str(s) for s in grown[:5] if s.count_diff >= 100]
            rounds.append((sum(s.count_diff for s in grown), held))
    finally:
        tracemalloc.stop()
    assert len(await test_engine.list(status="waiting", limit=1000)) == 600
    blocks, held = min(rounds)
    assert blocks / 200 < 0.5, f"{blocks / 200:.2f} blocks held per waiting workflow: {held}"


# -- leases, fencing and the crash-loop cap (fake clock) -------------------------------------


@plait.workflow
async def simple(ctx: plait.Context, i: int) -> int:
    return await fetch(i)


async def _ghost_claim(engine: TestEngine) -> list[str]:
    """A worker that claims and then dies: it never writes again."""
    claimed = await engine.store.claim(
        "ghost",
        engine.registered_pairs,
        None,
        10,
        engine.clock.now_ms(),
        engine.lease_ms,
        engine.max_recoveries,
    )
    return [c.id for c in claimed]


async def test_an_expired_lease_is_taken_over_and_the_old_attempt_is_fenced_off(
    test_engine: TestEngine,
) -> None:
    test_engine.register(simple)
    h = await test_engine.start(simple, 7)
    assert await _ghost_claim(test_engine) == [h.id]
    info = await h.info()
    assert (info.status, info.lease_owner, info.attempt) == ("running", "ghost", 1)
    assert await test_engine.run_until_idle(within=timedelta(seconds=10)) == 0  # still leased

    await test_engine.run_until_idle()  # skips time to the lease expiry, then recovers it
    assert await h.result() == 7
    info = await h.info()
    assert info.attempt == 2  # a second claim took it over

    stale = Fence(h.id, 1, "ghost", test_engine.lease_ms)
    now = test_engine.clock.now_ms()
    entry = Entry(9, "step", "fetch", "completed", output="1", started_at=now, completed_at=now)
    with pytest.raises(LeaseLostError):
        await test_engine.store.record(stale, now, [entry], [])
    with pytest.raises(LeaseLostError):
        await test_engine.store.finish(
            stale, now, [], plait.WorkflowStatus.FAILED, None, {"type": "X", "message": ""}
        )
    assert await h.result() == 7
    assert [e.seq for e in await test_engine.journal(h.id)] == [1]


async def test_a_restarted_worker_queues_its_takeover_in_two_rounds(db_url: str) -> None:
    """A worker whose host has a dead worker's lease takes it over at start without waiting
    for one store operation before sending the next: its registration goes out with the read
    of the host's workers, and the expiry of the dead one's leases with the first claim (each
    pair is queued before either is answered, so a group commit serves it at once)."""
    async with plait.Engine(db_url, workflows=[simple]) as engine:
        store: Any = engine.store
        h = await engine.start(simple, 3)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()  # a pid known to be dead, so the lease is taken without waiting it out
        now = engine.clock.now_ms()
        info = {"hostname": socket.gethostname(), "pid": gone.pid, "process_start": None}
        await store.register_worker("dead", info, now)
        claimed = await store.claim("dead", engine.registered_pairs, None, 1, now, 600_000, 5)
        assert [c.id for c in claimed] == [h.id]

        naming: contextvars.ContextVar[str] = contextvars.ContextVar("naming", default="?")
        answered: set[str] = set()
        queued: list[tuple[str, frozenset[str]]] = []  # (operation, those answered by then)
        names = ("register_worker", "workers_on", "expire_workers", "claim")
        for name in names:
            real = getattr(store, name)

            async def named(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
                token = naming.set(_name)
                try:
                    return await _real(*args, **kw)
                finally:
                    naming.reset(token)

            setattr(store, name, named)
        executor, run = store._executor, store._executor.run

        def queue(fn: Any, *, write: bool = True) -> Any:
            name = naming.get()
            queued.append((name, frozenset(answered)))
            future = asyncio.ensure_future(run(fn, write=write))  # PostgreSQL's: a coroutine
            future.add_done_callback(lambda _: answered.add(name))
            return future

        executor.run = queue
        async with engine.worker(concurrency=2):
            assert await h.result(timeout=10) == 3
        order = [name for name, _ in queued if name in names]
        assert order[:4] == ["register_worker", "workers_on", "expire_workers", "claim"], order
        before = dict(queued[:4])
        assert before["workers_on"] == frozenset(), "waited for the registration"
        assert "expire_workers" not in before["claim"], "the claim waited for the expiry"
        record = await h.info()
        assert (record.attempt, record.lease_owner) == (2, None)


async def test_crash_loop_cap_fails_a_workflow_whose_lease_keeps_expiring() -> None:
    async with TestEngine(workflows=[simple], max_recoveries=2) as engine:
        h = await engine.start(simple, 3)
        for _ in range(3):  # the first claim and two recoveries
            assert await _ghost_claim(engine) == [h.id]
            engine.clock.advance(engine.lease_ms / 1000 + 1)
        assert await _ghost_claim(engine) == []  # the third recovery is refused
        info = await h.info()
        assert info.status == plait.WorkflowStatus.FAILED
        assert info.error is not None and info.error.type == "CrashLoop"
        assert "max_recoveries=2" in info.error.message and "resume" in info.error.message
        with pytest.raises(plait.WorkflowFailed, match="CrashLoop"):
            await h.result()
        assert calls["fetch"] == 0

        await engine.resume(h.id)  # after fixing the cause
        await engine.run_until_idle()
        assert await h.result() == 3


# -- what a worker claims ---------------------------------------------------------------------


@plait.workflow(name="versioned", version="1")
async def versioned_v1(ctx: plait.Context) -> str:
    return "v1"


@plait.workflow(name="versioned", version="2")
async def versioned_v2(ctx: plait.Context) -> str:
    return "v2"


async def test_workers_claim_only_registered_versions_and_their_queues(db_url: str) -> None:
    async with plait.Engine(db_url, workflows=[versioned_v1, versioned_v2, simple]) as client:
        await client.start(versioned_v1, id="old")
        await client.start(versioned_v2, id="new")
        await client.start(simple, 1, id="fast", queue="fast")
        await client.start(simple, 2, id="slow", queue="slow")

    async with plait.Engine(db_url, workflows=[versioned_v1], poll_interval=0.05) as v1_only:
        async with v1_only.worker():
            assert await v1_only.handle("old").result(timeout=30) == "v1"
            # another claim, which would have taken "new" too: still not
            h = await v1_only.start(versioned_v1, id="old-2")
            assert await h.result(timeout=30) == "v1"
            assert (await v1_only.get("new")).status == plait.WorkflowStatus.PENDING

    async with plait.Engine(db_url, workflows=[simple], poll_interval=0.05) as fast_only:
        async with fast_only.worker(queues=["fast"]):
            assert await fast_only.handle("fast").result(timeout=30) == 1
            h = await fast_only.start(simple, 3, id="fast-2", queue="fast")
            assert await h.result(timeout=30) == 3
            assert (await fast_only.get("slow")).status == plait.WorkflowStatus.PENDING

    async with plait.Engine(
        db_url, workflows=[versioned_v2, simple], poll_interval=0.05
    ) as everything:
        async with everything.worker():
            assert await everything.handle("new").result(timeout=30) == "v2"
            assert await everything.handle("slow").result(timeout=30) == 2


@plait.workflow
async def ranked(ctx: plait.Context, label: str) -> str:
    return label


async def test_higher_priority_is_claimed_first(test_engine: TestEngine) -> None:
    test_engine.register(ranked)
    await test_engine.start(ranked, "low", id="low", priority=0)
    await test_engine.start(ranked, "high", id="high", priority=10)
    claimed = await test_engine._worker.claim_once(1)
    assert [c.id for c in claimed] == ["high"]
    await test_engine.run_until_idle()


# -- a separate worker process -----------------------------------------------------------------

APP = textwrap.dedent(
    """
    import asyncio, os
    from pathlib import Path
    import plait

    @plait.step
    async def shout(x: str) -> str:
        return x.upper()

    @plait.step
    async def slow(x: str) -> str:
        Path(os.environ["MARKER"]).write_text(x)
        await asyncio.sleep(0.5)
        return x

    @plait.workflow
    async def cli_flow(ctx: plait.Context, x: str) -> list[object]:
        if x == "slow":
            await slow(x)
        return [await shout(x), os.getpid()]

    engine = plait.Engine(os.environ["DB_URL"], workflows=[cli_flow], poll_interval=0.05)
    """
)


async def test_plait_worker_process_runs_workflows_and_stops_on_sigterm(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cli_app.py").write_text(APP)
    marker = tmp_path / "marker"
    monkeypatch.setenv("DB_URL", db_url)
    monkeypatch.setenv("MARKER", str(marker))
    env = dict(os.environ)
    plait_bin = Path(sys.executable).with_name("plait")
    monkeypatch.syspath_prepend(str(tmp_path))
    import cli_app  # type: ignore[import-not-found]

    del sys.modules["cli_app"]  # the test keeps its own reference
    async with plait.Engine(db_url, workflows=[cli_app.cli_flow], poll_interval=0.05) as client:
        proc = subprocess.Popen(
            [str(plait_bin), "worker", "cli_app:engine", "--concurrency", "4"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
        )
        try:
            h = await client.start(cli_app.cli_flow, "hi")
            text, pid = await h.result(timeout=20)
            assert text == "HI" and pid == proc.pid and pid != os.getpid()

            slow = await client.start(cli_app.cli_flow, "slow")
            await until(marker.exists, timeout=10)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            stderr = proc.stderr.read().decode()
            proc.stderr.close()
        assert "Traceback" not in stderr
        info = await slow.info()
        assert info.status == plait.WorkflowStatus.PENDING  # handed back, not lost
        assert [e.name for e in await client.journal(slow.id)] == ["slow"]
        async with client.worker():
            text, pid = await slow.result(timeout=30)
        assert text == "SLOW" and pid == os.getpid()


@plait.workflow
async def tiny(ctx: plait.Context, i: int) -> int:
    return i


async def test_a_worker_claims_at_most_fifty_at_a_time(db_url: str) -> None:
    """docs/postgresql.md "Claiming": up to its free slots, at most 50 in one claim."""
    async with plait.Engine(db_url, workflows=[tiny]) as engine:
        for i in range(120):
            await engine.start(tiny, i, id=f"t{i}")
        asked: list[int] = []
        real = engine.store.claim

        async def claim(*args: object, **kw: object) -> object:
            asked.append(int(args[3]))  # type: ignore[call-overload]  # (worker, pairs, queues, limit, now)
            return await real(*args, **kw)  # type: ignore[arg-type]

        engine.store.claim = claim  # type: ignore[method-assign]
        async with engine.worker(concurrency=200):
            for i in (0, 119):
                assert await engine.handle(f"t{i}").result(timeout=60) == i
        assert asked and max(asked) == 50, asked
