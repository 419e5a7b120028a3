"""Every error the server answers, in one JSON shape: ``{"error", "message", "field"}``.

``error`` is a code a program can switch on (``unauthenticated`` 401, ``forbidden`` and
``csrf`` 403, ``not_found`` 404, ``conflict`` 409, ``invalid`` 422, ``unavailable`` 503,
``internal`` 500); ``message`` says what to fix; ``field`` is the dotted path of the input
at fault (``limit``, ``answer.salary``, ``args.job``) or null.

Invariants kept here:
- No error leaves the server in another shape: FastAPI's request validation errors, Starlette's
  404/405, plait's errors and unexpected exceptions are all turned into :class:`ErrorBody`
  (for pages, the UI may render them as HTML through ``app.state.error_page``).
- An unexpected exception is logged with its traceback and answered as a bare 500, never
  with its message (it may hold data the caller should not see).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from plait import (
    ConfigurationError,
    InvalidAnswer,
    InvalidArguments,
    InvalidCursor,
    InvalidState,
    PermissionDenied,
    PlaitError,
    ScheduleAlreadyExists,
    ScheduleNotFound,
    SerializationError,
    TaskNotFound,
    TaskNotOpen,
    WorkflowAlreadyExists,
    WorkflowFinished,
    WorkflowNotFound,
)

log = logging.getLogger("plait.server")

CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "invalid",
    415: "invalid",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}
SOURCES = ("body", "query", "path", "header", "cookie")  # where FastAPI says an input was


class FieldError(BaseModel):
    """One input that was wrong, and why."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="a code: unauthenticated, forbidden, csrf, not_found, ...")
    message: str = Field(description="what went wrong and what to do about it")
    field: str | None = Field(default=None, description="the dotted path of the input at fault")
    errors: list[FieldError] | None = Field(
        default=None, description="every input that was wrong (422), when there are several"
    )


class ApiError(Exception):
    """An error the server answers with ``status`` and an :class:`ErrorBody`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if errors is None and field is not None:
            errors = [FieldError(field=field, message=message)]
        self.status = status
        self.body = ErrorBody(
            error=code or CODES.get(status, "error"),
            message=message,
            field=field,
            errors=list(errors) if errors else None,
        )
        self.headers = headers


class SignInRequired(Exception):
    """A page needs a signed-in person: answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses=`` of a route that may answer these error statuses."""
    described = {
        401: "no credentials, or a token or session that is not valid",
        403: "the user lacks the role, or a cookie-authenticated request lacks its CSRF token",
        404: "no such workflow, human task or schedule",
        409: "the operation does not apply now (already completed, finished, no app code)",
        422: "a bad input; field names it",
        503: "the store does not answer",
    }
    return {s: {"model": ErrorBody, "description": described.get(s, "error")} for s in statuses}


def from_plait(exc: PlaitError) -> ApiError:
    """The HTTP answer for an error the engine raised."""
    message = str(exc)
    if isinstance(exc, WorkflowNotFound | TaskNotFound | ScheduleNotFound):
        return ApiError(404, message)
    if isinstance(
        exc,
        TaskNotOpen
        | WorkflowFinished
        | InvalidState
        | WorkflowAlreadyExists
        | ScheduleAlreadyExists,
    ):
        return ApiError(409, message)
    if isinstance(exc, PermissionDenied):
        return ApiError(403, message)
    if isinstance(exc, InvalidAnswer):
        fields = [FieldError(field=_answer_field(f), message=why) for f, why in exc.errors]
        return ApiError(422, message, field=fields[0].field if fields else "answer", errors=fields)
    if isinstance(exc, InvalidArguments):
        named = re.search(r"argument '([^']+)'", message)
        return ApiError(422, message, field=f"args.{named.group(1)}" if named else "args")
    if isinstance(exc, InvalidCursor):
        return ApiError(422, message, field="cursor")
    if isinstance(exc, ConfigurationError | SerializationError):
        return ApiError(422, message)
    return ApiError(500, "the server failed; its log says why")


def _answer_field(field: str) -> str:
    return "answer" if field in ("", "(answer)") else f"answer.{field}"


def _loc_field(loc: Sequence[int | str]) -> str | None:
    """``("body", "answer", "x")`` -> ``answer.x``; ``("query", "limit")`` -> ``limit``."""
    parts = list(loc)
    where = parts.pop(0) if parts and parts[0] in SOURCES else None
    if where == "body" and not parts:
        return "body"  # the whole body (not JSON: _validation_error says so)
    return ".".join(str(p) for p in parts) or None


def _validation_error(exc: RequestValidationError) -> ApiError:
    fields = []
    for e in exc.errors():
        field = _loc_field(e.get("loc", ())) or "body"
        message = str(e.get("msg", "invalid"))
        if e.get("type") == "json_invalid":
            field, message = "body", f"the body is not valid JSON: {message}"
        fields.append(FieldError(field=field, message=message))
    first = fields[0] if fields else FieldError(field="body", message="invalid request")
    listed = "; ".join(f"{f.field}: {f.message}" for f in fields) or first.message
    return ApiError(422, f"bad request: {listed}", field=first.field, errors=fields)


ErrorPage = Callable[[Request, int, ErrorBody], Response | None]


def _answer(request: Request, error: ApiError) -> Response:
    page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    if page is not None and not request.url.path.startswith("/api/"):
        html = page(request, error.status, error.body)
        if html is not None:
            return html
    body = error.body.model_dump()
    if body["errors"] is None:
        del body["errors"]
    return JSONResponse(
        body,
        status_code=error.status,
        headers=error.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Turns every error into the JSON shape (or the UI's error page, for pages)."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _answer(request, exc)

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _answer(request, _validation_error(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # a body FastAPI could not parse (not UTF-8, ...)
            error = ApiError(422, f"bad request body: {exc.detail}", field="body")
            return _answer(request, error)
        if exc.status_code == 404:
            message = f"nothing at {request.url.path}; the API is described at /openapi.json"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        headers = dict(exc.headers) if exc.headers else None
        return _answer(request, ApiError(exc.status_code, message, headers=headers))

    async def plait_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PlaitError)
        error = from_plait(exc)
        if error.status == 500:
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _answer(request, error)

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Starlette re-raises it after this answer, and the server logs the traceback.
        return _answer(request, ApiError(500, "the server failed; its log says why"))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(PlaitError, plait_error)
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Exception, unexpected)
