"""What every page handler shares: rendering with the base context (the signed-in person,
the inbox count, a message about what an action did), the error page, role checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

import plait
from plait.server.auth import Role, User
from plait.server.errors import ApiError, ErrorBody

# What an action did, shown once after its redirect (?done=...).
DONE = {
    "cancelled": "Cancellation requested: the workflow sees it at its next durable point.",
    "resumed": "Resumed: the workflow continues from where it stopped.",
    "signalled": "Signal sent.",
    "signal-duplicate": "Not sent: a signal with that dedup key was sent before.",
    "answered": "Answer recorded: the workflow continues with it.",
    "triggered": "Started now by its schedule; the schedule's next run stays as it was.",
    "erased": "Erased: every payload about this subject is gone; the journals keep their "
    "shape and the event logs say who erased it and when.",
}
ERROR_TITLES = {
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    422: "That did not work",
    429: "Too many attempts",
}


def engine_of(request: Request) -> plait.Engine:
    engine: plait.Engine = request.app.state.engine
    return engine


def now_of(engine: plait.Engine) -> datetime:
    """The engine's clock (a fake one in tests), as an aware UTC datetime."""
    return datetime.fromtimestamp(engine.clock.now_ms() / 1000, tz=UTC)


def my_assignees(user: User) -> list[str]:
    """The names a person's inbox collects: theirs and their groups'."""
    return sorted({user.name, *user.groups})


async def inbox_count(engine: plait.Engine, user: User) -> int:
    return len(await engine.tasks(status="open", assignee=my_assignees(user), limit=1000))


def templates(request: Request) -> Jinja2Templates:
    found: Jinja2Templates = request.app.state.templates
    return found


async def render(
    request: Request,
    name: str,
    user: User | None,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    """A page: ``name`` rendered with ``context`` and what the base layout needs."""
    engine = engine_of(request)
    done = request.query_params.get("done")
    base: dict[str, Any] = {
        "user": user,
        "now": now_of(engine),
        "inbox_count": await inbox_count(engine, user) if user else 0,
        "flash": DONE.get(done or ""),
        "flash_error": False,
    }
    base.update(context)
    return templates(request).TemplateResponse(request, name, base, status_code=status)


def fragment(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    """A piece of a page (live updates, the inline diff), without the layout."""
    engine = engine_of(request)
    context = {"now": now_of(engine), **context}
    return templates(request).TemplateResponse(request, name, context)


def error_page(request: Request, status: int, body: ErrorBody) -> Response | None:
    """The server's errors on page routes (a refused CSRF token, a missing role, an unknown
    page) as a page instead of JSON. The nav is drawn without the person (this runs outside
    the route, where the sign-in is not known)."""
    if "text/html" not in request.headers.get("accept", ""):
        return None  # a script or API client (or an extension's webhook): keep the JSON
    title = ERROR_TITLES.get(status, "Something went wrong")
    if body.error == "csrf":
        title = "The form had expired"
    return templates(request).TemplateResponse(
        request,
        "error.html",
        {"user": None, "title": title, "message": body.message, "now": datetime.now(UTC)},
        status_code=status,
    )


def require_role(user: User, role: Role, action: str) -> None:
    """Raises 403 (shown as the error page) unless ``user`` holds ``role``."""
    if not user.can(role):
        have = ", ".join(sorted(user.roles)) or "no role"
        raise ApiError(
            403,
            f"{user.name} may not {action}: it needs the {role} role (you have {have}). "
            "An admin gives roles with `plait users add NAME --role ROLE`.",
        )


async def show_error(
    request: Request, user: User | None, status: int, message: str, *, back: str | None = None
) -> HTMLResponse:
    """The error page for an error a handler caught, with the full layout."""
    return await render(
        request,
        "error.html",
        user,
        {
            "title": ERROR_TITLES.get(status, "Something went wrong"),
            "message": message,
            "back": back,
        },
        status=status,
    )


async def confirm(
    request: Request,
    user: User,
    *,
    question: str,
    detail: str,
    action: str,
    back: str,
    button: str,
    fields: dict[str, str] | None = None,
    danger: bool = False,
) -> HTMLResponse:
    """The confirmation page (an action that changes something asks first), posting
    ``fields`` and ``confirmed=1`` back to ``action``."""
    return await render(
        request,
        "confirm.html",
        user,
        {
            "question": question,
            "detail": detail,
            "action": action,
            "fields": fields or {},
            "button": button,
            "button_class": "danger solid" if danger else "primary",
            "back": back,
        },
    )
