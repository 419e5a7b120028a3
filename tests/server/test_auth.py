"""Who may use the server: the users file (argon2 passwords, hashed tokens, re-read when it
changes), roles, sessions in signed cookies, slowing down failed sign-ins, local mode,
pages redirecting to sign in, and the extension point's public and private routes."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest
from fastapi import APIRouter, Depends, Form, Request, Response

import plait
from plait.server import Extension, Role, ServerSettings, User, create_app
from plait.server.auth import (
    SESSION_COOKIE,
    SignInThrottle,
    check_sign_in,
    csrf_token,
    page_user,
    sign_in,
    sign_out,
    verify_csrf,
)
from plait.server.users import Users
from tests.server.apifixtures import (
    KEY,
    PASSWORDS,
    Api,
    client_of,
)
from tests.server.test_api import error_of

pytestmark = pytest.mark.backends("sqlite")  # about the server, not the store


def test_roles_imply_what_they_should() -> None:
    def can(*roles: Role) -> set[str]:
        user = User(name="u", roles=frozenset(roles))
        return {r.value for r in Role if user.can(r)}

    assert can() == set()
    assert can(Role.VIEWER) == {"viewer"}
    assert can(Role.OPERATOR) == {"viewer", "operator"}
    assert can(Role.APPROVER) == {"viewer", "approver"}
    assert can(Role.ADMIN) == {"viewer", "operator", "approver", "admin"}


def test_the_users_file_checks_passwords_and_tokens(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    users = Users(path)
    assert users.all() == []  # no file yet: nobody
    token = users.add("ada", password="pw-1", roles=["approver"], groups=["recruiters"], token=True)
    assert token and token.startswith("plait_")
    assert users.authenticate("ada", "pw-1") == users.get("ada")
    assert users.authenticate("ada", "pw-2") is None
    assert users.authenticate("nobody", "pw-1") is None
    assert users.by_token(token) == users.get("ada")
    assert users.by_token(token + "x") is None and users.by_token("nope") is None

    # an update keeps what is not given; roles and groups given replace the old ones
    second = users.add("ada", roles=["admin"], token=True)
    assert users.authenticate("ada", "pw-1") is not None
    assert users.by_token(token) is not None and users.by_token(second or "") is not None
    ada = users.get("ada")
    assert ada is not None and ada.roles == {Role.ADMIN} and ada.groups == {"recruiters"}

    text = path.read_text()
    assert "pw-1" not in text and token not in text and "$argon2id$" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    with pytest.raises(plait.ConfigurationError, match="unknown role 'boss'"):
        users.add("bob", roles=["boss"])
    with pytest.raises(plait.ConfigurationError, match="user name"):
        users.add("bob smith")
    assert users.get("bob") is None  # nothing written


def test_the_users_file_is_reread_when_it_changes(tmp_path: Path, caplog) -> None:
    path = tmp_path / "users.toml"
    server = Users(path)
    directory = server.directory()
    Users(path).add("lin", roles=["approver"], groups=["finance"])  # another process writes
    assert server.get("lin") is not None
    assert directory.groups_of("lin") == {"finance"} and not directory.is_admin("lin")
    Users(path).add("lin", roles=["admin"], groups=["legal"])
    assert directory.groups_of("lin") == {"legal"} and directory.is_admin("lin")

    path.write_text("[users.lin\nbroken")  # a bad edit while the server runs
    with caplog.at_level(logging.ERROR, logger="plait.server"):
        assert server.get("lin") is not None  # the last good version stays
    assert "not valid TOML" in caplog.text
    with pytest.raises(plait.ConfigurationError, match="not valid TOML"):
        Users(path)  # but a server does not start with it
    path.write_text('[users.lin]\nroles = ["chief"]\n')
    with pytest.raises(plait.ConfigurationError, match="user 'lin'.*unknown role 'chief'"):
        Users(path)


def test_the_throttle_slows_down_repeated_failures() -> None:
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    for _ in range(5):
        assert throttle.wait("name:ada") == 0
        throttle.failed("name:ada", "addr:1")
    assert throttle.wait("name:ada") == 1.0 and throttle.wait("addr:1") == 1.0
    assert throttle.wait("name:bob", "addr:2") == 0
    now[0] = 1.0
    assert throttle.wait("name:ada") == 0
    throttle.failed("name:ada")
    assert throttle.wait("name:ada") == 2.0  # doubles
    throttle.succeeded("name:ada")
    assert throttle.wait("name:ada") == 0


def add_sign_in_routes(app) -> None:
    """What the sign-in page does, as JSON routes for these tests."""

    @app.post("/t/sign-in")
    async def do_sign_in(
        request: Request, response: Response, name: str = Form(), password: str = Form()
    ):
        sign_in(response, await check_sign_in(request, name, password))
        return {"ok": True}

    @app.post("/t/sign-out")
    async def do_sign_out(response: Response):
        sign_out(response)
        return {"ok": True}

    @app.get("/t/csrf")
    async def token(request: Request):
        return {"csrf": csrf_token(request)}

    @app.post("/t/form", dependencies=[Depends(verify_csrf)])
    async def form_post(request: Request, csrf_token: str = Form(""), note: str = Form("")):
        return {"note": note}

    @app.get("/t/page")
    async def page(user: User = Depends(page_user)):
        return {"name": user.name}


@contextlib.asynccontextmanager
async def signed_in(app, name: str, password: str):
    async with client_of(app) as client:
        r = await client.post("/t/sign-in", data={"name": name, "password": password})
        assert r.status_code == 200, r.text
        yield client


async def test_sign_in_sets_a_session_cookie_that_authenticates(api: Api, make_app) -> None:
    app = api.app
    add_sign_in_routes(app)
    async with client_of(app) as client:
        r = await client.post("/t/sign-in", data={"name": "ada", "password": "wrong"})
        error_of(r, 401, "unauthenticated")
        assert SESSION_COOKIE not in client.cookies
        r = await client.post("/t/sign-in", data={"name": "ada", "password": PASSWORDS["ada"]})
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        assert (await client.get("/api/me")).json()["name"] == "ada"
        assert (await client.get("/t/page")).json() == {"name": "ada"}
        await client.post(
            "/t/sign-out", headers={"X-CSRF-Token": (await client.get("/t/csrf")).json()["csrf"]}
        )
        error_of(await client.get("/api/me"), 401, "unauthenticated")

    secure = make_app(secure_cookies=True)
    add_sign_in_routes(secure)
    async with client_of(secure, "https://127.0.0.1") as client:
        r = await client.post("/t/sign-in", data={"name": "ada", "password": PASSWORDS["ada"]})
        assert "Secure" in r.headers["set-cookie"]


async def test_a_session_ends_with_its_user_or_password_and_cannot_be_forged(
    api: Api, make_app, users_file: Path
) -> None:
    app = api.app
    add_sign_in_routes(app)
    async with (
        signed_in(app, "ada", PASSWORDS["ada"]) as ada,
        signed_in(app, "bob", PASSWORDS["bob"]) as bob,
    ):
        cookie = ada.cookies[SESSION_COOKIE]
        forged = cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB")
        async with client_of(app) as other:
            other.cookies.set(SESSION_COOKIE, forged)
            error_of(await other.get("/api/me"), 401, "unauthenticated")
        other_key = make_app(secret_key="another-secret-key-0123456789")
        add_sign_in_routes(other_key)
        async with client_of(other_key) as other:
            other.cookies.set(SESSION_COOKIE, cookie)  # signed with the first server's key
            error_of(await other.get("/api/me"), 401, "unauthenticated")

        Users(users_file).add("ada", password="a-new-password")
        error_of(await ada.get("/api/me"), 401, "unauthenticated")
        assert (await bob.get("/api/me")).json()["name"] == "bob"
        users_file.write_text(users_file.read_text().replace("[users.bob]", "[users.bobby]"))
        error_of(await bob.get("/api/me"), 401, "unauthenticated")


async def test_failed_sign_ins_are_slowed_down(api: Api) -> None:
    app = api.app
    add_sign_in_routes(app)
    async with client_of(app) as client:
        for _ in range(5):
            r = await client.post("/t/sign-in", data={"name": "ada", "password": "guess"})
            error_of(r, 401, "unauthenticated")
        r = await client.post("/t/sign-in", data={"name": "ada", "password": PASSWORDS["ada"]})
        assert "try again in" in error_of(r, 429, "too_many_requests")
        assert int(r.headers["Retry-After"]) >= 1
        # the same address trying another name is held back too
        r = await client.post("/t/sign-in", data={"name": "bob", "password": PASSWORDS["bob"]})
        error_of(r, 429, "too_many_requests")


async def test_pages_redirect_to_sign_in(api: Api) -> None:
    add_sign_in_routes(api.app)
    r = await api.client.get("/t/page", params={"a": "1"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/t/page%3Fa%3D1"


async def test_csrf_token_in_a_form_field(api: Api) -> None:
    add_sign_in_routes(api.app)
    async with signed_in(api.app, "ada", PASSWORDS["ada"]) as ada:
        token = (await ada.get("/t/csrf")).json()["csrf"]
        r = await ada.post("/t/form", data={"csrf_token": token, "note": "hi"})
        assert r.json() == {"note": "hi"}
        error_of(await ada.post("/t/form", data={"note": "hi"}), 403, "csrf")
        error_of(await ada.post("/t/form", data={"csrf_token": "x" * 64}), 403, "csrf")
    async with client_of(api.app) as anonymous:
        assert (await anonymous.get("/t/csrf")).json() == {"csrf": ""}


async def test_local_mode_needs_no_sign_in_but_only_answers_loopback(
    make_app, server_engine, tokens
) -> None:
    app = make_app(local_mode=True, secret_key=None)
    add_sign_in_routes(app)
    async with client_of(app) as client:
        me = (await client.get("/api/me")).json()
        assert me["name"] == "local" and me["roles"] == ["admin"]
        r = await client.post(
            "/api/workflows", json={"workflow": "waiter", "args": [1], "id": "l1"}
        )
        assert r.status_code == 201
        events = (await client.get("/api/workflows/l1")).json()["events"]
        assert events[0]["by"] == "local"
        # a page of another site posting a form to it: refused without the page's token
        origin = {"Origin": "http://evil.example"}
        error_of(await client.post("/t/form", data={"note": "x"}, headers=origin), 403, "csrf")
        token = (await client.get("/t/csrf")).json()["csrf"]
        r = await client.post("/t/form", data={"note": "x", "csrf_token": token}, headers=origin)
        assert r.status_code == 200
        assert (await client.post("/api/workflows/l1/cancel")).status_code == 200  # a CLI
    for host in ("http://localhost:8765", "http://[::1]:8765"):
        async with client_of(app, host) as client:
            assert (await client.get("/api/me")).status_code == 200
    async with client_of(app, "http://rebound.example") as client:  # DNS rebinding
        assert "127.0.0.1" in error_of(await client.get("/api/me"), 403, "forbidden")


def test_settings_refuse_what_cannot_work(users_file: Path) -> None:
    with pytest.raises(plait.ConfigurationError, match="PLAIT_SECRET_KEY"):
        ServerSettings(users_file=users_file)
    with pytest.raises(plait.ConfigurationError, match="at least 16"):
        ServerSettings(users_file=users_file, secret_key="short")
    settings = ServerSettings(users_file=users_file, secret_key=KEY)
    assert KEY not in repr(settings) and KEY not in str(settings)


async def test_extensions_add_routes_with_their_own_public_paths(api: Api) -> None:
    from tests.server import server_app

    server_app.hooks.clear()
    error_of(await api.client.get("/hiring/whoami"), 401, "unauthenticated")
    assert (await api.get("/hiring/whoami", who="ada")).json() == {"name": "ada"}
    # public: no session, no CSRF token; the route checks its own signature
    add_sign_in_routes(api.app)
    async with signed_in(api.app, "ada", PASSWORDS["ada"]) as browser:
        r = await browser.post("/hooks/mail", content=b"mail", headers={"X-Signature": "good"})
        assert r.json() == {"accepted": True}
        error_of(
            await browser.post("/api/workflows", json={"workflow": "waiter", "args": [1]}),
            403,
            "csrf",
        )
    assert server_app.hooks == ["mail"]
    assert [e.name for e in api.app.state.extensions] == ["hiring"]


def test_extensions_are_checked(users_file: Path) -> None:
    router = APIRouter()
    with pytest.raises(plait.ConfigurationError, match="lower-case"):
        Extension(name="Hiring!", router=router)
    with pytest.raises(plait.ConfigurationError, match="plait's own API public"):
        Extension(name="x", router=router, public_paths=("/api/tasks",))
    with pytest.raises(plait.ConfigurationError, match="a prefix"):
        Extension(name="x", router=router, public_paths=("hooks",))
    with pytest.raises(plait.ConfigurationError, match="two extensions are named x"):
        create_app(
            plait.Engine("sqlite:///unused.db"),
            ServerSettings(users_file=users_file, secret_key=KEY),
            [Extension(name="x", router=router), Extension(name="x", router=router)],
        )


def test_group_names_are_what_workflows_assign_to(tmp_path: Path) -> None:
    users = Users(tmp_path / "users.toml")
    users.add("lin", roles=["approver"], groups=["hiring managers", "Legal (EU)"])
    assert users.directory().groups_of("lin") == {"hiring managers", "Legal (EU)"}
    for bad in ["", " padded", "tab\there"]:
        with pytest.raises(plait.ConfigurationError, match="group name"):
            users.add("lin", groups=[bad])
