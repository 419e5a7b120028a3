"""The extension point: an application adds its own pages, API routes and navigation links
to ``plait server``.

The app module given by ``--app module:engine`` may define::

    def plait_server_extensions(engine: plait.Engine) -> list[Extension]: ...

and the server mounts each extension's router, searches its templates after plait's own,
serves its static files at ``/ext/<name>/static`` and adds its links to the navigation.
plait never imports an application: the application hands these in.

Invariant kept here: an extension's public paths are explicit prefixes; routes under them
skip session authentication and CSRF (they check their own token or signature), and no
other route does.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from fastapi import APIRouter

from plait import ConfigurationError

HOOK = "plait_server_extensions"  # the app module's function that returns its extensions
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclasses.dataclass(frozen=True)
class NavItem:
    """A link in the top navigation; with ``role``, shown only to people who hold it."""

    label: str
    href: str
    role: str | None = None


@dataclasses.dataclass(frozen=True)
class Extension:
    """An application's part of the server: its router (pages and API routes), a folder of
    Jinja2 templates (they may extend ``base.html``), navigation links, the path prefixes
    that authenticate by their own token instead of a session (an unsubscribe link, an
    inbound-mail webhook), and a folder of static files served at ``/ext/<name>/static``."""

    name: str
    router: APIRouter
    templates: Path | None = None
    nav: tuple[NavItem, ...] = ()
    public_paths: tuple[str, ...] = ()
    static: Path | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(
                f"Extension(name={self.name!r}): use 1-40 lower-case letters, digits, '_' or '-'"
            )
        if not isinstance(self.router, APIRouter):
            raise ConfigurationError(f"Extension {self.name!r}: router must be a fastapi.APIRouter")
        object.__setattr__(self, "nav", tuple(self.nav))
        object.__setattr__(self, "public_paths", tuple(self.public_paths))
        for prefix in self.public_paths:
            if not isinstance(prefix, str) or not prefix.startswith("/") or prefix == "/":
                raise ConfigurationError(
                    f"Extension {self.name!r}: a public path is a prefix such as '/unsubscribe', "
                    f"not {prefix!r}"
                )
            if prefix.startswith(("/api/workflows", "/api/tasks", "/api/me", "/api/workers")):
                raise ConfigurationError(
                    f"Extension {self.name!r}: {prefix!r} would make plait's own API public"
                )
        for folder, what in ((self.templates, "templates"), (self.static, "static")):
            if folder is not None and not Path(folder).is_dir():
                raise ConfigurationError(
                    f"Extension {self.name!r}: {what} {folder} is not a folder"
                )


def check_extensions(extensions: object) -> tuple[Extension, ...]:
    """The extensions an app module returned, checked (a list of :class:`Extension` with
    distinct names)."""
    if not isinstance(extensions, list | tuple) or not all(
        isinstance(e, Extension) for e in extensions
    ):
        raise ConfigurationError(f"{HOOK}(engine) must return a list of plait.server.Extension")
    names = [e.name for e in extensions]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigurationError(f"two extensions are named {', '.join(twice)}")
    return tuple(extensions)
