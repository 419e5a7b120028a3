"""The durable model call: ``plait.ai.chat`` (and ``ctx.ai.chat``).

In workflow code a call is a durable operation of journal kind ``model``
(:mod:`plait.ai.durable`): it reserves its position at the call site, and a replay returns
the recorded answer without calling (or paying for) the model again; a replay whose request
changed blocks the workflow, naming what changed. Elsewhere (a step, a script) it is a
plain call. How one call runs (re-asks, retries, limits, budget, ledger rows) is
:mod:`plait.ai.call`.

A call that fails for good is journaled as failed and raises the same error on every
replay: the model's error (``ModelUnavailable``, ``ModelAuthError``, ``BudgetExceeded``, ...)
or ``StepFailed`` when the answer never fit ``output``.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar, overload

import pydantic

from plait.ai.call import ChatResult, prepare
from plait.ai.durable import start
from plait.ai.model import Model
from plait.ai.retrying import ModelRetry
from plait.ai.toolspec import Tool
from plait.ai.types import Message, OnToken, ToolSpec
from plait.current import journal_var
from plait.definitions import StepDef

T = TypeVar("T", bound=pydantic.BaseModel)

__all__ = ["ChatResult", "Messages", "Tools", "chat"]

# -- the public verbs --------------------------------------------------------------------
Messages = str | Sequence[Message | dict[str, Any] | str]
Tools = Iterable[Tool | StepDef[..., Any] | ToolSpec]


@overload
def chat(
    model: Model | str | None,
    messages: Messages,
    *,
    output: type[T],
    tools: Tools = (),
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    reasks: int = 2,
    retry: ModelRetry | None = None,
    budget_usd: float | None = None,
    on_token: OnToken | None = None,
    name: str | None = None,
) -> Coroutine[Any, Any, ChatResult[T]]: ...


@overload
def chat(
    model: Model | str | None,
    messages: Messages,
    *,
    output: None = None,
    tools: Tools = (),
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    reasks: int = 2,
    retry: ModelRetry | None = None,
    budget_usd: float | None = None,
    on_token: OnToken | None = None,
    name: str | None = None,
) -> Coroutine[Any, Any, ChatResult[None]]: ...


def chat(
    model: Model | str | None,
    messages: Messages,
    *,
    output: type[pydantic.BaseModel] | None = None,
    tools: Tools = (),
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    reasks: int = 2,
    retry: ModelRetry | None = None,
    budget_usd: float | None = None,
    on_token: OnToken | None = None,
    name: str | None = None,
) -> Coroutine[Any, Any, ChatResult[Any]]:
    """Asks ``model`` (``None``: ``Engine(model=...)`` or ``PLAIT_MODEL``). In workflow code
    the call is journaled (a replay returns the recorded answer; a changed request blocks
    the workflow); elsewhere it is a plain call. ``output`` (a Pydantic model) asks for a
    JSON object and validates it, re-asking up to ``reasks`` times with the error.
    ``budget_usd`` bounds what the workflow's model calls may cost in all; ``on_token``
    sees the answer's text as it streams (in this process only). ``name`` is the call's
    journal name (default: the output class's name, or ``"chat"``)."""
    journal = journal_var.get()
    call = prepare(
        journal,
        model,
        messages,
        output=output,
        tools=tools,
        temperature=temperature,
        max_tokens=max_tokens,
        stop=stop,
        reasks=reasks,
        retry=retry,
        budget_usd=budget_usd,
        on_token=on_token,
        name=name,
    )
    return start(journal, call)
