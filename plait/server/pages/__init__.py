"""The web pages of ``plait server``: workflows, a workflow's timeline, the inbox, a task's
form, workers, schedules, sign-in. Server-rendered with Jinja2, readable without
JavaScript; the small script in ``static/plait.js`` adds live updates, inline
confirmations and the inline diff.

:func:`install_pages` (called last by ``create_app``) builds the template environment —
plait's templates first, then each extension's folder, so an extension's page may extend
``base.html`` — with the globals ``nav``, ``local_mode`` and ``csrf_token``; serves
``/static``; and adds the page routes. An extension's page handler renders its template with
``await render_page(request, "its.html", user, {...})`` (``user`` from ``page_user``) to get
plait's layout: the navigation, the signed-in person and the inbox count. Pages use only
the engine's public API and the server's auth dependencies (``page_user``, ``verify_csrf``,
``check_sign_in``, ``sign_in``).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from plait.server.auth import csrf_token
from plait.server.extensions import Extension, NavItem
from plait.server.pages.common import error_page
from plait.server.pages.common import render as render_page
from plait.server.pages.model_calls import NOTHING
from plait.server.pages.render import install_filters

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
__all__ = ["install_pages", "render_page"]

NAV = (
    NavItem("Workflows", "/workflows"),
    NavItem("Inbox", "/inbox"),
    NavItem("Workers", "/workers"),
    NavItem("Schedules", "/schedules"),
    NavItem("Erasure", "/subjects", role="admin"),
)


def install_pages(app: FastAPI) -> None:
    """Adds plait's web pages, its static files and the template environment to ``app``."""
    from plait.server.pages.other_pages import router as other_router
    from plait.server.pages.schedule_pages import router as schedule_router
    from plait.server.pages.subject_pages import router as subject_router
    from plait.server.pages.task_pages import router as task_router
    from plait.server.pages.tokens import router as tokens_router
    from plait.server.pages.workflow_pages import router as workflow_router

    extensions: tuple[Extension, ...] = tuple(getattr(app.state, "extensions", ()))
    folders = [str(TEMPLATES)] + [str(e.templates) for e in extensions if e.templates]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_filters(env)
    env.globals.update(
        nav=list(NAV) + [item for e in extensions for item in e.nav],
        local_mode=bool(app.state.settings.local_mode),
        csrf_token=csrf_token,
        nothing=NOTHING,
    )
    app.state.templates = Jinja2Templates(env=env)
    app.state.error_page = error_page
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(other_router, include_in_schema=False)
    app.include_router(workflow_router, include_in_schema=False)
    app.include_router(task_router, include_in_schema=False)
    app.include_router(tokens_router, include_in_schema=False)
    app.include_router(schedule_router, include_in_schema=False)
    app.include_router(subject_router, include_in_schema=False)
