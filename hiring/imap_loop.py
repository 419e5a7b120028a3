"""The application's IMAP poller: a loop in the server's process (not a workflow) that reads
the shared reply mailbox and routes each message like the inbound-mail webhook does.

Configured by ``HIRING_IMAP``: ``imaps://user:password@host:993/INBOX`` (TLS),
``imap+starttls://user:password@host:143/INBOX``, or ``imap://user:password@host:port/INBOX``
(no TLS: only for a server on loopback); ``HIRING_IMAP_INTERVAL`` is the seconds between
polls (default 60). Unset, no poller runs and replies come only through the webhook.

The server starts and stops it with the hiring extension's router::

    router = APIRouter(lifespan=imap_loop.lifespan(engine))

(FastAPI merges an included router's lifespan into the app's, inside the server's own, so
the engine is open while the poller runs); elsewhere ``async with imap_loop.running(engine):``.

Invariants:
- The cursor (UIDVALIDITY, last UID) lives in the engine's records, kind ``hiring.imap``, so
  a restarted server continues where it stopped, on SQLite and PostgreSQL alike.
- Each message goes through the webhook's checks and routing
  (:func:`hiring.public.deliver`); a forged one (a bad token, a bounce quoting no message of
  ours) is logged and dropped, never retried forever.
- Each message is written to the records (kind ``hiring.inbox``) before it is routed and
  removed once routed; the cursor moves only after every message of a poll was routed. A
  failing handler therefore loses nothing: the message is in the records and comes again.
- Routing is idempotent on the Message-ID, so a message seen by both the webhook and the
  poller, or polled twice after a crash, counts once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import unquote, urlsplit

import plait
from hiring import routing
from hiring.mail.imap import ImapCursor, ImapSecurity, ImapSettings, poll_once, run_poller
from hiring.mail.inbound import InboundMail

__all__ = [
    "CURSOR",
    "INBOX",
    "configured",
    "lifespan",
    "parse_imap",
    "poll",
    "run",
    "running",
]

log = logging.getLogger(__name__)

CURSOR = "hiring.imap"  # key: "<host>/<user>/<folder>" → ImapCursor.to_dict()
INBOX = "hiring.inbox"  # key: hash of the Message-ID → the message, until it is routed
DEFAULT_INTERVAL = 60.0

_SCHEMES = {
    "imaps": (ImapSecurity.SSL, 993),
    "imap+starttls": (ImapSecurity.STARTTLS, 143),
    "imap": (ImapSecurity.NONE, 143),
}


def parse_imap(url: str) -> ImapSettings:
    """``imaps://``, ``imap+starttls://`` or ``imap://`` URL → the poller's settings."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname or not parts.username:
        raise plait.ConfigurationError(
            f"HIRING_IMAP={_hide(url)!r} is not a mailbox URL: use "
            "imaps://user:password@host:993/INBOX (or imap+starttls://..., or imap://... "
            "for a server on loopback)"
        )
    security, default_port = _SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise plait.ConfigurationError(
            f"HIRING_IMAP={_hide(url)!r}: the port is not a number"
        ) from None
    return ImapSettings(
        host=parts.hostname,
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        port=port,
        security=security,
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


def _hide(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def configured() -> tuple[ImapSettings, float] | None:
    """The poller's settings and interval from the environment, or None when unset."""
    url = os.environ.get("HIRING_IMAP", "").strip()
    if not url:
        return None
    raw = os.environ.get("HIRING_IMAP_INTERVAL", "").strip()
    try:
        interval = float(raw) if raw else DEFAULT_INTERVAL
    except ValueError:
        interval = -1.0
    if interval <= 0:
        raise plait.ConfigurationError(
            f"HIRING_IMAP_INTERVAL={raw!r} must be a positive number of seconds"
        )
    return parse_imap(url), interval


def _cursor_key(settings: ImapSettings) -> str:
    return f"{settings.host}/{settings.username}/{settings.folder}"


def _inbox_key(mail: InboundMail) -> str:
    return hashlib.sha256(mail.message_id.encode()).hexdigest()


async def handle(engine: plait.Engine, mail: InboundMail) -> routing.Routed:
    """Keeps ``mail`` in the records, delivers it as the webhook does (the same checks: a
    reply token must verify, a bounce must quote a Message-ID we sent, since anyone can
    write to the mailbox), then lets it go. A refused message is logged and dropped."""
    from hiring.public import Refused, deliver

    key = _inbox_key(mail)
    await engine.records.put(INBOX, key, dataclasses.asdict(mail))
    try:
        found = await deliver(engine, mail)
        routed = routing.Routed(
            str(found["outcome"]), found.get("candidate_id"), found.get("workflow_id")
        )
    except Refused as refused:
        log.warning("IMAP message %s refused: %s", mail.message_id, refused.message)
        routed = routing.Routed("refused")
    await engine.records.delete(INBOX, key)
    log.info("IMAP message %s: %s", mail.message_id, routed.outcome)
    return routed


async def _load(engine: plait.Engine, settings: ImapSettings) -> ImapCursor | None:
    value = await engine.records.get(CURSOR, _cursor_key(settings))
    return ImapCursor.from_dict(value) if isinstance(value, dict) else None


async def _save(engine: plait.Engine, settings: ImapSettings, cursor: ImapCursor) -> None:
    await engine.records.put(CURSOR, _cursor_key(settings), cursor.to_dict())


async def poll(engine: plait.Engine, settings: ImapSettings) -> list[routing.Routed]:
    """One round: the messages since the stored cursor, each routed, then the cursor saved.
    Raises :class:`~hiring.mail.errors.MailboxUnavailable` when the mailbox cannot be read."""
    cursor = await _load(engine, settings) or ImapCursor()
    mails, new_cursor = await poll_once(settings, cursor)
    routed = [await handle(engine, mail) for mail in mails]
    if new_cursor != cursor:
        await _save(engine, settings, new_cursor)
    return routed


async def run(
    engine: plait.Engine,
    settings: ImapSettings,
    *,
    interval: float = DEFAULT_INTERVAL,
    stop_event: asyncio.Event,
) -> None:
    """Polls every ``interval`` seconds until ``stop_event`` is set (failures are logged
    and retried with a back-off; see :func:`hiring.mail.imap.run_poller`)."""

    async def load() -> ImapCursor | None:
        return await _load(engine, settings)

    async def save(cursor: ImapCursor) -> None:
        await _save(engine, settings, cursor)

    async def on_mail(mail: InboundMail) -> None:
        await handle(engine, mail)

    await run_poller(settings, load, save, on_mail, interval=interval, stop_event=stop_event)


@contextlib.asynccontextmanager
async def running(
    engine: plait.Engine, settings: ImapSettings | None = None, *, interval: float | None = None
) -> AsyncIterator[asyncio.Task[None] | None]:
    """Runs the poller in the background while the block runs (yields its task), or
    nothing when no mailbox is given or configured (yields None)."""
    if settings is None:
        found = configured()
        if found is None:
            yield None
            return
        settings, default_interval = found
        interval = interval or default_interval
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(engine, settings, interval=interval or DEFAULT_INTERVAL, stop_event=stop),
        name="hiring-imap-poller",
    )
    log.info("polling %r every %s s for replies", settings, interval or DEFAULT_INTERVAL)
    try:
        yield task
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=settings.timeout + 5)
        except TimeoutError:  # a poll stuck in the network: stop waiting for it
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def lifespan(engine: plait.Engine) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan for ``fastapi.APIRouter(lifespan=...)``: the poller runs while the server
    does (when ``HIRING_IMAP`` is set)."""

    @contextlib.asynccontextmanager
    async def poller(_app: Any) -> AsyncIterator[None]:
        async with running(engine):
            yield

    return poller
