"""Token streaming to observers in the worker's own process.

A durable model call that streams (its provider calls ``on_token``) publishes each piece of
text here under its workflow id; ``subscribe(workflow_id)`` receives them, e.g. the pages of
a ``plait server --worker`` process. Nothing here is durable: other processes, and anyone
who subscribes late, see only the final result, which the journal records once. A slow
subscriber loses pieces rather than slowing the call (each subscription buffers
:data:`BUFFER` events).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from plait.frozen import Frozen

log = logging.getLogger("plait.ai")

BUFFER = 10_000


class StreamEvent(Frozen):
    """A piece of a model call's answer (``text``), or its end (``done``). ``seq`` is the
    call's journal position."""

    workflow_id: str
    seq: int | None
    text: str = ""
    done: bool = False


class Subscription:
    """Events of one workflow's model calls: ``async for event in subscription``; close it
    (or use ``async with``) when done."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.queue: asyncio.Queue[StreamEvent] = asyncio.Queue(BUFFER)
        self.dropped = 0

    def put(self, event: StreamEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self.queue.get()

    def close(self) -> None:
        subs = _subscribers.get(self.workflow_id)
        if subs is not None:
            subs.discard(self)
            if not subs:
                del _subscribers[self.workflow_id]

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


_subscribers: dict[str, set[Subscription]] = {}


def subscribe(workflow_id: str) -> Subscription:
    """Receive the tokens of ``workflow_id``'s model calls made in this process from now on."""
    sub = Subscription(workflow_id)
    _subscribers.setdefault(workflow_id, set()).add(sub)
    return sub


def listening(workflow_id: str) -> bool:
    """Whether anyone in this process subscribed to ``workflow_id``."""
    return bool(_subscribers.get(workflow_id))


def publish(event: StreamEvent) -> None:
    """Hands ``event`` to the subscribers of its workflow (never blocks)."""
    for sub in list(_subscribers.get(event.workflow_id, ())):
        sub.put(event)


def observer(
    workflow_id: str | None, seq: int | None, user: Callable[[str], None] | None
) -> Callable[[str], None] | None:
    """The ``on_token`` a call passes its provider: the caller's own observer and the
    workflow's subscribers; ``None`` (no streaming asked of the provider) when neither."""
    if user is None and (workflow_id is None or not listening(workflow_id)):
        return None

    def on_token(text: str) -> None:
        if user is not None:
            try:
                user(text)
            except Exception:  # an observer never fails the call
                log.warning("an on_token observer failed", exc_info=True)
        if workflow_id is not None:
            publish(StreamEvent(workflow_id, seq, text))

    return on_token


def end(workflow_id: str | None, seq: int | None) -> None:
    """The call at ``seq`` ended: subscribers see ``done``."""
    if workflow_id is not None and listening(workflow_id):
        publish(StreamEvent(workflow_id, seq, done=True))
