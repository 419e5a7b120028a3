"""Erasure and gc through the server: the REST API (admin only, 404/422 in the error shape,
the event log saying who erased) on both backends, and the erasure pages (find a subject,
see what carries it, confirm, the result; the workflow page links its subject)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

import plait
from plait.server import ServerSettings, create_app
from plait.server.users import Users
from plait.testing import TestEngine
from tests.server.apifixtures import Api
from tests.server.test_api import error_of
from tests.server.test_pages_routes import csrf, post_login

SECRET = "Ada Lovelace, 12 Elm Street"


@plait.workflow
async def about(ctx: plait.Context, text: str) -> str:
    await ctx.wait_for_signal("go")
    return text


async def test_subject_and_erase_api(api: Api) -> None:
    r = await api.post(
        "/api/workflows", json={"workflow": "waiter", "args": [1], "id": "w1", "subject": "p1"}
    )
    assert r.status_code == 201, r.text
    await api.run()
    await api.engine.records.put("note", "n1", SECRET, subject="p1")

    for who in ("vera", "olga"):  # viewers and operators may not
        error_of(await api.get("/api/subjects/p1", who=who), 403, "forbidden")
        error_of(await api.post("/api/subjects/p1/erase", who=who), 403, "forbidden")
        error_of(await api.post("/api/gc", who=who, json={"older_than": "1d"}), 403, "forbidden")
    error_of(await api.get("/api/subjects/p1", who=None), 401, "unauthenticated")

    shown = (await api.get("/api/subjects/p1", who="root")).json()
    assert (shown["workflow_count"], shown["records"], shown["empty"]) == (1, 1, False)
    assert [w["id"] for w in shown["workflows"]] == ["w1"]
    assert (await api.get("/api/subjects/nobody", who="root")).json()["empty"] is True
    error_of(await api.post("/api/subjects/nobody/erase", who="root"), 404, "not_found")

    done = (await api.post("/api/subjects/p1/erase", who="root")).json()
    assert (done["workflows"], done["cancelled"], done["records"]) == (["w1"], ["w1"], 1)
    assert done["by"] == "root"
    events = (await api.get("/api/workflows/w1")).json()["events"]
    assert (events[-1]["kind"], events[-1]["by"]) == ("erased", "root")
    again = (await api.get("/api/subjects/p1", who="root")).json()
    assert [e["by"] for e in again["erasures"]] == ["root"] and again["records"] == 0


async def test_gc_api(api: Api) -> None:
    await api.start("waiter", 1, id="w1")
    await api.run()
    await api.post("/api/workflows/w1/signal", json={"name": "go", "payload": 1})
    await api.run()
    api.engine.clock.advance(timedelta(days=3))
    bad = await api.post("/api/gc", who="root", json={"older_than": "three days"})
    assert "30d" in error_of(bad, 422, "invalid", "older_than")
    error_of(await api.post("/api/gc", who="root", json={"nope": 1}), 422, "invalid", "older_than")
    dry = (await api.post("/api/gc", who="root", json={"older_than": "2d", "dry_run": True})).json()
    assert dry["dry_run"] is True and dry["deleted"]["workflows"] == 1
    done = (await api.post("/api/gc", who="root", json={"older_than": "2d"})).json()
    assert done == {"dry_run": False, "deleted": dry["deleted"]}
    events = await api.engine.events("w1")
    assert (events[-1].kind, events[-1].by) == ("collected", "root")


@pytest.fixture
async def site(tmp_path):
    users = Users(tmp_path / "users.toml")
    users.add("admin1", password="admin-pass-123", roles=["admin"])
    users.add("vic", password="vic-pass-1234", roles=["operator"])
    settings = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    async with TestEngine(workflows=[about]) as engine:
        app = create_app(engine, settings, [])
        transport = httpx.ASGITransport(app=app)
        yield engine, transport


async def signed_in(transport, name: str, password: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", headers={"accept": "text/html"}
    )
    assert (await post_login(c, name=name, password=password)).status_code == 303
    return c


@pytest.mark.backends("sqlite")
async def test_erasure_pages(site) -> None:
    engine, transport = site
    await engine.start(about, SECRET, id="a1", subject="cand-7")
    await engine.run_until_idle(within=timedelta(minutes=1))
    c = await signed_in(transport, "admin1", "admin-pass-123")

    wf_page = (await c.get("/workflows/a1")).text
    assert 'href="/subjects/cand-7"' in wf_page  # the workflow page links its subject
    assert 'href="/subjects"' in wf_page  # the nav shows admins the erasure page
    search = await c.get("/subjects?subject=cand-7")
    assert search.status_code == 303 and search.headers["location"] == "/subjects/cand-7"
    page = (await c.get("/subjects/cand-7")).text
    assert "<b>1 workflow</b> (children included)" in page and 'href="/workflows/a1"' in page
    assert "Nothing carries" in (await c.get("/subjects/cand-8")).text

    token = csrf(page)
    asked = await c.post("/subjects/cand-7/erase", data={"csrf_token": token})
    assert asked.status_code == 200 and "Erase everything about cand-7?" in asked.text
    assert (await engine.get("a1")).status == "waiting"  # nothing done before the yes
    refused = await c.post("/subjects/cand-7/erase", data={"confirmed": "1"})
    assert refused.status_code == 403  # no CSRF token
    done = await c.post("/subjects/cand-7/erase", data={"csrf_token": token, "confirmed": "1"})
    assert done.status_code == 303 and done.headers["location"] == "/subjects/cand-7?done=erased"
    result = (await c.get(done.headers["location"])).text
    assert "Erased: every payload" in result and "by <b>admin1</b>" in result
    assert "Nothing about cand-7 is left to erase" in result  # no second Erase button
    info = await engine.get("a1")
    assert info.status == "cancelled" and SECRET not in repr(info)
    assert [e.by for e in await engine.events("a1")][-1] == "admin1"

    vic = await signed_in(transport, "vic", "vic-pass-1234")
    assert 'href="/subjects"' not in (await vic.get("/workflows")).text
    assert (await vic.get("/subjects/cand-7")).status_code == 403
    vic_token = csrf((await vic.get("/workflows")).text)
    no = await vic.post("/subjects/cand-7/erase", data={"csrf_token": vic_token, "confirmed": "1"})
    assert no.status_code == 403


@pytest.mark.backends("sqlite")
def test_erase_and_gc_through_a_running_server(
    tmp_path, users_file, tokens: dict[str, str], db_url: str
) -> None:
    import asyncio

    from click.testing import CliRunner

    from plait.cli import main
    from tests.server import server_app
    from tests.server.running import running_server

    async def build() -> None:
        async with plait.Engine(db_url, workflows=server_app.WORKFLOWS) as e:
            await e.start("waiter", 1, id="w1", subject="p1")

    asyncio.run(build())

    def cli(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    with running_server(tmp_path, users_file, db_url) as server:
        remote = ["--url", server.url, "--token"]
        code, _, err = cli("erase", "p1", "--yes", *remote, tokens["vera"])
        assert code == 1 and "admin role" in err and "HTTP 403" in err
        code, _, err = cli("erase", "nobody", "--yes", *remote, tokens["root"])
        assert code == 3
        code, out, _ = cli("erase", "p1", "--yes", "--json", *remote, tokens["root"])
        assert code == 0 and json.loads(out)["workflows"] == ["w1"]
        code, out, _ = cli(
            "gc", "--older-than", "1s", "--dry-run", "--json", *remote, tokens["root"]
        )
        assert code == 0 and json.loads(out)["dry_run"] is True


@pytest.mark.backends("sqlite")
async def test_a_collected_workflow_page_says_gc_took_it(site) -> None:
    engine, transport = site
    await engine.start(about, "x", id="a2")
    await engine.run_until_idle(within=timedelta(minutes=1))
    await engine.cancel("a2")
    await engine.run_until_idle(within=timedelta(minutes=1))
    engine.clock.advance(timedelta(days=2))
    await engine.gc(older_than="1d", by="ops")
    c = await signed_in(transport, "admin1", "admin-pass-123")
    page = await c.get("/workflows/a2")
    assert page.status_code == 404
    assert (
        "deleted by gc" in page.text and "(by ops)" in page.text and "about cancelled" in page.text
    )
    assert "no workflow with the id" in (await c.get("/workflows/never")).text
