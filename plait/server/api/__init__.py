"""plait's REST API: the routers under ``/api`` and the health checks."""

from fastapi import FastAPI

from plait.server.api import alerts, costs, metrics, schedules, subjects, system, tasks, workflows


def install_api(app: FastAPI) -> None:
    """Adds the API routes to ``app``."""
    app.include_router(system.router)
    app.include_router(costs.router)
    app.include_router(workflows.router)
    app.include_router(tasks.router)
    app.include_router(metrics.router)
    metrics.enable(app.state.engine)
    app.include_router(alerts.router)
    app.include_router(subjects.router)
    app.include_router(schedules.router)
