"""The REST API's workflow, worker and health endpoints, in process, on SQLite and
PostgreSQL: what each returns, the filters and pages, and every error an endpoint
declares (401, 403, 404, 409, 422 with the field)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.server.apifixtures import Api, client_of


def error_of(r, status: int, code: str, field: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code, body
    assert body["field"] == field, body
    assert body["message"]
    return str(body["message"])


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    assert (await api.client.get("/readyz")).json() == {"status": "ok"}


async def test_readyz_is_503_when_the_store_does_not_answer(api: Api, monkeypatch) -> None:
    async def unreachable(**kw):
        raise ConnectionRefusedError("the database is down")

    monkeypatch.setattr(api.engine, "page", unreachable)
    error_of(await api.client.get("/readyz"), 503, "unavailable")
    assert (await api.client.get("/healthz")).status_code == 200  # alive, not ready


async def test_list_filter_and_page_workflows(api: Api) -> None:
    ids = []
    for n in range(5):
        ids.append(await api.start("waiter", n, id=f"w{n}"))
        api.engine.clock.advance(timedelta(seconds=1))
    review = await api.start("review", "engineer", id="rev")
    await api.run()

    r = await api.get("/api/workflows")
    assert r.status_code == 200
    listed = r.json()["items"]
    assert [w["id"] for w in listed] == ["rev", *reversed(ids)]  # newest first
    assert r.json()["next_cursor"] is None
    first = listed[0]
    assert first["status"] == "waiting" and first["name"] == "review"
    assert first["status_text"] == "waiting for a recruiter"
    assert first["attributes"] == {"stage": "review"}

    by_name = (await api.get("/api/workflows", params={"name": "waiter"})).json()["items"]
    assert {w["id"] for w in by_name} == set(ids)
    by_attr = (await api.get("/api/workflows", params={"attr.stage": "review"})).json()
    assert [w["id"] for w in by_attr["items"]] == [review]
    by_status = await api.get(
        "/api/workflows", params=[("status", "completed"), ("status", "failed")]
    )
    assert by_status.json()["items"] == []
    found = (await api.get("/api/workflows", params={"q": "w3"})).json()["items"]
    assert [w["id"] for w in found] == ["w3"]
    assert (await api.get("/api/workflows", params={"q": "w3", "name": "review"})).json()[
        "items"
    ] == []
    assert (await api.get("/api/workflows", params={"q": "nope"})).json()["items"] == []
    # creation time in [since, until), as ISO 8601 text
    w1, w3 = (next(w for w in listed if w["id"] == i)["created_at"] for i in ("w1", "w3"))
    window = await api.get("/api/workflows", params={"since": w1, "until": w3})
    assert [w["id"] for w in window.json()["items"]] == ["w2", "w1"]

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/workflows", params=params)).json()
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [w["id"] for w in listed]

    counts = (await api.get("/api/workflows/counts")).json()
    assert counts["by_status"]["waiting"] == 6 and counts["by_status"]["failed"] == 0
    assert counts["by_name"]["waiter"]["waiting"] == 5


async def test_list_rejects_bad_filters_naming_the_field(api: Api) -> None:
    for params, field in [
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"status": "sleeping"}, "status.0"),
        ({"since": "yesterday"}, "since"),
        # a number is not read as Unix seconds: the schema says an ISO 8601 date-time
        ({"until": "-217"}, "until"),
        ({"since": "1700000000"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"name": "a\x00b"}, "name"),
    ]:
        r = await api.get("/api/workflows", params=params)
        error_of(r, 422, "invalid", field)
        assert r.json()["errors"][0]["field"] == field
        if field in ("since", "until") and params[field][-1].isdigit():
            assert "ISO 8601" in r.text, r.text


async def test_reads_need_credentials_and_a_role(api: Api) -> None:
    for path in ["/api/workflows", "/api/workflows/counts", "/api/workers", "/api/tasks"]:
        error_of(await api.get(path, who=None), 401, "unauthenticated")
        error_of(
            await api.client.get(path, headers={"Authorization": "Bearer plait_wrong"}),
            401,
            "unauthenticated",
        )
        error_of(await api.get(path, who="nemo"), 403, "forbidden")
        assert (await api.get(path, who="vera")).status_code == 200


async def test_detail_shows_journal_attempts_error_events_tasks_and_children(api: Api) -> None:
    await api.start("failing", id="f1")
    await api.start("review", "designer", id="r1")
    await api.run()

    failed = (await api.get("/api/workflows/f1")).json()
    assert failed["info"]["status"] == "failed"
    assert failed["info"]["error"]["type"] == "StepFailed"
    assert "Boom" in failed["info"]["error"]["traceback"]
    [step] = failed["journal"]
    assert step["name"].endswith("explode") and step["status"] == "failed"
    [attempt] = step["attempts"]
    assert attempt["error"] == {
        "type": "Boom",
        "message": "the step failed on purpose",
        "traceback": attempt["error"]["traceback"],
        "seq": attempt["error"]["seq"],
    }
    assert [(e["kind"], e["by"]) for e in failed["events"]] == [("started", "olga")]

    review = (await api.get("/api/workflows/r1")).json()
    assert review["info"]["input"] == ["designer"]
    assert review["info"]["attributes"] == {"stage": "review"}
    kinds = [e["kind"] for e in review["journal"]]
    assert kinds[0] == "step" and review["journal"][0]["output"]["salary"] == 50_000
    [task] = review["tasks"]
    assert task["title"] == "Review the offer for designer" and task["assignee"] == "recruiters"
    assert review["children"] == [] and review["runs"] == []

    error_of(await api.get("/api/workflows/nope"), 404, "not_found")
    error_of(await api.get("/api/workflows/nope", who=None), 401, "unauthenticated")


async def test_start_checks_the_workflow_and_its_arguments(api: Api) -> None:
    r = await api.post("/api/workflows", json={"workflow": "waiter", "args": [1], "id": "s1"})
    assert r.status_code == 201 and r.json()["id"] == "s1" and r.json()["status"] == "pending"
    events = (await api.get("/api/workflows/s1")).json()["events"]
    assert [(e["kind"], e["by"]) for e in events] == [("started", "olga")]

    message = error_of(
        await api.post("/api/workflows", json={"workflow": "nope"}), 422, "invalid", "workflow"
    )
    assert "waiter" in message  # the known ones are listed
    message = error_of(
        await api.post("/api/workflows", json={"workflow": "waiter", "args": ["ten"]}),
        422,
        "invalid",
        "args.n",
    )
    assert "'n'" in message
    error_of(await api.post("/api/workflows", json={"args": []}), 422, "invalid", "workflow")
    error_of(
        await api.post("/api/workflows", json={"workflow": "waiter", "colour": "red"}),
        422,
        "invalid",
        "colour",
    )
    error_of(
        await api.post(
            "/api/workflows", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        422,
        "invalid",
        "body",
    )
    error_of(
        await api.post("/api/workflows", json={"workflow": "waiter", "args": [2], "id": "s1"}),
        409,
        "conflict",
    )
    error_of(
        await api.post("/api/workflows", who="vera", json={"workflow": "waiter"}), 403, "forbidden"
    )
    error_of(
        await api.post("/api/workflows", who=None, json={"workflow": "waiter"}),
        401,
        "unauthenticated",
    )


async def test_a_server_without_the_app_code_refuses_to_start_but_acts(
    api: Api, make_app, server_engine
) -> None:
    waiting = await api.start("waiter", 1, id="x1")
    await api.run()
    async with client_of(make_app(has_app=False)) as client:
        headers = api.auth("olga")
        r = await client.post(
            "/api/workflows", headers=headers, json={"workflow": "waiter", "args": [1]}
        )
        assert "--app module:engine" in error_of(r, 409, "conflict")
        r = await client.post(
            f"/api/workflows/{waiting}/signal", headers=headers, json={"name": "go", "payload": 2}
        )
        assert r.json() == {"sent": True}
    await api.run()
    assert (await api.get("/api/workflows/x1")).json()["info"]["output"] == 3


async def test_signal_cancel_and_resume(api: Api) -> None:
    await api.start("waiter", 10, id="w")
    await api.start("failing", id="f")
    await api.start("waiter", 0, id="c")
    await api.run()

    r = await api.post(
        "/api/workflows/w/signal", json={"name": "go", "payload": 5, "dedup_key": "k"}
    )
    assert r.json() == {"sent": True}
    r = await api.post(
        "/api/workflows/w/signal", json={"name": "go", "payload": 6, "dedup_key": "k"}
    )
    assert r.json() == {"sent": False}
    await api.run()
    assert (await api.get("/api/workflows/w")).json()["info"]["output"] == 15
    error_of(await api.post("/api/workflows/w/signal", json={"name": "go"}), 409, "conflict")
    error_of(await api.post("/api/workflows/nope/signal", json={"name": "go"}), 404, "not_found")
    error_of(
        await api.post("/api/workflows/c/signal", json={"name": "plait:x"}), 422, "invalid", "name"
    )
    error_of(await api.post("/api/workflows/c/signal", json={"payload": 1}), 422, "invalid", "name")

    error_of(await api.post("/api/workflows/c/cancel", who="vera"), 403, "forbidden")
    error_of(await api.post("/api/workflows/c/cancel", who="ada"), 403, "forbidden")
    assert (await api.post("/api/workflows/c/cancel")).status_code == 200
    await api.run()
    detail = (await api.get("/api/workflows/c")).json()
    assert detail["info"]["status"] == "cancelled"
    assert [(e["kind"], e["by"]) for e in detail["events"]] == [
        ("started", "olga"),
        ("cancelled", "olga"),
    ]
    error_of(await api.post("/api/workflows/c/cancel"), 409, "conflict")
    error_of(await api.post("/api/workflows/nope/cancel"), 404, "not_found")

    error_of(await api.post("/api/workflows/w/resume"), 409, "conflict")  # completed
    r = await api.post("/api/workflows/f/resume", who="root")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert (await api.get("/api/workflows/f")).json()["events"][-1]["by"] == "root"
    error_of(await api.post("/api/workflows/nope/resume"), 404, "not_found")


async def test_workers_lists_who_is_alive_and_what_it_holds(api: Api) -> None:
    assert (await api.get("/api/workers")).json() == {"items": []}
    async with api.engine.worker(queues=["default"]) as worker:
        [w] = (await api.get("/api/workers")).json()["items"]
        assert w["id"] == worker.id and w["pid"] and w["hostname"]
        assert w["queues"] == ["default"] and "waiter@1" in w["workflows"]
        assert w["holds"] == []


async def test_me_shows_the_user_and_no_secret(api: Api, users_file) -> None:
    r = await api.get("/api/me", who="ada")
    assert r.json() == {
        "name": "ada",
        "display_name": "ada",
        "email": None,
        "groups": ["recruiters"],
        "roles": ["approver"],
        "time_zone": "Europe/Oslo",
    }
    stored = users_file.read_text()
    assert "argon2" in stored and "sha256:" in stored
    assert api.tokens["ada"] not in stored  # only the digest is kept


async def test_unknown_routes_and_methods_answer_in_the_error_shape(api: Api) -> None:
    error_of(await api.get("/api/nothing"), 404, "not_found")
    error_of(await api.client.delete("/api/workflows"), 405, "method_not_allowed")


async def test_the_openapi_document_declares_every_error(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if not path.startswith("/api/"):
                continue
            declared = set(op["responses"])
            assert "401" in declared, (method, path)
            if path != "/api/me":  # every signed-in user may ask who they are
                assert "403" in declared, (method, path)
            if op.get("parameters") or "requestBody" in op:
                assert "422" in declared, (method, path)
                schema = op["responses"]["422"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}
            if "{" in path:
                assert "404" in declared, (method, path)
            if method == "post":
                assert "409" in declared, (method, path)


@pytest.mark.backends("sqlite")
async def test_the_app_opens_and_closes_only_an_engine_it_was_given_closed(
    users_file, tmp_path
) -> None:
    from plait.server import ServerSettings, create_app
    from plait.testing import TestEngine
    from tests.server.server_app import WORKFLOWS

    engine = TestEngine(f"sqlite:///{tmp_path}/app.db", workflows=WORKFLOWS)
    app = create_app(engine, ServerSettings(users_file=users_file, secret_key="k" * 20))
    assert not engine.is_open
    async with app.router.lifespan_context(app):
        assert engine.is_open
        async with client_of(app) as client:
            assert (await client.get("/readyz")).status_code == 200
    assert not engine.is_open
    async with engine:
        async with app.router.lifespan_context(app):
            pass
        assert engine.is_open  # the caller's, still open
    assert not engine.is_open


async def test_text_with_nul_characters_is_refused_at_the_edge(api: Api) -> None:
    # PostgreSQL cannot store NUL in text: refused with the field, never a workflow that fails
    await api.start("review", "designer", id="r1")
    await api.run()
    [task] = (await api.get("/api/workflows/r1")).json()["tasks"]
    for url, body, field in [
        ("/api/workflows", {"workflow": "review", "args": ["a\x00b"]}, "args.0"),
        ("/api/workflows/r1/signal", {"name": "go", "payload": {"k\x00": 1}}, "payload"),
        (f"/api/tasks/{task['id']}/complete", {"answer": {"title": "\x00", "salary": 1}}, "answer"),
        ("/api/workflows/r1/signal", {"name": "go\x00"}, "name"),
    ]:
        error_of(await api.post(url, who="root", json=body), 422, "invalid", field)
    assert (await api.get(f"/api/tasks/{task['id']}")).json()["status"] == "open"
