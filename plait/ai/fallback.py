"""``Fallback``: a model made of models tried in order (a hosted model, then a local one).

A ``Fallback`` is itself a ``Model``: ``complete`` walks the members through
``call_with_retries`` (each member gets its own retries), and the answer's ``model`` names the
member that answered, so the journal and the ledger record who did. When a member is down or
over its limit after its retries, the next one is tried; an auth error or a bad request is
raised (see ``plait.ai.retrying``); when all fail, ``ModelUnavailable``.
"""

from __future__ import annotations

from plait.ai.model import Model
from plait.ai.retrying import ModelRetry, call_with_retries
from plait.ai.types import ChatRequest, ChatResponse, OnToken
from plait.errors import InvalidArguments


class Fallback:
    """``Fallback(primary, backup, ...)``: ask ``primary``; when it cannot answer, the next."""

    def __init__(self, *models: Model, retry: ModelRetry | None = None) -> None:
        if not models:
            raise InvalidArguments("Fallback needs at least one model")
        self.models: tuple[Model, ...] = models
        self.retry = retry

    @property
    def name(self) -> str:
        """The members' names joined by commas, as in ``PLAIT_MODEL``."""
        return ",".join(model.name for model in self.models)

    def __repr__(self) -> str:
        return f"Fallback({', '.join(repr(model) for model in self.models)})"

    async def complete(
        self, request: ChatRequest, *, on_token: OnToken | None = None
    ) -> ChatResponse:
        return await call_with_retries(self, request, retry=self.retry, on_token=on_token)
