"""The REST API's human tasks, in process, on SQLite and PostgreSQL: inbox scopes and
filters, the detail with form and audit trail, claiming, reassigning and completing, with
the roles and groups each needs (a viewer cannot answer, an approver of another group
cannot, a second answer is a conflict, a bad answer names its field)."""

from __future__ import annotations

from datetime import timedelta

from tests.server.apifixtures import Api
from tests.server.test_api import error_of


async def tasks_of(api: Api, who: str, **params) -> list[dict]:
    r = await api.get("/api/tasks", who=who, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def seeded(api: Api) -> tuple[str, str]:
    """A review for the recruiters (ada's group) and an approval for bob: their task ids."""
    await api.start("review", "engineer", id="rev")
    await api.run()
    api.engine.clock.advance(timedelta(seconds=1))
    await api.start("approve", "bob", id="app")
    await api.run()
    [review] = (await api.get("/api/workflows/rev")).json()["tasks"]
    [approval] = (await api.get("/api/workflows/app")).json()["tasks"]
    return review["id"], approval["id"]


async def test_inbox_scopes_and_filters(api: Api) -> None:
    review, approval = await seeded(api)
    assert [t["id"] for t in await tasks_of(api, "ada")] == [review]  # mine: me and my groups
    assert [t["id"] for t in await tasks_of(api, "bob")] == [approval]
    assert [t["id"] for t in await tasks_of(api, "ada", scope="groups")] == [review]
    assert await tasks_of(api, "bob", scope="groups") == []  # finance has none
    assert await tasks_of(api, "vera", scope="groups") == []  # in no group
    assert [t["id"] for t in await tasks_of(api, "vera", scope="all")] == [review, approval]
    assert await tasks_of(api, "vera", scope="all", status="completed") == []

    first = (await tasks_of(api, "ada"))[0]
    assert first["title"] == "Review the offer for engineer" and first["status"] == "open"
    assert first["assignee"] == "recruiters" and first["overdue"] is False
    assert first["due_at"] is not None

    assert await tasks_of(api, "vera", scope="all", overdue="true") == []
    api.engine.clock.advance(timedelta(days=3))  # past the review's due time, not run
    overdue = await tasks_of(api, "vera", scope="all", overdue="true")
    assert [(t["id"], t["overdue"]) for t in overdue] == [(review, True)]
    everything = await tasks_of(api, "vera", scope="all")
    assert [t["id"] for t in everything] == [review, approval]  # the overdue one first

    page = (await api.get("/api/tasks", params={"scope": "all", "limit": 1})).json()
    assert [t["id"] for t in page["items"]] == [review] and page["next_cursor"]
    page = (
        await api.get(
            "/api/tasks", params={"scope": "all", "limit": 1, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [t["id"] for t in page["items"]] == [approval] and page["next_cursor"] is None

    for params, field in [
        ({"scope": "everyone"}, "scope"),
        ({"status": "done"}, "status.0"),
        ({"overdue": "maybe"}, "overdue"),
        ({"cursor": "abc"}, "cursor"),
        ({"limit": 5000}, "limit"),
    ]:
        error_of(await api.get("/api/tasks", params=params), 422, "invalid", field)
    error_of(await api.get("/api/tasks", who="nemo"), 403, "forbidden")
    error_of(await api.get("/api/tasks", who=None), 401, "unauthenticated")


async def test_task_detail_has_form_proposal_context_and_audit_trail(api: Api) -> None:
    review, _ = await seeded(api)
    task = (await api.get(f"/api/tasks/{review}")).json()
    assert task["form_schema"]["properties"]["salary"]["maximum"] == 1_000_000
    assert task["proposal"] == {"title": "engineer", "salary": 50_000, "remote": False}
    assert task["context"] == {"role": "engineer"}
    assert task["answer"] is None and task["changes"] == []
    assert [(e["kind"], e["actor"]) for e in task["events"]] == [("created", None)]
    error_of(await api.get("/api/tasks/nope"), 404, "not_found")
    error_of(await api.get(f"/api/tasks/{review}", who=None), 401, "unauthenticated")


async def test_complete_a_task_with_an_edited_answer(api: Api) -> None:
    review, _ = await seeded(api)
    answer = {"title": "senior engineer", "salary": 65_000, "remote": True}
    r = await api.post(
        f"/api/tasks/{review}/complete", who="ada", json={"answer": answer, "comment": "ok"}
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed" and done["completed_by"] == "ada"
    assert done["answer"] == answer and done["comment"] == "ok"
    assert {c["field"] for c in done["changes"]} == {"title", "salary", "remote"}
    assert [e["kind"] for e in done["events"]] == ["created", "completed"]
    assert done["events"][-1]["actor"] == "ada"
    await api.run()
    info = (await api.get("/api/workflows/rev")).json()["info"]
    assert info["status"] == "completed" and info["output"] == "senior engineer:65000"

    again = await api.post(f"/api/tasks/{review}/complete", who="root", json={"answer": answer})
    error_of(again, 409, "conflict")


async def test_who_may_complete(api: Api) -> None:
    review, approval = await seeded(api)
    answer = {"answer": {"title": "x", "salary": 1}}
    # bob approves, but for finance: the recruiters' task is not his
    assert "recruiters" in error_of(
        await api.post(f"/api/tasks/{review}/complete", who="bob", json=answer), 403, "forbidden"
    )
    error_of(
        await api.post(f"/api/tasks/{review}/complete", who="vera", json=answer), 403, "forbidden"
    )
    error_of(
        await api.post(f"/api/tasks/{review}/complete", who="olga", json=answer), 403, "forbidden"
    )
    error_of(
        await api.post(f"/api/tasks/{review}/complete", who=None, json=answer),
        401,
        "unauthenticated",
    )
    error_of(await api.post("/api/tasks/nope/complete", who="ada", json=answer), 404, "not_found")
    # an approval asked of bob, answered by the admin
    r = await api.post(
        f"/api/tasks/{approval}/complete", who="root", json={"answer": {"approved": True}}
    )
    assert r.status_code == 200 and r.json()["completed_by"] == "root"
    await api.run()
    assert (await api.get("/api/workflows/app")).json()["info"]["output"] is True


async def test_a_bad_answer_names_its_field(api: Api) -> None:
    review, _ = await seeded(api)
    url = f"/api/tasks/{review}/complete"
    r = await api.post(url, who="ada", json={"answer": {"title": "x", "salary": -1}})
    error_of(r, 422, "invalid", "answer.salary")
    r = await api.post(url, who="ada", json={"answer": {"title": "x", "salary": 1, "bonus": 2}})
    error_of(r, 422, "invalid", "answer.bonus")
    r = await api.post(url, who="ada", json={"answer": {"salary": 1, "remote": "sometimes"}})
    fields = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 422 and fields == {"answer.title", "answer.remote"}
    error_of(await api.post(url, who="ada", json={}), 422, "invalid", "answer")
    task = (await api.get(f"/api/tasks/{review}")).json()
    assert task["status"] == "open"  # nothing changed


async def test_claim_and_reassign(api: Api) -> None:
    review, approval = await seeded(api)
    r = await api.post(f"/api/tasks/{review}/claim", who="ada")
    assert r.status_code == 200 and r.json()["claimed_by"] == "ada"
    error_of(await api.post(f"/api/tasks/{review}/claim", who="bob"), 403, "forbidden")
    error_of(await api.post(f"/api/tasks/{review}/claim", who="vera"), 403, "forbidden")
    error_of(await api.post("/api/tasks/nope/claim", who="ada"), 404, "not_found")

    url = f"/api/tasks/{review}/reassign"
    error_of(await api.post(url, who="ada", json={"to": "bob"}), 403, "forbidden")  # admin only
    error_of(await api.post(url, who="root", json={"to": "nobody"}), 422, "invalid", "to")
    error_of(await api.post(url, who="root", json={}), 422, "invalid", "to")
    error_of(
        await api.post("/api/tasks/nope/reassign", who="root", json={"to": "bob"}), 404, "not_found"
    )
    r = await api.post(url, who="root", json={"to": "finance"})
    assert r.status_code == 200
    moved = r.json()
    assert moved["assignee"] == "finance" and moved["claimed_by"] is None
    assert [e["kind"] for e in moved["events"]][-1] == "reassigned"
    assert [t["id"] for t in await tasks_of(api, "bob")] == [review, approval]
    r = await api.post(
        f"/api/tasks/{review}/complete", who="bob", json={"answer": {"title": "t", "salary": 2}}
    )
    assert r.status_code == 200
    error_of(await api.post(f"/api/tasks/{review}/claim", who="bob"), 409, "conflict")
    error_of(await api.post(url, who="root", json={"to": "bob"}), 409, "conflict")
