"""The app factory: one FastAPI app serving plait's REST API, its pages and the extensions.

``create_app(engine, settings, extensions)`` wires the parts together: the users file (whose
people become the engine's :class:`plait.Directory`), error handlers (one JSON shape),
the API routers, the extensions' routers and static files, and last the UI's pages.

Invariants kept here:
- The app talks to the store only through the engine it is given (its public API), so it
  runs beside workers on other machines.
- The app opens the engine when it starts only if the engine was not open, and then closes
  it when it stops; an engine opened by the caller stays the caller's.
- In local mode (no sign-in) the app answers only requests addressed to a loopback name, so
  a web page elsewhere cannot reach it through DNS rebinding.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

import plait
from plait.server.api import install_api
from plait.server.auth import SignInThrottle, current_app
from plait.server.errors import install_error_handlers
from plait.server.extensions import Extension, check_extensions
from plait.server.pages import install_pages
from plait.server.settings import LOOPBACK_HOSTS, ServerSettings
from plait.server.users import Users

DESCRIPTION = """The REST API of a plait server: workflows, human tasks, workers, health.

Authenticate with an API token (`Authorization: Bearer plait_...`, made by
`plait users add NAME --token`) or the session cookie of a signed-in browser (then unsafe
requests carry the `X-CSRF-Token` header). Every error is `{"error", "message", "field"}`.
"""


def create_app(
    engine: plait.Engine, settings: ServerSettings, extensions: Sequence[Extension] = ()
) -> FastAPI:
    """The server's ASGI app for ``engine``, configured by ``settings``."""
    exts = check_extensions(list(extensions))
    users = Users(settings.users_file, local_mode=settings.local_mode)
    engine.directory = users.directory()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = not engine.is_open
        if opened:
            await engine.open()
        try:
            yield
        finally:
            app.state.stopping.set()  # live streams end
            if opened:
                await engine.close()

    app = FastAPI(
        title="plait",
        version=plait.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load scripts from the internet: none of that here
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.users = users
    app.state.extensions = exts
    app.state.session_key = settings.secret_key or secrets.token_urlsafe(32)
    app.state.throttle = SignInThrottle()
    app.state.public_paths = tuple(p for e in exts for p in e.public_paths)
    app.state.stopping = asyncio.Event()
    app.state.error_page = None  # the UI may set a function rendering errors of pages
    install_error_handlers(app)
    app.add_middleware(_RequestContext, app=app, local_mode=settings.local_mode)
    install_api(app)
    for ext in exts:
        app.include_router(ext.router)
        if ext.static is not None:
            app.mount(f"/ext/{ext.name}/static", StaticFiles(directory=ext.static), ext.name)
    install_pages(app)
    return app


class _RequestContext:
    """Makes the app known to :func:`plait.server.auth.sign_in` during a request, and in
    local mode refuses requests addressed to a name other than a loopback one."""

    def __init__(self, asgi: ASGIApp, *, app: FastAPI, local_mode: bool) -> None:
        self.asgi = asgi
        self.app = app
        self.local_mode = local_mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.asgi(scope, receive, send)
            return
        if self.local_mode:
            host = _host_name(scope)
            if host not in LOOPBACK_HOSTS:
                response = JSONResponse(
                    {
                        "error": "forbidden",
                        "message": f"this server runs without sign-in and answers only "
                        f"requests for 127.0.0.1, localhost or [::1], not {host!r}",
                        "field": None,
                    },
                    status_code=403,
                )
                await response(scope, receive, send)
                return
        token = current_app.set(self.app)
        try:
            await self.asgi(scope, receive, send)
        finally:
            current_app.reset(token)


def _host_name(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"host":
            host: str = value.decode("latin-1").strip().lower()
            if host.startswith("["):
                return host.split("]")[0] + "]"
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return ""
