"""More of the pages in process: filters and paging, empty states, local mode, an
extension's template, answering without JavaScript, approvals, signals and resumes."""

from __future__ import annotations

import re
from datetime import timedelta

import fastapi
import httpx
import pydantic
import pytest

import plait
from plait.server import Extension, NavItem, ServerSettings, create_app
from plait.server.auth import User, page_user
from plait.server.pages import render_page, workflow_pages
from plait.server.users import Users
from plait.testing import TestEngine
from tests.server.test_pages_routes import csrf, post_login


class Offer(pydantic.BaseModel):
    salary: int
    level: str = "junior"
    skills: list[str] = []


@plait.workflow
async def approve_me(ctx: plait.Context, what: str) -> bool:
    ctx.set_status(f"asking about {what}", team="ops")
    answer = await ctx.ask_human(f"Ship {what}?", assignee="admin1")
    return answer.approved


@plait.workflow
async def listy(ctx: plait.Context) -> list[str]:
    answer = await ctx.ask_human(
        "Pick skills", form=Offer, proposal=Offer(salary=2000), assignee="admin1"
    )
    return [answer.level]


@plait.step(retry=plait.Retry(max_attempts=1))
async def boom() -> None:
    raise RuntimeError("kaput")


@plait.workflow
async def breaks(ctx: plait.Context) -> None:
    await ctx.wait_for_signal("go")
    await boom()


WORKFLOWS = [approve_me, listy, breaks]


@pytest.fixture
async def admin_site(tmp_path):
    users = Users(tmp_path / "users.toml")
    users.add("admin1", password="admin-pass-123", roles=["admin"], groups=["ops"])
    settings = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    folder = tmp_path / "ext"
    folder.mkdir()
    (folder / "hello.html").write_text(
        '{% extends "base.html" %}{% block main %}<h1>Hello from {{ who }}</h1>{% endblock %}'
    )
    router = fastapi.APIRouter()

    @router.get("/hello")
    async def hello(
        request: fastapi.Request, user: User = fastapi.Depends(page_user)
    ) -> fastapi.Response:
        return await render_page(request, "hello.html", user, {"who": "the extension"})

    ext = Extension(name="demo", router=router, templates=folder, nav=(NavItem("Hello", "/hello"),))
    async with TestEngine(workflows=WORKFLOWS) as engine:
        app = create_app(engine, settings, [ext])
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
        r = await post_login(c, name="admin1", password="admin-pass-123")
        assert r.status_code == 303
        yield engine, c


async def test_empty_states_say_what_would_appear(admin_site):
    _, c = admin_site
    assert "No workflows yet" in (await c.get("/workflows")).text
    assert "Nothing to decide" in (await c.get("/inbox")).text
    assert "No worker is registered" in (await c.get("/workers")).text
    hello = (await c.get("/hello")).text  # an extension's template extends plait's base
    assert "Hello from the extension" in hello and 'href="/hello"' in hello


async def test_filters_search_and_pages(admin_site, monkeypatch):
    engine, c = admin_site
    monkeypatch.setattr(workflow_pages, "PAGE_SIZE", 2)
    ids = [(await engine.start(approve_me, f"v{i}")).id for i in range(3)]
    other = (await engine.start(breaks)).id
    await engine.run_until_idle(within=timedelta(seconds=1))
    page = (await c.get("/workflows?name=approve_me")).text
    shown = re.findall(r'data-workflow="([^"]+)"', page)
    assert len(shown) == 2 and "Older" in page
    older = re.search(r'href="([^"]*cursor=[^"]+)"', page).group(1).replace("&amp;", "&")
    rest = re.findall(r'data-workflow="([^"]+)"', (await c.get(older)).text)
    assert len(rest) == 1 and sorted(shown + rest) == sorted(ids)

    def rows(html):
        return set(re.findall(r'data-workflow="([^"]+)"', html))

    by_attr = rows((await c.get("/workflows?attrs=team%3Dops")).text)
    assert len(by_attr) == 2 and by_attr < set(ids)
    assert re.findall(r'data-workflow="([^"]+)"', (await c.get(f"/workflows?q={other}")).text) == [
        other
    ]
    assert "No workflow has the id" in (await c.get("/workflows?q=nope")).text
    assert "key=value" in (await c.get("/workflows?attrs=oops")).text
    assert "unknown status" in (await c.get("/workflows?status=sleepy")).text
    assert other in rows((await c.get("/workflows?time=1h&status=waiting&name=breaks")).text)


async def test_approval_and_double_answer(admin_site):
    engine, c = admin_site
    h = await engine.start(approve_me, "v1")
    await engine.run_until_idle(within=timedelta(seconds=1))
    task = (await engine.tasks(workflow_id=h.id))[0]
    page = (await c.get(f"/tasks/{task.id}")).text
    assert "Approve</button>" in page and "Reject</button>" in page
    data = {"csrf_token": csrf(page), "decision": "reject", "f.comment": "not today"}
    r = await c.post(f"/tasks/{task.id}/complete", data=data)
    assert r.status_code == 303
    done = await engine.task(task.id)
    assert done.answer == {"approved": False, "comment": "not today"}
    assert done.completed_by == "admin1"
    again = await c.post(f"/tasks/{task.id}/complete", data=data)
    assert again.status_code == 409 and "admin1 answered this task first" in again.text


async def test_lists_grow_and_shrink_without_javascript(admin_site):
    engine, c = admin_site
    h = await engine.start(listy)
    await engine.run_until_idle(within=timedelta(seconds=1))
    task = (await engine.tasks(workflow_id=h.id))[0]
    token = csrf((await c.get(f"/tasks/{task.id}")).text)
    base = {"csrf_token": token, "f.salary": "3000", "f.level": "mid"}
    r = await c.post(f"/tasks/{task.id}/review", data={**base, "_add": "skills"})
    assert 'name="f.skills.0"' in r.text
    r = await c.post(
        f"/tasks/{task.id}/review",
        data={**base, "f.skills.0": "go", "f.skills.1": "rust", "_remove": "skills.0"},
    )
    assert 'name="f.skills.0" value="rust"' in r.text and "f.skills.1" not in r.text


async def test_signal_and_resume_ask_first(admin_site):
    engine, c = admin_site
    h = await engine.start(breaks)
    await engine.run_until_idle(within=timedelta(seconds=1))
    page = (await c.get(f"/workflows/{h.id}")).text
    assert 'value="go"' in page  # the signal it waits for is suggested
    token = csrf(page)
    r = await c.post(
        f"/workflows/{h.id}/signal", data={"csrf_token": token, "name": "go", "payload": "{nope"}
    )
    assert r.status_code == 422 and "not JSON" in r.text
    r = await c.post(
        f"/workflows/{h.id}/signal", data={"csrf_token": token, "name": "go", "payload": '{"n": 1}'}
    )
    assert r.status_code == 200 and "Yes, send it" in r.text
    r = await c.post(
        f"/workflows/{h.id}/signal",
        data={"csrf_token": token, "name": "go", "payload": '{"n": 1}', "confirmed": "1"},
    )
    assert r.headers["location"].endswith("done=signalled")
    await engine.run_until_idle(within=timedelta(seconds=1))
    page = (await c.get(f"/workflows/{h.id}")).text
    assert "RuntimeError" in page and "kaput" in page and ">Resume<" in page
    r = await c.post(f"/workflows/{h.id}/resume", data={"csrf_token": token, "confirmed": "1"})
    assert r.headers["location"].endswith("done=resumed")
    assert "resumed" in (await c.get(f"/workflows/{h.id}")).text


async def test_local_mode_says_so_on_every_page(tmp_path):
    settings = ServerSettings(users_file=tmp_path / "users.toml", local_mode=True)
    async with TestEngine(workflows=WORKFLOWS) as engine:
        app = create_app(engine, settings)
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
        for path in ("/workflows", "/inbox", "/workers"):
            r = await c.get(path)
            assert r.status_code == 200 and "Local mode: no sign-in" in r.text
        assert (await c.get("/login")).headers["location"] == "/workflows"


async def test_workers_show_what_they_hold_and_when_they_went_quiet(admin_site):
    engine, c = admin_site
    async with engine.worker(concurrency=2):
        page = (await c.get("/workers")).text
        assert "alive" in page and "stale" not in page.split("<tbody>")[1]
        engine.clock.advance(timedelta(minutes=10))  # no heartbeat for ten minutes
        page = (await c.get("/workers")).text
        assert 'class="badge s-failed">stale' in page
