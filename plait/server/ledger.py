"""A workflow's cost ledger as people read it: one line per model call, and the total.

The engine's ledger (``engine.ledger(workflow_id)``) has a row per *attempt* of a model
call: failed attempts (a 429, a timeout, a provider down before a fallback answered) and
re-asks (an answer that did not fit the asked-for shape) each have their own row. Here the
rows of one call (same journal position and step name) are summed into a :class:`CallCost`,
which the REST API (``GET /api/workflows/{id}/costs``) and the workflow page both show.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

OK = "ok"
INVALID = "invalid_output"  # answered, but not in the asked-for shape: a re-ask followed


@dataclasses.dataclass
class CallCost:
    """The attempts of one model call summed: ``failed`` counts attempts that raised (and
    were retried or handed to a fallback), ``reasks`` the answers that did not fit the
    output type and were asked again."""

    seq: int | None
    step: str
    answered_by: str | None
    models: list[str]
    attempts: int = 0
    failed: int = 0
    reasks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    failures: list[str] = dataclasses.field(default_factory=list)
    first_at: datetime | None = None


@dataclasses.dataclass
class CallCosts:
    calls: list[CallCost]
    total: CallCost

    def by_seq(self) -> dict[int, CallCost]:
        return {c.seq: c for c in self.calls if c.seq is not None}


def when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def call_costs(rows: Sequence[Any]) -> CallCosts:
    """The ledger rows (``engine.ledger(...)``, oldest first) summed per call."""
    calls: dict[tuple[int | None, str], CallCost] = {}
    total = CallCost(None, "total", None, [])
    for row in rows:
        key = (row.seq, row.step)
        call = calls.get(key)
        if call is None:
            call = calls[key] = CallCost(row.seq, row.step, None, [], first_at=when(row.at))
        for line in (call, total):
            line.attempts += 1
            line.input_tokens += row.input_tokens
            line.output_tokens += row.output_tokens
            line.cost_usd += row.cost_usd
            line.latency_ms += row.latency_ms
            if row.outcome == INVALID:
                line.reasks += 1
            elif row.outcome != OK:
                line.failed += 1
        if row.model not in call.models:
            call.models.append(row.model)
        if row.outcome == OK and row.answered_by:
            call.answered_by = row.answered_by
        elif row.outcome == INVALID:
            call.answered_by = call.answered_by or row.answered_by
        if row.outcome not in (OK, INVALID):
            call.failures.append(f"{row.model}: {row.outcome}")
    ordered = sorted(calls.values(), key=lambda c: (c.seq is None, c.seq or 0, c.first_at))
    return CallCosts(ordered, total)
