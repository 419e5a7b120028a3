"""Group commit: one thread owns a database connection and runs queued operations in batches.

Callers on the event loop submit an operation (a function of the connection); the thread
takes everything queued at that moment, runs it inside one transaction (each operation in
its own savepoint, so one failing operation does not undo the others) and commits once.
A caller's future resolves only after the commit, so a step's result is durable before
anything that depends on it runs; concurrent workflows share the fsync.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")
C = TypeVar("C")

log = logging.getLogger("plait.store")


class Transactional(Protocol[C]):
    """How to open a connection and begin, commit and roll back a batch on it."""

    def connect(self) -> C: ...

    def begin(self, conn: C, write: bool) -> None: ...

    def commit(self, conn: C) -> None: ...

    def rollback(self, conn: C) -> None: ...

    def savepoint(self, conn: C, sql: str) -> None: ...

    def close(self, conn: C) -> None: ...

    def retryable(self, error: BaseException) -> bool: ...


_Item = tuple[Callable[[Any], Any], bool, "asyncio.Future[Any]", asyncio.AbstractEventLoop]


class BatchExecutor(Generic[C]):
    """Runs database operations in batches on a dedicated thread."""

    def __init__(self, backend: Transactional[C], *, name: str, max_batch: int = 512) -> None:
        self._backend = backend
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._closed = False

    async def start(self) -> None:
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait)
        if self._error is not None:
            raise self._error

    async def run(self, fn: Callable[[C], T], *, write: bool = True) -> T:
        """Run ``fn(conn)`` in the next batch; returns after that batch has committed."""
        if self._closed:
            raise RuntimeError("the store is closed; open the engine first (async with engine)")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, write, fut, loop))
        return await fut

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _main(self) -> None:
        try:
            conn = self._backend.connect()
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                conn = self._execute(conn, batch)
                if stop:
                    return
        finally:
            try:
                self._backend.close(conn)
            except Exception:  # closing a broken connection
                log.debug("closing the connection failed", exc_info=True)

    def _execute(self, conn: C, batch: list[_Item]) -> C:
        for attempt in range(5):
            try:
                results = self._transaction(conn, batch)
            except Exception as exc:
                try:
                    self._backend.rollback(conn)
                except Exception:
                    conn = self._reconnect(conn)
                if self._backend.retryable(exc) and attempt < 4:
                    log.warning("retrying a batch after %s: %s", type(exc).__name__, exc)
                    continue
                results = [exc] * len(batch)
            for (_, _, fut, loop), result in zip(batch, results, strict=True):
                loop.call_soon_threadsafe(_resolve, fut, result)
            return conn
        return conn  # pragma: no cover - the loop always returns

    def _reconnect(self, conn: C) -> C:
        try:
            self._backend.close(conn)
        except Exception:
            pass
        return self._backend.connect()

    def _transaction(self, conn: C, batch: list[_Item]) -> list[object]:
        write = any(item[1] for item in batch)
        single = len(batch) == 1
        self._backend.begin(conn, write)
        results: list[object] = []
        for fn, _, _, _ in batch:
            if single:
                results.append(fn(conn))
                continue
            self._backend.savepoint(conn, "SAVEPOINT plait_op")
            try:
                results.append(fn(conn))
            except Exception as exc:
                if self._backend.retryable(exc):
                    raise
                self._backend.savepoint(conn, "ROLLBACK TO SAVEPOINT plait_op")
                results.append(_Failure(exc))
            self._backend.savepoint(conn, "RELEASE SAVEPOINT plait_op")
        self._backend.commit(conn)
        return [r.error if isinstance(r, _Failure) else r for r in results]


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _resolve(fut: asyncio.Future[Any], result: object) -> None:
    if fut.cancelled():
        return
    if isinstance(result, BaseException):
        fut.set_exception(result)
    else:
        fut.set_result(result)
