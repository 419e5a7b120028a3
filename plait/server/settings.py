"""The server's settings: one frozen value built by ``plait server`` (or by a test).

Invariant kept here: settings that cannot work together fail when they are made, with what
to change — no secret key outside local mode, a key too short to sign sessions safely.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from plait import ConfigurationError

MIN_SECRET_KEY_CHARS = 16
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """How one ``plait server`` runs.

    ``local_mode``: no sign-in, everyone is the admin ``local`` (only bound to loopback;
    every page says so). ``has_app``: the server has the application's workflow code (it was
    started with ``--app``), so it can start workflows. ``secure_cookies``: the session
    cookie is sent over HTTPS only (behind TLS). ``base_url``: how people reach the server
    (for links in alerts and e-mails).
    """

    users_file: Path = Path("plait-users.toml")
    secret_key: str | None = None
    local_mode: bool = False
    has_app: bool = True
    secure_cookies: bool = False
    base_url: str = "http://127.0.0.1:8765"
    session_max_age: timedelta = timedelta(days=14)

    def __post_init__(self) -> None:
        object.__setattr__(self, "users_file", Path(self.users_file))
        if not self.local_mode and not self.secret_key:
            raise ConfigurationError(
                "set PLAIT_SECRET_KEY (it signs the session cookies; e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
                "or run locally without sign-in with --no-auth"
            )
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            raise ConfigurationError(
                f"PLAIT_SECRET_KEY must be at least {MIN_SECRET_KEY_CHARS} characters "
                f"(got {len(self.secret_key)}); make a random one of 32 or more"
            )
        if self.session_max_age <= timedelta(0):
            raise ConfigurationError("session_max_age must be positive")

    def __repr__(self) -> str:  # never show the key
        shown = "<set>" if self.secret_key else None
        return (
            f"ServerSettings(users_file={str(self.users_file)!r}, secret_key={shown!r}, "
            f"local_mode={self.local_mode}, has_app={self.has_app}, "
            f"secure_cookies={self.secure_cookies}, base_url={self.base_url!r})"
        )
