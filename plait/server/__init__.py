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
    from plait.server.extensions import Extension, NavItem
    from plait.server.settings import ServerSettings
    from plait.server.users import Role, User

__all__ = ["Extension", "NavItem", "Role", "ServerSettings", "User", "create_app"]

_HOMES = {
    "create_app": "plait.server.app",
    "Extension": "plait.server.extensions",
    "NavItem": "plait.server.extensions",
    "ServerSettings": "plait.server.settings",
    "Role": "plait.server.users",
    "User": "plait.server.users",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'plait.server' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
