"""Model calls on the workflow page: a journal entry of kind ``model`` made readable, and the
workflow's cost table.

A model entry records only the call's *new* messages (its delta over an earlier call of the
same conversation: ``base`` names that call's position, ``keep`` how many of its messages
come first), the response (text, tool calls, the model that answered), tokens, cost and
latency; the output schema's name is recorded only when it differs from the base call's, so
it is found by following ``base``. A failed call records its request and an error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from plait import StepRecord
from plait.server.ledger import CallCost

NOTHING: Any = object()  # no value to show (a JSON null is a value)


@dataclasses.dataclass
class ModelMessage:
    role: str
    content: str | None
    tool_calls: list[dict[str, Any]]
    tool_call_id: str | None


@dataclasses.dataclass
class ModelView:
    """What the timeline shows of one model call."""

    seq: int
    messages: list[ModelMessage]
    kept: int  # earlier messages of the conversation, not repeated here
    base: int | None  # the earlier call they were recorded with
    output_name: str | None
    text: str | None
    structured: Any  # the parsed JSON answer for a typed call, else NOTHING
    tool_calls: list[dict[str, Any]]
    model: str | None  # who answered
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_ms: float | None
    reasks: int
    tools: list[str]
    raw: str
    cost: CallCost | None = None  # the ledger's sums: failed attempts and re-asks

    @property
    def summary(self) -> str:
        """``openai:gpt-4o-mini · 1,200 → 85 tokens · $0.0004 · 830 ms · 1 re-ask``."""
        asked = ", ".join(self.cost.models) if self.cost is not None else ""
        parts = [self.model or (f"no answer (asked {asked})" if asked else "no answer")]
        tokens_in, tokens_out = self.input_tokens, self.output_tokens
        cost = self.cost_usd
        if self.cost is not None:
            tokens_in, tokens_out = self.cost.input_tokens, self.cost.output_tokens
            cost = self.cost.cost_usd
        if tokens_in or tokens_out:
            parts.append(f"{tokens_in:,} → {tokens_out:,} tokens")
        if cost is not None:
            parts.append(usd(cost))
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms:,.0f} ms")
        if self.reasks:
            parts.append(f"{self.reasks} re-ask{'s' if self.reasks > 1 else ''}")
        if self.cost is not None and self.cost.failed:
            n = self.cost.failed
            parts.append(f"{n} failed attempt{'s' if n > 1 else ''}")
        return " · ".join(parts)


def usd(value: float) -> str:
    """``$0.0123`` (four decimals below a dollar, two above)."""
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _message(m: Mapping[str, Any]) -> ModelMessage:
    calls = m.get("tool_calls") or []
    return ModelMessage(
        role=str(m.get("role", "?")),
        content=m.get("content"),
        tool_calls=[c for c in calls if isinstance(c, dict)],
        tool_call_id=m.get("tool_call_id"),
    )


def _inherited(records: Mapping[int, Any], request: Mapping[str, Any], key: str) -> Any:
    """A request field recorded only when it changed: this call's, else its base's."""
    seen: set[int] = set()
    at: Mapping[str, Any] | None = request
    while at is not None:
        if key in at:
            return at[key]
        base = at.get("base")
        if not isinstance(base, int) or base in seen:
            return None
        seen.add(base)
        record = records.get(base)
        at = record.get("request") if isinstance(record, dict) else None
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def model_view(entry: StepRecord, records: Mapping[int, Any]) -> ModelView:
    """``entry`` (kind ``model``) as the timeline shows it; ``records`` holds every model
    entry's output by position (to follow ``base``)."""
    record = entry.output if isinstance(entry.output, dict) else {}
    request = _dict(record.get("request"))
    response = _dict(record.get("response"))
    usage = _dict(record.get("usage"))
    output_name = _inherited(records, request, "output_name")
    tools = _inherited(records, request, "tools") or []
    text = response.get("text")
    structured = NOTHING
    if output_name and isinstance(text, str):
        try:
            structured = json.loads(text.strip().removeprefix("```json").strip("`\n "))
        except ValueError:
            structured = NOTHING
    base = request.get("base")
    return ModelView(
        seq=entry.seq,
        messages=[_message(m) for m in request.get("messages") or [] if isinstance(m, dict)],
        kept=int(request.get("keep") or 0),
        base=base if isinstance(base, int) else None,
        output_name=output_name if isinstance(output_name, str) else None,
        text=text if isinstance(text, str) else None,
        structured=structured,
        tool_calls=[c for c in response.get("tool_calls") or [] if isinstance(c, dict)],
        model=response.get("model") if isinstance(response.get("model"), str) else None,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cost_usd=float(record["cost_usd"]) if "cost_usd" in record else None,
        latency_ms=float(record["latency_ms"]) if "latency_ms" in record else None,
        reasks=int(record.get("reasks") or 0),
        tools=[str(t.get("name")) for t in tools if isinstance(t, dict)],
        raw=json.dumps(record, indent=2, ensure_ascii=False, default=str),
    )


def model_records(journal: Sequence[StepRecord]) -> dict[int, Any]:
    return {e.seq: e.output for e in journal if e.kind == "model" and isinstance(e.output, dict)}
