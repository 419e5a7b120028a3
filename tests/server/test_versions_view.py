"""Versions visible: how many workflows of each (name, version) are in flight, through
``engine.versions()``, ``GET /api/workflows/versions``, the workflows page (a version column
and a "versions in flight" table) and the CLI (``workflows list`` VERSION column,
``workflows versions``). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from click.testing import CliRunner

import plait
from plait.cli import main
from plait.testing import TestEngine
from tests.server.apifixtures import Api, api, make_app, server_engine  # noqa: F401


def napper(version: str) -> plait.WorkflowDef[..., None]:
    async def nap(ctx: plait.Context) -> None:
        await ctx.sleep(timedelta(days=1))

    return plait.workflow(name="nap", version=version)(nap)


V1, V2, V10 = napper("1"), napper("2"), napper("10")


async def _in_flight(engine: TestEngine) -> None:
    for wf in (V1, V2, V10):
        engine.register(wf)
    for n in range(3):
        await engine.start(V1, id=f"old-{n}")
    await engine.start(V2, id="new-0")
    await engine.start(V10, id="newer-0")
    await engine.run_until_idle(within=timedelta(hours=1))


async def test_versions_in_the_api_and_on_the_page(api: Api) -> None:  # noqa: F811
    await _in_flight(api.engine)
    versions = [v for v in await api.engine.versions() if v.name == "nap"]
    assert [(v.version, v.waiting, v.in_flight) for v in versions] == [
        ("1", 3, 3),
        ("2", 1, 1),
        ("10", 1, 1),  # numeric order
    ]
    r = await api.get("/api/workflows/versions")
    assert r.status_code == 200, r.text
    naps = [v for v in r.json()["versions"] if v["name"] == "nap"]
    assert naps[0] == {
        "name": "nap",
        "version": "1",
        "pending": 0,
        "running": 0,
        "waiting": 3,
        "blocked": 0,
        "in_flight": 3,
    }
    assert "/api/workflows/versions" in (await api.client.get("/openapi.json")).json()["paths"]
    page = await api.get("/workflows", headers={"accept": "text/html"})
    assert page.status_code == 200, page.text
    html = page.text
    assert "Versions in flight" in html and 'data-version="nap@1"' in html
    assert "<th>Version</th>" in html


def test_cli_shows_versions(db_url: str) -> None:
    async def setup() -> None:
        async with TestEngine(db_url) as engine:
            await _in_flight(engine)

    asyncio.run(setup())
    runner = CliRunner()
    out = runner.invoke(main, ["workflows", "list", "--database", db_url])
    assert out.exit_code == 0, out.output
    header, *rows = out.output.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "VERSION", "STATUS"]
    assert any(r.split()[:3] == ["newer-0", "nap", "10"] for r in rows)
    listed = json.loads(runner.invoke(main, ["workflows", "list", "--database", db_url,
                                             "--json"]).output)  # fmt: skip
    assert {w["id"]: w["version"] for w in listed}["new-0"] == "2"
    out = runner.invoke(main, ["workflows", "versions", "--database", db_url])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].split()[:4] == ["NAME", "VERSION", "IN", "FLIGHT"]
    assert [ln.split()[:3] for ln in lines[1:]] == [["nap", "1", "3"], ["nap", "2", "1"],
                                                    ["nap", "10", "1"]]  # fmt: skip
    doc = json.loads(runner.invoke(main, ["workflows", "versions", "--database", db_url,
                                          "--json"]).output)  # fmt: skip
    assert doc[0]["in_flight"] == 3 and doc[0]["version"] == "1"
