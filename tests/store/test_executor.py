"""The batch executor's contract, with a scripted backend (no database): a batch is one
transaction; transient failures re-run the whole batch on a new connection; a COMMIT whose
outcome is unknown is looked up, never run twice; other errors reach only their caller."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from plait.store.executor import Batched, BatchExecutor, CommitUnknown, ExecutorPool, Pipelined


class Transient(Exception):
    pass


class Conn:
    def __init__(self, n: int) -> None:
        self.n = n
        self.broken = False
        self.log: list[str] = []


class Backend:
    """Records what happened; ``plan`` scripts failures of COMMIT, one per commit."""

    def __init__(self) -> None:
        self.connections: list[Conn] = []
        self.plan: list[str] = []  # "ok" | "transient" | "unknown-committed" | "unknown-lost"
        self.committed: list[list[str]] = []
        self.pending: list[str] = []

    def connect(self) -> Conn:
        conn = Conn(len(self.connections))
        self.connections.append(conn)
        return conn

    def begin(self, conn: Conn, write: bool) -> None:
        if conn.broken:
            raise Transient("connection is broken")
        self.pending = []

    def commit(self, conn: Conn) -> None:
        step = self.plan.pop(0) if self.plan else "ok"
        if step == "transient":
            conn.broken = True
            raise Transient("server closed the connection")
        if step.startswith("unknown"):
            conn.broken = True
            if step == "unknown-committed":
                self.committed.append(self.pending)
            raise CommitUnknown(lambda c: step == "unknown-committed") from Transient("lost")
        self.committed.append(self.pending)

    def rollback(self, conn: Conn) -> None:
        if conn.broken:
            raise Transient("connection is broken")

    def savepoint(self, conn: Conn, sql: str) -> None:
        conn.log.append(sql)

    def close(self, conn: Conn) -> None:
        pass

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, Transient)


def op(backend: Backend, name: str, calls: list[str]) -> Any:
    def fn(conn: Conn) -> str:
        calls.append(name)
        backend.pending.append(name)
        return f"{name}@{conn.n}"

    return fn


async def run(backend: Backend, *names: str, **kw: Any) -> tuple[list[Any], list[str]]:
    executor = BatchExecutor(backend, name="test", **kw)
    await executor.start()
    calls: list[str] = []
    try:
        results = await asyncio.gather(
            *(executor.run(op(backend, n, calls)) for n in names), return_exceptions=True
        )
    finally:
        await executor.close()
    return list(results), calls


async def test_a_transient_failure_reruns_the_batch_on_a_new_connection() -> None:
    backend = Backend()
    backend.plan = ["transient", "transient"]
    results, calls = await run(backend, "a")
    assert results == ["a@2"]  # the third connection
    assert calls == ["a", "a", "a"] and backend.committed == [["a"]]
    assert len(backend.connections) == 3


async def test_a_commit_that_did_happen_is_not_run_again() -> None:
    backend = Backend()
    backend.plan = ["unknown-committed"]
    results, calls = await run(backend, "once")
    assert results == ["once@0"]
    assert calls == ["once"] and backend.committed == [["once"]]


async def test_a_commit_that_did_not_happen_is_run_again() -> None:
    backend = Backend()
    backend.plan = ["unknown-lost"]
    results, calls = await run(backend, "x")
    assert results == ["x@1"]
    assert calls == ["x", "x"] and backend.committed == [["x"]]


async def test_callers_see_a_transient_error_after_retry_for() -> None:
    backend = Backend()
    backend.plan = ["transient"] * 1000
    results, _ = await run(backend, "a", retry_for=0.2)
    assert isinstance(results[0], Transient)


async def test_an_operation_error_fails_only_that_operation() -> None:
    backend = Backend()
    executor = BatchExecutor(backend, name="test")
    await executor.start()

    def bad(conn: Conn) -> None:
        raise ValueError("bad input")

    calls: list[str] = []
    try:
        good, failed = await asyncio.gather(
            executor.run(op(backend, "good", calls)), executor.run(bad), return_exceptions=True
        )
    finally:
        await executor.close()
    assert isinstance(failed, ValueError)
    assert good == "good@0" and ["good"] in backend.committed


async def batch_of(executor: BatchExecutor[Conn], *fns: Any) -> list[Any]:
    """Runs ``fns`` as one batch: the executor is held busy while they queue."""
    gate, started = threading.Event(), threading.Event()

    def hold(conn: Conn) -> None:
        started.set()
        gate.wait(5)

    holding = asyncio.ensure_future(executor.run(hold))
    await asyncio.to_thread(started.wait, 5)
    futures = [asyncio.ensure_future(executor.run(fn)) for fn in fns]
    await asyncio.sleep(0.05)  # every operation is queued
    gate.set()
    await holding
    return list(await asyncio.gather(*futures, return_exceptions=True))


async def test_consecutive_batched_operations_run_in_one_call_each_error_its_own() -> None:
    backend = Backend()
    executor = BatchExecutor(backend, name="test")
    await executor.start()
    runs: list[list[str]] = []

    def many(conn: Conn, args: list[str]) -> list[str]:
        runs.append(list(args))
        if "bad" in args:
            raise ValueError(f"bad among {len(args)}")
        return [f"{a}@{conn.n}" for a in args]

    calls: list[str] = []
    try:
        together = await batch_of(
            executor,
            *(Batched(many, a) for a in "ab"),
            op(backend, "plain", calls),
            *(Batched(many, a) for a in "cd"),
        )
        assert together == ["a@0", "b@0", "plain@0", "c@0", "d@0"]
        assert runs == [["a", "b"], ["c", "d"]]  # a plain operation between ends a run
        runs.clear()
        results = await batch_of(executor, *(Batched(many, a) for a in ("x", "bad", "y")))
    finally:
        await executor.close()
    # the run failed: the batch runs again one by one, and only "bad" fails
    assert runs == [["x", "bad", "y"], ["x"], ["bad"], ["y"]]
    assert results[0] == "x@0" and results[2] == "y@0"
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad among 1"


async def test_a_pool_spreads_concurrent_operations() -> None:
    backends = [Backend(), Backend()]
    pool = ExecutorPool([BatchExecutor(b, name=f"t{i}") for i, b in enumerate(backends)])
    await pool.start()
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(conn: Conn) -> str:
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(gate.wait(), 5), loop).result()
        return "slow"

    try:
        blocked = asyncio.ensure_future(pool.run(slow))
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(pool.run(lambda c: "quick"), 30) == "quick"
        gate.set()
        assert await blocked == "slow"
    finally:
        await pool.close()


async def test_a_pool_needs_members() -> None:
    with pytest.raises(ValueError):
        ExecutorPool([])


class TripBackend(Backend):
    """A backend that runs batches of final operations in one round trip; ``trips``
    scripts each: "ok", "failed" (a statement failed: not committed), "refused" (it raised
    before sending anything), "lost" (the link
    broke after COMMIT was sent, and it did not commit) or "lost-committed"."""

    def __init__(self) -> None:
        super().__init__()
        self.trips: list[str] = []
        self.tripped: list[list[str]] = []

    def one_trip(self, conn: Conn, sends: list[Any], before_commit: Any) -> list[Any] | None:
        step = self.trips.pop(0) if self.trips else "ok"
        self.pending = []
        receives = [send(conn) for send in sends]
        before_commit(conn)
        self.tripped.append(list(self.pending))
        if step == "failed":
            return None
        if step == "refused":  # the backend could not send it (a value it cannot bind)
            raise ValueError("cannot bind")
        if step.startswith("lost"):
            conn.broken = True
            if step == "lost-committed":
                self.committed.append(self.pending)
            raise CommitUnknown(None) from Transient("lost")
        self.committed.append(self.pending)
        return [receive() for receive in receives]


def final(backend: TripBackend, name: str) -> Pipelined[str]:
    def send(conn: Conn) -> Any:
        backend.pending.append(name)
        return lambda: f"{name}@{conn.n}"

    def recover(conn: Conn) -> tuple[bool, object]:
        written = any(name in batch for batch in backend.committed)
        return written, f"{name} read again" if written else ValueError(f"{name} refused")

    return Pipelined(send, recover)


async def final_pair(backend: TripBackend) -> list[Any]:
    """Final operations "a" and "b" sent as one batch to a new executor on ``backend``."""
    executor = BatchExecutor(backend, name="test")
    await executor.start()
    try:
        return await batch_of(executor, final(backend, "a"), final(backend, "b"))
    finally:
        await executor.close()


async def test_a_batch_of_final_operations_takes_one_trip() -> None:
    backend = TripBackend()
    executor = BatchExecutor(backend, name="test")
    await executor.start()
    try:
        results = await batch_of(executor, final(backend, "a"), final(backend, "b"))
        mixed = await batch_of(executor, final(backend, "c"), op(backend, "plain", []))
    finally:
        await executor.close()
    assert results == ["a@0", "b@0"] and backend.tripped == [["a", "b"]]
    assert mixed == ["c@0", "plain@0"]  # a plain operation: the usual way
    assert backend.committed[-1] == ["c", "plain"] and len(backend.tripped) == 1


@pytest.mark.parametrize("trip", ["failed", "refused"])
async def test_a_one_trip_batch_that_did_not_commit_runs_the_usual_way(trip: str) -> None:
    backend = TripBackend()
    backend.trips = [trip]
    results = await final_pair(backend)
    assert results == ["a@0", "b@0"]
    assert backend.tripped == [["a", "b"]] and [b for b in backend.committed if b] == [["a", "b"]]


async def test_a_lost_one_trip_commit_is_recovered_not_run_twice() -> None:
    backend = TripBackend()
    backend.trips = ["lost-committed"]
    results = await final_pair(backend)
    assert results == ["a read again", "b read again"]  # each operation's recover
    assert [b for b in backend.committed if b] == [["a", "b"]] and len(backend.tripped) == 1


async def test_a_lost_one_trip_batch_that_did_not_commit_runs_again() -> None:
    backend = TripBackend()
    backend.trips = ["lost"]
    results = await final_pair(backend)
    assert results == ["a@1", "b@1"]  # run again, on a new connection
    assert [b for b in backend.committed if b] == [["a", "b"]] and len(backend.tripped) == 2
