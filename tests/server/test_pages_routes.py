"""The pages served in process (httpx over ASGI): what each shows, who may act, CSRF."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pydantic
import pytest

import plait
from plait.server import ServerSettings, create_app
from plait.server.users import Users
from plait.testing import TestEngine


class Offer(pydantic.BaseModel):
    salary: int = pydantic.Field(ge=1000, le=500_000)
    level: str = "junior"
    note: str | None = None


@plait.workflow
async def offer_flow(ctx: plait.Context, name: str) -> str:
    ctx.set_status(f"offer for {name}", stage="offer")
    answer = await ctx.ask_human(
        "Approve offer",
        form=Offer,
        proposal=Offer(salary=50_000),
        context={"candidate": name},
        assignee="recruiters",
        due=timedelta(days=2),
    )
    return f"{name}: {answer.salary}"


@plait.workflow
async def napper(ctx: plait.Context) -> None:
    await ctx.sleep(timedelta(days=3))


@pytest.fixture
async def site(tmp_path):
    users = Users(tmp_path / "users.toml")
    users.add("rita", password="rita-pass-123", roles=["approver"], groups=["recruiters"])
    users.add("olga", password="olga-pass-123", roles=["operator"])
    users.add("vic", password="vic-pass-1234", roles=["viewer"])
    settings = ServerSettings(users_file=tmp_path / "users.toml", secret_key="k" * 32)
    async with TestEngine(workflows=[offer_flow, napper]) as engine:
        app = create_app(engine, settings)
        transport = httpx.ASGITransport(app=app)
        yield engine, transport


async def post_login(c, **data):
    """Posts the sign-in form as a browser does: with the token of the form it was shown."""
    form = (await c.get("/login")).text
    token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)
    return await c.post("/login", data={"login_token": token, **data})


async def client_for(transport, name, password):
    c = httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", headers={"accept": "text/html"}
    )
    r = await post_login(c, name=name, password=password, next="/inbox")
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    return c


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def test_pages_show_and_act(site):
    engine, transport = site
    h = await engine.start(offer_flow, "Ada", by="olga")
    n = await engine.start(napper, by="olga")
    await engine.run_until_idle(within=timedelta(hours=1))
    anon = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
    r = await anon.get("/workflows")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/workflows")

    rita = await client_for(transport, "rita", "rita-pass-123")
    page = (await rita.get("/workflows")).text
    assert h.id in page and "Approve offer" in page and "offer for Ada" in page
    assert "Cancel workflow" not in (await rita.get(f"/workflows/{h.id}")).text
    inbox = (await rita.get("/inbox")).text
    assert "Approve offer" in inbox and "data-inbox-count>1<" in inbox
    task_id = (await engine.tasks(workflow_id=h.id))[0].id
    task_page = (await rita.get(f"/tasks/{task_id}")).text
    assert 'name="f.salary" value="50000"' in task_page and "Ada" in task_page
    token = csrf(task_page)

    r = await rita.post(f"/tasks/{task_id}/review", data={"csrf_token": token, "f.salary": "10"})
    assert r.status_code == 422
    assert re.search(
        r'id="f-salary-err"[^>]*>[^<]*greater than or equal to 1000|'
        r'id="f-salary-err"[^>]*>[^<]*minimum of 1000',
        r.text,
    )
    r = await rita.post(
        f"/tasks/{task_id}/review",
        data={"csrf_token": token, "f.salary": "61000", "f.level": "junior"},
    )
    assert r.status_code == 200 and 'data-change="salary"' in r.text
    answer = re.search(r'name="answer" value="([^"]+)"', r.text).group(1).replace("&#34;", '"')
    back = await rita.post(
        f"/tasks/{task_id}/review", data={"csrf_token": token, "answer": answer, "_edit": "1"}
    )
    assert 'name="f.salary" value="61000"' in back.text  # back to the form, edits kept
    r = await rita.post(f"/tasks/{task_id}/complete", data={"answer": answer})
    assert r.status_code == 403  # no CSRF token
    # The engine's own check (InvalidAnswer) puts its errors next to the fields too.
    r = await rita.post(
        f"/tasks/{task_id}/complete", data={"csrf_token": token, "answer": '{"salary": 5}'}
    )
    assert r.status_code == 422
    assert re.search(r'id="f-salary-err"[^>]*>[^<]*greater than or equal to 1000', r.text)
    r = await rita.post(f"/tasks/{task_id}/complete", data={"csrf_token": token, "answer": answer})
    assert r.status_code == 303 and r.headers["location"] == f"/workflows/{h.id}?done=answered"
    await engine.run_until_idle(within=timedelta(hours=1))
    assert await h.result() == "Ada: 61000"
    done = (await rita.get(f"/workflows/{h.id}?done=answered")).text
    assert "Answer recorded" in done and "by rita" in done
    answered = (await rita.get(f"/tasks/{task_id}")).text
    assert "Answered by <b>rita</b>" in answered and 'class="after">61000<' in answered
    assert "completed" in answered and 'id="task-form"' not in answered

    vic = await client_for(transport, "vic", "vic-pass-1234")
    vic_page = (await vic.get(f"/workflows/{n.id}")).text
    assert "Cancel workflow" not in vic_page
    r = await vic.post(
        f"/workflows/{n.id}/cancel", data={"csrf_token": csrf(vic_page), "confirmed": "1"}
    )
    assert r.status_code == 403 and "operator role" in r.text

    olga = await client_for(transport, "olga", "olga-pass-123")
    olga_page = (await olga.get(f"/workflows/{n.id}")).text
    assert "Cancel workflow" in olga_page and "waiting" in olga_page
    r = await olga.post(f"/workflows/{n.id}/cancel", data={"csrf_token": csrf(olga_page)})
    assert r.status_code == 200 and "Yes, cancel it" in r.text  # asks first
    r = await olga.post(
        f"/workflows/{n.id}/cancel", data={"csrf_token": csrf(olga_page), "confirmed": "1"}
    )
    assert r.status_code == 303
    await engine.run_until_idle(within=timedelta(hours=1))
    assert (await engine.get(n.id)).status == "cancelled"
    assert "cancelled" in (await olga.get("/workflows?status=cancelled")).text
    workers = await olga.get("/workers")
    assert workers.status_code == 200 and "No worker is registered" in workers.text
    assert (await olga.get("/workflows/nope")).status_code == 404


async def test_wrong_password_is_refused_on_the_page(site):
    _, transport = site
    c = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
    r = await post_login(c, name="rita", password="wrong")
    assert r.status_code == 401 and "do not match" in r.text
    assert "plait_session" not in r.headers.get("set-cookie", "")
    # A sign-in posted from elsewhere (without the form's token) is refused: no session.
    r = await c.post("/login", data={"name": "rita", "password": "rita-pass-123"})
    assert r.status_code == 403 and "had expired" in r.text
    assert "plait_session" not in r.headers.get("set-cookie", "")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:x"):
        r = await post_login(c, name="rita", password="rita-pass-123", next=target)
        assert r.status_code == 303 and r.headers["location"] == "/workflows"
