"""Security of the API: another person's session cannot answer my task; a browser session
cannot act without its CSRF token (an API token needs none); passwords, tokens, hashes
and the secret key never appear in responses or logs."""

from __future__ import annotations

import logging

import pytest

from tests.server.apifixtures import (
    KEY,
    PASSWORDS,
    Api,
    client_of,
)
from tests.server.test_api import error_of
from tests.server.test_api_tasks import seeded
from tests.server.test_auth import add_sign_in_routes, signed_in


async def test_another_persons_session_cannot_complete_my_task(api: Api) -> None:
    review, approval = await seeded(api)  # review: ada's group; approval: bob's
    add_sign_in_routes(api.app)
    async with signed_in(api.app, "bob", PASSWORDS["bob"]) as bob:
        token = (await bob.get("/t/csrf")).json()["csrf"]
        headers = {"X-CSRF-Token": token}
        answer = {"answer": {"title": "mine now", "salary": 1}}
        r = await bob.post(f"/api/tasks/{review}/complete", json=answer, headers=headers)
        error_of(r, 403, "forbidden")
        r = await bob.post(f"/api/tasks/{review}/claim", headers=headers)
        error_of(r, 403, "forbidden")
        # his own task he may answer, with the same session and token
        r = await bob.post(
            f"/api/tasks/{approval}/complete", json={"answer": {"approved": False}}, headers=headers
        )
        assert r.status_code == 200 and r.json()["completed_by"] == "bob"
    task = (await api.get(f"/api/tasks/{review}")).json()
    assert task["status"] == "open" and task["claimed_by"] is None


async def test_a_cookie_session_needs_its_csrf_token_and_a_bearer_token_none(api: Api) -> None:
    review, _ = await seeded(api)
    add_sign_in_routes(api.app)
    body = {"answer": {"title": "t", "salary": 5}}
    url = f"/api/tasks/{review}/complete"
    async with (
        signed_in(api.app, "ada", PASSWORDS["ada"]) as ada,
        signed_in(api.app, "bob", PASSWORDS["bob"]) as bob,
    ):
        bobs_token = (await bob.get("/t/csrf")).json()["csrf"]
        error_of(await ada.post(url, json=body), 403, "csrf")
        error_of(await ada.post(url, json=body, headers={"X-CSRF-Token": bobs_token}), 403, "csrf")
        error_of(await ada.post("/api/workflows/rev/cancel"), 403, "csrf")
        assert (await api.get(f"/api/tasks/{review}")).json()["status"] == "open"
    # the same request with ada's API token and no CSRF token at all
    r = await api.post(url, who="ada", json=body)
    assert r.status_code == 200 and r.json()["completed_by"] == "ada"


@pytest.mark.backends("sqlite")
async def test_secrets_are_never_in_responses_or_logs(api: Api, users_file, caplog) -> None:
    add_sign_in_routes(api.app)
    secrets = [KEY, *PASSWORDS.values(), *api.tokens.values()]
    stored = users_file.read_text()
    secrets += [line.split('"')[1] for line in stored.splitlines() if "$argon2" in line]
    secrets += [
        part.strip(' ",') for part in stored.split() if part.strip(' ",').startswith("sha256:")
    ]
    assert len(secrets) > 10
    bodies: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with client_of(api.app) as client:
            for name, password in [("ada", "wrong-" + PASSWORDS["ada"]), ("ada", PASSWORDS["ada"])]:
                r = await client.post("/t/sign-in", data={"name": name, "password": password})
                bodies.append(r.text + str(r.headers.get("set-cookie", "")).split("=")[0])
            for path in ["/api/me", "/openapi.json", "/api/workflows", "/api/tasks?scope=all"]:
                bodies.append((await client.get(path)).text)
        for who in api.tokens:
            bodies.append((await api.get("/api/me", who=who)).text)
        r = await api.client.get(
            "/api/me", headers={"Authorization": "Bearer " + api.tokens["ada"] + "x"}
        )
        bodies.append(r.text)
        bodies.append((await api.post("/api/workflows", json={"workflow": PASSWORDS["bob"]})).text)
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret not in logged
        for body in bodies[:-1]:
            assert secret not in body
    # what a person typed into a field comes back to them only (bob's password as a name)
    assert PASSWORDS["ada"] not in bodies[-1]
