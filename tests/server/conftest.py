"""Fixtures of the server's tests, defined in ``apifixtures.py`` (the API tests' users,
engine and in-process client)."""

from tests.server.apifixtures import (  # noqa: F401
    api,
    make_app,
    server_engine,
    tokens,
    users_file,
    users_template,
)
