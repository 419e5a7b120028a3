"""In-process wake-up primitives: :class:`Beacon` (work may be runnable) and :class:`Endings`
(a workflow ended here).

Both are hints that save a poll, never the source of truth: a waiter reads the store after
waking, and polls on a timeout, so a lost hint delays, never loses, work. The one exception
saves a read, not a check: a workflow that completed in this process hands its waiters the
output it stored (``Completion``), fired only after the commit that stored it.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple


class Completion(NamedTuple):
    """A workflow that completed here: its name and its output as stored (committed)."""

    name: str
    output: str | None


class Beacon:
    """An in-process wake-up hint: ``wait`` returns when ``fire`` is called or on timeout.

    Take ``mark()`` before looking for work and pass it to ``wait(since=...)``: a fire that
    happened in between makes the wait return at once, so no hint is lost.
    """

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._generation = 0

    def mark(self) -> int:
        return self._generation

    def fire(self) -> None:
        self._generation += 1
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, timeout: float, since: int | None = None) -> None:
        if since is not None and since != self._generation:
            return
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass


class Endings:
    """Wakes ``result()`` waiters in this process when a workflow ends here: the waiters of
    that workflow only (``fire(id)``), or all of them (``fire()``). One wake-up per waiter,
    instead of every waiter reading the store whenever any workflow ends."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Future[Completion | None]]] = {}

    def __len__(self) -> int:
        return len(self._watchers)

    def watch(self, workflow_id: str) -> asyncio.Future[Completion | None]:
        """A future done when ``workflow_id`` ends here (its ``Completion`` if it completed;
        ``None``: read the store)."""
        ended: asyncio.Future[Completion | None] = asyncio.get_running_loop().create_future()
        self._watchers.setdefault(workflow_id, set()).add(ended)
        return ended

    def unwatch(self, workflow_id: str, ended: asyncio.Future[Completion | None]) -> None:
        watchers = self._watchers.get(workflow_id)
        if watchers is not None:
            watchers.discard(ended)
            if not watchers:
                del self._watchers[workflow_id]

    def fire(self, workflow_id: str | None = None, completion: Completion | None = None) -> None:
        """Wakes the waiters of ``workflow_id`` (all waiters: ``None``); ``completion`` only
        after the commit that stored it."""
        if workflow_id is None:
            groups = list(self._watchers.values())
            self._watchers.clear()
        else:
            groups = [self._watchers.pop(workflow_id, set())]
        for watchers in groups:
            for ended in watchers:
                set_done(ended, completion)


def set_done(
    future: asyncio.Future[Completion | None], completion: Completion | None = None
) -> None:
    """Completes ``future`` unless it is done already (a timer and a fire may race)."""
    if not future.done():
        future.set_result(completion)
