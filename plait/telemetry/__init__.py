"""Telemetry: OpenTelemetry traces, Prometheus metrics and JSON logs, all optional.

- **Traces**: ``plait.Engine(..., tracer_provider=provider)``, or
  ``plait.telemetry.instrument(engine)`` (OpenTelemetry's global provider) for an engine
  made elsewhere (``plait worker module:engine`` loads it from your module). A span per run
  segment, per step attempt and per model call; every segment of a workflow shares one trace
  id derived from the workflow id (:func:`trace_id_for`). See :mod:`plait.telemetry.tracing`.
- **Metrics**: ``instrument(engine, metrics=True)`` measures step latency, retries, run
  segments and leases in this process; :func:`metrics_text` renders them with counts read
  from the database (``/metrics`` of ``plait server``); :func:`serve_metrics` serves the
  in-process ones from a worker process (``plait worker --metrics-port``).
- **Logs**: :func:`configure_logging` (``PLAIT_LOG_FORMAT=json``): one JSON object per line
  with the workflow id, workflow name, step and attempt.

Needs the ``telemetry`` extra (``opentelemetry-sdk``, ``prometheus-client``) for traces and
metrics; JSON logs need nothing. With telemetry off (``engine.telemetry is None``) the
engine's core checks one attribute per run segment, step attempt or model call, and never
imports OpenTelemetry or prometheus_client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from plait.telemetry.hooks import Telemetry, missing_extra
from plait.telemetry.logs import JsonFormatter, configure_logging, log_format
from plait.telemetry.names import root_span_id, trace_id_for

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from plait.engine import Engine

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def instrument(
    engine: Engine,
    *,
    tracer_provider: TracerProvider | None = None,
    traces: bool = True,
    metrics: bool = False,
) -> Telemetry:
    """Turns telemetry on for ``engine``: traces (to ``tracer_provider``, else OpenTelemetry's
    global provider) unless ``traces=False``, and in-process metrics with ``metrics=True``.
    Call it before workers start; calling it again adds to what is on. Returns
    ``engine.telemetry``."""
    tel = engine.telemetry or Telemetry()
    if traces:
        tel.enable_traces(tracer_provider)
    if metrics:
        tel.enable_metrics()
    engine.telemetry = tel
    return tel


async def metrics_text(engine: Engine, *, database: bool = True) -> bytes:
    """The Prometheus text of ``engine``'s metrics: in-process ones (if enabled) and, with
    ``database``, the counts read from its database now (the engine must be open)."""
    try:
        from plait.telemetry.metrics import render
    except ImportError as exc:
        raise missing_extra("metrics", exc) from None
    tel = engine.telemetry
    return await render(engine, None if tel is None else tel.metrics, database=database)


def serve_metrics(engine: Engine, port: int, host: str = "127.0.0.1") -> Callable[[], None]:
    """Serves the in-process metrics of ``engine`` at ``http://host:port/metrics`` from a
    thread (turning metrics on); returns the function that stops it. For worker processes:
    the database counts come from ``plait server``'s ``/metrics``."""
    tel = instrument(engine, traces=False, metrics=True)
    assert tel.metrics is not None
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, host, registry=tel.metrics.registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


__all__ = [
    "METRICS_CONTENT_TYPE",
    "JsonFormatter",
    "Telemetry",
    "configure_logging",
    "instrument",
    "log_format",
    "metrics_text",
    "root_span_id",
    "serve_metrics",
    "trace_id_for",
]
