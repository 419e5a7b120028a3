"""A real plait server (uvicorn in a thread, with a worker, seeded users, workflows and
schedules) and one headless Chromium for the whole module, driven by Playwright.

Debian's ``chromium`` is used (``executable_path``); under ``CI=true`` a missing browser
fails the tests, elsewhere they are skipped with a message saying how to install it.
Screenshots go to ``test-output/screenshots/``; with ``PLAIT_UI_DOCS=1`` they are also
copied to ``docs/ui/`` (the pictures ``docs/ui.md`` shows).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import plait
from plait.server import ServerSettings, create_app
from plait.server.users import Users
from tests.browser import ui_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"
DOCS = ROOT / "docs" / "ui"
PASSWORDS = {
    "rita": "rita-pass-2026",
    "olga": "olga-pass-2026",
    "vic": "vic-pass-20266",
    "amir": "amir-pass-2026",
}


def _need_browser() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[dev]')"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need a browser: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """uvicorn serving create_app(engine) in its own thread and event loop."""

    def __init__(self, folder: Path) -> None:
        import uvicorn

        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ids: dict[str, str] = {}
        self.engine = plait.Engine(
            f"sqlite:///{folder / 'plait.db'}",
            workflows=ui_app.WORKFLOWS,
            schedules=ui_app.SCHEDULES,
            poll_interval=0.2,
        )
        users = Users(folder / "users.toml")
        users.add("rita", password=PASSWORDS["rita"], roles=["approver"], groups=["recruiters"],
                  display_name="Rita Recruiter", time_zone="Europe/Paris")  # fmt: skip
        users.add("olga", password=PASSWORDS["olga"], roles=["operator"], display_name="Olga Ops")
        users.add("vic", password=PASSWORDS["vic"], roles=["viewer"], display_name="Vic Viewer")
        users.add("amir", password=PASSWORDS["amir"], roles=["admin"], display_name="Amir Admin")
        settings = ServerSettings(users_file=folder / "users.toml", secret_key="s" * 40)
        self.app = create_app(self.engine, settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="plait-ui-server", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self.failure = exc

    async def _main(self) -> None:
        async with self.engine, self.engine.worker(concurrency=20):
            await self._seed()
            await self.server.serve()

    async def _seed(self) -> None:
        e = self.engine
        self.ids["screening"] = (await e.start(ui_app.screening, "backend-42", by="olga")).id
        self.ids["import"] = (await e.start(ui_app.import_batch, 7, by="olga")).id
        self.ids["sync"] = (await e.start(ui_app.nightly_sync, "eu-west", by="olga")).id
        self.ids["offer"] = (await e.start(ui_app.make_offer, "Ada Lovelace", by="olga")).id
        self.ids["offer2"] = (await e.start(ui_app.make_offer, "Grace Hopper", by="olga")).id
        # For the operator's pages: a schedule that ran once, a candidate's
        # file carrying a subject, and two versions of one workflow in flight.
        self.ids["report"] = (await e.schedules.trigger("nightly-report", by="olga")).id
        self.ids["ada"] = (
            await e.start(
                ui_app.candidate_file,
                "cand-ada",
                "Ada Lovelace",
                "ada@example.org",
                subject="cand-ada",
                by="olga",
            )  # fmt: skip
        ).id
        self.ids["index-old"] = (await e.start(ui_app.refresh_index_v1, 1, by="olga")).id
        self.ids["index-new"] = (await e.start(ui_app.refresh_index_v2, 2, by="olga")).id
        want = {"screening": "completed", "import": "failed", "sync": "waiting",
                "offer": "waiting", "offer2": "waiting", "report": "completed",
                "ada": "completed", "index-old": "waiting", "index-new": "waiting"}  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = {k: (await e.get(v)).status for k, v in self.ids.items()}
            if got == want and len(await e.tasks(status="open")) == 2:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"seeded workflows did not settle: {got}")

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.failure is not None:
                raise RuntimeError(f"the server failed to start: {self.failure!r}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server did not answer /healthz within 60 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    _need_browser()
    server = LiveServer(tmp_path_factory.mktemp("ui-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(live_server: LiveServer) -> Any:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
    pw.stop()


class Shots:
    """Full-page screenshots, named by page."""

    def __init__(self) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, page: Any, name: str) -> None:
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)

    def publish(self) -> None:
        if os.environ.get("PLAIT_UI_DOCS") == "1":
            DOCS.mkdir(parents=True, exist_ok=True)
            for path in self.taken:
                shutil.copy(path, DOCS / path.name)


@pytest.fixture(scope="module")
def shots() -> Any:
    s = Shots()
    yield s
    s.publish()


def signed_in(browser: Any, server: LiveServer, name: str) -> Any:
    """A browser context (its own cookies) signed in as ``name``."""
    context = browser.new_context(
        viewport={"width": 1360, "height": 860}, timezone_id="Europe/Paris", locale="en-GB"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url("**/workflows")
    return page


WAIT = timedelta(seconds=10)
