"""Queues and limits: how much runs at once, and how fast things start.

- :class:`Queue` declares a queue's limits, given to ``Engine(queues=[...])``: at most
  ``concurrency`` running workflows across all workers, at most ``per_key_concurrency``
  running workflows per concurrency key, and at most ``rate`` starts. The limits are stored
  in the database when the engine opens, so every worker applies the same ones; the claim
  enforces them (``plait/store/limits.py``).
- :func:`limit` is a keyed limiter for the code of a step, typically around a model API
  call: ``async with plait.limit("openai:gpt-4o", per_minute=500):``. Its state lives in the
  database, shared by every worker.

Invariants kept here:
- A :class:`Rate` lets one through every ``per / limit``, evenly spaced, so no window of
  ``per`` ever holds more than ``limit``. There is no burst.
- The keyed limiter's rate holds in real time, not only in the store: a caller that is
  granted a start time but gets to it more than ``LATENESS_MS`` late (a slow transaction, a
  stalled process) gives it up and takes a new one, and the spacing includes that allowance
  (``(per + LATENESS_MS) / limit``).
- A limiter slot is a lease renewed while it is held: a holder that dies frees its slot
  when the lease runs out. A holder takes its slot before its start time, so time spent
  waiting for a slot never spends the rate.
- Waits for a start time sleep on the engine's clock (a fake clock skips them).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import weakref
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from plait.clock import duration_ms
from plait.current import engine_var, journal_var
from plait.errors import ConfigurationError
from plait.frozen import Frozen
from plait.store.records import QueueLimits
from plait.types import Duration
from plait.wakeups import Beacon

if TYPE_CHECKING:
    from plait.engine import Engine

log = logging.getLogger("plait.limits")

# How late after its start time a call may still begin; a later one takes a new start time.
LATENESS_MS = 50


def _positive_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"{what} must be a whole number >= 1, got {value!r}")
    return value


class Rate(Frozen):
    """At most ``limit`` per ``per``: one every ``per / limit``, evenly spaced, so no window
    of ``per`` ever holds more than ``limit``. ``per`` is a ``timedelta`` or seconds."""

    limit: int
    per: Duration = timedelta(seconds=1)

    def __post_init__(self) -> None:
        _positive_int(self.limit, "Rate(limit=...)")
        if self.per_ms < 1:
            raise ConfigurationError(f"Rate(per=...) must be at least 1 ms, got {self.per!r}")

    @property
    def per_ms(self) -> int:
        return duration_ms(self.per, "Rate(per=...)")

    @property
    def interval_ms(self) -> int:
        """The time between two, in milliseconds (rounded up: never faster than the rate)."""
        return -(-self.per_ms // self.limit)


class Queue(Frozen):
    """A queue's limits, for ``Engine(queues=[...])``.

    ``concurrency``: running workflows on the queue at once, across all workers (``None``:
    no limit). ``per_key_concurrency``: running workflows per concurrency key
    (``engine.start(..., concurrency_key=...)``); workflows without a key are not limited by
    it. ``rate``: starts (first runs) of workflows on the queue, e.g. ``plait.Rate(10,
    per=timedelta(minutes=1))``. Waiting workflows hold no slot.
    """

    name: str
    concurrency: int | None = dataclasses.field(default=None, kw_only=True)
    per_key_concurrency: int = dataclasses.field(default=1, kw_only=True)
    rate: Rate | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"a queue name must be a non-empty string, got {self.name!r}")
        if self.concurrency is not None:
            _positive_int(self.concurrency, f"Queue({self.name!r}, concurrency=...)")
        _positive_int(self.per_key_concurrency, f"Queue({self.name!r}, per_key_concurrency=...)")
        if self.rate is not None and not isinstance(self.rate, Rate):
            raise ConfigurationError(
                f"Queue({self.name!r}, rate=...) takes a plait.Rate, not {type(self.rate).__name__}"
            )


def _stored(q: Queue) -> QueueLimits:
    return QueueLimits(
        q.name,
        q.concurrency,
        q.per_key_concurrency,
        None if q.rate is None else q.rate.limit,
        None if q.rate is None else q.rate.per_ms,
    )


def check_queues(queues: Iterable[Queue] | Queue) -> dict[str, Queue]:
    """``Engine(queues=...)``: Queue objects, one per name."""
    found: dict[str, Queue] = {}
    for q in [queues] if isinstance(queues, Queue) else queues:
        if not isinstance(q, Queue):
            raise ConfigurationError(f"Engine(queues=...) takes plait.Queue objects, not {q!r}")
        if q.name in found:
            raise ConfigurationError(f"queue {q.name!r} is declared twice")
        found[q.name] = q
    return found


async def declare_queues(engine: Engine, queues: dict[str, Queue]) -> None:
    """Stores the engine's queue limits; the last engine to declare a queue wins."""
    if not queues:
        return
    changed = await engine.store.configure_queues(
        [_stored(q) for q in queues.values()], engine.clock.now_ms()
    )
    for before, now in changed:
        log.warning(
            "queue %r: another engine declared %s; this engine declares %s, which every "
            "worker now applies (the last engine to open wins)",
            now.name,
            _describe(before),
            _describe(now),
        )


def _describe(q: QueueLimits) -> str:
    rate = "none" if q.rate_limit is None else f"{q.rate_limit} per {q.rate_per_ms} ms"
    return f"concurrency={q.concurrency}, per_key_concurrency={q.per_key_concurrency}, rate={rate}"


# -- the keyed limiter -------------------------------------------------------------------
_releases: weakref.WeakKeyDictionary[Engine, dict[str, Beacon]] = weakref.WeakKeyDictionary()


def _busy() -> float:
    """Seconds to wait before asking again for a key another transaction holds."""
    return random.uniform(0.002, 0.01)


def _release_beacon(engine: Engine, key: str) -> Beacon:
    return _releases.setdefault(engine, {}).setdefault(key, Beacon())


class _Held:
    """One holding of a limit's slot (a plain class: a dataclass is compiled at import)."""

    __slots__ = ("engine", "holder", "renewal", "token_ms", "used")

    def __init__(
        self, engine: Engine, holder: str, renewal: asyncio.Task[None] | None, token_ms: int = 0
    ) -> None:
        self.engine = engine
        self.holder = holder
        self.renewal = renewal
        self.token_ms = token_ms  # the token-rate time reserved (a weighted acquire)
        self.used: int | None = None  # the tokens actually used, once settled


class Acquisition:
    """A weighted acquire of a :class:`Limit` (``async with lim.acquire(tokens=n) as held``):
    ``held.settle(real)`` records what the body really used; on leaving, the difference to
    the reservation is given back (or charged) to the key's token rate."""

    def __init__(self, limit: Limit, tokens: int, engine: Engine | None) -> None:
        self.limit = limit
        self.tokens = tokens
        self._engine = engine
        self._held: _Held | None = None

    def settle(self, tokens: int) -> None:
        """The body used ``tokens`` (e.g. the usage a model reported)."""
        if self._held is not None:
            self._held.used = max(0, int(tokens))

    async def __aenter__(self) -> Acquisition:
        engine = self._engine or self.limit.find_engine()
        self._held = await self.limit.enter(engine, self.tokens)
        return self

    async def __aexit__(self, *exc: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            await self.limit.leave(held)


class Limit:
    """A keyed limiter; made by :func:`limit`, used with ``async with`` (or
    ``async with lim.acquire(tokens=n)`` for a weighted acquire). One object may be entered
    by many tasks at once (e.g. a module-level ``OPENAI = plait.limit(...)``)."""

    def __init__(
        self,
        key: str,
        *,
        rate: Rate | None,
        concurrency: int | None,
        lease: Duration,
        engine: Engine | None,
        tokens: Rate | None = None,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"a limit key must be a non-empty string, got {key!r}")
        if rate is None and concurrency is None and tokens is None:
            raise ConfigurationError(
                f"plait.limit({key!r}) needs a rate (per_second=, per_minute=, per_hour= or "
                "rate=), tokens_per_minute= or concurrency="
            )
        for given, what in ((rate, "rate"), (tokens, "tokens")):
            if given is not None and not isinstance(given, Rate):
                raise ConfigurationError(
                    f"plait.limit({what}=...) takes a plait.Rate, not {given!r}"
                )
        if concurrency is not None:
            _positive_int(concurrency, f"plait.limit({key!r}, concurrency=...)")
        self.key = key
        self.rate = rate
        self.tokens = tokens
        self.concurrency = concurrency
        self.lease_ms = duration_ms(lease, "plait.limit(lease=...)")
        if self.lease_ms < 300:
            raise ConfigurationError("plait.limit(lease=...) must be at least 0.3 s")
        self._engine = engine
        self._held: dict[asyncio.Task[object] | None, list[_Held]] = {}

    def __repr__(self) -> str:
        return (
            f"<plait limit {self.key!r} rate={self.rate} tokens={self.tokens} "
            f"concurrency={self.concurrency}>"
        )

    def find_engine(self) -> Engine:
        """The engine this limiter works with: the one given, or the running step's."""
        if self._engine is not None:
            return self._engine
        if journal_var.get() is not None:
            raise ConfigurationError(
                f"plait.limit({self.key!r}) belongs in a step: in workflow code it would wait "
                "again on every replay. Use it in the step that calls the API."
            )
        engine = engine_var.get()
        if engine is None:
            raise ConfigurationError(
                f"plait.limit({self.key!r}) is used outside a step; pass the engine: "
                f"plait.limit({self.key!r}, ..., engine=engine)"
            )
        return engine

    @property
    def interval_ms(self) -> int | None:
        """The time between two starts: ``per / limit``, plus a share of the lateness a
        caller is allowed, so no window of ``per`` holds more than ``limit`` even then."""
        if self.rate is None:
            return None
        return -(-(self.rate.per_ms + LATENESS_MS) // self.rate.limit)

    @property
    def tokens_key(self) -> str:
        """The store key of the token rate (beside the request rate's ``key``)."""
        return self.key + "#tokens"

    def token_ms(self, tokens: int) -> int:
        """The token-rate time ``tokens`` take: ``tokens * (per + lateness) / limit``."""
        if self.tokens is None or tokens <= 0:
            return 0
        return -(-(tokens * (self.tokens.per_ms + LATENESS_MS)) // self.tokens.limit)

    def acquire(self, tokens: int = 0, *, engine: Engine | None = None) -> Acquisition:
        """A weighted acquire: besides a slot and a start (as ``async with lim``), reserves
        ``tokens`` of the token rate (an estimate); ``settle(real)`` on the returned object
        gives back or charges the difference when the body ends."""
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
            raise ConfigurationError(
                f"acquire(tokens=...) must be a whole number >= 0, got {tokens!r}"
            )
        return Acquisition(self, tokens, engine)

    async def __aenter__(self) -> Limit:
        held = await self.enter(self.find_engine(), 0)
        self._held.setdefault(asyncio.current_task(), []).append(held)
        return self

    async def enter(self, engine: Engine, tokens: int) -> _Held:
        """Takes a slot (``concurrency``), a start (``rate``) and ``tokens`` of the token
        rate, waiting as the limits say; ``leave`` gives them back."""
        holder = os.urandom(16).hex()
        renewal = None
        try:
            if self.concurrency is not None:
                await self._take_slot(engine, holder)
                renewal = asyncio.create_task(self._renew(engine, holder))
            if self.rate is not None:
                await self._take_start(engine, holder, self.key, self.interval_ms)
            token_ms = self.token_ms(tokens)
            if token_ms:
                await self._take_start(engine, holder, self.tokens_key, token_ms)
        except BaseException:
            if renewal is not None:
                renewal.cancel()
            if self.concurrency is not None:
                await asyncio.shield(self._release(engine, holder))
            raise
        return _Held(engine, holder, renewal, token_ms)

    async def _take_slot(self, engine: Engine, holder: str) -> None:
        released = _release_beacon(engine, self.key)
        while True:
            mark = released.mark()
            now = engine.clock.now_ms()
            granted, at = await engine.store.acquire_limit(
                self.key, holder, now, None, self.concurrency, self.lease_ms
            )
            if granted:
                return
            # The key was busy: ask again shortly. Every slot is held: wait for a release
            # in this process, one in another (polled), or the first lease to run out.
            wait = _busy() if at <= now else min(engine.poll_interval, (at - now) / 1000)
            await released.wait(wait, since=mark)

    async def _take_start(
        self, engine: Engine, holder: str, key: str, interval_ms: int | None
    ) -> None:
        clock = engine.clock
        while True:
            granted, start = await engine.store.acquire_limit(
                key, holder, clock.now_ms(), interval_ms, None, self.lease_ms
            )
            if not granted:  # the key was busy
                await asyncio.sleep(_busy())
                continue
            while (left := start - clock.now_ms()) > 0:
                await clock.sleep(left / 1000)
            if clock.now_ms() - start <= LATENESS_MS:
                return
            # Granted too late (a slow transaction, a stalled process): beginning now could
            # crowd the calls after it. The start time is given up; take a new one.

    async def __aexit__(self, *exc: object) -> None:
        task = asyncio.current_task()
        stack = self._held.get(task)
        if not stack:
            return
        held = stack.pop()
        if not stack:
            del self._held[task]
        await self.leave(held)

    async def leave(self, held: _Held) -> None:
        """Gives back what ``enter`` took, and settles the token rate with what was used."""
        if held.renewal is not None:
            held.renewal.cancel()
            with contextlib.suppress(BaseException):
                await held.renewal
        if held.used is not None and held.token_ms:
            delta = self.token_ms(held.used) - held.token_ms
            if delta:
                try:
                    await held.engine.store.settle_limit(
                        self.tokens_key, delta, held.engine.clock.now_ms()
                    )
                except Exception:  # the reservation stands: the limiter errs on the safe side
                    log.warning("could not settle tokens of limit %r", self.key, exc_info=True)
        if self.concurrency is not None:
            # shielded: a cancelled step still gives its slot back
            await asyncio.shield(self._release(held.engine, held.holder))

    async def _release(self, engine: Engine, holder: str) -> None:
        try:
            await engine.store.release_limit(self.key, holder)
        except Exception:  # the lease frees the slot anyway
            log.warning("could not release a slot of limit %r", self.key, exc_info=True)
        _release_beacon(engine, self.key).fire()

    async def _renew(self, engine: Engine, holder: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                kept = await engine.store.renew_limit(
                    self.key, holder, engine.clock.now_ms() + self.lease_ms
                )
            except Exception:
                log.warning("could not renew a slot of limit %r", self.key, exc_info=True)
                continue
            if not kept:
                log.warning(
                    "a slot of limit %r expired before it was renewed (was the process "
                    "stalled longer than its lease?); another holder may have taken it",
                    self.key,
                )
                return


def limit(
    key: str,
    *,
    per_second: int | None = None,
    per_minute: int | None = None,
    per_hour: int | None = None,
    rate: Rate | None = None,
    concurrency: int | None = None,
    tokens_per_minute: int | None = None,
    tokens: Rate | None = None,
    lease: Duration = timedelta(seconds=60),
    engine: Engine | None = None,
) -> Limit:
    """A limiter shared by every worker, for the code of a step::

        async with plait.limit("openai:gpt-4o", per_minute=500):
            reply = await client.chat(...)

    Bodies start at most at the given rate, evenly spaced (``per_minute=500``: one every
    121 ms, ``(per + 50 ms) / limit``, the 50 ms being what a caller may be late), so no
    window of the period ever holds more; with ``concurrency=N``, at most N bodies run at
    once with that key. A held slot is a lease of ``lease``, renewed while held, so a
    crashed holder's slot frees itself. Waits sleep on the engine's clock. Inside a step
    the engine is the one running it; elsewhere pass ``engine=``. Every user of a key
    should give the same limits: the key's state is shared, its limits are what each
    caller passes.

    ``tokens_per_minute=`` (or ``tokens=plait.Rate(...)``) adds a token rate, spent by
    weighted acquires: ``async with lim.acquire(tokens=estimate) as held: ...;
    held.settle(real)`` reserves the estimate before the body starts and settles the real
    count after it (a model call's tokens; ``plait.ai`` does this around every attempt).
    """
    given = [
        r
        for r in (
            None if per_second is None else Rate(per_second, timedelta(seconds=1)),
            None if per_minute is None else Rate(per_minute, timedelta(minutes=1)),
            None if per_hour is None else Rate(per_hour, timedelta(hours=1)),
            rate,
        )
        if r is not None
    ]
    if len(given) > 1:
        raise ConfigurationError(
            f"plait.limit({key!r}) takes one of per_second=, per_minute=, per_hour=, rate="
        )
    if tokens_per_minute is not None and tokens is not None:
        raise ConfigurationError(f"plait.limit({key!r}) takes tokens_per_minute= or tokens=")
    if tokens_per_minute is not None:
        tokens = Rate(tokens_per_minute, timedelta(minutes=1))
    return Limit(
        key,
        rate=given[0] if given else None,
        concurrency=concurrency,
        lease=lease,
        engine=engine,
        tokens=tokens,
    )


__all__ = ["Acquisition", "Limit", "Queue", "Rate", "limit"]
