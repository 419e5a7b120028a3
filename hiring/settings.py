"""Where the hiring application sends mail and how its links are signed, from the
environment (read by steps and the server, never by workflow code, so replays do not
depend on it).

- ``HIRING_SMTP``: ``smtp://host:port`` (no TLS, a local relay or the demo server),
  ``smtp+starttls://user:password@host:587`` or ``smtps://user:password@host:465``;
  default ``smtp://127.0.0.1:8025``.
- ``HIRING_SECRET`` (else ``PLAIT_SECRET_KEY``): signs reply, unsubscribe and slot tokens.
- ``HIRING_BASE_URL``: where people reach the server (links in e-mails), default
  ``http://127.0.0.1:8765``.
- ``HIRING_MAIL_DOMAIN``: the domain of reply addresses, default ``hiring.localhost``.
"""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import plait
from hiring.mail.outbound import SmtpSecurity, SmtpSettings

_SCHEMES = {
    "smtp": SmtpSecurity.NONE,
    "smtp+starttls": SmtpSecurity.STARTTLS,
    "smtps": SmtpSecurity.SSL,
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The application's settings (see the module docstring for the variables)."""

    smtp: SmtpSettings
    secret: str
    base_url: str
    mail_domain: str


def parse_smtp(url: str) -> SmtpSettings:
    """``smtp://``, ``smtp+starttls://`` or ``smtps://`` URL → SMTP settings."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise plait.ConfigurationError(
            f"HIRING_SMTP={url!r} is not a mail server URL: use smtp://host:port, "
            "smtp+starttls://user:password@host:587 or smtps://user:password@host:465"
        )
    security = _SCHEMES[parts.scheme]
    default = {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.SSL: 465}
    return SmtpSettings(
        host=parts.hostname,
        port=parts.port or default[security],
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings, read once per process from the environment."""
    secret = os.environ.get("HIRING_SECRET") or os.environ.get("PLAIT_SECRET_KEY")
    if not secret:
        raise plait.ConfigurationError(
            "set HIRING_SECRET (or PLAIT_SECRET_KEY): it signs the reply, unsubscribe and "
            "slot links in e-mails"
        )
    return Settings(
        smtp=parse_smtp(os.environ.get("HIRING_SMTP", "smtp://127.0.0.1:8025")),
        secret=secret,
        base_url=os.environ.get("HIRING_BASE_URL", "http://127.0.0.1:8765").rstrip("/"),
        mail_domain=os.environ.get("HIRING_MAIL_DOMAIN", "hiring.localhost"),
    )
