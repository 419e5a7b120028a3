"""plait server: a REST API and web pages over an engine (``pip install plait[server]``).

``plait server --app module:engine`` (or ``--database URL``) serves it; applications add
their own pages and routes through :class:`Extension`. The server uses only the engine's
public API, so it runs beside workers on other machines against the same database.
"""

from plait.server.app import create_app
from plait.server.extensions import Extension, NavItem
from plait.server.settings import ServerSettings
from plait.server.users import Role, User

__all__ = ["Extension", "NavItem", "Role", "ServerSettings", "User", "create_app"]
