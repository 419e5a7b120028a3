"""``plait users add`` and ``plait server``'s refusals: the users file it writes then
authenticates; a server without a secret key, with --no-auth off loopback, without a
users file or with a bad app refuses to start with one line and exit 2; and ``plait
worker``'s command line does not load the server's libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from plait.cli import main
from plait.server.users import Users

ROOT = Path(__file__).resolve().parent.parent.parent


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
    env = {"PLAIT_SECRET_KEY": "", "PLAIT_APP": "", "PLAIT_DATABASE_URL": "", **(env or {})}
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_users_add_writes_a_file_that_authenticates(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    result = run(
        "users", "add", "ada", "--role", "approver", "--group", "recruiters", "--password-stdin",
        "--email", "ada@example.com", "--time-zone", "Europe/Oslo", "--users-file", str(path),
        input="correct horse battery\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # no token asked for: nothing on stdout
    assert "ada" in result.stderr and str(path) in result.stderr
    users = Users(path)
    ada = users.authenticate("ada", "correct horse battery")
    assert ada is not None and ada.groups == {"recruiters"} and ada.time_zone == "Europe/Oslo"
    assert users.authenticate("ada", "wrong") is None

    result = run(
        "users", "add", "ci-bot", "--role", "operator", "--token", "--users-file", str(path)
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("plait_") and "\n" not in token
    bot = Users(path).by_token(token)
    assert bot is not None and bot.name == "ci-bot"
    assert token not in path.read_text() and "correct horse" not in path.read_text()


def test_users_add_refuses_bad_input(tmp_path: Path) -> None:
    path = str(tmp_path / "users.toml")
    assert "'boss'" in one_line_error(
        run("users", "add", "ada", "--role", "boss", "--users-file", path)
    )
    assert "user name" in one_line_error(run("users", "add", "ada lovelace", "--users-file", path))
    assert "time zone" in one_line_error(
        run("users", "add", "ada", "--time-zone", "Mars/Olympus", "--users-file", path)
    )
    assert "empty password" in one_line_error(
        run("users", "add", "ada", "--password-stdin", "--users-file", path, input="\n")
    )
    assert not Path(path).exists()


def test_server_refuses_to_start_without_what_it_needs(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    Users(users).add("root", roles=["admin"])
    db = f"sqlite:///{tmp_path}/plait.db"
    base = ["server", "--database", db, "--users-file", str(users), "--port", "0"]

    assert "PLAIT_SECRET_KEY" in one_line_error(run(*base))
    key = {"PLAIT_SECRET_KEY": "short"}
    assert "at least 16" in one_line_error(run(*base, env=key))
    error = one_line_error(run(*base, "--host", "0.0.0.0", "--no-auth"))
    assert "127.0.0.1" in error and "0.0.0.0" in error
    key = {"PLAIT_SECRET_KEY": "k" * 32}
    error = one_line_error(
        run("server", "--database", db, "--users-file", str(tmp_path / "none.toml"), env=key)
    )
    assert "plait users add" in error
    assert "--app" in one_line_error(run("server", "--database", db, "--worker", env=key))
    assert "--database" in one_line_error(run("server", env=key))
    assert "cannot import 'nowhere'" in one_line_error(
        run("server", "--app", "nowhere:engine", "--users-file", str(users), env=key)
    )
    users.write_text("[users.root\n")
    assert "not valid TOML" in one_line_error(run(*base, env=key))


def test_plait_worker_does_not_load_the_server() -> None:
    code = (
        "import sys, plait.cli; "
        "heavy = ('fastapi', 'starlette', 'uvicorn', 'argon2', 'jinja2'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_server_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    users = tmp_path / "users.toml"
    Users(users).add("root", roles=["admin"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run(
            "server", "--database", f"sqlite:///{tmp_path}/p.db", "--users-file", str(users),
            "--port", port, env={"PLAIT_SECRET_KEY": "k" * 32},
        )  # fmt: skip
        assert "cannot listen on 127.0.0.1:" + port in one_line_error(result, 1)
