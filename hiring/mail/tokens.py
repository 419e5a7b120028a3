"""Signed tokens for reply addresses, unsubscribe links and slot links — verified without storage.

A token carries its *subject* (e.g. an application id, or ``interview-7:slot-2``) and an HMAC
over the token's *kind* and subject, so :func:`verify_token` returns the subject without a
lookup, and a token made for one purpose (``"reply"``) is refused for another
(``"unsubscribe"``). An optional expiry is signed with it.

Invariants:
- A token is lower-case base32 (``a-z``, ``2-7``) and dots: safe in a URL path, in the local part
  of an e-mail address, and unchanged by mail systems that lower-case addresses (verification
  lower-cases too).
- The same kind, subject, secret and expiry always give the same token.
- Verification compares MACs in constant time; any change to the token is refused.
- The secret is at least 16 bytes; rotate it and old tokens stop verifying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

from hiring.mail.errors import InvalidToken, TokenExpired

__all__ = [
    "MAX_LOCAL_PART",
    "keyed_id",
    "make_token",
    "reply_address",
    "token_from_address",
    "verify_token",
]

MAC_BYTES = 10  # 80 bits: unguessable, and short enough for an address's local part
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_TOKEN = re.compile(r"^[a-z2-7]+(\.[a-z2-7]+){1,2}$")


def make_token(
    kind: str, subject: str, secret: str | bytes, *, expires_at: datetime | None = None
) -> str:
    """A URL- and address-safe token for ``subject``, valid only for ``kind``.

    ``expires_at`` (timezone-aware) makes :func:`verify_token` refuse it afterwards.
    """
    key = _key(secret)
    _check_kind(kind)
    if not subject or "\x00" in subject:
        raise ValueError("a token's subject must be a non-empty string without NUL characters")
    parts = [_b32(subject.encode())]
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware (e.g. datetime.now(UTC))")
        parts.append(_b32(str(int(expires_at.timestamp())).encode()))
    parts.append(_b32(_mac(key, kind, parts)))
    return ".".join(parts)


def verify_token(token: str, kind: str, secret: str | bytes, *, now: datetime | None = None) -> str:
    """The subject ``token`` was made for; raises :class:`InvalidToken` or :class:`TokenExpired`.

    ``now`` (default: the wall clock) is compared with a signed expiry; pass the workflow's
    time when verifying inside one.
    """
    key = _key(secret)
    _check_kind(kind)
    token = token.strip().lower()
    if not _TOKEN.match(token):
        raise InvalidToken(f"malformed {kind} token: expected base32 parts joined by dots")
    *parts, mac = token.split(".")
    if not hmac.compare_digest(mac, _b32(_mac(key, kind, parts))):
        raise InvalidToken(
            f"this {kind} token was altered, or made for another purpose or with another secret"
        )
    try:
        subject = _unb32(parts[0]).decode()
        expiry = int(_unb32(parts[1]).decode()) if len(parts) == 2 else None
    except ValueError as error:  # UnicodeDecodeError is one
        raise InvalidToken(f"malformed {kind} token ({error})") from None
    if expiry is not None:
        moment = now or datetime.now(UTC)
        if moment.timestamp() >= expiry:
            ended = datetime.fromtimestamp(expiry, UTC).isoformat()
            raise TokenExpired(f"this {kind} token expired at {ended}")
    return subject


def keyed_id(purpose: str, value: str, secret: str | bytes, length: int = 26) -> str:
    """A stable, unguessable lower-case base32 id for ``value`` (e.g. a Message-ID's left part).

    The same inputs give the same id; without the secret the id cannot be derived from
    ``value``, so it cannot be forged to match a reply to someone else's thread.
    """
    digest = hmac.new(_key(secret), f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
    return _b32(digest)[:length]


def reply_address(token: str, domain: str, prefix: str = "reply") -> str:
    """``prefix+token@domain``; refuses a local part longer than RFC 5321 allows (64 octets)."""
    local = f"{prefix}+{token}"
    if len(local) > MAX_LOCAL_PART:
        raise ValueError(
            f"the reply address's local part {local!r} is {len(local)} characters, over the "
            f"{MAX_LOCAL_PART} allowed: make the token's subject shorter (an application id, "
            "not a name)"
        )
    return f"{local}@{domain}"


def token_from_address(address: str, prefix: str = "reply") -> str | None:
    """The token in a ``prefix+token@domain`` address (any case), or None if it has none."""
    local, at, _domain = address.strip().strip("<>").rpartition("@")
    if not at:
        return None
    head, plus, token = local.partition("+")
    if not plus or head.lower() != prefix.lower() or not token:
        return None
    return token.lower()


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < 16:
        raise ValueError(
            "the token secret must be at least 16 bytes; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return key


def _check_kind(kind: str) -> None:
    if not _KIND.match(kind):
        raise ValueError(
            f"token kind {kind!r} must be lower-case letters, digits, '-' or '_' (at most 32)"
        )


def _mac(key: bytes, kind: str, parts: list[str]) -> bytes:
    message = "\x00".join([kind, *parts]).encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except Exception as error:  # binascii.Error
        raise ValueError(str(error)) from None
