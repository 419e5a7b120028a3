"""Group commit: one thread owns a database connection and runs queued operations in batches.

Callers on the event loop submit an operation (a function of the connection); the thread
takes everything queued at that moment, runs it inside one transaction (each operation in
its own savepoint, so one failing operation does not undo the others) and commits once.
A caller's future resolves only after the commit, so a step's result is durable before
anything that depends on it runs; concurrent workflows share the fsync.

Transient failures (a dropped connection, a database restart, a deadlock) roll the whole
batch back and run it again, on a new connection if the old one broke, with backoff, for up
to ``retry_for`` seconds; only then do callers see the error. This is safe because an
operation is a pure function of the connection: running it again does the same writes. The
one ambiguous moment is a connection lost during COMMIT: the backend then raises
:class:`CommitUnknown` and the executor asks the database, on a new connection, whether that
transaction committed, and delivers the results it already has instead of running the batch
twice.

Pipelining. An operation wrapped in :class:`Pipelined` comes in two halves: it sends its
statements without reading their results, and returns a function that reads them. A batch
sends the statements of consecutive pipelined operations together before it reads any
result, so on a backend with a ``pipeline(conn, on)`` method (PostgreSQL: statements kept
and sent as one query string, ``plait.store.pglink``) they cost one round trip between them
instead of one each. Anything that fails in a pipelined run fails the batch's first pass,
and the batch runs again operation by operation in savepoints (not pipelined), so an error
is always charged to the operation that caused it.

Runs. Consecutive operations wrapped in :class:`Batched` with the same ``many`` run as one
call, which may serve them all with one statement (SQLite: a run of step records is one
``executemany``). If that call raises, the batch's first pass fails the same way and each
operation runs again alone, in its own savepoint.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")
A = TypeVar("A")
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


class CommitUnknown(Exception):
    """Raised by a backend's ``commit`` when the connection broke during COMMIT, so the
    transaction may or may not have committed. ``check(conn)``, on a new connection, says
    whether it did (``None``: not known yet, ask again later). A one-trip batch (below)
    reads nothing before COMMIT, so its backend raises it without ``check``: the executor
    then asks the operations' ``recover``; without any check the outcome cannot be known,
    and the batch's callers get the error (the batch is never run twice)."""

    def __init__(self, check: Callable[[Any], bool | None] | None) -> None:
        super().__init__("the connection broke during COMMIT")
        self.check = check  # None: there is no way to know (nothing was read before COMMIT)
        self.results: list[object] = []


class Pipelined(Generic[T]):
    """An operation in two halves (see the module docstring): ``send(conn)`` issues its
    statements and returns the function that reads their results into the operation's
    result. Called like a plain operation, it sends and reads at once."""

    __slots__ = ("recover", "send")

    def __init__(
        self,
        send: Callable[[Any], Callable[[], T | Later]],
        recover: Callable[[Any], tuple[bool, object]] | None = None,
    ) -> None:
        self.send = send
        # With ``recover`` the operation is *final*: its receive half never returns
        # ``Later``; when it raises while every statement succeeded, it wrote nothing (a
        # refusal, such as a stale attempt's); and ``recover(conn)``, on a new connection,
        # says whether its writes are in the database and, if so, its result read afresh
        # (else the refusal it would have raised). A batch of only final operations may be
        # sent with its COMMIT and read after it, in one round trip (``_one_trip`` below);
        # when the link breaks then, ``recover`` tells whether the batch committed.
        self.recover = recover

    def __call__(self, conn: Any) -> T:
        result: Any = self.send(conn)()
        while isinstance(result, Later):
            result = result.receive()
        return result  # type: ignore[no-any-return]


class Later:
    """What the receive half of a pipelined operation returns when, having read its results,
    it sent more statements: ``receive`` reads those. The batch calls every operation's
    ``Later`` only after all receive halves ran, so one round trip serves them all."""

    __slots__ = ("receive",)

    def __init__(self, receive: Callable[[], Any]) -> None:
        self.receive = receive


class Batched(Generic[A, T]):
    """An operation that runs together with the batch's consecutive operations of the same
    kind (an equal ``many``: the same method of the same store): ``many(conn, args)`` runs
    the whole run of them, one ``arg`` each, and returns their results in order. It raises
    when any of them fails, and the batch then runs again operation by operation (``many``
    with one ``arg`` each), so an error is always charged to the operation that caused it.
    Called like a plain operation, it runs alone."""

    __slots__ = ("arg", "many")

    def __init__(self, many: Callable[[Any, list[A]], list[T]], arg: A) -> None:
        self.many = many
        self.arg = arg

    def __call__(self, conn: Any) -> T:
        return self.many(conn, [self.arg])[0]


class Executor(Protocol):
    """What a store needs from an executor: a single one or a pool of them."""

    async def start(self) -> None: ...

    def run(self, fn: Callable[[Any], T], *, write: bool = True) -> Awaitable[T]: ...

    def set_commit_hook(self, hook: Callable[[], None] | None) -> None: ...

    async def close(self) -> None: ...


_Item = tuple[Callable[[Any], Any], bool, "asyncio.Future[Any]", asyncio.AbstractEventLoop]


class BatchExecutor(Generic[C]):
    """Runs database operations in batches on a dedicated thread."""

    def __init__(
        self,
        backend: Transactional[C],
        *,
        name: str,
        max_batch: int = 512,
        retry_for: float = 120.0,
    ) -> None:
        self._backend = backend
        # A backend may run a batch of only ``final`` pipelined operations in one round trip:
        # ``one_trip(conn, sends, before_commit)`` sends BEGIN, their statements, what
        # ``before_commit(conn)`` adds, and COMMIT together, and reads the results after.
        # It returns each operation's result (its exception, if its receive half raised)
        # when the transaction committed; None when it did not (rolled back: the batch then
        # runs the ordinary way); and raises CommitUnknown without a check when the link
        # broke after COMMIT was sent; the operations' ``recover`` then tell (``_recovered``).
        self._one_trip: Callable[..., list[object] | None] | None = getattr(
            backend, "one_trip", None
        )
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._retry_for = retry_for
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._closed = False
        self._serving = False  # the thread runs and takes operations (a flag: run() is hot)
        self._on_commit: Callable[[], None] | None = None

    def set_commit_hook(self, hook: Callable[[], None] | None) -> None:
        """``hook()`` runs on the event loop once per committed batch in which a write
        operation of that loop succeeded, after the batch's futures are resolved."""
        self._on_commit = hook

    async def start(self) -> None:
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait)
        if self._error is not None:
            raise self._error

    def run(self, fn: Callable[[C], T], *, write: bool = True) -> asyncio.Future[T]:
        """Queues ``fn(conn)`` for the next batch; the future resolves after that batch has
        committed. (A plain function, not a coroutine: one frame less per store call.)"""
        if self._closed or not self._serving:  # never opened, or gone: nothing would answer
            raise RuntimeError("the store is closed; open the engine first (async with engine)")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, write, fut, loop))
        return fut

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
        self._serving = True
        self._ready.set()
        get, get_nowait, more = self._queue.get, self._queue.get_nowait, range(self._max_batch - 1)
        try:
            while True:
                item = get()
                if item is None:
                    return
                batch = [item]
                add = batch.append
                stop = False
                for _ in more:
                    try:
                        item = get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    add(item)
                conn = self._execute(conn, batch)
                if stop:
                    return
        finally:
            self._serving = False
            try:
                self._backend.close(conn)
            except Exception:  # closing a broken connection
                log.debug("closing the connection failed", exc_info=True)

    def _execute(self, conn: C, batch: list[_Item]) -> C:
        deadline = time.monotonic() + self._retry_for
        pause = 0.01
        while True:
            try:
                results = self._transaction(conn, batch)
                break
            except CommitUnknown as unknown:
                conn, committed = self._outcome(conn, unknown, deadline)
                if committed:
                    results = unknown.results
                    break
                error: Exception = unknown
                if committed is None:  # never learned the outcome: do not run it twice
                    results = [_cause(unknown)] * len(batch)
                    break
            except Exception as exc:
                error = exc
            cause = _cause(error)
            if not self._backend.retryable(cause) or time.monotonic() >= deadline:
                conn = self._recover(conn)
                results = [cause] * len(batch)
                break
            log.warning("retrying a batch after %s: %s", type(cause).__name__, cause)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            conn = self._recover(conn)  # after the pause, so a new connection is used at once
        # one wake-up per event loop for the whole batch, not one per operation
        hook = self._on_commit
        loops = {item[3] for item in batch}
        if len(loops) == 1:  # the common case: one event loop
            (loop,) = loops
            pairs = [(item[2], result) for item, result in zip(batch, results, strict=True)]
            wrote = any(
                item[1] and not isinstance(result, BaseException)
                for item, result in zip(batch, results, strict=True)
            )
            loop.call_soon_threadsafe(_resolve_all, pairs, hook if wrote else None)
            return conn
        settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], object]]] = {}
        wrote_on: set[asyncio.AbstractEventLoop] = set()
        for (_, write, fut, loop), result in zip(batch, results, strict=True):
            settled.setdefault(loop, []).append((fut, result))
            if write and not isinstance(result, BaseException):
                wrote_on.add(loop)
        for loop, pairs in settled.items():
            loop.call_soon_threadsafe(_resolve_all, pairs, hook if loop in wrote_on else None)
        return conn

    def _recover(self, conn: C) -> C:
        """Rolls back; on a broken connection, connects again (or keeps the broken one, so
        the next attempt fails fast and retries)."""
        try:
            self._backend.rollback(conn)
            return conn
        except Exception:
            pass
        try:
            return self._reconnect(conn)
        except Exception as exc:
            log.warning("reconnecting failed: %s: %s", type(exc).__name__, exc)
            return conn

    def _outcome(self, conn: C, unknown: CommitUnknown, deadline: float) -> tuple[C, bool | None]:
        """Whether the transaction whose COMMIT broke did commit, asked on a new connection."""
        if unknown.check is None:  # nothing can tell: a new connection, and the error
            return self._reconnect(conn), None
        pause = 0.01
        fresh = False
        while True:
            try:
                if not fresh:
                    conn = self._reconnect(conn)
                    fresh = True
                committed = unknown.check(conn)
                if committed is not None:
                    return conn, committed
            except Exception as exc:
                fresh = False
                log.warning("checking a commit failed: %s: %s", type(exc).__name__, exc)
            if time.monotonic() >= deadline:
                return conn, None
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _reconnect(self, conn: C) -> C:
        try:
            self._backend.close(conn)
        except Exception:
            pass
        return self._backend.connect()

    def _apply(self, conn: C, batch: list[_Item]) -> list[object]:
        """Runs the batch's operations in order; consecutive pipelined ones send all their
        statements before any result is read."""
        pipeline: Callable[[C, bool], None] | None = getattr(self._backend, "pipeline", None)
        if pipeline is None:
            return _apply_runs(conn, batch)
        results: list[object] = []
        receive: list[Callable[[], object]] = []
        for fn, _, _, _ in batch:
            if isinstance(fn, Pipelined):
                if not receive:
                    pipeline(conn, True)
                receive.append(fn.send(conn))
                continue
            if receive:
                results.extend(_receive_all(receive))
                receive = []
            pipeline(conn, False)
            results.append(fn(conn))
        results.extend(_receive_all(receive))
        return results

    def _transaction(self, conn: C, batch: list[_Item]) -> list[object]:
        write = any(item[1] for item in batch)
        one_trip: Callable[..., list[object] | None] | None = self._one_trip
        if one_trip is not None and write:
            ops = [fn for fn, _, _, _ in batch if type(fn) is Pipelined and fn.recover]
            if len(ops) == len(batch):
                try:
                    done = one_trip(conn, [fn.send for fn in ops], _nothing)
                except CommitUnknown as unknown:
                    if unknown.check is None:
                        recovers = [fn.recover for fn in ops if fn.recover is not None]
                        unknown.check = functools.partial(_recovered, recovers, unknown)
                    raise
                except Exception as exc:
                    if self._backend.retryable(exc):
                        raise
                    done = None  # nothing was sent (a value it cannot bind): the usual way
                if done is not None:
                    return done
        self._backend.begin(conn, write)
        try:
            # Operations rarely fail: run the batch plainly, and only when one raises, undo
            # it and run it again with each operation in a savepoint (two statements fewer
            # per operation on the common path).
            final = self._apply(conn, batch)
        except Exception as exc:
            if len(batch) == 1 or self._backend.retryable(exc):
                raise
            self._backend.rollback(conn)
            self._backend.begin(conn, write)
            results = []
            for fn, _, _, _ in batch:
                self._backend.savepoint(conn, "SAVEPOINT plait_op")
                try:
                    results.append(fn(conn))
                except Exception as error:
                    if self._backend.retryable(error):
                        raise
                    self._backend.savepoint(conn, "ROLLBACK TO SAVEPOINT plait_op")
                    results.append(_Failure(error))
                self._backend.savepoint(conn, "RELEASE SAVEPOINT plait_op")
            final = [r.error if isinstance(r, _Failure) else r for r in results]
        try:
            self._backend.commit(conn)
        except CommitUnknown as unknown:
            unknown.results = final
            raise
        return final


class ExecutorPool:
    """Several :class:`BatchExecutor` threads, each with its own connection; every operation
    goes to the one with the fewest operations in flight (ties in turn). A lock wait or a
    slow statement on one connection then does not hold up the others."""

    def __init__(self, members: list[BatchExecutor[Any]]) -> None:
        if not members:
            raise ValueError("an executor pool needs at least one executor")
        self._members = members
        self._load = [0] * len(members)
        self._turn = 0

    async def start(self) -> None:
        results = await asyncio.gather(*(m.start() for m in self._members), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.close()
            raise errors[0]

    async def run(self, fn: Callable[[Any], T], *, write: bool = True) -> T:
        n = len(self._members)
        i = min(range(n), key=lambda k: (self._load[k], (k - self._turn) % n))
        self._turn = (i + 1) % n
        self._load[i] += 1
        try:
            return await self._members[i].run(fn, write=write)
        finally:
            self._load[i] -= 1

    def set_commit_hook(self, hook: Callable[[], None] | None) -> None:
        for member in self._members:
            member.set_commit_hook(hook)

    async def close(self) -> None:
        await asyncio.gather(*(m.close() for m in self._members), return_exceptions=True)


def _apply_runs(conn: Any, batch: list[_Item]) -> list[object]:
    """Runs the batch's operations in order, each run of consecutive :class:`Batched` ones
    of the same kind in one call."""
    results: list[object] = []
    i, n = 0, len(batch)
    while i < n:
        fn = batch[i][0]
        i += 1
        if type(fn) is not Batched:
            results.append(fn(conn))
            continue
        many, args = fn.many, [fn.arg]
        while i < n:
            more = batch[i][0]
            if type(more) is not Batched or more.many != many:
                break
            args.append(more.arg)
            i += 1
        results.extend(many(conn, args))
    return results


def _receive_all(receive: list[Callable[[], object]]) -> list[object]:
    """Calls the receive halves in order, then the ``Later`` ones they returned, round by
    round: each round's statements went out before any of its reads."""
    results = [r() for r in receive]
    later = [i for i, r in enumerate(results) if isinstance(r, Later)]
    while later:
        for i in later:
            step = results[i]
            assert isinstance(step, Later)
            results[i] = step.receive()
        later = [i for i in later if isinstance(results[i], Later)]
    return results


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _cause(error: Exception) -> Exception:
    if isinstance(error, CommitUnknown) and isinstance(error.__cause__, Exception):
        return error.__cause__
    return error


def _resolve_all(
    pairs: list[tuple[asyncio.Future[Any], object]], hook: Callable[[], None] | None
) -> None:
    for fut, result in pairs:
        if fut.cancelled():
            continue
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)
    if hook is not None:
        try:
            hook()
        except Exception:  # a hint must never fail the writes that sent it
            log.exception("a commit hook failed")


def _nothing(conn: object) -> None:
    return None


def _recovered(
    recovers: list[Callable[[Any], tuple[bool, object]]], unknown: CommitUnknown, conn: object
) -> bool:
    """Whether a one-trip batch whose link broke committed: it did if any operation's writes
    are there (one transaction: all or none); its results are then read afresh. If none
    are, it did not, or every operation was refused and wrote nothing: running it again is
    safe either way."""
    found = [recover(conn) for recover in recovers]
    committed = any(written for written, _ in found)
    log.warning(
        "the link broke after a batch's COMMIT was sent; it %s",
        "had committed" if committed else "had not committed: running it again",
    )
    if committed:
        unknown.results = [result for _, result in found]
    return committed
