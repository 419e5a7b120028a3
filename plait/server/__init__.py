"""plait server: a REST API and web pages over an engine (``pip install plait[server]``).

``plait server --app module:engine`` (or ``--database URL``) serves it; applications add
their own pages and routes through :class:`Extension`. The server uses only the engine's
public API, so it runs beside workers on other machines against the same database.

The names below are imported when first used, so that ``plait``'s command line (which
registers ``plait server``) does not load FastAPI for every command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plait.server.app import create_app
    from plait.server.auth import csrf_token, current_user, page_user, require, verify_csrf
    from plait.server.extensions import Extension, NavItem
    from plait.server.pages.common import confirm, render, show_error
    from plait.server.settings import ServerSettings
    from plait.server.users import Role, User, Users

# The names an application's pages use (``Extension``, the auth dependencies, ``render`` and
# ``show_error`` for pages in plait's layout) are public here; modules below are the server's.
__all__ = [
    "Extension",
    "NavItem",
    "Role",
    "ServerSettings",
    "User",
    "Users",
    "confirm",
    "create_app",
    "csrf_token",
    "current_user",
    "page_user",
    "render",
    "require",
    "show_error",
    "verify_csrf",
]

_HOMES = {
    "create_app": "plait.server.app",
    "Extension": "plait.server.extensions",
    "NavItem": "plait.server.extensions",
    "ServerSettings": "plait.server.settings",
    "Role": "plait.server.users",
    "User": "plait.server.users",
    "Users": "plait.server.users",
    "csrf_token": "plait.server.auth",
    "current_user": "plait.server.auth",
    "page_user": "plait.server.auth",
    "require": "plait.server.auth",
    "verify_csrf": "plait.server.auth",
    "render": "plait.server.pages.common",
    "show_error": "plait.server.pages.common",
    "confirm": "plait.server.pages.common",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'plait.server' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
