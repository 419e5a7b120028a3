"""``/metrics`` scraped as Prometheus would: the families an operator alerts on, with values
that follow what the workflows did (on both backends, the database counts read at scrape
time), behind the API's authentication; and a worker process serving its own metrics with
``--metrics-port`` while it logs JSON lines (``--log-format json``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import plait
from plait.store.records import LedgerRow
from tests.server.apifixtures import Api

ROOT = Path(__file__).resolve().parent.parent.parent
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[set[str], Samples]:
    """The metric families' names, and every sample by (name, labels)."""
    names: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return names, samples


def value(samples: Samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


async def scrape(api: Api) -> Samples:
    r = await api.get("/metrics", who="vera")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)[1]


async def _ghost_claim(api: Api) -> list[str]:
    """A worker that claims what is ready and then dies: it never writes again."""
    e = api.engine
    claimed = await e.store.claim(
        "ghost", e.registered_pairs, None, 10, e.clock.now_ms(), e.lease_ms, e.max_recoveries
    )
    return [c.id for c in claimed]


async def test_metrics_follow_the_workflows_the_tasks_and_the_ledger(api: Api) -> None:
    e = api.engine
    assert (await api.get("/metrics", who=None)).status_code == 401
    assert (await api.get("/metrics", who="nemo")).status_code == 403  # no role

    await e.start("waiter", 2, id="g")
    assert await _ghost_claim(api) == ["g"]
    for wf, args, wid in [
        ("review", ("Engineer",), "r1"),
        ("review", ("Designer",), "r2"),
        ("approve", ("ada",), "a1"),
        ("waiter", (1,), "w1"),
        ("failing", (), "f1"),
    ]:
        await e.start(wf, *args, id=wid)

    samples = await scrape(api)
    assert value(samples, "plait_database_up") == 1
    assert value(samples, "plait_queue_ready", queue="default") == 5  # the queue depth
    assert value(samples, "plait_workflows", name="review", status="pending") == 2
    assert value(samples, "plait_workflows", name="waiter", status="running") == 1
    assert value(samples, "plait_leases_expired") == 0

    e.clock.advance(timedelta(minutes=1))  # the ghost's lease runs out
    samples = await scrape(api)
    assert value(samples, "plait_leases_expired") == 1

    await api.run()  # a worker takes "g" over and runs the rest
    samples = await scrape(api)
    assert value(samples, "plait_queue_ready", queue="default") is None  # nothing ready
    assert value(samples, "plait_leases_expired") == 0
    e.clock.advance(timedelta(days=3))  # the review tasks (due in 2 days) are overdue
    now = e.clock.now_ms()
    await e.store.add_ledger(
        None,
        now,
        [
            LedgerRow("r1", 1, "draft", "openai:gpt-4o", None, 1200, 300, 0.01, "ok", 0, 80.0, now),
            LedgerRow(
                "r1", 1, "draft", "openai:gpt-4o", None, 0, 0, 0.0, "ModelTimeout", 0, 1.0, now
            ),
        ],
    )
    samples = await scrape(api)
    # the deadlines of the review tasks make their workflows runnable (to expire them)
    assert value(samples, "plait_queue_ready", queue="default") == 2
    assert value(samples, "plait_workflows", name="failing", status="failed") == 1
    assert value(samples, "plait_workflows", name="waiter", status="waiting") == 2
    assert value(samples, "plait_workflows", name="review", status="waiting") == 2
    assert value(samples, "plait_human_tasks_open", assignee="recruiters") == 2
    assert value(samples, "plait_human_tasks_open", assignee="ada") == 1
    assert value(samples, "plait_human_tasks_overdue", assignee="recruiters") == 2
    assert value(samples, "plait_human_tasks_overdue", assignee="ada") == 0
    age = value(samples, "plait_human_task_oldest_age_seconds", assignee="recruiters")
    assert age is not None and 3 * 86400 <= age <= 3 * 86400 + 120
    model = "openai:gpt-4o"
    assert value(samples, "plait_model_tokens_total", model=model, direction="input") == 1200
    assert value(samples, "plait_model_tokens_total", model=model, direction="output") == 300
    assert value(samples, "plait_model_cost_usd_total", model=model) == pytest.approx(0.01)
    assert value(samples, "plait_model_requests_total", model=model, outcome="ok") == 1
    assert value(samples, "plait_model_requests_total", model=model, outcome="failed") == 1
    # measured by the worker in this process (the server's engine)
    done = value(
        samples, "plait_step_duration_seconds_count", step="draft_offer", outcome="completed"
    )
    assert done == 2
    failed = value(samples, "plait_step_duration_seconds_count", step="explode", outcome="failed")
    assert failed == 1
    segments = value(samples, "plait_run_segments_total", workflow="failing", outcome="failed")
    assert segments == 1
    assert value(samples, "plait_run_segments_total", workflow="waiter", outcome="suspended") == 2
    names, _ = parse((await api.get("/metrics")).text)
    assert {"plait_step_retries", "plait_leases_lost", "plait_lease_recoveries"} <= names


async def test_a_database_that_does_not_answer_is_a_metric_not_an_error(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(now: int) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(api.engine.store, "health", down)
    samples = await scrape(api)
    assert value(samples, "plait_database_up") == 0
    assert value(samples, "plait_workflows", name="review", status="pending") is None


@plait.workflow(name="greeter")
async def greeter(ctx: plait.Context, name: str) -> str:
    raise AssertionError("run by the worker process (tests/telemetry_app.py)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.backends("sqlite")
async def test_a_worker_serves_its_metrics_and_logs_json(tmp_path: Path, db_url: str) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PLAIT_TELEMETRY_DB": db_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "plait.cli", "worker", "tests.telemetry_app:engine",
             "--metrics-port", str(port), "--log-format", "json", "--grace", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            async with plait.Engine(db_url, workflows=[greeter]) as client:
                h = await client.start(greeter, "ada", id="t1")
                assert await h.result(timeout=30) == "hello ada", log.read_text()
            deadline = time.monotonic() + 30
            while True:
                try:
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    _, samples = parse(text)
    assert (
        value(samples, "plait_step_duration_seconds_count", step="greet", outcome="completed") == 1
    )
    assert value(samples, "plait_run_segments_total", workflow="greeter", outcome="completed") == 1
    assert value(samples, "plait_workflows", name="greeter", status="completed") is None  # server's
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    (greeting,) = [r for r in records if r["message"] == "greeting ada"]
    assert (greeting["workflow_id"], greeting["workflow"], greeting["step"]) == (
        "t1",
        "greeter",
        "greet",
    )
    assert (greeting["seq"], greeting["attempt"], greeting["level"]) == (1, 1, "WARNING")
    assert proc.returncode == 0
