"""The ``plait`` command. Every command goes through the engine's public API, or through a
running server's REST API with ``--url``.

Commands that need workflow code take the app as ``module:engine`` (positional for
``plait worker``, ``--app`` or ``PLAIT_APP`` elsewhere); the others need only the database
(``--database`` or ``PLAIT_DATABASE_URL``) or a server (``--url`` and ``--token``).

Invariant: whatever goes wrong, a command prints one line on stderr (``error: ...``) and exits
with the documented code, never a Python traceback (``-v`` logs one for an unexpected error):
0 ok; 1 the operation failed (a database that cannot be reached, a failed operation);
2 bad usage or input (an unknown option, bad JSON, a database URL or ``module:engine`` that
names nothing usable, an unknown workflow name for ``start``, arguments that do not fit the
workflow or a human task's form, an operation the workflow's or task's status does not
allow); 3 not found (no workflow or
human task with that id; for ``erase``, nothing carries the subject; no schedule with that id).

Commands are loaded lazily: ``COMMANDS`` maps each command name to the ``module:attribute``
of its ``click.Command``, and a module is imported only when its command runs (or ``plait
--help`` lists it), so ``plait worker`` does not import the server, the REST client or the
other commands (tests/test_startup.py pins it). To add a command, write it in its own module
(``@main.command("name")`` from ``plait.cli.base``, or a plain ``click.Command``; import
heavy dependencies inside the function) and add one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from plait.cli.base import CommandError, exit_code, load_app, main

COMMANDS: dict[str, str] = {
    "alerts": "plait.cli.alerts:alerts",
    "backup": "plait.cli.upgrades:backup_cmd",
    "costs": "plait.cli.costs:costs_cmd",
    "erase": "plait.cli.retention:erase_cmd",
    "gc": "plait.cli.retention:gc_cmd",
    "keys": "plait.cli.keys:keys",
    "migrate": "plait.cli.upgrades:migrate_cmd",
    "rekey": "plait.cli.keys:rekey_cmd",
    "replay-check": "plait.cli.replay:replay_check_cmd",
    "schedules": "plait.cli.schedules:schedules",
    "server": "plait.server.commands:server_command",
    "tasks": "plait.cli.tasks:tasks",
    "users": "plait.server.commands:users_group",
    "worker": "plait.cli.worker_cmd:worker",
    "workflows": "plait.cli.workflows:workflows",
}
main.lazy = COMMANDS  # type: ignore[attr-defined]  # main is a LazyGroup

_MODULES = (
    "alerts",
    "costs",
    "keys",
    "replay",
    "retention",
    "schedules",
    "tasks",
    "upgrades",
    "worker_cmd",
    "workflows",
)


def __getattr__(name: str) -> ModuleType:
    # ``plait.cli.tasks`` and friends, as before the commands were loaded lazily.
    if name in _MODULES:
        return importlib.import_module(f"plait.cli.{name}")
    raise AttributeError(f"module 'plait.cli' has no attribute {name!r}")


__all__ = [
    "COMMANDS",
    "CommandError",
    "exit_code",
    "load_app",
    "main",
]
