"""The two protocols of the AI layer: a chat ``Model`` and an ``Embedder``.

A provider implements ``Model.complete``: one request, one answer, no retries (the retry loop,
fallbacks, rate limits, the journal and the ledger are the layer's, around it). Users call
``chat`` (see ``plait.ai.chat``), which is durable inside a workflow and a plain call outside.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from plait.ai.types import ChatRequest, ChatResponse, OnToken


@runtime_checkable
class Model(Protocol):
    """A chat model. ``name`` is ``provider:model`` (e.g. ``openai:gpt-4o-mini``)."""

    @property
    def name(self) -> str: ...

    async def complete(
        self, request: ChatRequest, *, on_token: OnToken | None = None
    ) -> ChatResponse:
        """Send one request and return the answer; raise a ``ModelError`` subclass on failure."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors (unit length) for similarity and classification."""

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` (synchronously), one vector per text."""
        ...

    async def aembed(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` without blocking the event loop."""
        ...
