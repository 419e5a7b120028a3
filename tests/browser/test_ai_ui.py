"""Model calls in a real headless Chromium: a server with a worker in its process (as
``plait server --worker``), a workflow whose model streams its answer slowly; the page shows
the tokens growing while the call runs, then the journaled call (prompt and answer, who
answered, tokens, cost) and the cost table, without a reload. Screenshotted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

import plait
import plait.ai
from plait.ai import ChatRequest, ChatResponse, OnToken, Usage
from plait.server import ServerSettings, create_app
from plait.server.users import Users
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Shots, _free_port, _need_browser

pytestmark = pytest.mark.timeout(120)
PIECES = ["An old ", "silent pond, ", "a frog jumps ", "into the pond, ", "splash!"]
GAP = 0.4  # seconds between pieces: slow enough to watch


class Skills(pydantic.BaseModel):
    skills: list[str]


class SlowStreamer:
    """A ``plait.ai.Model`` that streams a haiku piece by piece, then answers skills."""

    name = "local:slow-haiku"

    async def complete(self, request: ChatRequest, *, on_token: OnToken | None = None) -> Any:
        if request.output_schema is not None:
            text = '{"skills": ["poetry", "patience"]}'
            return ChatResponse(
                text=text, model=self.name, usage=Usage(input_tokens=40, output_tokens=9)
            )
        for piece in PIECES:
            await asyncio.sleep(GAP)
            if on_token is not None:
                on_token(piece)
        return ChatResponse(
            text="".join(PIECES), model=self.name, usage=Usage(input_tokens=30, output_tokens=20)
        )


@plait.workflow
async def poet(ctx: plait.Context, topic: str) -> list[str]:
    await ctx.wait_for_signal("go")
    haiku = await ctx.ai.chat(None, f"Write a haiku about {topic}", name="haiku")
    found = await ctx.ai.chat(None, [f"Which skills does this show? {haiku.text}"], output=Skills)
    return found.output.skills


class Server:
    def __init__(self, folder: Path) -> None:
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.engine = plait.Engine(
            f"sqlite:///{folder / 'plait.db'}",
            workflows=[poet],
            poll_interval=0.2,
            model=SlowStreamer(),
            prices=plait.ai.Prices({"local:slow-haiku": plait.ai.Price(2.0, 8.0)}),
        )
        users = Users(folder / "users.toml")
        users.add("olga", password="olga-pass-2026", roles=["operator"])
        app = create_app(
            self.engine, ServerSettings(users_file=folder / "users.toml", secret_key="s" * 40)
        )
        app.state.worker_here = True  # as plait server --worker sets it
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                timeout_graceful_shutdown=2,
            )  # fmt: skip
        )
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async with self.engine, self.engine.worker():
            await self.engine.start(poet, "ponds", id="poem-1")
            await self.server.serve()

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
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
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    _need_browser()
    s = Server(tmp_path_factory.mktemp("ai-ui"))
    s.start()
    yield s
    s.stop()


def test_tokens_stream_into_the_page_then_the_call_is_shown_with_its_cost(server):
    from playwright.sync_api import expect, sync_playwright

    shots = Shots()
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        page = browser.new_context(viewport={"width": 1360, "height": 860}).new_page()
        page.set_default_timeout(20_000)
        page.goto(server.url + "/login")
        page.fill("#name", "olga")
        page.fill("#password", "olga-pass-2026")
        page.click("button[type=submit]")
        page.wait_for_url("**/workflows")
        page.goto(server.url + "/workflows/poem-1")
        expect(page.locator("[data-live-status]")).to_have_class("live on")
        page.click("summary:has-text('Send signal')")
        page.fill("#sig-name", "go")
        page.click("form[action$='/signal'] button[type=submit]")
        page.click("text=Yes, send signal")
        streaming = page.locator("li.tl.streaming .msg-text")
        expect(streaming).to_contain_text("silent pond")  # some pieces, not yet all
        assert "splash!" not in streaming.inner_text()
        shots(page, "workflow-model-streaming")
        row = page.locator("li.tl.model[data-seq='2']:not(.streaming)")
        expect(row).to_contain_text("local:slow-haiku · 30 → 20 tokens · $0.0002")
        expect(page.locator("li.tl.streaming")).to_have_count(0)
        expect(page.locator("[data-live-status]")).not_to_have_class("live on")  # finished
        expect(page.locator("#model-calls")).to_contain_text("2 calls · 70 → 29 tokens")
        row.locator("summary:has-text('prompt and answer')").click()
        expect(row).to_contain_text("Write a haiku about ponds")
        expect(row).to_contain_text("An old silent pond, a frog jumps into the pond, splash!")
        typed = page.locator("li.tl.model[data-seq='3']")
        typed.locator("summary:has-text('prompt and answer')").click()
        expect(typed).to_contain_text("patience")
        shots(page, "workflow-model-calls")
        shots.publish()
    finally:
        browser.close()
        pw.stop()
