"""The hooks the worker, the step runner and model calls call when telemetry is on.

An engine's ``telemetry`` is ``None`` unless traces or metrics were enabled, and the engine's
core checks that attribute once per run segment, step attempt or model call before calling
anything here: with telemetry off, nothing is allocated and nothing is imported (this module
does not import OpenTelemetry or prometheus_client either; :meth:`Telemetry.enable_traces`
and :meth:`Telemetry.enable_metrics` do, when asked).

Each hook returns a small handle that the caller ends exactly once, however the operation
ended (``ended``/``failed`` then ``close`` for a segment; ``ended`` for a step attempt or a
model call).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from plait.errors import ConfigurationError
from plait.outcome import Outcome
from plait.store.records import Claimed
from plait.telemetry.names import outcome_name

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from plait.telemetry.metrics import RunMetrics
    from plait.telemetry.tracing import ModelSpan, SegmentSpan, StepSpan, Tracing


def missing_extra(what: str, exc: ImportError) -> ConfigurationError:
    """The error for ``what`` when the telemetry extra is not installed."""
    return ConfigurationError(
        f"{what} need the telemetry extra ({exc.name} is not installed): "
        "pip install 'plait[telemetry]'"
    )


class Telemetry:
    """What an engine reports: spans (``tracing``) and in-process metrics (``metrics``)."""

    def __init__(self) -> None:
        self.tracing: Tracing | None = None
        self.metrics: RunMetrics | None = None

    def enable_traces(self, tracer_provider: TracerProvider | None = None) -> None:
        """Spans go to ``tracer_provider`` (``None``: OpenTelemetry's global provider)."""
        try:
            from plait.telemetry.tracing import Tracing
        except ImportError as exc:
            raise missing_extra("traces", exc) from None
        self.tracing = Tracing(tracer_provider)

    def enable_metrics(self) -> None:
        """Measures step latency, retries, segments and leases in this process."""
        if self.metrics is not None:
            return
        try:
            from plait.telemetry.metrics import RunMetrics
        except ImportError as exc:
            raise missing_extra("metrics", exc) from None
        self.metrics = RunMetrics()

    # -- hooks ---------------------------------------------------------------------------
    def segment(self, claimed: Claimed, worker_id: str) -> Segment:
        """A run segment starts (in the worker's task for it)."""
        span = None if self.tracing is None else self.tracing.segment(claimed, worker_id)
        return Segment(self, claimed.name, span)

    def step(self, workflow_id: str, seq: int, name: str, number: int) -> StepAttempt:
        """Attempt ``number`` of the step at ``seq`` starts running."""
        span = None if self.tracing is None else self.tracing.step(workflow_id, seq, name, number)
        return StepAttempt(self, name, span)

    def model_call(self, model: str, call_name: str) -> ModelSpan | None:
        """A model call starts (``None`` when traces are off)."""
        return None if self.tracing is None else self.tracing.model_call(model, call_name)

    def leases_recovered(self, n: int) -> None:
        """This process's worker expired ``n`` leases of dead workers on its host."""
        if self.metrics is not None:
            self.metrics.lease_recoveries.inc(n)


class Segment:
    """A run segment in progress."""

    def __init__(self, telemetry: Telemetry, workflow: str, span: SegmentSpan | None) -> None:
        self.telemetry = telemetry
        self.workflow = workflow
        self.span = span
        self.outcome = "unknown"

    def ended(self, outcome: Outcome) -> None:
        """The run reached ``outcome`` (called before the worker records it)."""
        if self.span is not None:
            self.span.ended(outcome)
        self.outcome = outcome_name(outcome)

    def failed(self, what: str, exc: BaseException) -> None:
        """The segment stopped without an outcome (``lease_lost``, ``not_recorded``)."""
        self.outcome = what
        if self.span is not None:
            self.span.failed(what, exc)
        metrics = self.telemetry.metrics
        if metrics is not None and what == "lease_lost":
            metrics.lease_lost.labels(self.workflow).inc()

    def close(self) -> None:
        metrics = self.telemetry.metrics
        if metrics is not None:
            metrics.segments.labels(self.workflow, self.outcome).inc()
        if self.span is not None:
            self.span.close()


class StepAttempt:
    """A step attempt running for real."""

    def __init__(self, telemetry: Telemetry, name: str, span: StepSpan | None) -> None:
        self.telemetry = telemetry
        self.name = name
        self.span = span
        self.started = time.perf_counter()

    def make_current(self) -> None:
        """Makes the attempt's span current; run inside the step's own context copy."""
        if self.span is not None:
            self.span.make_current()

    def ended(self, outcome: str, error: BaseException | None = None) -> None:
        """``outcome``: ``completed``, ``retry``, ``failed`` or ``interrupted``."""
        metrics = self.telemetry.metrics
        if metrics is not None:
            metrics.step_seconds.labels(self.name, outcome).observe(
                time.perf_counter() - self.started
            )
            if outcome == "retry":
                metrics.retries.labels(self.name).inc()
        if self.span is not None:
            self.span.ended(outcome, error)


__all__ = ["Segment", "StepAttempt", "Telemetry", "missing_extra"]
