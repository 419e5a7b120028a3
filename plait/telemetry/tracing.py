"""OpenTelemetry spans for run segments, step attempts and model calls.

Imported only when traces are enabled (``plait.telemetry.instrument``), so plait runs without
the ``telemetry`` extra.

How the spans of one workflow hang together:
- A **run segment** is one claim of a workflow by a worker, from replaying its journal until
  it suspends, ends, is handed back or loses its lease: one span ``workflow <name>``.
- Every segment of a workflow lands in **one trace** whose id is derived from the workflow id
  (:func:`trace_id_for`), whichever worker or process runs it, days apart. Its parent is a
  *virtual root* (span id :func:`root_span_id`, never exported), so a tracing UI shows the
  segments side by side under one trace id; search by ``plait.workflow.id`` or by the
  trace id ``plait.telemetry.trace_id_for(id)`` prints. A child workflow's segments carry a
  span link to their parent workflow's root.
- A **step attempt** that runs for real is a child span ``step <name>`` of its segment (and
  the current span while the step's code runs, so spans the step's own libraries make nest
  under it). A step replayed from the journal did not run: it has no span.
- A **model call** is a span ``chat <model>`` (OpenTelemetry ``gen_ai.*`` attributes) under
  the segment (a call in workflow code) or the step (a call in a step). A replayed call has
  none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from plait.outcome import Blocked, Failed, Outcome
from plait.store.records import Claimed
from plait.telemetry.names import outcome_name, root_span_id, trace_id_for

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

SCOPE = "plait"


def root_context(workflow_id: str) -> SpanContext:
    """The (remote, sampled) span context of a workflow's virtual root."""
    return SpanContext(
        trace_id_for(workflow_id),
        root_span_id(workflow_id),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )


class Tracing:
    """Makes plait's spans with one tracer."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.tracer: Tracer = (provider or trace.get_tracer_provider()).get_tracer(SCOPE)

    def segment(self, claimed: Claimed, worker_id: str) -> SegmentSpan:
        links = []
        if claimed.parent_id is not None:
            links.append(Link(root_context(claimed.parent_id), {"plait.link": "parent workflow"}))
        parent = trace.set_span_in_context(NonRecordingSpan(root_context(claimed.id)))
        span = self.tracer.start_span(
            f"workflow {claimed.name}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                "plait.workflow.id": claimed.id,
                "plait.workflow.name": claimed.name,
                "plait.workflow.version": claimed.version,
                "plait.workflow.segment": claimed.attempt,
                "plait.workflow.run": claimed.run,
                "plait.workflow.queue": claimed.queue,
                "plait.workflow.replayed_entries": len(claimed.journal),
                "plait.worker.id": worker_id,
            },
        )
        return SegmentSpan(span)

    def step(self, workflow_id: str, seq: int, name: str, number: int) -> StepSpan:
        span = self.tracer.start_span(
            f"step {name}",
            attributes={
                "plait.workflow.id": workflow_id,
                "plait.step.name": name,
                "plait.step.seq": seq,
                "plait.step.attempt": number,
            },
        )
        return StepSpan(span)

    def model_call(self, model: str, call_name: str) -> ModelSpan:
        provider, _, name = model.partition(":")
        name = name or provider
        span = self.tracer.start_span(
            f"chat {name}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.system": provider,
                "gen_ai.request.model": name,
                "plait.model.call": call_name,
            },
        )
        return ModelSpan(span)


class SegmentSpan:
    """A run segment's span: current in the worker's task while the segment runs."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))

    def ended(self, outcome: Outcome) -> None:
        span = self.span
        span.set_attribute("plait.workflow.outcome", outcome_name(outcome))
        match outcome:
            case Failed(error=exc) | Blocked(error=exc):
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))

    def failed(self, what: str, exc: BaseException) -> None:
        """The segment ended without an outcome: its lease was lost, or its end could not
        be recorded."""
        self.span.set_attribute("plait.workflow.outcome", what)
        self.span.record_exception(exc)
        self.span.set_status(Status(StatusCode.ERROR, f"{what}: {type(exc).__name__}"))

    def close(self) -> None:
        otel_context.detach(self._token)
        self.span.end()


class StepSpan:
    """A step attempt's span; the caller makes it current in the step's own context."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)

    def make_current(self) -> None:
        """Run inside the step's context copy (dropped with it, so never detached)."""
        otel_context.attach(self.context)

    def ended(self, outcome: str, error: BaseException | None) -> None:
        span = self.span
        span.set_attribute("plait.step.outcome", outcome)
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


class ModelSpan:
    """A model call's span (``gen_ai.*`` attributes)."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))

    def ended(
        self,
        *,
        model: str | None,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float,
        reasks: int,
        error: BaseException | None,
    ) -> None:
        span = self.span
        if model is not None:
            span.set_attribute("gen_ai.response.model", model.partition(":")[2] or model)
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        span.set_attribute("plait.model.cost_usd", cost_usd)
        span.set_attribute("plait.model.reasks", reasks)
        if error is not None:
            span.set_attribute("error.type", type(error).__name__)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        otel_context.detach(self._token)
        span.end()


__all__ = [
    "ModelSpan",
    "SegmentSpan",
    "StepSpan",
    "Tracing",
    "root_context",
]
