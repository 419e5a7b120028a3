"""Names telemetry gives things, without any optional dependency: the trace id of a
workflow, the id of its virtual root span, and the word for how a run segment ended."""

from __future__ import annotations

import hashlib

from plait.outcome import (
    Blocked,
    Cancelled,
    Completed,
    ContinuedAsNew,
    Failed,
    Outcome,
    Released,
    Suspended,
)


def _digest(workflow_id: str) -> bytes:
    return hashlib.sha256(b"plait-trace\0" + workflow_id.encode()).digest()


def trace_id_for(workflow_id: str) -> int:
    """The trace id every run segment of ``workflow_id`` shares (128 bits, never 0); as
    tracing UIs show it: ``format(trace_id_for(id), "032x")``."""
    return int.from_bytes(_digest(workflow_id)[:16], "big") or 1


def root_span_id(workflow_id: str) -> int:
    """The id of the workflow's virtual root span, the parent of its segments (never 0)."""
    return int.from_bytes(_digest(workflow_id)[16:24], "big") or 1


def outcome_name(outcome: Outcome) -> str:
    """How a run segment ended, as the span attribute and the metric label say it."""
    match outcome:
        case Completed():
            return "completed"
        case Failed():
            return "failed"
        case Blocked():
            return "blocked"
        case Cancelled():
            return "cancelled"
        case Suspended():
            return "suspended"
        case Released():
            return "released"
        case ContinuedAsNew():
            return "continued_as_new"


__all__ = ["outcome_name", "root_span_id", "trace_id_for"]
