"""The durable tool loop: ``plait.ai.run_tools(model, messages, tools=[...])``.

The model is asked with the tools offered; each tool call it proposes runs as its step
(journaled, retried as the step says, at least once with its idempotency key), and the
results go back to the model, until it answers without a tool call or ``max_turns`` model
calls were made (``MaxTurnsExceeded``). In workflow code every model call and every tool is
a journal entry, so a crash at any point resumes the loop without asking the model again or
re-running a tool that finished.

A tool made with ``plait.ai.tool(step, needs_approval=True)`` first becomes a human task
(:class:`ToolApproval`): the person sees the proposed call and its arguments, and approves
it (the arguments maybe edited) or refuses it. A refusal is reported to the model as the
call's result, and so are arguments that do not fit the tool and a tool's failure
(``StepFailed``), so the model can recover.

Tool calls of one answer run one after the other, in the order the model gave them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pydantic
from pydantic import JsonValue

from plait.ai.call import ChatResult, resolve
from plait.ai.chat import Messages, chat
from plait.ai.errors import ModelError
from plait.ai.model import Model
from plait.ai.retrying import ModelRetry
from plait.ai.toolspec import Tool, as_tool, result_text
from plait.ai.types import Message, OnToken, ToolCall, Usage
from plait.current import journal_var
from plait.definitions import StepDef
from plait.errors import ConfigurationError, StepFailed
from plait.frozen import Frozen
from plait.human.ask import ask_human
from plait.journal import Journal


class ToolApproval(pydantic.BaseModel):
    """The human task of a tool call that needs approval: approve it (with the arguments
    as proposed, or edited) or refuse it (``approved=False``, the reason in ``comment``)."""

    approved: bool = True
    arguments: dict[str, JsonValue] = pydantic.Field(default_factory=dict)
    comment: str | None = None


class MaxTurnsExceeded(ModelError):
    """The model still called tools after ``max_turns`` model calls."""


class ToolRun(Frozen):
    """The end of a tool loop: the final answer, the whole conversation (the answer last),
    the number of model calls, and their usage and cost summed."""

    answer: ChatResult[Any]
    messages: tuple[Message, ...]
    turns: int
    usage: Usage
    cost_usd: float

    @property
    def text(self) -> str | None:
        return self.answer.text

    @property
    def output(self) -> Any:
        return self.answer.output


def _refused(comment: str | None) -> str:
    why = f": {comment}" if comment else ""
    return f"A person refused this tool call{why}. Do not make it again with the same arguments."


async def _run_tool(journal: Journal | None, tools: dict[str, Tool], call: ToolCall) -> str:
    found = tools.get(call.name)
    if found is None:
        return (
            f"error: there is no tool named {call.name!r}; the tools are {', '.join(sorted(tools))}"
        )
    arguments: dict[str, Any] = dict(call.arguments)
    try:
        found.check(arguments)
    except ValueError as exc:
        return f"error: the arguments do not fit tool {call.name!r}: {exc}"
    if found.needs_approval:
        assert journal is not None  # checked by run_tools
        answer: ToolApproval = await ask_human(
            journal,
            f"Run tool {call.name}?",
            form=ToolApproval,
            proposal=ToolApproval(approved=True, arguments=call.arguments),
            context={
                "tool": call.name,
                "description": found.spec.description,
                "arguments": call.arguments,
            },
            assignee=found.assignee,
            due=None,
            on_timeout="raise",
            remind=None,
        )
        if not answer.approved:
            return _refused(answer.comment)
        arguments = dict(answer.arguments)
    try:
        kwargs = found.check(arguments)
    except ValueError as exc:
        return f"error: the arguments a person gave tool {call.name!r} do not fit it: {exc}"
    try:
        value = await found.step(**kwargs)
    except StepFailed as exc:
        return f"error: tool {call.name!r} failed: {exc.error_type}: {exc.message}"
    return result_text(value)


async def run_tools(
    model: Model | str | None,
    messages: Messages,
    *,
    tools: Iterable[Tool | StepDef[..., Any]],
    max_turns: int = 10,
    output: type[pydantic.BaseModel] | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    reasks: int = 2,
    retry: ModelRetry | None = None,
    budget_usd: float | None = None,
    on_token: OnToken | None = None,
    name: str | None = None,
) -> ToolRun:
    """Asks ``model`` with ``tools`` (``@plait.step`` functions, or ``plait.ai.tool(...)``)
    and runs the tool calls it proposes until it answers without one; returns the answer
    and the conversation. The other arguments are ``chat``'s, for every model call."""
    journal = journal_var.get()
    offered = [as_tool(t) for t in tools]
    by_name = {t.name: t for t in offered}
    if not by_name:
        raise ConfigurationError("run_tools needs at least one tool")
    if len(by_name) != len(offered):
        raise ConfigurationError(f"two tools share a name: {sorted(t.name for t in offered)}")
    if journal is None and any(t.needs_approval for t in offered):
        raise ConfigurationError(
            "a tool that needs approval asks a person (a human task): run the loop in workflow code"
        )
    if not isinstance(max_turns, int) or isinstance(max_turns, bool) or max_turns < 1:
        raise ConfigurationError(f"run_tools(max_turns=...) must be >= 1, got {max_turns!r}")
    chosen = resolve(model, journal.engine if journal is not None else None)
    conversation: list[Message | dict[str, Any] | str] = (
        [messages] if isinstance(messages, str) else list(messages)
    )
    usage, cost = Usage(), 0.0
    for turn in range(1, max_turns + 1):
        result = await chat(
            chosen,
            conversation,
            output=output,
            tools=offered,
            temperature=temperature,
            max_tokens=max_tokens,
            stop=stop,
            reasks=reasks,
            retry=retry,
            budget_usd=budget_usd,
            on_token=on_token,
            name=name,
        )
        usage = Usage(
            input_tokens=usage.input_tokens + result.usage.input_tokens,
            output_tokens=usage.output_tokens + result.usage.output_tokens,
        )
        cost += result.cost_usd
        conversation.append(result.message)
        if not result.tool_calls:
            final = tuple(
                m
                if isinstance(m, Message)
                else Message(role="user", content=m)
                if isinstance(m, str)
                else Message.model_validate(m)
                for m in conversation
            )
            return ToolRun(result, final, turn, usage, cost)
        for call in result.tool_calls:
            content = await _run_tool(journal, by_name, call)
            conversation.append(
                Message(role="tool", content=content, tool_call_id=call.id, name=call.name)
            )
    raise MaxTurnsExceeded(
        f"the model still called tools after {max_turns} model calls (max_turns); raise "
        "max_turns or tell the model when to stop",
        model=chosen.name,
    )
