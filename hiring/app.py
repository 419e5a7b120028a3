"""The hiring application's engine and its part of ``plait server``.

``plait server --app hiring.app:engine --worker`` serves plait's pages and the hiring
pages (pipeline board, candidate, report, demo mailbox) through the server's extension
point; ``plait worker hiring.app:engine`` runs more workers. The database comes from
``PLAIT_DATABASE_URL`` (default: ``sqlite:///hiring.db`` in the working directory).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import plait
from hiring.pipeline import candidate_journey, decline, job_pipeline, screening

if TYPE_CHECKING:
    from plait.server import Extension

WORKFLOWS: list[plait.WorkflowDef[..., Any]] = [
    job_pipeline,
    screening,
    decline,
    candidate_journey,
]

engine = plait.Engine(
    os.environ.get("PLAIT_DATABASE_URL", "sqlite:///hiring.db"), workflows=WORKFLOWS
)


def plait_server_extensions(engine: plait.Engine) -> list[Extension]:
    """The hiring pages and routes, for ``plait server --app hiring.app:engine``."""
    from hiring.web import extension

    return [extension(engine)]
