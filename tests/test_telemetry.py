"""Telemetry seen by the tools an operator uses: OpenTelemetry spans (per run segment, per step
attempt, per model call, one trace per workflow across resumes), JSON log lines that carry the
workflow and step, and plait running without the telemetry extra. The spans do not depend on
the store, so these run on SQLite; ``tests/server/test_metrics.py`` covers ``/metrics`` on
both backends."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import plait
import plait.ai
from plait.telemetry import JsonFormatter, instrument, root_span_id, trace_id_for
from plait.testing import TestEngine
from tests.ai.scripted import Scripted, says

ROOT = Path(__file__).resolve().parent.parent
flaky_calls: list[int] = []


@plait.step
async def double(n: int) -> int:
    logging.getLogger("tests.telemetry").warning("doubling %d", n)
    return 2 * n


@plait.step(retry=plait.Retry(max_attempts=3, initial_interval=timedelta(seconds=1)))
async def flaky(n: int) -> int:
    flaky_calls.append(n)
    if len(flaky_calls) == 1:
        raise ConnectionError("the service hung up")
    return n + 1


@plait.step
async def broken() -> None:
    raise ValueError("no such candidate")


@plait.workflow
async def traced(ctx: plait.Context, n: int) -> int:
    logging.getLogger("tests.telemetry").warning("starting")
    a = await double(n)
    b = await flaky(a)
    got = await ctx.wait_for_signal("go", type=int)
    return b + await double(got)


@plait.workflow
async def parent(ctx: plait.Context) -> None:
    await ctx.child(failing)


@plait.workflow
async def failing(ctx: plait.Context) -> None:
    await broken()


@plait.step
async def summarise(text: str) -> str:
    answer = await plait.ai.chat(None, f"Summarise: {text}", max_tokens=20)
    return answer.text or ""


@plait.workflow
async def asks(ctx: plait.Context) -> str:
    first = await ctx.ai.chat(None, "Name one skill", max_tokens=20)
    await ctx.wait_for_signal("go")
    return f"{first.text} / {await summarise('a résumé')}"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    yield p
    p.shutdown()


def _spans(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return sorted(
        (s for s in exporter.get_finished_spans() if s.name.startswith(prefix)),
        key=lambda s: s.start_time or 0,
    )


def _attrs(span: ReadableSpan, *names: str) -> tuple[object, ...]:
    assert span.attributes is not None
    return tuple(span.attributes.get(n) for n in names)


async def test_segments_and_step_attempts_make_one_trace_across_a_resume(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    flaky_calls.clear()
    async with TestEngine(workflows=[traced], tracer_provider=provider) as engine:
        h = await engine.start(traced, 5, id="wf-1")
        await engine.run_until_idle()  # double, flaky (a retry), then it waits for "go"
        await engine.signal("wf-1", "go", 10)
        await engine.run_until_idle()  # replays double and flaky: no spans for them
        assert await h.result() == 11 + 20

    segments = _spans(exporter, "workflow ")
    assert [_attrs(s, "plait.workflow.segment", "plait.workflow.outcome") for s in segments] == [
        (1, "suspended"),
        (2, "completed"),
    ]
    first, second = segments
    assert _attrs(first, "plait.workflow.id", "plait.workflow.name", "plait.workflow.version") == (
        "wf-1",
        "traced",
        "1",
    )
    assert _attrs(second, "plait.workflow.replayed_entries") == (3,)  # 2 steps and the wait
    # One trace for the workflow, whichever worker runs a segment; both under its root.
    for s in segments:
        assert s.context is not None and s.parent is not None
        assert s.context.trace_id == trace_id_for("wf-1")
        assert s.parent.span_id == root_span_id("wf-1")

    steps = _spans(exporter, "step ")
    assert [
        _attrs(s, "plait.step.name", "plait.step.seq", "plait.step.attempt", "plait.step.outcome")
        for s in steps
    ] == [
        ("double", 1, 1, "completed"),
        ("flaky", 2, 1, "retry"),
        ("flaky", 2, 2, "completed"),
        ("double", 4, 1, "completed"),  # after the resume; 3 is the wait
    ]
    assert [s.parent.span_id for s in steps if s.parent] == [
        first.context.span_id,
        first.context.span_id,
        first.context.span_id,
        second.context.span_id,
    ]
    retry = steps[1]
    assert retry.status.status_code == StatusCode.ERROR
    assert [e.name for e in retry.events] == ["exception"]
    assert retry.events[0].attributes is not None
    assert retry.events[0].attributes["exception.type"] == "ConnectionError"
    assert steps[2].status.status_code != StatusCode.ERROR


async def test_a_failed_step_fails_its_segment_and_a_child_links_to_its_parent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with TestEngine(workflows=[parent, failing]) as engine:
        instrument(engine, tracer_provider=provider)  # an engine made elsewhere
        await engine.start(parent, id="p")
        await engine.run_until_idle()

    (step,) = _spans(exporter, "step broken")
    assert _attrs(step, "plait.step.outcome") == ("failed",)
    assert step.status.status_code == StatusCode.ERROR
    child = [s for s in _spans(exporter, "workflow failing")]
    assert [_attrs(s, "plait.workflow.outcome") for s in child] == [("failed",)]
    assert child[0].status.status_code == StatusCode.ERROR
    assert child[0].status.description is not None and "StepFailed" in child[0].status.description
    assert [(link.context.trace_id, link.context.span_id) for link in child[0].links] == [
        (trace_id_for("p"), root_span_id("p"))
    ]
    assert child[0].context is not None and child[0].context.trace_id != trace_id_for("p")


async def test_model_calls_have_gen_ai_spans_with_tokens_and_none_when_replayed(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    model = Scripted(says("Python", "An engineer."), name="test:scripted")
    async with TestEngine(workflows=[asks], tracer_provider=provider) as engine:
        engine.model = model
        engine.prices = plait.ai.Prices({"test:scripted": plait.ai.Price(1.0, 10.0)})
        h = await engine.start(asks, id="m")
        await engine.run_until_idle()
        await engine.signal("m", "go")
        await engine.run_until_idle()  # replays the first call: no new span for it
        assert await h.result() == "Python / An engineer."
    assert model.calls == 2

    calls = _spans(exporter, "chat ")
    assert [s.name for s in calls] == ["chat scripted", "chat scripted"]
    for span in calls:
        assert _attrs(
            span,
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
        ) == ("chat", "test", "scripted", "scripted", 1000, 100)
        assert _attrs(span, "plait.model.cost_usd")[0] == pytest.approx(0.002)
    in_workflow, in_step = calls
    segments = _spans(exporter, "workflow asks")
    (step,) = _spans(exporter, "step summarise")
    assert in_workflow.parent is not None and in_workflow.parent.span_id == (
        segments[0].context.span_id if segments[0].context else None
    )
    assert in_step.parent is not None and step.context is not None
    assert in_step.parent.span_id == step.context.span_id


async def test_json_logs_carry_the_workflow_the_step_and_the_attempt() -> None:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.telemetry")
    logger.addHandler(handler)
    try:
        async with TestEngine(workflows=[traced]) as engine:
            await engine.start(traced, 1, id="log-1")
            await engine.run_until_idle()
        logger.warning("outside", extra={"candidate": "c-7"})
    finally:
        logger.removeHandler(handler)

    records = [json.loads(line) for line in lines]
    assert [r["message"] for r in records] == ["starting", "doubling 1", "outside"]
    in_workflow, in_step, outside = records
    assert in_workflow["workflow_id"] == "log-1" and in_workflow["workflow"] == "traced"
    assert in_workflow["segment"] == 1 and "step" not in in_workflow
    assert (in_step["workflow_id"], in_step["step"], in_step["seq"], in_step["attempt"]) == (
        "log-1",
        "double",
        1,
        1,
    )
    assert in_step["level"] == "WARNING" and in_step["logger"] == "tests.telemetry"
    assert in_step["time"].endswith("+00:00")
    assert "workflow_id" not in outside and outside["candidate"] == "c-7"


def test_plait_runs_without_the_telemetry_extra() -> None:
    # The engine's core never imports OpenTelemetry or prometheus_client; without them a
    # workflow runs, and asking for traces or metrics says what to install.
    script = textwrap.dedent(
        """
        import asyncio, sys
        import plait, plait.telemetry
        from plait.testing import TestEngine

        @plait.step
        async def one() -> int:
            return 1

        @plait.workflow
        async def wf(ctx: plait.Context) -> int:
            return await one()

        async def main() -> None:
            async with TestEngine(workflows=[wf]) as engine:
                h = await engine.start(wf)
                await engine.run_until_idle()
                assert await h.result() == 1
                loaded = [m for m in sys.modules
                          if m.split(".")[0] in ("opentelemetry", "prometheus_client")]
                assert not loaded, loaded
                sys.modules["opentelemetry"] = None  # as if the extra were not installed
                sys.modules["prometheus_client"] = None
                for ask in (lambda: plait.telemetry.instrument(engine),
                            lambda: plait.telemetry.instrument(engine, traces=False, metrics=True)):
                    try:
                        ask()
                    except plait.ConfigurationError as exc:
                        assert "plait[telemetry]" in str(exc), exc
                    else:
                        raise AssertionError("no error without the extra")
                assert engine.telemetry is None
                h = await engine.start(wf)
                await engine.run_until_idle()
                assert await h.result() == 1
            print("ok")

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
