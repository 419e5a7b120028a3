"""The part of the storage contract every role shares: opening, closing, wake-up hints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from plait.store.migrations import SchemaStatus


class Connection(Protocol):
    """Opening and closing a store, and the wake-up hints between processes."""

    url: str

    async def open(self, *, migrate: bool = True) -> None:
        """Connects; with ``migrate``, first applies the pending migrations."""
        ...

    async def close(self) -> None: ...

    async def schema_status(self) -> SchemaStatus:
        """The database's schema against this plait's migrations (changes nothing)."""
        ...

    async def migrate(self) -> list[int]:
        """Applies the pending migrations; the numbers it applied (an open store)."""
        ...

    def notify(self, queue: str | None) -> None:
        """After a commit that made work runnable on ``queue`` (``None``: any): tell workers
        in other processes. Non-blocking; hints are coalesced and may be dropped."""
        ...

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (on the event loop) when another process sends a hint."""
        ...
