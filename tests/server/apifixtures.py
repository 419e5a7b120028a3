"""Fixtures of the API tests: a users file with one person per role, an engine on each
backend with the test application's workflows, and an in-process client of the app.

Import the fixtures a test module uses (``from tests.server.apifixtures import api, ...``).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plait.server import ServerSettings, create_app
from plait.server.users import Users
from plait.testing import TestEngine
from tests.server import server_app

KEY = "test-secret-key-0123456789abcdef"
PASSWORDS = {"ada": "ada-Secret-pw-1", "bob": "bob-Secret-pw-2"}
PEOPLE: dict[str, dict[str, Any]] = {
    "root": {"roles": ["admin"]},
    "olga": {"roles": ["operator"]},
    "vera": {"roles": ["viewer"]},
    "ada": {"roles": ["approver"], "groups": ["recruiters"], "time_zone": "Europe/Oslo"},
    "bob": {"roles": ["approver"], "groups": ["finance"]},
    "nemo": {"roles": []},
}


class Api:
    """An in-process client of the app, acting as one of :data:`PEOPLE` by API token."""

    def __init__(
        self, client: httpx.AsyncClient, app: FastAPI, engine: TestEngine, tokens: dict[str, str]
    ) -> None:
        self.client = client
        self.app = app
        self.engine = engine
        self.tokens = tokens

    def auth(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, path: str, who: str | None = "vera", **kw: Any) -> httpx.Response:
        headers = {**self.auth(who), **kw.pop("headers", {})}
        return await self.client.get(path, headers=headers, **kw)

    async def post(self, path: str, who: str | None = "olga", **kw: Any) -> httpx.Response:
        headers = {**self.auth(who), **kw.pop("headers", {})}
        return await self.client.post(path, headers=headers, **kw)

    async def run(self) -> None:
        """Runs what is runnable; the fake clock moves at most a minute (no task expires)."""
        await self.engine.run_until_idle(within=timedelta(minutes=1))

    async def start(self, workflow: str, *args: Any, id: str | None = None) -> str:
        r = await self.post(
            "/api/workflows", json={"workflow": workflow, "args": list(args), "id": id}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


@pytest.fixture(scope="session")
def users_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The users file (hashing passwords is slow on purpose: once per session)."""
    path = tmp_path_factory.mktemp("users") / "plait-users.toml"
    users = Users(path)
    tokens = {}
    for name, spec in PEOPLE.items():
        token = users.add(name, password=PASSWORDS.get(name), token=True, **spec)
        assert token is not None
        tokens[name] = token
    return path, tokens


@pytest.fixture
def users_file(users_template: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    """A copy of the users file for this test (it may change it)."""
    path = tmp_path / "plait-users.toml"
    shutil.copy(users_template[0], path)
    return path


@pytest.fixture
def tokens(users_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return users_template[1]


@pytest.fixture
async def server_engine(
    plait_backend: str, new_db_url: Callable[..., str]
) -> AsyncIterator[TestEngine]:
    """A TestEngine (fake clock) with the test application's workflows, on each backend."""
    url = None if plait_backend == "sqlite" else new_db_url()
    async with TestEngine(url, workflows=server_app.WORKFLOWS) as engine:
        yield engine


@pytest.fixture
def make_app(server_engine: TestEngine, users_file: Path) -> Callable[..., FastAPI]:
    def make(**settings: Any) -> FastAPI:
        settings.setdefault("secret_key", KEY)
        return create_app(
            server_engine,
            ServerSettings(users_file=users_file, **settings),
            server_app.plait_server_extensions(server_engine),
        )

    return make


def client_of(app: FastAPI, base_url: str = "http://127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def api(
    make_app: Callable[..., FastAPI], server_engine: TestEngine, tokens: dict[str, str]
) -> AsyncIterator[Api]:
    app = make_app()
    async with client_of(app) as client:
        yield Api(client, app, server_engine, tokens)
