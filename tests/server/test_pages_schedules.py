"""The schedules page in process: the table readable without JavaScript (ids, timing and
zone, next run, the last workflow linked), the nav item, and pause, resume and run-now as
forms with the CSRF token: operators may, viewers see no buttons and are refused."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

import plait
from plait.server import ServerSettings, create_app
from plait.server.users import Users
from plait.testing import TestEngine
from tests.server.test_pages_routes import csrf, post_login


@plait.workflow
async def report(ctx: plait.Context, region: str) -> str:
    return region


SCHEDULES = [
    plait.Schedule("nightly", report, "eu", cron="0 2 * * *", timezone="Europe/Paris"),
    plait.Schedule("minutely", report, "us", every=timedelta(minutes=1)),
]


@pytest.fixture
async def site(tmp_path):
    users = Users(tmp_path / "users.toml")
    users.add("olga", password="olga-pass-123", roles=["operator"])
    users.add("vera", password="vera-pass-123", roles=["viewer"], time_zone="Asia/Tokyo")
    settings = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    async with TestEngine(workflows=[report], schedules=SCHEDULES) as engine:
        app = create_app(engine, settings)
        transport = httpx.ASGITransport(app=app)

        async def client(name: str) -> httpx.AsyncClient:
            c = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
            assert (await post_login(c, name=name, password=f"{name}-pass-123")).status_code == 303
            return c

        yield engine, client


async def test_the_table_and_the_operators_buttons(site):
    engine, client = site
    await engine.run_until_idle(within=timedelta(minutes=2))
    olga = await client("olga")
    page = (await olga.get("/schedules")).text
    assert 'href="/schedules"' in page and 'aria-current="page"' in page
    assert re.findall(r'data-schedule="([^"]+)"', page) == ["minutely", "nightly"]
    assert "<code>0 2 * * *</code>" in page and "Europe/Paris" in page and "every 1 min" in page
    last = (await engine.schedules.get("minutely")).last_workflow_id
    assert last and f'href="/workflows/{last}"' in page
    assert last in (await olga.get(f"/workflows/{last}")).text  # the link leads to it
    assert "<time datetime=" in page and "declared in code" in page

    r = await olga.post("/schedules/nightly/pause", data={"csrf_token": csrf(page)})
    assert r.status_code == 303 and r.headers["location"] == "/schedules?done=paused"
    page = (await olga.get("/schedules?done=paused")).text
    assert "Paused: the schedule starts nothing" in page
    assert 'action="/schedules/nightly/resume"' in page and 'badge s-cancelled">paused' in page
    assert (await engine.schedules.get("nightly")).paused
    refused = await olga.post("/schedules/nightly/resume")  # no CSRF token
    assert refused.status_code == 403 and (await engine.schedules.get("nightly")).paused
    await olga.post("/schedules/nightly/resume", data={"csrf_token": csrf(page)})
    assert not (await engine.schedules.get("nightly")).paused

    asked = await olga.post("/schedules/nightly/trigger", data={"csrf_token": csrf(page)})
    assert asked.status_code == 200 and "Yes, run it now" in asked.text  # confirm without JS
    done = await olga.post(
        "/schedules/nightly/trigger", data={"csrf_token": csrf(page), "confirmed": "1"}
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/workflows/nightly@")
    gone = await olga.post("/schedules/nope/pause", data={"csrf_token": csrf(page)})
    assert gone.status_code == 404 and "no schedule &#39;nope&#39;" in gone.text


async def test_viewers_read_but_do_not_act(site):
    engine, client = site
    vera = await client("vera")
    page = (await vera.get("/schedules")).text
    assert "nightly" in page and "Pause</button>" not in page and "Run now" not in page
    r = await vera.post("/schedules/nightly/pause", data={"csrf_token": csrf(page)})
    assert r.status_code == 403 and not (await engine.schedules.get("nightly")).paused


async def test_no_schedule_says_how_to_add_one(tmp_path):
    Users(tmp_path / "u.toml").add("olga", password="olga-pass-123", roles=["operator"])
    settings = ServerSettings(users_file=tmp_path / "u.toml", secret_key="k" * 32)
    async with TestEngine(workflows=[report]) as engine:
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(engine, settings)),
            base_url="http://127.0.0.1",
        )
        await post_login(c, name="olga", password="olga-pass-123")
        assert "No schedule yet" in (await c.get("/schedules")).text
