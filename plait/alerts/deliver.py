"""Delivering one alert: a JSON POST to a webhook, or a plain-text e-mail.

Each alert carries an idempotency key derived from what it is about (``Idempotency-Key``
header, the ``id`` field, the e-mail's ``Message-ID``): delivery is at least once (a worker
killed after the receiver accepted an alert and before it was marked sent sends it again
once), so a receiver that keeps the keys it has seen can drop the repeat.

A webhook with a secret gets ``X-Plait-Signature: sha256=<hex>``, the HMAC-SHA256 of the
request body under the secret, so the receiver can check the alert came from plait.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from plait.alerts.config import AlertKind, Alerts, SmtpServer
from plait.store.records import AlertRow
from plait.types import ms_to_datetime

if TYPE_CHECKING:
    from email.message import EmailMessage

    import httpx

SIGNATURE_HEADER = "X-Plait-Signature"
KEY_HEADER = "Idempotency-Key"

_TITLES = {
    AlertKind.WORKFLOW_FAILED: "workflow failed",
    AlertKind.WORKFLOW_BLOCKED: "workflow blocked",
    AlertKind.CRASH_LOOP: "crash loop stopped",
    AlertKind.TASK_OVERDUE: "human task overdue",
    AlertKind.TASK_ESCALATED: "human task escalated",
}


class DeliveryFailed(Exception):
    """The receiver did not take the alert (its answer, or why it could not be reached)."""


def alert_key(kind: str, subject: str) -> str:
    """The idempotency key of the event ``(kind, subject)``: the same on every worker and
    every attempt, different for every event."""
    return "plait-" + hashlib.sha256(f"{kind}\n{subject}".encode()).hexdigest()[:32]


def link(alert: AlertRow, ui_url: str | None) -> str | None:
    """The UI page of what the alert is about: the human task's, else the workflow's."""
    if ui_url is None:
        return None
    from urllib.parse import quote  # not at import: a worker without alerts never needs it

    if alert.task_id is not None:
        return f"{ui_url}/tasks/{quote(alert.task_id, safe=':@')}"
    return f"{ui_url}/workflows/{quote(alert.workflow_id, safe=':@')}"


def title(alert: AlertRow) -> str:
    """A one-line subject: what happened, to which workflow."""
    what = _TITLES.get(AlertKind(alert.kind), alert.kind)
    return f"[plait] {what}: {alert.workflow_name} ({alert.workflow_id})"


def payload(alert: AlertRow, ui_url: str | None) -> dict[str, Any]:
    """The webhook's JSON body."""
    at = ms_to_datetime(alert.at)
    return {
        "id": alert_key(alert.kind, alert.subject),
        "kind": alert.kind,
        "workflow_id": alert.workflow_id,
        "workflow_name": alert.workflow_name,
        "task_id": alert.task_id,
        "message": alert.message,
        "time": at.isoformat() if at else None,
        "link": link(alert, ui_url),
    }


def signature(secret: str, body: bytes) -> str:
    """The ``X-Plait-Signature`` value of ``body``: ``sha256=`` and the HMAC's hex digest."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_webhook(client: httpx.AsyncClient, config: Alerts, alert: AlertRow) -> None:
    """POSTs the alert; ``DeliveryFailed`` unless the receiver answers 2xx."""
    import httpx  # here: a worker without alerts never loads the HTTP client

    assert config.webhook is not None
    body = json.dumps(payload(alert, config.ui_url), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        KEY_HEADER: alert_key(alert.kind, alert.subject),
        "User-Agent": "plait-alerts",
    }
    if config.webhook_secret:
        headers[SIGNATURE_HEADER] = signature(config.webhook_secret, body)
    try:
        response = await client.post(config.webhook, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc or 'no answer'}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"the webhook answered {response.status_code}: {response.text[:200]}")


def email_message(config: Alerts, alert: AlertRow) -> EmailMessage:
    """The alert as a plain-text e-mail, its Message-ID the alert's idempotency key."""
    # Here, not at the top: a worker that sends no e-mail never loads email and smtplib.
    from email.message import EmailMessage
    from email.utils import formatdate

    msg = EmailMessage()
    msg["Subject"] = title(alert)
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.recipients)
    msg["Date"] = formatdate(alert.at / 1000, usegmt=True)
    msg["Message-ID"] = f"<{alert_key(alert.kind, alert.subject)}@plait>"
    lines = [alert.message, ""]
    at = ms_to_datetime(alert.at)
    lines.append(f"When: {at.isoformat() if at else '?'}")
    lines.append(f"Workflow: {alert.workflow_name} ({alert.workflow_id})")
    if alert.task_id:
        lines.append(f"Human task: {alert.task_id}")
    url = link(alert, config.ui_url)
    if url:
        lines += ["", f"Open: {url}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


async def send_email(config: Alerts, alert: AlertRow, timeout: float) -> None:
    """Sends the alert's e-mail (smtplib, in a thread); ``DeliveryFailed`` if refused."""
    import smtplib

    server = config.smtp
    assert server is not None
    message = email_message(config, alert)
    try:
        await asyncio.to_thread(_smtp_send, server, message, timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None


def _smtp_send(server: SmtpServer, message: EmailMessage, timeout: float) -> None:
    import smtplib
    import ssl

    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if server.security == "tls":
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    with smtp:
        if server.security == "starttls":
            smtp.starttls(context=context)
        if server.username is not None:
            smtp.login(server.username, server.password or "")
        smtp.send_message(message)
