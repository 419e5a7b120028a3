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
"""

from plait.cli import (
    alerts,
    costs,
    keys,
    replay,
    retention,
    schedules,
    tasks,
    worker_cmd,
    workflows,
)
from plait.cli.base import CommandError, exit_code, load_app, main
from plait.server.commands import server_command, users_group

main.add_command(server_command)
main.add_command(users_group)

__all__ = [
    "CommandError",
    "alerts",
    "costs",
    "exit_code",
    "keys",
    "load_app",
    "main",
    "replay",
    "retention",
    "schedules",
    "tasks",
    "worker_cmd",
    "workflows",
]
