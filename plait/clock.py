"""Clocks: the engine takes every timestamp from one, so tests can skip time.

Times are epoch milliseconds (``int``) inside the engine and the store. ``SystemClock`` reads
the wall clock; ``FakeClock`` only moves when told to (``advance``/``set``), and its
``sleep`` advances it instead of waiting, so a five-day timer runs in microseconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

from plait.types import Duration, to_seconds


class Clock(Protocol):
    """A source of time for the engine."""

    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that moves only when advanced. ``sleep`` advances it and returns at once."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._ms = int(start.timestamp() * 1000)

    def now_ms(self) -> int:
        return self._ms

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._ms / 1000, tz=UTC)

    def advance(self, by: Duration) -> None:
        """Move the clock forward by ``by``."""
        self._ms += int(to_seconds(by, "advance(by=...)") * 1000)

    def set(self, ms: int) -> None:
        """Move the clock to ``ms`` (epoch milliseconds) if that is later than now."""
        self._ms = max(self._ms, ms)

    async def sleep(self, seconds: float) -> None:
        self._ms += int(seconds * 1000)
        await asyncio.sleep(0)


def to_ms(value: datetime) -> int:
    """An aware datetime as epoch milliseconds (naive ones are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def duration_ms(value: Duration, what: str) -> int:
    return int(to_seconds(value, what) * 1000)


__all__ = ["Clock", "FakeClock", "SystemClock", "duration_ms", "to_ms"]
