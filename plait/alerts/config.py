"""Alert settings: where alerts go (a webhook, e-mail), what they link to, how often workers
look for events. Given in code as ``Engine(alerts=plait.Alerts(...))``, else read from the
environment (:meth:`Alerts.from_env`). A bad value fails where it is written, naming the
setting (or the environment variable) and what a good value looks like.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import StrEnum

from plait.clock import duration_ms
from plait.errors import ConfigurationError
from plait.frozen import Frozen
from plait.types import Duration


class AlertKind(StrEnum):
    """What an alert is about."""

    WORKFLOW_FAILED = "workflow_failed"
    WORKFLOW_BLOCKED = "workflow_blocked"  # nondeterminism, a payload that no longer decodes
    CRASH_LOOP = "crash_loop"  # failed after its worker died max_recoveries times
    TASK_OVERDUE = "task_overdue"  # a human task's deadline passed (open, or it expired)
    TASK_ESCALATED = "task_escalated"


class AlertStatus(StrEnum):
    """Where an alert is in the outbox."""

    PENDING = "pending"  # not sent yet (maybe retrying: see its last error)
    SENT = "sent"
    FAILED = "failed"  # given up after ``max_attempts``


class SmtpServer(Frozen):
    """Where e-mail alerts are sent from: ``smtp://user:password@host:port`` (``?starttls=1``
    to upgrade the connection) or ``smtps://...`` (TLS from the start)."""

    host: str
    port: int
    username: str | None = dataclasses.field(default=None)
    password: str | None = dataclasses.field(default=None, repr=False)
    security: str = "none"  # none | starttls | tls

    @classmethod
    def parse(cls, url: str, what: str = "smtp_url") -> SmtpServer:
        from urllib.parse import parse_qsl, unquote, urlsplit  # only with alerts (ipaddress)

        parts = urlsplit(url)
        hint = "e.g. smtp://user:password@mail.example.org:587?starttls=1 or smtps://host:465"
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError(f"{what} {_redact(url)!r} is not an SMTP URL ({hint})")
        options = dict(parse_qsl(parts.query))
        starttls = options.pop("starttls", "0").lower()
        if starttls not in ("0", "1", "true", "false", "yes", "no"):
            raise ConfigurationError(f"{what}: starttls must be 1 or 0, not {starttls!r}")
        if options:
            raise ConfigurationError(f"{what}: unknown option(s) {sorted(options)} ({hint})")
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError(f"{what} has a bad port ({hint})") from None
        security = "tls" if parts.scheme == "smtps" else "none"
        if starttls in ("1", "true", "yes"):
            if security == "tls":
                raise ConfigurationError(f"{what}: smtps:// is TLS already; drop ?starttls")
            security = "starttls"
        return cls(
            host=parts.hostname,
            port=port or (465 if security == "tls" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            security=security,
        )


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


class Alerts(Frozen):
    """Where alerts go and how workers find and send them (see docs/operations.md).

    ``webhook``: an ``http(s)://`` URL that gets a JSON POST per alert, signed with
    ``webhook_secret`` (HMAC-SHA256 of the body, header ``X-Plait-Signature``) when given.
    ``email``: recipient address(es), sent through ``smtp_url`` from ``email_from``.
    ``ui_url``: the server's address, for the link in each alert. ``kinds``: which
    :class:`AlertKind` to send (all by default). Workers look for events every
    ``scan_interval``; on a database never scanned they look ``lookback`` into the past.
    A failed delivery is retried after ``retry_interval``, doubling up to an hour, until
    ``max_attempts``; each try may take ``timeout``.
    """

    webhook: str | None = None
    email: str | Iterable[str] | None = None
    ui_url: str | None = None
    webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    smtp_url: str | None = dataclasses.field(default=None, repr=False)
    email_from: str | None = None
    kinds: Iterable[AlertKind | str] = tuple(AlertKind)
    scan_interval: Duration = timedelta(seconds=5)
    lookback: Duration = timedelta(days=1)
    timeout: Duration = timedelta(seconds=10)
    retry_interval: Duration = timedelta(seconds=10)
    max_attempts: int = 10

    def __post_init__(self) -> None:
        from urllib.parse import urlsplit  # not at import: a worker without alerts never needs it

        put = object.__setattr__
        if self.webhook is not None:
            parts = urlsplit(self.webhook)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(
                    f"alert webhook {self.webhook!r} is not an http(s):// URL "
                    "(e.g. https://hooks.example.org/plait)"
                )
        emails = (self.email,) if isinstance(self.email, str) else tuple(self.email or ())
        emails = tuple(e.strip() for e in emails if e.strip())
        for address in emails:
            if "@" not in address or any(c.isspace() for c in address):
                raise ConfigurationError(f"alert e-mail recipient {address!r} is not an address")
        put(self, "email", emails)
        if emails and self.smtp_url is None:
            raise ConfigurationError(
                "e-mail alerts need an SMTP server: Alerts(smtp_url=...) or PLAIT_SMTP_URL "
                "(smtp://user:password@host:port)"
            )
        if self.smtp_url is not None:
            SmtpServer.parse(self.smtp_url)
        if self.email_from is not None and "@" not in self.email_from:
            raise ConfigurationError(f"alert sender {self.email_from!r} is not an address")
        if self.ui_url is not None:
            parts = urlsplit(self.ui_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(
                    f"ui_url {self.ui_url!r} is not the server's http(s):// address "
                    "(e.g. https://plait.example.org)"
                )
            put(self, "ui_url", self.ui_url.rstrip("/"))
        if isinstance(self.kinds, str):
            raise ConfigurationError("Alerts(kinds=...) takes a list of kinds, not one string")
        kinds = []
        for kind in self.kinds:
            try:
                kinds.append(AlertKind(kind))
            except ValueError:
                known = ", ".join(k.value for k in AlertKind)
                raise ConfigurationError(f"unknown alert kind {kind!r}; use {known}") from None
        put(self, "kinds", frozenset(kinds))
        for name in ("scan_interval", "lookback", "timeout", "retry_interval"):
            duration_ms(getattr(self, name), f"Alerts({name}=...)")
        if duration_ms(self.scan_interval, "scan_interval") < 10:
            raise ConfigurationError("Alerts(scan_interval=...) must be at least 10 ms")
        if duration_ms(self.timeout, "timeout") < 100:
            raise ConfigurationError("Alerts(timeout=...) must be at least 0.1 s")
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigurationError(
                f"Alerts(max_attempts=...) must be >= 1, not {self.max_attempts!r}"
            )

    @property
    def channels(self) -> tuple[str, ...]:
        """Where alerts go: ``webhook`` and/or ``email``."""
        return (("webhook",) if self.webhook else ()) + (("email",) if self.email else ())

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(self.email or ())  # a tuple after __post_init__

    @property
    def sender(self) -> str:
        """The From address: ``email_from``, else ``plait@<this host>``."""
        return self.email_from or f"plait@{socket.getfqdn() or 'localhost'}"

    @property
    def smtp(self) -> SmtpServer | None:
        return None if self.smtp_url is None else SmtpServer.parse(self.smtp_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Alerts | None:
        """The settings in the environment, or ``None`` when neither
        ``PLAIT_ALERT_WEBHOOK`` nor ``PLAIT_ALERT_EMAIL_TO`` is set. Also read:
        ``PLAIT_ALERT_WEBHOOK_SECRET``, ``PLAIT_SMTP_URL``, ``PLAIT_ALERT_FROM``,
        ``PLAIT_UI_URL``, ``PLAIT_ALERT_KINDS`` (comma-separated) and
        ``PLAIT_ALERT_SCAN_INTERVAL`` (seconds)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        webhook, email = get("PLAIT_ALERT_WEBHOOK"), get("PLAIT_ALERT_EMAIL_TO")
        if webhook is None and email is None:
            return None
        options: dict[str, object] = {}
        if (kinds := get("PLAIT_ALERT_KINDS")) is not None:
            options["kinds"] = [k.strip() for k in kinds.split(",") if k.strip()]
        if (interval := get("PLAIT_ALERT_SCAN_INTERVAL")) is not None:
            try:
                options["scan_interval"] = float(interval)
            except ValueError:
                raise ConfigurationError(
                    f"PLAIT_ALERT_SCAN_INTERVAL must be a number of seconds, not {interval!r}"
                ) from None
        try:
            return cls(
                webhook=webhook,
                email=(email or "").split(","),
                ui_url=get("PLAIT_UI_URL"),
                webhook_secret=get("PLAIT_ALERT_WEBHOOK_SECRET"),
                smtp_url=get("PLAIT_SMTP_URL"),
                email_from=get("PLAIT_ALERT_FROM"),
                **options,  # type: ignore[arg-type]
            )
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"alert settings in the environment (PLAIT_ALERT_*): {exc}"
            ) from None


def resolve(alerts: Alerts | None) -> Alerts | None:
    """``Engine(alerts=...)``: the settings given, else the environment's."""
    if alerts is None:
        return Alerts.from_env()
    if not isinstance(alerts, Alerts):
        raise ConfigurationError(f"Engine(alerts=...) takes a plait.Alerts, not {alerts!r}")
    return alerts
