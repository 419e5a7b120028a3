"""One model call, run: its request prepared, re-asks, retries, limits, budget, ledger rows.

:func:`prepare` checks a ``chat(...)`` call's arguments at the call site and builds its
:class:`~plait.ai.types.ChatRequest`; :func:`run` sends it: the first request and, for a
structured ``output``, up to ``reasks`` more with the validation error appended. Each
request goes through :func:`plait.ai.retrying.call_with_retries` (backoff, ``Retry-After``,
fallbacks), each attempt under the engine's rate limit for the model tried, and before
each request the workflow's budget is checked against an estimate (``BudgetExceeded``:
nothing is sent). A ledger row is made per attempt: failed attempts and re-asks are
written as they happen; the answering attempt's row is handed back (``Done.last``) for the
durable operation to write with the journal entry (:mod:`plait.ai.durable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pydantic

from plait.ai import stream
from plait.ai.budget import Prices, check_budget, estimate, estimate_cost
from plait.ai.errors import BudgetExceeded
from plait.ai.model import Model
from plait.ai.retrying import AttemptReport, ModelRetry, call_with_retries
from plait.ai.toolspec import Tool, specs
from plait.ai.types import ChatRequest, ChatResponse, Message, OnToken, ToolCall, ToolSpec, Usage
from plait.current import engine_var, step_var, workflow_var
from plait.definitions import StepDef
from plait.errors import ConfigurationError, StepFailed
from plait.frozen import Frozen
from plait.journal import Journal
from plait.store.records import LedgerRow

if TYPE_CHECKING:
    from plait.engine import Engine

T = TypeVar("T", bound=pydantic.BaseModel)
O = TypeVar("O")  # noqa: E741 - the output type

DEFAULT_TABLE = Prices()
OUTPUT_INVALID = "OutputInvalid"


class ChatResult(Frozen, Generic[O]):
    """What a model call returned. ``output`` is the validated object when ``output=`` was
    given; ``usage`` and ``cost_usd`` cover every request of the call (re-asks too);
    ``model`` names who answered (a fallback, maybe); ``replayed`` is True when the journal
    answered, and then nothing was sent or paid."""

    text: str | None
    output: O
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    cost_usd: float
    model: str
    latency_ms: float
    reasks: int
    replayed: bool = False

    @property
    def message(self) -> Message:
        """The answer as an assistant message, to append to the conversation."""
        return Message(role="assistant", content=self.text, tool_calls=self.tool_calls)


class Call(Frozen):
    """One ``chat(...)`` as prepared at the call site."""

    model: Model
    request: ChatRequest
    output: type[pydantic.BaseModel] | None
    name: str
    reasks: int
    retry: ModelRetry | None
    budget_usd: float | None
    on_token: OnToken | None


class Done(Frozen):
    response: ChatResponse
    output: Any
    last: LedgerRow
    usage: Usage
    cost_usd: float
    latency_ms: float
    reasks: int


class OutputInvalid(Exception):
    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


# -- preparing a call --------------------------------------------------------------------
def messages_of(messages: str | Sequence[Message | dict[str, Any] | str]) -> tuple[Message, ...]:
    if isinstance(messages, str):
        return (Message(role="user", content=messages),)
    out = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, str):
            out.append(Message(role="user", content=m))
        elif isinstance(m, dict):
            try:
                out.append(Message.model_validate(m))
            except pydantic.ValidationError as exc:
                raise ConfigurationError(f"not a chat message: {m!r} ({exc})") from None
        else:
            raise ConfigurationError(
                f"messages are plait.ai.Message objects, dicts or strings, not {m!r}"
            )
    if not out:
        raise ConfigurationError("a model call needs at least one message")
    return tuple(out)


def _engine(journal: Journal | None) -> Engine | None:
    return journal.engine if journal is not None else engine_var.get()


def resolve(model: Model | str | None, engine: Engine | None) -> Model:
    """The model a call uses: the one given, else ``Engine(model=...)``, else
    ``PLAIT_MODEL`` (``ConfigurationError`` naming it when none is set)."""
    from plait.ai.config import resolve_model

    if model is None and engine is not None:
        model = engine.model
    if model is not None and not isinstance(model, str | Model):
        raise ConfigurationError(f"a model is a plait.ai.Model or a spec string, not {model!r}")
    return resolve_model(model)


def prepare(
    journal: Journal | None,
    model: Model | str | None,
    messages: str | Sequence[Message | dict[str, Any] | str],
    *,
    output: type[pydantic.BaseModel] | None,
    tools: Iterable[Tool | StepDef[..., Any] | ToolSpec],
    temperature: float | None,
    max_tokens: int | None,
    stop: Sequence[str],
    reasks: int,
    retry: ModelRetry | None,
    budget_usd: float | None,
    on_token: OnToken | None,
    name: str | None,
) -> Call:
    """Checks a call's arguments and builds its request (nothing is sent)."""
    if output is not None and not (
        isinstance(output, type) and issubclass(output, pydantic.BaseModel)
    ):
        raise ConfigurationError(f"chat(output=...) takes a Pydantic model class, not {output!r}")
    if not isinstance(reasks, int) or isinstance(reasks, bool) or reasks < 0:
        raise ConfigurationError(f"chat(reasks=...) must be a whole number >= 0, got {reasks!r}")
    if isinstance(stop, str):
        stop = (stop,)
    request = ChatRequest(
        messages=messages_of(messages),
        output_schema=None if output is None else output.model_json_schema(),
        output_name=None if output is None else output.__name__,
        tools=specs(tools),
        temperature=temperature,
        max_tokens=max_tokens,
        stop=tuple(stop),
    )
    return Call(
        model=resolve(model, _engine(journal)),
        request=request,
        output=output,
        name=name or (output.__name__ if output is not None else "chat"),
        reasks=reasks,
        retry=retry,
        budget_usd=check_budget(budget_usd),
        on_token=on_token,
    )


# -- running a call ----------------------------------------------------------------------
def parse_output(output: type[T], text: str | None) -> T:
    """``text`` validated as ``output``; a JSON answer wrapped in a Markdown code fence is
    accepted. Raises ``ValueError`` saying what does not fit."""
    if text is None or not text.strip():
        raise ValueError("the answer had no text; a JSON object was asked for")
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        return output.model_validate_json(body)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'the answer'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ValueError(problems) from None


def _reask_prompt(call: Call, problem: str) -> str:
    return (
        f"Your answer does not fit the JSON schema of {call.request.output_name}: {problem}. "
        "Answer again with only a JSON object that fits the schema."
    )


class Ledger:
    """Where a call's rows go: for workflow code, the store, fenced by the run's lease; for a
    call inside a step, the store under the step's workflow and position (the step's result
    is journaled, so a finished step never pays again); elsewhere nowhere."""

    def __init__(
        self,
        engine: Engine | None,
        journal: Journal | None = None,
        seq: int | None = None,
        workflow_id: str | None = None,
        step: str | None = None,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.seq = seq
        self.workflow_id = journal.workflow_id if journal is not None else workflow_id
        self.step = step

    @classmethod
    def for_plain_call(cls, engine: Engine | None) -> Ledger:
        """A call outside workflow code: inside a step, the step's workflow and position."""
        running = step_var.get()
        workflow_id = workflow_var.get()
        if engine is None or running is None or workflow_id is None:
            return cls(engine)
        return cls(engine, None, running[0], workflow_id, running[1])

    def row(self, call: Call, report: AttemptReport, reask: int, prices: Prices) -> LedgerRow:
        response = report.response
        usage = response.usage if response is not None else Usage()
        answered = response.model if response is not None else None
        return LedgerRow(
            workflow_id=self.workflow_id or "",
            seq=self.seq,
            step=self.step or call.name,
            model=report.model,
            answered_by=answered,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=prices.cost(answered or report.model, usage),
            outcome="ok" if report.error is None else type(report.error).__name__,
            reask=reask,
            latency_ms=report.latency_ms,
            at=self.engine.clock.now_ms() if self.engine is not None else 0,
        )

    async def write(self, rows: list[LedgerRow]) -> None:
        j, engine = self.journal, self.engine
        if not rows or engine is None or self.workflow_id is None:
            return
        if j is not None:
            await j.store_call(engine.store.add_ledger(j.fence, j.now_ms(), rows))
        else:
            await engine.store.add_ledger(None, engine.clock.now_ms(), rows)

    async def spent(self) -> float:
        if self.engine is None or self.workflow_id is None:
            return 0.0
        return await self.engine.store.ledger_spent(self.workflow_id)


def guard_for(engine: Engine | None) -> Callable[..., Any] | None:
    limits = engine.ai_limits if engine is not None else {}
    if not limits:
        return None
    assert engine is not None

    @contextlib.asynccontextmanager
    async def guard(
        model_name: str, request: ChatRequest
    ) -> AsyncIterator[Callable[[Usage], None]]:
        lim = limits.get(model_name) or limits.get(model_name.split("@", 1)[0])
        if lim is None:
            yield lambda usage: None
            return
        tokens = estimate(request).total_tokens if lim.tokens is not None else 0
        async with lim.acquire(tokens, engine=engine) as held:
            yield lambda usage: held.settle(usage.total_tokens)

    return guard


async def check_request_budget(
    call: Call, request: ChatRequest, engine: Engine | None, ledger: Ledger, prices: Prices
) -> None:
    budget = call.budget_usd
    if budget is None and engine is not None:
        budget = engine.ai_budget_usd
    if budget is None:
        return
    cost = estimate_cost(prices, call.model, request)
    spent = await ledger.spent()
    if spent + cost > budget:
        whose = (
            f"workflow {ledger.workflow_id!r} has spent {spent:.4f} USD of its "
            if ledger.workflow_id is not None
            else "the call's "
        )
        raise BudgetExceeded(
            f"{whose}budget of {budget:.4f} USD, and this request to {call.model.name} may cost "
            f"up to {cost:.4f} USD (estimated); nothing was sent. Raise the budget "
            "(chat(budget_usd=...) or Engine(ai_budget_usd=...)), or set max_tokens lower",
            model=call.model.name,
        )


async def run(call: Call, engine: Engine | None, ledger: Ledger) -> Done:
    """The requests of one call (the first, then re-asks), each through the retry loop;
    a span of its own when the engine traces (``plait/telemetry``)."""
    tel = engine.telemetry if engine is not None else None
    span = None if tel is None else tel.model_call(call.model.name, call.name)
    if span is None:
        return await _requests(call, engine, ledger)
    try:
        done = await _requests(call, engine, ledger)
    except BaseException as exc:
        span.ended(model=None, input_tokens=0, output_tokens=0, cost_usd=0.0, reasks=0, error=exc)
        raise
    span.ended(
        model=done.response.model,
        input_tokens=done.usage.input_tokens,
        output_tokens=done.usage.output_tokens,
        cost_usd=done.cost_usd,
        reasks=done.reasks,
        error=None,
    )
    return done


async def _requests(call: Call, engine: Engine | None, ledger: Ledger) -> Done:
    prices = (engine.prices if engine is not None else None) or DEFAULT_TABLE
    wid = ledger.workflow_id
    on_token = stream.observer(wid, ledger.seq, call.on_token)
    sleep: Callable[[float], Awaitable[None]] = (
        engine.clock.sleep if engine is not None else asyncio.sleep
    )
    messages = list(call.request.messages)
    usage, cost, latency = Usage(), 0.0, 0.0
    try:
        for reask in range(call.reasks + 1):
            request = call.request.model_copy(update={"messages": tuple(messages)})
            await check_request_budget(call, request, engine, ledger, prices)
            answered: list[LedgerRow] = []

            async def on_attempt(
                report: AttemptReport, reask: int = reask, answered: list[LedgerRow] = answered
            ) -> None:
                row = ledger.row(call, report, reask, prices)
                if report.error is not None:
                    await ledger.write([row])  # a failed attempt: written as it happens
                else:
                    answered.append(row)

            response = await call_with_retries(
                call.model,
                request,
                retry=call.retry,
                on_attempt=on_attempt,
                guard=guard_for(engine),
                on_token=on_token,
                sleep=sleep,
            )
            last = (
                answered[-1]
                if answered
                else ledger.row(
                    call,
                    AttemptReport(response.model, response, None, response.latency_ms),
                    reask,
                    prices,
                )
            )
            usage = Usage(
                input_tokens=usage.input_tokens + response.usage.input_tokens,
                output_tokens=usage.output_tokens + response.usage.output_tokens,
            )
            cost += last.cost_usd
            latency += last.latency_ms
            if call.output is None or response.tool_calls:
                return Done(response, None, last, usage, cost, latency, reask)
            try:
                value = parse_output(call.output, response.text)
            except ValueError as exc:
                await ledger.write([dataclasses.replace(last, outcome="invalid_output")])
                if reask == call.reasks:
                    raise OutputInvalid(
                        f"the model's answer did not fit {call.request.output_name} after "
                        f"{reask} re-ask(s): {exc}",
                        reask + 1,
                    ) from None
                messages += [
                    Message(role="assistant", content=response.text),
                    Message(role="user", content=_reask_prompt(call, str(exc))),
                ]
                continue
            return Done(response, value, last, usage, cost, latency, reask)
        raise AssertionError("unreachable")
    finally:
        stream.end(wid, ledger.seq)


def result(done: Done, replayed: bool = False) -> ChatResult[Any]:
    r = done.response
    return ChatResult(
        text=r.text,
        output=done.output,
        tool_calls=r.tool_calls,
        usage=done.usage,
        cost_usd=done.cost_usd,
        model=r.model,
        latency_ms=done.latency_ms,
        reasks=done.reasks,
        replayed=replayed,
    )


async def plain(call: Call) -> ChatResult[Any]:
    """A call outside workflow code (inside a step, its rows go to the step's workflow)."""
    engine = engine_var.get()
    ledger = Ledger.for_plain_call(engine)
    try:
        done = await run(call, engine, ledger)
    except OutputInvalid as exc:
        raise StepFailed(call.name, OUTPUT_INVALID, str(exc), exc.attempts) from None
    await ledger.write([done.last])
    return result(done)
