"""Prometheus metrics: what workers measure in-process, and what the database says at scrape.

Imported only when metrics are enabled or scraped, so plait runs without the ``telemetry``
extra. Every metric lives in a registry of its own (never ``prometheus_client``'s global
one), so several engines in one process, and tests, do not clash.

- :class:`RunMetrics`: the worker's measurements in this process (step latency, retries, run
  segments, leases lost and recovered), one registry per engine.
- :func:`render`: the text a scrape of ``/metrics`` returns: those, plus gauges and counters
  read from the database at scrape time (workflows by name and status, ready workflows per
  queue, expired leases, open human tasks and the oldest one's age, model tokens and cost
  from the ledger). A database that does not answer gives ``plait_database_up 0``, not an
  error, so the in-process metrics are still scraped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from plait.engine import Engine

log = logging.getLogger("plait.telemetry")

CONTENT_TYPE = CONTENT_TYPE_LATEST
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class RunMetrics:
    """The metrics a worker measures in this process, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.step_seconds = Histogram(
            "plait_step_duration_seconds",
            "Duration of step attempts that ran in this process, by step and outcome "
            "(completed, retry, failed, interrupted).",
            ["step", "outcome"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "plait_step_retries",
            "Step attempts that failed and were retried, by step.",
            ["step"],
            registry=r,
        )
        self.segments = Counter(
            "plait_run_segments",
            "Run segments (a worker's claim of a workflow, until it suspends, ends or is "
            "handed back) ended in this process, by workflow and outcome.",
            ["workflow", "outcome"],
            registry=r,
        )
        self.lease_lost = Counter(
            "plait_leases_lost",
            "Run segments stopped because another worker took the lease over.",
            ["workflow"],
            registry=r,
        )
        self.lease_recoveries = Counter(
            "plait_lease_recoveries",
            "Leases of dead workers on this host expired by this process's workers, so "
            "that their workflows are taken over at once.",
            registry=r,
        )


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


async def database_families(engine: Engine) -> list[Metric]:
    """The metric families read from the database now."""
    up = GaugeMetricFamily("plait_database_up", "1 when the database answered this scrape.")
    try:
        now = engine.clock.now_ms()
        health = await engine.store.health(now)
        totals = await engine.store.ledger_totals(None, "model")
    except Exception as exc:
        log.warning("/metrics: the database did not answer: %s: %s", type(exc).__name__, exc)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    workflows = GaugeMetricFamily(
        "plait_workflows",
        "Workflows in the database, by name and status.",
        labels=["name", "status"],
    )
    for name, status, n in health.workflows:
        workflows.add_metric([name, status], n)
    ready = GaugeMetricFamily(
        "plait_queue_ready",
        "Workflows runnable now (pending, or waiting and due) that no worker has claimed, "
        "by queue: the queue depth.",
        labels=["queue"],
    )
    for queue, n in health.ready:
        ready.add_metric([queue], n)
    expired = GaugeMetricFamily(
        "plait_leases_expired",
        "Running workflows whose lease has expired: their worker died and no worker has "
        "taken them over yet.",
        value=health.expired_leases,
    )
    recovering = GaugeMetricFamily(
        "plait_workflows_recovering",
        "Running workflows taken over from a dead worker since their last progress (a crash "
        "loop ends them failed after Engine(max_recoveries=...)).",
        value=health.recovering,
    )
    open_tasks = GaugeMetricFamily(
        "plait_human_tasks_open", "Open human tasks, by assignee.", labels=["assignee"]
    )
    oldest = GaugeMetricFamily(
        "plait_human_task_oldest_age_seconds",
        "Age of the oldest open human task, by assignee (a person or a group).",
        labels=["assignee"],
    )
    overdue = GaugeMetricFamily(
        "plait_human_tasks_overdue",
        "Open human tasks past their due time, by assignee.",
        labels=["assignee"],
    )
    for assignee, n, created_at, late in health.tasks:
        open_tasks.add_metric([assignee], n)
        oldest.add_metric([assignee], max(0, now - created_at) / 1000)
        overdue.add_metric([assignee], late)
    tokens = CounterMetricFamily(
        "plait_model_tokens",
        "Model tokens in the cost ledger, by the model that answered and direction.",
        labels=["model", "direction"],
    )
    cost = CounterMetricFamily(
        "plait_model_cost_usd", "Model cost in the ledger (USD), by model.", labels=["model"]
    )
    attempts = CounterMetricFamily(
        "plait_model_requests",
        "Model requests in the ledger (retries and re-asks each count), by model and "
        "outcome (ok, failed).",
        labels=["model", "outcome"],
    )
    for t in totals:
        tokens.add_metric([t.key, "input"], t.input_tokens)
        tokens.add_metric([t.key, "output"], t.output_tokens)
        cost.add_metric([t.key], t.cost_usd)
        attempts.add_metric([t.key, "ok"], t.attempts - t.failed)
        attempts.add_metric([t.key, "failed"], t.failed)
    return [
        *(up, workflows, ready, expired, recovering),
        *(open_tasks, oldest, overdue),
        *(tokens, cost, attempts),
    ]


async def render(engine: Engine, run_metrics: RunMetrics | None, *, database: bool = True) -> bytes:
    """The Prometheus text exposition of ``engine``'s metrics."""
    registry = CollectorRegistry(auto_describe=False)
    if database:
        registry.register(_Families(await database_families(engine)))
    if run_metrics is not None:
        registry.register(_Families(run_metrics.registry.collect()))
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE", "RunMetrics", "database_families", "render"]
