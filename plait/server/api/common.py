"""What the API routers share: the engine of the app, and the check before an action that
needs the application's workflow code (starting a workflow, adding a schedule)."""

from __future__ import annotations

from fastapi import Request

import plait
from plait.server.errors import ApiError


def engine_of(request: Request) -> plait.Engine:
    """The engine the server was made with."""
    engine: plait.Engine = request.app.state.engine
    return engine


def check_app_workflow(request: Request, name: str, cannot: str) -> None:
    """Refuses ``name`` unless the server has the application's code (409: ``cannot``
    says what it cannot do without it) and registers a workflow of that name (422)."""
    if not request.app.state.settings.has_app:
        raise ApiError(
            409,
            f"this server has no workflow code, so it {cannot}: "
            "start the server with --app module:engine",
        )
    registry = engine_of(request).registry_by_name
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none"
        raise ApiError(422, f"no workflow named {name!r} (known: {known})", field="workflow")
