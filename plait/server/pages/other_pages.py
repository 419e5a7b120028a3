"""Sign-in and sign-out, and the workers page."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from plait.server.auth import User, check_sign_in, page_user, sign_in, sign_out, verify_csrf
from plait.server.errors import ApiError
from plait.server.pages.common import engine_of, now_of, render

router = APIRouter()
LOGIN_COOKIE = "plait_login"  # a random value the sign-in form must echo (login CSRF)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if not target:
        return "/workflows"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return "/workflows"
    return target


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "") -> Response:
    if request.app.state.settings.local_mode:
        return RedirectResponse(safe_next(next), status_code=303)
    return await _login_form(request, safe_next(next), "", None, 200)


async def _login_form(
    request: Request, target: str, name: str, error: str | None, status: int
) -> HTMLResponse:
    """The sign-in form, with a fresh value in a cookie and a hidden field: a sign-in posted
    from another site (which cannot read the cookie) is refused."""
    value = secrets.token_urlsafe(16)
    context = {"next": target, "name": name, "error": error, "login_token": value}
    page = await render(request, "login.html", None, context, status=status)
    page.set_cookie(
        LOGIN_COOKIE,
        value,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/login",
    )
    return page


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Checks the name and password (failed attempts slow down later ones) and sets the
    session cookie. The sign-in form has no session yet, so no CSRF token."""
    form = await request.form()
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    echoed = str(form.get("login_token") or "")
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(echoed, expected):
        message = "The sign-in form had expired (or came from another site). Sign in again."
        return await _login_form(request, target, name, message, 403)
    try:
        user = await check_sign_in(request, name, password)
    except ApiError as exc:
        message = exc.body.message
        if exc.status == 401:
            message = "That name and password do not match a user. Check both and try again."
        page = await _login_form(request, target, name, message, exc.status)
        if exc.headers:
            page.headers.update(exc.headers)
        return page
    response = RedirectResponse(target, status_code=303)
    sign_in(response, user, request)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Depends(verify_csrf)])
async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    sign_out(response, request)
    return response


@router.get("/workers", response_class=HTMLResponse)
async def workers(request: Request, user: User = Depends(page_user)) -> HTMLResponse:
    """Who is alive, since when, and what each holds."""
    engine = engine_of(request)
    now = now_of(engine)
    stale_after = timedelta(milliseconds=engine.lease_ms)
    rows = [
        {"info": w, "stale": now - w.last_heartbeat > stale_after} for w in await engine.workers()
    ]
    return await render(
        request, "workers.html", user, {"workers": rows, "stale_after": stale_after}
    )
