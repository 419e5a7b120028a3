"""Who is asking, and may they: sessions, API tokens, CSRF, sign-in throttling, roles.

People are in the users file (:mod:`plait.server.users`). A request is authenticated by an
API token (``Authorization: Bearer plait_...``) or by the session cookie ``plait_session``
that :func:`sign_in` sets: signed with ``PLAIT_SECRET_KEY`` (itsdangerous), HttpOnly,
SameSite=Lax, Secure behind TLS, holding the user's name, a random nonce and a digest of
their password hash. In local mode (``--no-auth``) everyone is :data:`LOCAL_USER`.

FastAPI dependencies for routes (the UI's and extensions' too):

- :func:`current_user` — the user, or 401 JSON; :func:`page_user` redirects to
  ``/login?next=...`` instead.
- :func:`require` ``(role)`` — the user if they hold ``role``, else 403 JSON.
- :func:`verify_csrf` — every unsafe request authenticated by the cookie carries the
  session's token (form field ``csrf_token`` or header ``X-CSRF-Token``); see
  :func:`csrf_token`. Bearer-token requests need none; paths an extension declares public
  are skipped.
- :func:`check_sign_in` ``(request, name, password)`` — for the sign-in form: the user, or
  401 for a wrong name or password, or 429 with ``Retry-After`` while that name or client
  address is slowed down after repeated failures.

Invariants kept here:
- A session stops working when its user is removed, or their password changes.
- The CSRF token is bound to the session (an HMAC of its nonce): a token from another
  session, or another person, does not pass.
- Secrets (passwords, tokens, the key, hashes) are never logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from plait.server.errors import ApiError, SignInRequired
from plait.server.settings import ServerSettings
from plait.server.users import LOCAL_USER, Role, User, Users

SESSION_COOKIE = "plait_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FREE_FAILURES = 5  # failed sign-ins (per name, per address) before each next one waits
MAX_WAIT = 300.0  # seconds: the longest a sign-in is held back

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOCAL_USER",
    "SESSION_COOKIE",
    "Role",
    "SignInThrottle",
    "User",
    "Users",
    "check_sign_in",
    "csrf_token",
    "current_user",
    "page_user",
    "require",
    "sign_in",
    "sign_out",
    "verify_csrf",
]

# The app serving the current request, so that sign_in(response, user) finds its key.
current_app: contextvars.ContextVar[FastAPI] = contextvars.ContextVar("plait_server_app")


class SignInThrottle:
    """Counts failed sign-ins per user name and per client address; after
    :data:`FREE_FAILURES` each further attempt must wait twice as long as the one before
    (1 s, 2 s, 4 s, ... up to :data:`MAX_WAIT`). A success clears the name and address."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.failures: dict[str, tuple[int, float]] = {}

    def wait(self, *keys: str) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock()
        longest = 0.0
        for key in keys:
            count, last = self.failures.get(key, (0, 0.0))
            if count >= FREE_FAILURES:
                delay = min(2.0 ** (count - FREE_FAILURES), MAX_WAIT)
                longest = max(longest, last + delay - now)
        return max(longest, 0.0)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        if len(self.failures) > 10_000:  # forget the quiet ones: bounded memory
            self.failures = {k: v for k, v in self.failures.items() if now - v[1] < MAX_WAIT}
        for key in keys:
            count, _ = self.failures.get(key, (0, 0.0))
            self.failures[key] = (count + 1, now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self.failures.pop(key, None)


# -- state of the app ------------------------------------------------------------------------
def _settings(app: FastAPI) -> ServerSettings:
    settings: ServerSettings = app.state.settings
    return settings


def _users(app: FastAPI) -> Users:
    users: Users = app.state.users
    return users


def _key(app: FastAPI) -> str:
    key: str = app.state.session_key
    return key


def _serializer(app: FastAPI) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_key(app), salt="plait-session")


def _app_of(request: Request | None) -> FastAPI:
    if request is not None:
        app: FastAPI = request.app
        return app
    try:
        return current_app.get()
    except LookupError:
        raise RuntimeError(
            "sign_in/sign_out work only while the server answers a request (or pass request=)"
        ) from None


# -- sessions --------------------------------------------------------------------------------
def sign_in(response: Response, user: User, request: Request | None = None) -> None:
    """Sets the session cookie for ``user`` on ``response`` (after checking their password
    with :func:`check_sign_in`)."""
    app = _app_of(request)
    settings = _settings(app)
    value = _serializer(app).dumps(
        {
            "u": user.name,
            "n": secrets.token_urlsafe(16),
            "p": _users(app).password_fingerprint(user.name),
        }
    )
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(settings.session_max_age.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def sign_out(response: Response, request: Request | None = None) -> None:
    """Removes the session cookie (the browser forgets it)."""
    settings = _settings(_app_of(request))
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )


def _session(request: Request) -> tuple[User, str] | None:
    """The user and nonce of a valid session cookie, or None."""
    if hasattr(request.state, "plait_session"):
        cached: tuple[User, str] | None = request.state.plait_session
        return cached
    found = None
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        app = request.app
        max_age = int(_settings(app).session_max_age.total_seconds())
        try:
            data: Any = _serializer(app).loads(raw, max_age=max_age)
        except BadSignature:
            data = None
        if isinstance(data, dict) and all(isinstance(data.get(k), str) for k in "unp"):
            user = _users(app).get(data["u"])
            fingerprint = _users(app).password_fingerprint(data["u"]) if user else ""
            if user is not None and hmac.compare_digest(fingerprint, data["p"]):
                found = (user, data["n"])
    request.state.plait_session = found
    return found


def _bearer(request: Request) -> str | None:
    """The token of an ``Authorization`` header, "" when the header is not a bearer one."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _authenticate(request: Request) -> User:
    app = request.app
    if _settings(app).local_mode:
        return LOCAL_USER
    token = _bearer(request)
    if token is not None:
        user = _users(app).by_token(token) if token else None
        if user is None:
            raise ApiError(
                401,
                "the API token is not valid: send 'Authorization: Bearer <token>' with a token "
                "made by `plait users add NAME --token`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user
    session = _session(request)
    if session is None:
        raise ApiError(
            401,
            "sign in first: send 'Authorization: Bearer <token>' (make one with "
            "`plait users add NAME --token`) or sign in at /login",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return session[0]


async def current_user(request: Request) -> User:
    """The person making the request (bearer token or session cookie), or 401."""
    return _authenticate(request)


async def page_user(request: Request) -> User:
    """Like :func:`current_user`, but a page without a signed-in person redirects to the
    sign-in page, which returns here afterwards."""
    try:
        return _authenticate(request)
    except ApiError as exc:
        if exc.status != 401:
            raise
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target) from None


def require(role: Role, *, page: bool = False) -> Callable[..., Awaitable[User]]:
    """A dependency: the user if they hold ``role`` (admin holds all), else 403. With
    ``page=True`` a missing sign-in redirects to the sign-in page instead of a 401."""
    who = page_user if page else current_user

    async def dependency(user: User = Depends(who)) -> User:
        if not user.can(role):
            have = ", ".join(sorted(user.roles)) or "none"
            raise ApiError(
                403,
                f"{user.name} may not do this: it needs the {role} role (they have: {have}); "
                "an admin gives roles with `plait users add`",
            )
        return user

    return dependency


# -- CSRF --------------------------------------------------------------------------------------
def _csrf_for(app: FastAPI, nonce: str) -> str:
    return hmac.new(_key(app).encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The CSRF token of the request's session, for a form's hidden ``csrf_token`` input
    (or a script's ``X-CSRF-Token`` header). Without a session (the sign-in form), ""."""
    app = request.app
    if _settings(app).local_mode:
        return _csrf_for(app, "local")
    session = _session(request)
    return _csrf_for(app, session[1]) if session else ""


async def _given_token(request: Request) -> str:
    given = request.headers.get(CSRF_HEADER.lower(), "")
    if given:
        return given
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            value = (await request.form()).get(CSRF_FIELD)
        except Exception:  # a malformed form body: the route will say so
            return ""
        return value if isinstance(value, str) else ""
    return ""


def _is_public(request: Request) -> bool:
    public: tuple[str, ...] = getattr(request.app.state, "public_paths", ())
    path = request.url.path
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in public)


async def verify_csrf(request: Request) -> None:
    """Refuses (403 ``csrf``) an unsafe request authenticated by the session cookie that
    lacks the session's CSRF token. Bearer-token requests, requests without a session (the
    route's own authentication answers them) and an extension's public paths pass."""
    if request.method in SAFE_METHODS or _is_public(request):
        return
    if request.headers.get("authorization") is not None:
        return
    app = request.app
    if _settings(app).local_mode:
        # No session: a browser's cross-site request still must not act as the local admin.
        # A non-browser client (no Origin, no Sec-Fetch-Site) or a JSON body (which a page
        # of another site cannot send without this server's consent) passes.
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        browser = "origin" in request.headers or "sec-fetch-site" in request.headers
        if kind == "application/json" or not browser:
            return
        nonce = "local"
    else:
        session = _session(request)
        if session is None:
            return
        nonce = session[1]
    given = await _given_token(request)
    if not given or not hmac.compare_digest(given, _csrf_for(app, nonce)):
        raise ApiError(
            403,
            f"this request needs the page's CSRF token (form field {CSRF_FIELD!r} or header "
            f"{CSRF_HEADER!r}); reload the page and try again",
            code="csrf",
        )


# -- signing in ----------------------------------------------------------------------------------
async def check_sign_in(request: Request, name: str, password: str) -> User:
    """The user whose ``name`` and ``password`` these are. Raises :class:`ApiError` 401 when
    they do not match, 429 (``Retry-After``) while this name or client address has failed
    too often; failures slow down later attempts, a success clears them."""
    app = request.app
    throttle: SignInThrottle = app.state.throttle
    keys = (f"name:{name}", f"addr:{request.client.host if request.client else '?'}")
    wait = throttle.wait(*keys)
    if wait > 0:
        seconds = int(wait) + 1
        raise ApiError(
            429,
            f"too many failed sign-ins: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    # argon2 is slow on purpose: off the event loop.
    user = await asyncio.to_thread(_users(app).authenticate, name, password)
    if user is None:
        throttle.failed(*keys)
        raise ApiError(401, "wrong user name or password")
    throttle.succeeded(*keys)
    return user
