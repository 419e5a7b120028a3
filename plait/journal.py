"""The internal durable-operation API: one run's journal cursor, its fence and its end.

A workflow run replays its journal from the top. Every durable operation (a step, a wait, a
child, a human task, a recorded value; next, a model call) is built on a :class:`Journal`:

1. ``reserve(kind, name, fingerprint)`` takes the next sequence number *synchronously, at
   the call site*, so the positions of operations started together under ``asyncio.gather``
   follow program order, not scheduling order. It returns the entry recorded there, if any,
   after checking it: its kind and name must match, and a recorded fingerprint must equal
   the caller's; otherwise the run is blocked with ``NondeterminismError``.
2. A recorded entry is replayed by the operation itself (its outcome returned or raised).
3. Otherwise the operation calls ``interrupts`` first (suspension, shutdown, cancellation),
   runs for real, and commits its outcome through ``record`` (or its own fenced store
   call through ``store_call``) before the workflow goes on.
4. A wait that cannot finish now ``park``s. When every operation in flight has parked, the
   run suspends: the parked awaits are unwound with ``_Suspend`` (a ``BaseException``, so
   ``except Exception`` in user code cannot swallow it).
5. Every operation calls ``done()`` when it ends, however it ends.

Cancellation is delivered once, at the first durable operation that is not a replay, as
``asyncio.CancelledError``; the position is journaled so a replay raises it at the same place.

When the run's coroutine has ended, ``conclude(result)`` turns what it returned or raised,
with what the journal saw, into one :mod:`plait.outcome` for the worker to settle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from plait.errors import (
    NondeterminismError,
    PlaitError,
    SerializationError,
    _LeaseLost,
    _Released,
    _StoreUnavailable,
    _Suspend,
)
from plait.outcome import (
    Blocked,
    Cancelled,
    Completed,
    ContinuedAsNew,
    Failed,
    Outcome,
    Released,
    Suspended,
)
from plait.store.records import Attempt, Claimed, Entry, Fence, LeaseLostError, Wait
from plait.types import EntryStatus

if TYPE_CHECKING:
    from plait.engine import Engine

T = TypeVar("T")

log = logging.getLogger("plait.workflow")

# Recorded values: journaled, but they never wait, so they are not "in flight".
VALUE_KINDS = frozenset(("now", "uuid", "random", "patch"))


class ContinueAsNew(BaseException):
    """Raised by ``ctx.continue_as_new``: ends the run so a new one starts with ``input``.

    A ``BaseException`` so that ``except Exception`` in workflow code does not stop it."""

    def __init__(self, input: str, input_hash: str) -> None:
        super().__init__("continue as new")
        self.input = input
        self.input_hash = input_hash


def mark(exc: BaseException, seq: int) -> BaseException:
    """Tags an error with the journal position that raised it (``resume`` starts there)."""
    exc.plait_seq = seq  # type: ignore[attr-defined]
    return exc


class _Parked:
    """A wait parked until a signal or its time (a plain class: a dataclass is compiled at
    import)."""

    __slots__ = ("future", "signals", "wake_at")

    def __init__(
        self, future: asyncio.Future[None], signals: tuple[str, ...], wake_at: int | None
    ) -> None:
        self.future = future
        self.signals = signals
        self.wake_at = wake_at


class Journal:
    """One run of one workflow: the recorded entries, the cursor, the fence, the flags that
    decide how the run ends. Made by the worker for each claim."""

    def __init__(self, engine: Engine, claimed: Claimed, worker_id: str) -> None:
        self.engine = engine
        # The engine's clock, read directly (about 15 reads per workflow of five steps).
        self.now_ms: Callable[[], int] = engine.clock.now_ms
        self.workflow_id = claimed.id
        self.workflow_name = claimed.name
        self.workflow_version = claimed.version
        self.run = claimed.run
        self.queue = claimed.queue
        self.parent_id = claimed.parent_id
        self.attempt = claimed.attempt
        self.fence = Fence(claimed.id, claimed.attempt, worker_id, engine.lease_ms)
        recorded = claimed.journal
        self._entries: dict[int, Entry] = {e.seq: e for e in recorded} if recorded else {}
        # After a continue_as_new, positions go on from the last run's (unique ids).
        self._max_recorded = max(self._entries, default=claimed.seq_base)
        self._next = claimed.seq_base + 1
        self._pending: list[Entry] = []
        self._status: tuple[str | None, str | None] | None = None
        self._live = 0
        self._parked: list[_Parked] = []
        self._quiescence_scheduled = False
        self._cancel_requested = claimed.cancel_requested
        self._cancel_delivered = bool(recorded) and any(
            e.status == EntryStatus.CANCELLED for e in recorded
        )
        self._suspending = False
        self._suspended = False  # the store already recorded the suspension
        self._draining = False
        self._blocked: PlaitError | None = None
        self._started = False  # the run's coroutine runs (start)
        self._ended = False  # ... and has returned or raised (end)
        self._task: asyncio.Task[Any] | None = None

    # -- the cursor ----------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        """The position the next durable operation will take."""
        return self._next

    @property
    def is_replaying(self) -> bool:
        """True while the run is re-reading operations the journal already holds."""
        return self._next <= self._max_recorded

    def reserve(
        self,
        kind: str,
        name: str,
        fingerprint: str | None = None,
        *,
        explain: Callable[[str, str | None], str] | None = None,
    ) -> tuple[int, Entry | None]:
        """Takes the next sequence number; returns it with the entry recorded there.

        Raises ``NondeterminismError`` (and blocks the run) when the recorded entry is of
        another kind or name, or carries a fingerprint other than ``fingerprint``;
        ``explain(recorded, fingerprint)`` then says what changed, for the message."""
        if self._blocked is not None:
            raise self._blocked
        if self._suspending:
            raise _Suspend()
        seq = self._next
        self._next += 1
        entry = self._entries.get(seq)
        if entry is not None and (
            entry.kind != kind
            or entry.name != name
            or (entry.fingerprint is not None and entry.fingerprint != fingerprint)
        ):
            raise self._mismatch(seq, entry, kind, name, fingerprint, explain)
        if kind not in VALUE_KINDS:
            self._live += 1
        return seq, entry

    def _mismatch(
        self,
        seq: int,
        entry: Entry,
        kind: str,
        name: str,
        fingerprint: str | None,
        explain: Callable[[str, str | None], str] | None = None,
    ) -> NondeterminismError:
        if entry.kind == kind and entry.name == name and explain is not None:
            assert entry.fingerprint is not None
            what = (
                f"the journal recorded {kind} {name!r}, but the code now calls it with "
                f"another request: {explain(entry.fingerprint, fingerprint)}"
            )
        elif entry.kind == kind and entry.name == name:
            what = (
                f"the journal recorded {kind} {name!r} with fingerprint {entry.fingerprint!r}, "
                f"but the code now calls it with fingerprint {fingerprint!r} (its request "
                "changed)"
            )
        else:
            what = (
                f"the journal recorded {entry.kind} {entry.name!r}, but the code now calls "
                f"{kind} {name!r}"
            )
        self._blocked = NondeterminismError(
            f"workflow {self.workflow_id!r} does not replay its journal: at position {seq} "
            f"{what}. Restore the old code path, or guard the change with "
            "ctx.patched(...), then resume the workflow",
            position=seq,
            recorded=f"{entry.kind} {entry.name!r}",
            called=f"{kind} {name!r}",
        )
        return self._blocked

    def patched(self, patch_id: str) -> bool:
        """The cursor side of ``ctx.patched``: True where the new code runs."""
        if self._blocked is not None:
            raise self._blocked
        seq = self._next
        entry = self._entries.get(seq)
        if entry is not None and entry.kind == "patch" and entry.name == patch_id:
            self._next += 1
            return True
        if entry is not None or seq <= self._max_recorded:
            return False  # this run passed here before the patch: keep the old path
        self.reserve("patch", patch_id)
        now = self.now_ms()
        self.add_value(
            Entry(seq, "patch", patch_id, EntryStatus.COMPLETED, started_at=now, completed_at=now)
        )
        return True

    def deprecate_patch(self, patch_id: str) -> None:
        """The cursor side of ``ctx.deprecate_patch``: a ``patch`` marker of ``patch_id``
        recorded here is passed over; nothing is recorded where there is none."""
        if self._blocked is not None:
            raise self._blocked
        entry = self._entries.get(self._next)
        if entry is not None and entry.kind == "patch" and entry.name == patch_id:
            self._next += 1

    def done(self) -> None:
        """An operation reserved with ``reserve`` (not a value) ended, however it ended."""
        self._live -= 1
        self._check_quiescent()

    # -- quiescence ----------------------------------------------------------------------
    def _check_quiescent(self) -> None:
        if self._parked and self._live == len(self._parked) and not self._quiescence_scheduled:
            self._quiescence_scheduled = True
            asyncio.get_running_loop().call_soon(self._quiescence_pass, 0)

    def _quiescence_pass(self, n: int) -> None:
        # Give tasks that are ready a few loop turns to start new operations first.
        ended = self._ended or (self._task is not None and self._task.done())
        if not (self._parked and self._live == len(self._parked)) or self._suspending or ended:
            # A run that already returned or raised (e.g. caught an error from gather beside
            # a parked wait) has ended: its leftover waits are dropped, not suspended on.
            self._quiescence_scheduled = False
            return
        if n < 3:
            asyncio.get_running_loop().call_soon(self._quiescence_pass, n + 1)
            return
        self._quiescence_scheduled = False
        self._suspending = True
        for p in self._parked:
            if not p.future.done():
                p.future.set_exception(_Suspend())

    async def park(self, signals: tuple[str, ...], wake_at: int | None) -> None:
        """Waits until the run suspends (raises ``_Suspend``): for ``signals`` and/or
        ``wake_at``, which become part of the run's wait plan."""
        parked = _Parked(asyncio.get_running_loop().create_future(), signals, wake_at)
        self._parked.append(parked)
        self._check_quiescent()
        await parked.future  # only ever completes by raising _Suspend

    @property
    def alone(self) -> bool:
        """True when the calling operation is the only one in flight and nothing is parked:
        a wait that cannot finish may suspend the run in its own transaction."""
        return self._started and self._live == 1 and not self._parked

    def suspended_by_store(self, entry: Entry) -> _Suspend:
        """A wait's own transaction suspended the run (see ``alone``): remembers ``entry``
        and returns the exception that unwinds the run."""
        self._entries[entry.seq] = entry
        self._suspending = self._suspended = True
        return _Suspend()

    # -- interrupts ----------------------------------------------------------------------
    @property
    def draining(self) -> bool:
        """True once the worker is stopping: operations stop at their next durable point."""
        return self._draining

    def drain(self) -> None:
        """The worker is stopping: hand the workflow back at its next durable point."""
        self._draining = True

    def request_cancel(self) -> None:
        """Someone cancelled the workflow: deliver it at the next durable point."""
        self._cancel_requested = True

    @property
    def may_deliver_cancel(self) -> bool:
        """False once the cancellation was delivered in this workflow (it is delivered once)."""
        return not self._cancel_delivered

    def cancelled_by_store(self, entry: Entry) -> asyncio.CancelledError:
        """A store call delivered the cancellation at ``entry`` (recorded cancelled)."""
        self._entries[entry.seq] = entry
        self._cancel_delivered = True
        return asyncio.CancelledError()

    @property
    def interrupting(self) -> bool:
        """True when ``interrupts`` would raise (or deliver the cancellation): a caller on the
        hot path checks this first and skips the call (and its coroutine) otherwise."""
        return (
            self._suspending
            or self._draining
            or (self._cancel_requested and not self._cancel_delivered)
        )

    async def interrupts(self, seq: int, entry: Entry | None, kind: str, name: str) -> None:
        """Runs before an operation executes for real: suspension, shutdown, cancellation."""
        if self._suspending:
            raise _Suspend()
        if self._draining:
            raise _Released()
        if self._cancel_requested and not self._cancel_delivered:
            self._cancel_delivered = True
            now = self.now_ms()
            mark_ = Entry(seq, kind, name, EntryStatus.CANCELLED, started_at=now, completed_at=now)
            store = self.engine.store
            if entry is None:
                await self.store_call(
                    store.record(
                        self.fence, now, [*self.take_pending(), mark_], [], self.take_status()
                    )
                )
            else:
                await self.store_call(
                    store.record(
                        self.fence,
                        now,
                        self.take_pending(),
                        [],
                        self.take_status(),
                        updates=[
                            dataclasses.replace(
                                entry, status=EntryStatus.CANCELLED, completed_at=now
                            )
                        ],
                    )
                )
            self._entries[seq] = mark_
            raise asyncio.CancelledError()

    # -- writing -------------------------------------------------------------------------
    def take_pending(self) -> list[Entry]:
        """Recorded values not yet written: every store call of the run carries them."""
        pending, self._pending = self._pending, []
        return pending

    def take_status(self) -> tuple[str | None, str | None] | None:
        """The last ``set_status`` not yet written, if any."""
        status, self._status = self._status, None
        return status

    def set_status(self, text: str | None, attributes: str) -> None:
        self._status = (text, attributes)

    def add_value(self, entry: Entry) -> None:
        """A recorded value: journaled with the run's next write."""
        self._pending.append(entry)
        self._entries[entry.seq] = entry

    def remember(self, entry: Entry) -> None:
        """``entry`` was written by an operation's own store call."""
        self._entries[entry.seq] = entry

    async def store_call(self, awaitable: Awaitable[T]) -> T:
        """Awaits a fenced store call of this run. A lost lease stops the run (``_LeaseLost``);
        a failing database stops it too (``_StoreUnavailable``); plait errors pass."""
        try:
            return await awaitable
        except Exception as exc:
            raise self.store_failed(exc)  # noqa: B904 - store_failed sets the cause

    def store_failed(self, exc: Exception) -> BaseException:
        """What a fenced store call of this run that raised ``exc`` raises instead (see
        ``store_call``; for a caller that awaits the store itself)."""
        if isinstance(exc, LeaseLostError):
            lost = _LeaseLost()
            lost.__cause__ = None  # from None
            return lost
        if isinstance(exc, PlaitError):
            return exc
        # the database, not the workflow, failed
        log.error(
            "workflow %s: the store failed (%s: %s); stopping this run",
            self.workflow_id,
            type(exc).__name__,
            exc,
        )
        unavailable = _StoreUnavailable()
        unavailable.__cause__ = exc
        return unavailable

    def recorded(self, entry: Entry, cancel_requested: bool) -> None:
        """``entry`` was committed by a store call that answered ``cancel_requested``."""
        self._cancel_requested |= cancel_requested
        self._entries[entry.seq] = entry

    @property
    def dirty(self) -> bool:
        """True when recorded values or a status wait to be written (``flush`` writes them)."""
        return bool(self._pending) or self._status is not None

    async def flush(self) -> None:
        """Writes the pending values and status, if any (before an operation's effects, so
        what it was given is durable first)."""
        if self._pending or self._status is not None:
            self._cancel_requested |= await self.store_call(
                self.engine.store.record(
                    self.fence, self.now_ms(), self.take_pending(), [], self.take_status()
                )
            )

    async def record(
        self, entry: Entry | None, attempts: Iterable[Attempt] = (), at: int | None = None
    ) -> None:
        """Commits an operation's outcome ``entry`` (and its attempts) with the pending
        values and status, in one fenced transaction."""
        entries = self.take_pending()
        if entry is not None:
            entries.append(entry)
        now = at if at is not None else self.now_ms()
        self._cancel_requested |= await self.store_call(
            self.engine.store.record(self.fence, now, entries, list(attempts), self.take_status())
        )
        if entry is not None:
            self._entries[entry.seq] = entry

    # -- reading -------------------------------------------------------------------------
    def block(self, exc: PlaitError) -> PlaitError:
        """The run cannot go on with this code: it ends ``blocked`` with ``exc``."""
        self._blocked = exc
        return exc

    def decode(self, stored: str | None, annotation: Any, what: str) -> Any:
        """A recorded value decoded as ``annotation``; a misfit blocks the run."""
        try:
            return self.engine.codec.decode(stored, annotation, what=what)
        except SerializationError as exc:
            self._blocked = exc
            raise

    def value(self, kind: str, make: Callable[[], Any], annotation: Any) -> Any:
        """A value made once and journaled (``ctx.now()``, ``uuid``, ``random``)."""
        seq, entry = self.reserve(kind, kind)
        if entry is not None:
            return self.decode(entry.output, annotation, f"ctx.{kind}()")
        value = make()
        now = self.now_ms()
        self.add_value(
            Entry(
                seq,
                kind,
                kind,
                EntryStatus.COMPLETED,
                output=self.engine.codec.encode(value, what=f"ctx.{kind}()"),
                started_at=now,
                completed_at=now,
            )
        )
        return value

    # -- waiting -------------------------------------------------------------------------
    async def wait(
        self,
        seq: int,
        entry: Entry | None,
        kind: str,
        name: str,
        signals: tuple[str, ...],
        wake_at: int | None,
    ) -> dict[str, Any] | None:
        """Waits durably for ``signals`` and/or ``wake_at``; returns the completed entry's
        output: ``{"signal", "payload"}``, ``{"timeout": True}``, or ``None`` for a timer."""
        if entry is not None and entry.status == EntryStatus.COMPLETED:
            return None if entry.output is None else dict(json.loads(entry.output))
        if entry is not None and entry.status == EntryStatus.CANCELLED:
            raise asyncio.CancelledError()
        await self.interrupts(seq, entry, kind, name)
        create = entry is None
        now = self.now_ms()
        if entry is None:
            entry = Entry(seq, kind, name, EntryStatus.WAITING, wake_at=wake_at, started_at=now)
        if not create and not signals and entry.wake_at is not None and entry.wake_at > now:
            await self.park(signals, entry.wake_at)  # a timer not due yet: no store call
        # With nothing else in flight, a wait that cannot finish suspends the workflow in the
        # same transaction (one commit instead of two).
        alone = self.alone
        outcome = await self.store_call(
            self.engine.store.wait(
                self.fence,
                self.now_ms(),
                self.take_pending(),
                entry,
                signals,
                create,
                suspend=alone,
                status=self.take_status() if alone else None,
            )
        )
        if outcome.state == "suspended":
            raise self.suspended_by_store(entry)
        if outcome.state == "park":
            self._entries[seq] = entry
            await self.park(signals, entry.wake_at)
        if outcome.state == "signal":
            result: dict[str, Any] | None = {
                "signal": outcome.signal_name,
                "payload": outcome.payload,
            }
        else:
            result = {"timeout": True} if signals else None
        self._entries[seq] = dataclasses.replace(
            entry,
            status=EntryStatus.COMPLETED,
            output=None if result is None else json.dumps(result),
        )
        return result

    # -- the end -------------------------------------------------------------------------
    def start(self, task: asyncio.Task[Any] | None = None) -> None:
        """The run's coroutine runs: as ``task``, or in the caller's task until ``end()``
        (a wait alone in flight may then suspend it in its own transaction; quiescence
        ignores a run that has ended)."""
        self._started = True
        self._task = task

    def end(self) -> None:
        """The run's coroutine, started with ``start()`` and no task, returned or raised."""
        self._ended = True

    def conclude(self, result: object) -> Outcome:
        """How the run ended, from what its coroutine returned or raised (``result``).

        Raises ``_LeaseLost``: a run that lost its lease writes nothing more."""
        if isinstance(result, _LeaseLost):
            raise result
        # A run that ended by unwinding suspends; so does one that returned after its
        # parked waits were unwound (gather(..., return_exceptions=True) hands the
        # suspension back as a value): its result is not real, and a replay is safe.
        # One that raised while a sibling wait was parked has ended for good.
        swallowed = self._suspending and not isinstance(result, BaseException)
        if (isinstance(result, _Suspend) or swallowed) and self._blocked is None:
            return Suspended(self._wait_plan(), recorded=self._suspended)
        if isinstance(result, _Released) or (
            self._draining and isinstance(result, asyncio.CancelledError)
        ):
            return Released()
        if self._blocked is not None:
            return Blocked(self._blocked)
        if isinstance(result, asyncio.CancelledError) and self._cancel_delivered:
            return Cancelled()
        if isinstance(result, ContinueAsNew):
            return ContinuedAsNew(result.input, result.input_hash)
        if isinstance(result, BaseException):
            return Failed(result)
        try:
            output = self.engine.codec.encode(result, what=f"workflow {self.workflow_name!r}")
        except SerializationError as exc:
            return Failed(exc)
        return Completed(output)

    def _wait_plan(self) -> Wait:
        """What the suspended run waits for: the union of its parked waits."""
        signals: list[str] = []
        until: int | None = None
        for p in self._parked:
            signals.extend(s for s in p.signals if s not in signals)
            if p.wake_at is not None:
                until = p.wake_at if until is None else min(until, p.wake_at)
        return Wait(tuple(signals), until)


__all__ = ["VALUE_KINDS", "ContinueAsNew", "Journal", "mark"]
