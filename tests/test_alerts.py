"""Alerts: each event (a workflow failed, blocked or stopped as a crash loop; a human task
overdue or escalated) reaches a real webhook receiver, and an SMTP server, once, with the link
to its page; failed deliveries stay pending and are retried; settings are checked.

The alert loop of a worker is driven by hand here (``AlertRunner.scan`` and ``send``) on the
fake clock; ``tests/test_alerts_restart.py`` runs it in real worker processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

import plait
from plait.alerts import AlertRunner
from plait.cli import main
from plait.testing import TestEngine
from tests.alerting import Receiver, free_port

START = datetime(2030, 1, 1, tzinfo=UTC)
UI = "https://plait.example"
SECRET = "s3cret"
changed = {"on": False}


@plait.step
async def step_a() -> str:
    return "a"


@plait.step
async def step_b() -> str:
    return "b"


@plait.workflow
async def failing(ctx: plait.Context) -> None:
    raise RuntimeError("the model is down")


@plait.workflow
async def changing(ctx: plait.Context) -> str:
    first = await (step_b() if changed["on"] else step_a())
    await ctx.sleep(timedelta(hours=1))
    return first


@plait.workflow
async def lingering(ctx: plait.Context) -> bool:
    await ctx.sleep(timedelta(minutes=1))
    return True


@plait.workflow
async def approval(ctx: plait.Context) -> bool:
    try:
        answer = await ctx.ask_human("Approve the offer", assignee="ada", due=timedelta(hours=2))
    except plait.WaitTimeout:
        return False
    return answer.approved


@plait.workflow
async def escalating(ctx: plait.Context) -> bool:
    answer = await ctx.ask_human(
        "Sign the contract",
        assignee="ada",
        due=timedelta(hours=1),
        on_timeout=plait.Escalate(to="managers", due=timedelta(days=1)),
    )
    return answer.approved


WORKFLOWS = [failing, changing, lingering, approval, escalating]


@pytest.fixture(autouse=True)
def _reset() -> None:
    changed["on"] = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def make_engine(
    plait_backend: str, new_db_url: Callable[..., str]
) -> Iterator[Callable[..., TestEngine]]:
    made: list[TestEngine] = []

    def make(**alerts: Any) -> TestEngine:
        alerts.setdefault("ui_url", UI)
        engine = TestEngine(
            None if plait_backend == "sqlite" else new_db_url(),
            workflows=WORKFLOWS,
            start=START,
            max_recoveries=0,
            alerts=plait.Alerts(**alerts),
        )
        made.append(engine)
        return engine

    yield make


@pytest.fixture
async def engine(
    make_engine: Callable[..., TestEngine], receiver: Receiver
) -> AsyncIterator[TestEngine]:
    async with make_engine(webhook=receiver.url, webhook_secret=SECRET) as e:
        yield e


def runner(engine: TestEngine) -> AlertRunner:
    """What a worker's alert loop does, one step at a time."""
    assert engine.alerts is not None
    return AlertRunner(engine.store, engine.clock, engine.alerts)


async def cycle(r: AlertRunner) -> int:
    await r.scan()
    return await r.send()


async def test_each_event_alerts_once_with_a_link_to_its_page(
    engine: TestEngine, receiver: Receiver
) -> None:
    for wf, wid in [(failing, "f"), (changing, "b"), (approval, "t"), (escalating, "e")]:
        await engine.start(wf, id=wid)
    await engine.run_until_idle(within=timedelta(minutes=30))
    changed["on"] = True  # a deploy changes the code under the sleeping workflow
    await engine.run_until_idle(within=timedelta(minutes=45))  # e escalates at 1 h
    # A worker claims "c" and dies: the next claim finds it crash-looping (max_recoveries=0).
    await engine.start(lingering, id="c")
    now = engine.clock.now_ms()
    assert await engine.store.claim("ghost", engine.registered_pairs, None, 1, now, 1000, 5)
    engine.clock.advance(timedelta(seconds=2))
    await engine.run_until_idle(within=timedelta(seconds=1))
    engine.clock.set(engine.clock.now_ms() + 3_600_000)  # t's deadline passes; no worker runs
    statuses = {w.id: w.status for w in await engine.list()}
    assert statuses == {
        "f": "failed",
        "b": "blocked",
        "c": "failed",
        "t": "waiting",
        "e": "waiting",
    }

    first, second = runner(engine), runner(engine)  # two workers' loops, at once
    assert sum(await asyncio.gather(first.scan(), second.scan())) == 5
    assert sum(await asyncio.gather(first.send(), second.send())) == 5
    assert await cycle(second) == 0 and await cycle(first) == 0  # nothing twice
    await engine.run_until_idle(within=timedelta(hours=1))  # t expires: the same deadline
    assert (await engine.task("t:1")).status == "expired"
    assert await cycle(second) == 0

    got = {a["kind"]: a for a in receiver.alerts()}
    assert len(receiver.received) == 5 and set(got) == set(plait.AlertKind)
    assert got["workflow_failed"]["workflow_id"] == "f"
    assert "RuntimeError: the model is down" in got["workflow_failed"]["message"]
    assert got["workflow_failed"]["link"] == f"{UI}/workflows/f"
    assert "NondeterminismError" in got["workflow_blocked"]["message"]
    assert got["workflow_blocked"]["link"] == f"{UI}/workflows/b"
    assert "max_recoveries=0" in got["crash_loop"]["message"]
    assert got["task_overdue"]["task_id"] == "t:1"
    assert got["task_overdue"]["link"] == f"{UI}/tasks/t:1"
    assert "Approve the offer" in got["task_overdue"]["message"]
    assert got["task_escalated"]["link"] == f"{UI}/tasks/e:1"
    assert "escalated to managers" in got["task_escalated"]["message"]
    assert got["task_escalated"]["workflow_name"] == "escalating"
    for request in receiver.received:
        key = request.headers["Idempotency-Key"]
        assert key == request.json["id"] and key.startswith("plait-")
        expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Plait-Signature"] == f"sha256={expected}"
        assert datetime.fromisoformat(request.json["time"]) >= START

    listed = await engine.list_alerts()
    assert len(listed) == 5 and {a.status for a in listed} == {plait.AlertStatus.SENT}
    assert {a.key for a in listed} == {r.json["id"] for r in receiver.received}
    assert all(a.attempts == 1 and a.last_error is None and a.channel == "webhook" for a in listed)


async def test_a_resumed_workflow_that_fails_again_alerts_again(
    engine: TestEngine, receiver: Receiver
) -> None:
    await engine.start(failing, id="f")
    await engine.run_until_idle()
    r = runner(engine)
    assert await cycle(r) == 1
    await engine.resume("f")
    await engine.run_until_idle()
    assert await cycle(r) == 1
    assert [a["kind"] for a in receiver.alerts()] == ["workflow_failed"] * 2
    assert len({a["id"] for a in receiver.alerts()}) == 2


async def test_an_undelivered_alert_stays_pending_and_is_retried_then_given_up(
    make_engine: Callable[..., TestEngine], receiver: Receiver
) -> None:
    receiver.status = 503
    async with make_engine(webhook=receiver.url, retry_interval=10, max_attempts=2) as engine:
        await engine.start(failing, id="f")
        await engine.run_until_idle()
        r = runner(engine)
        assert await cycle(r) == 0
        [alert] = await engine.list_alerts()
        assert alert.status == "pending" and alert.attempts == 1
        assert alert.last_error is not None and "503" in alert.last_error
        assert await r.send() == 0 and len(receiver.received) == 1  # not before its backoff
        engine.clock.advance(timedelta(seconds=10))
        assert await r.send() == 0
        [alert] = await engine.list_alerts(status="failed")
        assert alert.attempts == 2 and len(receiver.received) == 2
        assert len({x.headers["Idempotency-Key"] for x in receiver.received}) == 1
        receiver.status = 200
        engine.clock.advance(timedelta(hours=2))
        assert await cycle(r) == 0 and len(receiver.received) == 2  # given up for good


async def test_a_webhook_that_is_down_gets_the_alert_when_it_is_back(
    make_engine: Callable[..., TestEngine],
) -> None:
    down = Receiver()  # not started: connections are refused
    async with make_engine(webhook=down.url, retry_interval=5) as engine:
        await engine.start(failing, id="f")
        await engine.run_until_idle()
        r = runner(engine)
        assert await cycle(r) == 0
        [alert] = await engine.list_alerts(status="pending")
        assert alert.last_error and "Connect" in alert.last_error
        down.start()
        try:
            engine.clock.advance(timedelta(seconds=5))
            assert await cycle(r) == 1
            assert [a["workflow_id"] for a in down.alerts()] == ["f"]
        finally:
            down.stop()


async def test_a_first_scan_looks_back_only_as_far_as_lookback(
    make_engine: Callable[..., TestEngine], receiver: Receiver
) -> None:
    async with make_engine(webhook=receiver.url, lookback=timedelta(hours=1)) as engine:
        await engine.start(failing, id="old")
        await engine.run_until_idle()
        engine.clock.advance(timedelta(hours=3))
        await engine.start(failing, id="new")
        await engine.run_until_idle()
        assert await cycle(runner(engine)) == 1
        assert [a["workflow_id"] for a in receiver.alerts()] == ["new"]
        # The kinds not asked for are not sent.
    async with make_engine(webhook=receiver.url, kinds=["task_overdue"]) as engine:
        await engine.start(failing, id="f")
        await engine.run_until_idle()
        assert await cycle(runner(engine)) == 0 and await engine.list_alerts() == []


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.mark.backends("sqlite")
async def test_email_alerts_reach_an_smtp_server_once(
    make_engine: Callable[..., TestEngine], receiver: Receiver
) -> None:
    port, box = free_port(), Mailbox()
    async with make_engine(
        webhook=receiver.url,
        email=["oncall@example.org", "lead@example.org"],
        smtp_url=f"smtp://127.0.0.1:{port}",
        email_from="plait@example.org",
        retry_interval=1,
    ) as engine:
        await engine.start(failing, id="job-42")
        await engine.run_until_idle()
        r = runner(engine)
        assert await cycle(r) == 1  # the webhook; the SMTP server is not up yet
        [mail, hook] = await engine.list_alerts()
        assert (mail.channel, mail.status, hook.status) == ("email", "pending", "sent")
        assert "ConnectionRefused" in (mail.last_error or "")
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            engine.clock.advance(timedelta(seconds=1))
            assert await cycle(r) == 1 and await cycle(r) == 0
        finally:
            controller.stop()
    [(sender, recipients, content)] = box.messages
    assert sender == "plait@example.org"
    assert recipients == ["oncall@example.org", "lead@example.org"]
    msg = message_from_bytes(content)
    assert msg["Subject"] == "[plait] workflow failed: failing (job-42)"
    assert msg["Message-ID"] == f"<{mail.key}@plait>"
    body = msg.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "RuntimeError: the model is down" in body
    assert f"Open: {UI}/workflows/job-42" in body
    assert mail.key == hook.key == receiver.alerts()[0]["id"]  # one event, one key


@pytest.mark.backends("sqlite")
def test_plait_alerts_list_shows_status_and_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/plait.db"
    alerts = plait.Alerts(webhook=Receiver().url)  # nobody listens there

    async def fail_once() -> None:
        async with TestEngine(url, workflows=[failing], alerts=alerts) as engine:
            await engine.start(failing, id="f")
            await engine.run_until_idle()
            await cycle(runner(engine))

    asyncio.run(fail_once())
    cli = CliRunner()
    result = cli.invoke(main, ["alerts", "list", "--database", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "workflow_failed" in result.output and "pending" in result.output
    assert "ConnectError" in result.output
    result = cli.invoke(main, ["alerts", "list", "--database", url, "--json"])
    [item] = json.loads(result.output)
    assert item["kind"] == "workflow_failed" and item["status"] == "pending"
    assert item["link"] is None  # the CLI's engine has no ui_url
    result = cli.invoke(main, ["alerts", "list", "--database", url, "--status", "sent"])
    assert result.exit_code == 0 and "no alerts" in result.output


def test_settings_are_checked_where_they_are_written(tmp_path: Path) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"webhook": "hooks.example.org"}, "not an http"),
        ({"email": "oncall@example.org"}, "need an SMTP server"),
        ({"email": "not-an-address", "smtp_url": "smtp://h"}, "not an address"),
        ({"webhook": "http://h/x", "smtp_url": "mail.example.org"}, "not an SMTP URL"),
        ({"webhook": "http://h/x", "smtp_url": "smtp://h?starttls=maybe"}, "starttls"),
        ({"webhook": "http://h/x", "smtp_url": "smtps://h?starttls=1"}, "TLS already"),
        ({"webhook": "http://h/x", "kinds": ["workflow_exploded"]}, "unknown alert kind"),
        ({"webhook": "http://h/x", "ui_url": "plait.example"}, "ui_url"),
        ({"webhook": "http://h/x", "max_attempts": 0}, "max_attempts"),
        ({"webhook": "http://h/x", "scan_interval": -1}, "scan_interval"),
    ]
    for options, message in bad:
        with pytest.raises(plait.ConfigurationError, match=message):
            plait.Alerts(**options)
    smtp = plait.Alerts(
        email="a@example.org", smtp_url="smtp://ana:p%40ss@mail.example.org:587?starttls=1"
    ).smtp
    assert smtp is not None and (smtp.host, smtp.port, smtp.security) == (
        "mail.example.org",
        587,
        "starttls",
    )
    assert (smtp.username, smtp.password) == ("ana", "p@ss") and "p@ss" not in repr(smtp)
    with pytest.raises(plait.ConfigurationError, match="plait.Alerts"):
        plait.Engine(f"sqlite:///{tmp_path}/x.db", alerts="http://h")  # type: ignore[arg-type]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert plait.Alerts.from_env({}) is None
    alerts = plait.Alerts.from_env(
        {
            "PLAIT_ALERT_WEBHOOK": "https://hooks.example.org/plait",
            "PLAIT_ALERT_WEBHOOK_SECRET": SECRET,
            "PLAIT_ALERT_EMAIL_TO": "oncall@example.org, lead@example.org",
            "PLAIT_SMTP_URL": "smtps://mail.example.org",
            "PLAIT_ALERT_FROM": "plait@example.org",
            "PLAIT_UI_URL": "https://plait.example/",
            "PLAIT_ALERT_KINDS": "workflow_failed,crash_loop",
            "PLAIT_ALERT_SCAN_INTERVAL": "2.5",
        }
    )
    assert alerts is not None
    assert alerts.channels == ("webhook", "email") and alerts.ui_url == "https://plait.example"
    assert alerts.recipients == ("oncall@example.org", "lead@example.org")
    assert alerts.kinds == {plait.AlertKind.WORKFLOW_FAILED, plait.AlertKind.CRASH_LOOP}
    assert alerts.smtp is not None and (alerts.smtp.port, alerts.smtp.security) == (465, "tls")
    assert alerts.scan_interval == 2.5 and SECRET not in repr(alerts)
    with pytest.raises(plait.ConfigurationError, match="PLAIT_ALERT_.*need an SMTP server"):
        plait.Alerts.from_env({"PLAIT_ALERT_EMAIL_TO": "oncall@example.org"})
    with pytest.raises(plait.ConfigurationError, match="PLAIT_ALERT_SCAN_INTERVAL"):
        plait.Alerts.from_env(
            {"PLAIT_ALERT_WEBHOOK": "http://h/x", "PLAIT_ALERT_SCAN_INTERVAL": "x"}
        )
    monkeypatch.setenv("PLAIT_ALERT_WEBHOOK", "http://h/x")
    assert plait.Engine("sqlite:///:memory:").alerts == plait.Alerts(webhook="http://h/x")


async def test_a_worker_runs_the_alert_loop_and_stops_cleanly(
    db_url: str, receiver: Receiver
) -> None:
    alerts = plait.Alerts(webhook=receiver.url, scan_interval=timedelta(milliseconds=50))
    engine = plait.Engine(
        db_url, workflows=[failing], poll_interval=timedelta(milliseconds=50), alerts=alerts
    )
    async with engine:
        async with engine.worker():
            await engine.start(failing, id="f")
            for _ in range(400):  # up to 20 s: a generous bound that only catches a hang
                if [a.status for a in await engine.list_alerts()] == ["sent"]:
                    break
                await asyncio.sleep(0.05)
        assert [a["workflow_id"] for a in receiver.alerts()] == ["f"]
        [alert] = await engine.list_alerts()
        assert alert.status == "sent" and alert.link is None
