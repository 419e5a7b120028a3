"""The server's people: users, their groups and roles, passwords and API tokens.

Users live in a TOML file (``PLAIT_USERS_FILE``, default ``plait-users.toml``)::

    [users.ada]
    display_name = "Ada Lovelace"
    email = "ada@example.com"
    password_hash = "$argon2id$v=19$..."
    groups = ["recruiters"]
    roles = ["approver"]
    time_zone = "Europe/London"
    tokens = ["sha256:9f86d0..."]

written by ``plait users add`` and re-read whenever the file changes, so several servers
behind a balancer agree on who may do what.

Invariants kept here:
- No secret is stored or returned in the clear: passwords are argon2 hashes; API tokens are
  high-entropy random strings stored as their SHA-256 digest (a slow hash adds nothing to a
  random 256-bit token, and a digest can be looked up in one step per request). A
  :class:`User` carries neither, so whatever shows a user cannot leak one.
- A users file that does not parse is an error when the server starts; one that stops
  parsing while it runs is logged and the last good version stays in force.
- Checking a password costs the same whether or not the name exists (a dummy hash is
  verified for unknown names), so sign-in does not tell which names exist.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import secrets
import threading
import tomllib
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomli_w
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from plait import ConfigurationError, Directory

log = logging.getLogger("plait.server")

TOKEN_PREFIX = "plait_"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class Role(StrEnum):
    """What a person may do on the server. Admin implies every role; operator and approver
    imply viewer."""

    VIEWER = "viewer"  # read everything
    OPERATOR = "operator"  # start, signal, cancel, resume workflows
    APPROVER = "approver"  # complete human tasks assigned to them or their groups
    ADMIN = "admin"  # everything, including reassigning tasks


@dataclasses.dataclass(frozen=True)
class User:
    """A person who may use the server (never holds a password hash or token)."""

    name: str
    display_name: str = ""
    email: str | None = None
    groups: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()
    time_zone: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "display_name", self.display_name or self.name)
        object.__setattr__(self, "groups", frozenset(self.groups))
        object.__setattr__(self, "roles", frozenset(Role(r) for r in self.roles))

    def can(self, role: Role) -> bool:
        """Whether the user holds ``role``: directly, through admin (every role), or as
        operator or approver (which imply viewer)."""
        if Role.ADMIN in self.roles or role in self.roles:
            return True
        return role == Role.VIEWER and bool(self.roles & {Role.OPERATOR, Role.APPROVER})


LOCAL_USER = User(name="local", display_name="local (no sign-in)", roles=frozenset({Role.ADMIN}))


@dataclasses.dataclass(frozen=True)
class _Entry:
    user: User
    password_hash: str | None
    tokens: frozenset[str]


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` for the users file."""
    return _hasher.hash(password)


def new_token() -> str:
    """A new API token (shown once; only its digest is stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """How a token is stored: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str, what: str = "a user name") -> str:
    """``name`` if it is a usable user name, else a ConfigurationError."""
    if not isinstance(name, str) or not name or not set(name) <= _NAME_CHARS or len(name) > 64:
        raise ConfigurationError(
            f"{what} must be 1-64 letters, digits, '.', '_', '-' or '@', not {name!r}"
        )
    return name


def check_group(name: str) -> str:
    """``name`` if it is a usable group name (what workflows assign tasks to, so any
    printable text: "hiring managers"), else a ConfigurationError."""
    if (
        not isinstance(name, str)
        or not name.strip()
        or name != name.strip()
        or len(name) > 100
        or not name.isprintable()
    ):
        raise ConfigurationError(
            f"a group name must be 1-100 printable characters without spaces around, not {name!r}"
        )
    return name


class Users:
    """The users file, re-read when it changes: who exists, their groups and roles, and the
    checks of passwords and API tokens."""

    def __init__(self, path: Path | str, *, local_mode: bool = False) -> None:
        self.path = Path(path)
        self.local_mode = local_mode
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: dict[str, _Entry] = {}
        self._by_token: dict[str, str] = {}
        self._load(strict=True)

    # -- reading ---------------------------------------------------------------------------
    def _load(self, *, strict: bool = False) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            stamp = None
        else:
            stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        with self._lock:
            try:
                entries = _parse(self.path) if stamp is not None else {}
            except ConfigurationError as exc:
                if strict:
                    raise
                log.error("%s; keeping the users as they were", exc)
                self._stamp = stamp
                return
            self._entries = entries
            self._by_token = {d: name for name, e in entries.items() for d in e.tokens}
            self._stamp = stamp

    def _current(self) -> dict[str, _Entry]:
        self._load()
        return self._entries

    def get(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        if self.local_mode and name == LOCAL_USER.name:
            return LOCAL_USER
        entry = self._current().get(name)
        return entry.user if entry else None

    def all(self) -> list[User]:
        """Every user, by name."""
        return [e.user for _, e in sorted(self._current().items())]

    def __len__(self) -> int:
        return len(self._current())

    def password_fingerprint(self, name: str) -> str:
        """A short digest of the user's password hash: a session made before the password
        changed no longer matches it."""
        entry = self._current().get(name)
        source = entry.password_hash if entry and entry.password_hash else ""
        return hashlib.sha256(source.encode()).hexdigest()[:16]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else None (slow on purpose: argon2)."""
        entry = self._current().get(name)
        stored = entry.password_hash if entry and entry.password_hash else None
        try:
            _hasher.verify(stored or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return entry.user if entry is not None and stored is not None else None

    def by_token(self, token: str) -> User | None:
        """The user an API token belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = token_digest(token)
        entries = self._current()
        for known, name in self._by_token.items():
            if hmac.compare_digest(known, digest):
                entry = entries.get(name)
                return entry.user if entry else None
        return None

    def directory(self) -> Directory:
        """A :class:`plait.Directory` of these users, kept current as the file changes."""
        return UsersDirectory(self)

    # -- writing ---------------------------------------------------------------------------
    def add(
        self,
        name: str,
        *,
        password: str | None = None,
        roles: Iterable[Role | str] = (),
        groups: Iterable[str] = (),
        display_name: str | None = None,
        email: str | None = None,
        time_zone: str | None = None,
        token: bool = False,
    ) -> str | None:
        """Adds ``name``, or updates it (given roles and groups replace the old ones; the
        password and tokens stay unless given). Returns a new API token with ``token=True``
        (shown once: only its digest is written)."""
        check_name(name)
        role_set = sorted({_role(r) for r in roles})
        group_set = sorted({check_group(g) for g in groups})
        with self._lock:
            data = _read_toml(self.path) if self.path.exists() else {}
            users = data.setdefault("users", {})
            if not isinstance(users, dict):
                raise ConfigurationError(f"{self.path}: 'users' must be a table")
            record = dict(users.get(name) or {})
            if role_set or not record:
                record["roles"] = role_set
            if group_set or not record:
                record["groups"] = group_set
            for key, value in (
                ("display_name", display_name),
                ("email", email),
                ("time_zone", time_zone),
            ):
                if value is not None:
                    record[key] = value
            if password is not None:
                if not password:
                    raise ConfigurationError("the password must not be empty")
                record["password_hash"] = hash_password(password)
            issued = None
            if token:
                issued = new_token()
                record["tokens"] = [*record.get("tokens", []), token_digest(issued)]
            users[name] = record
            _parse_users(users, self.path)  # refuse to write what would not load
            _write_private(self.path, tomli_w.dumps(data).encode())
            self._stamp = None
        self._load(strict=True)
        return issued


class UsersDirectory(Directory):
    """The engine's :class:`plait.Directory`, read from the users file on every check (so a
    change to the file applies at once): groups from each user's ``groups``, admins from the
    ``admin`` role (and the local user in local mode)."""

    users: Users

    def __init__(self, users: Users) -> None:
        super().__init__()
        object.__setattr__(self, "users", users)

    def groups_of(self, person: str) -> frozenset[str]:
        user = self.users.get(person)
        return user.groups if user else frozenset()

    def is_admin(self, person: str) -> bool:
        user = self.users.get(person)
        return user is not None and Role.ADMIN in user.roles


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ConfigurationError(f"unknown role {value!r}; use one of {known}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"the users file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read the users file {path}: {exc}") from None


def _parse(path: Path) -> dict[str, _Entry]:
    users = _read_toml(path).get("users", {})
    if not isinstance(users, dict):
        raise ConfigurationError(f"the users file {path}: 'users' must be a table")
    return _parse_users(users, path)


def _parse_users(users: dict[str, Any], path: Path) -> dict[str, _Entry]:
    entries = {}
    for name, raw in users.items():
        where = f"the users file {path}, user {name!r}"
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{where}: must be a table")
        try:
            check_name(name)
            groups = _strings(raw.get("groups", []), f"{where}: groups")
            roles = [_role(r) for r in _strings(raw.get("roles", []), f"{where}: roles")]
            tokens = _strings(raw.get("tokens", []), f"{where}: tokens")
            user = User(
                name=name,
                display_name=_text(raw.get("display_name"), f"{where}: display_name") or name,
                email=_text(raw.get("email"), f"{where}: email"),
                groups=frozenset(check_group(g) for g in groups),
                roles=frozenset(roles),
                time_zone=_text(raw.get("time_zone"), f"{where}: time_zone"),
            )
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        entries[name] = _Entry(
            user, _text(raw.get("password_hash"), f"{where}: password_hash"), frozenset(tokens)
        )
    return entries


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{what} must be a list of strings")
    return list(value)


def _text(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string")
    return value


def _write_private(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
