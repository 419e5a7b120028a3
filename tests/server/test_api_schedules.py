"""``/api/schedules`` in process on SQLite and PostgreSQL: viewers read, operators add,
pause, resume, trigger and delete; each error in the one JSON shape with its field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.server.apifixtures import Api
from tests.server.test_api import error_of

NIGHTLY = {"id": "nightly", "workflow": "waiter", "args": [5], "cron": "0 2 * * *",
           "timezone": "Europe/Paris", "catchup": "all"}  # fmt: skip


async def test_add_list_pause_resume_trigger_delete(api: Api) -> None:
    r = await api.post("/api/schedules", json=NIGHTLY)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["timing"] == "cron '0 2 * * *' (Europe/Paris)" and added["source"] == "api"
    assert added["next_run_at"] and added["args"] == [5] and not added["paused"]
    every = {"id": "often", "workflow": "waiter", "args": [1], "every_seconds": 60}
    assert (await api.post("/api/schedules", json=every)).status_code == 201
    listed = (await api.get("/api/schedules")).json()["items"]  # a viewer reads
    assert [s["id"] for s in listed] == ["nightly", "often"] and listed[1]["every_seconds"] == 60

    paused = (await api.post("/api/schedules/often/pause")).json()
    assert paused["paused"] and paused["next_run_at"] is None
    await api.engine.run_until_idle(within=timedelta(minutes=3))
    assert await api.engine.list(name="waiter") == []  # paused: nothing started
    resumed = (await api.post("/api/schedules/often/resume")).json()
    assert not resumed["paused"] and resumed["next_run_at"]

    r = await api.post("/api/schedules/nightly/trigger")
    assert r.status_code == 201
    started = r.json()["workflow_id"]
    assert started.startswith("nightly@")
    assert (await api.engine.events(started))[0].by == "olga"
    assert (await api.get("/api/schedules")).json()["items"][0]["last_workflow_id"] == started

    r = await api.client.delete("/api/schedules/often", headers=api.auth("olga"))
    assert r.status_code == 204
    assert [s["id"] for s in (await api.get("/api/schedules")).json()["items"]] == ["nightly"]


async def test_roles(api: Api) -> None:
    error_of(await api.post("/api/schedules", who="vera", json=NIGHTLY), 403, "forbidden")
    error_of(await api.post("/api/schedules/x/pause", who="vera"), 403, "forbidden")
    r = await api.client.delete("/api/schedules/x", headers=api.auth("vera"))
    error_of(r, 403, "forbidden")
    error_of(await api.get("/api/schedules", who=None), 401, "unauthenticated")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"cron": "99 * * * *"}, "cron", "bad cron expression"),
        ({"timezone": "Mars/Base"}, "timezone", "unknown time zone 'Mars/Base'"),
        ({"every_seconds": 60}, "cron", "exactly one of cron="),
        ({"id": "a b"}, "id", "bad schedule id"),
        ({"args": ["five"]}, "args.n", "expects int"),
        ({"workflow": "nope"}, "workflow", "no workflow named 'nope'"),
        ({"catchup": "most"}, "catchup", "skip"),
    ],
)
async def test_bad_schedules_are_422_with_the_field(
    api: Api, change: dict[str, object], field: str | None, words: str
) -> None:
    r = await api.post("/api/schedules", json={**NIGHTLY, **change})
    assert words in error_of(r, 422, "invalid", field)


async def test_not_found_and_conflicts(api: Api) -> None:
    for action in ("pause", "resume", "trigger"):
        assert "no schedule 'nope'" in error_of(
            await api.post(f"/api/schedules/nope/{action}"), 404, "not_found"
        )
    error_of(
        await api.client.delete("/api/schedules/nope", headers=api.auth("olga")), 404, "not_found"
    )
    assert (await api.post("/api/schedules", json=NIGHTLY)).status_code == 201
    assert "exists already" in error_of(
        await api.post("/api/schedules", json=NIGHTLY), 409, "conflict"
    )
