"""Polling a shared mailbox over IMAP for replies, auto-replies and bounces.

:func:`poll_once` fetches the messages that arrived since an :class:`ImapCursor` and returns
them classified (:class:`~hiring.mail.inbound.InboundMail`) with the cursor to keep.
:func:`run_poller` is the loop the application runs in its own process (not a workflow): it
loads the cursor, polls, hands each message over, saves the cursor, waits, and repeats.

Invariants:
- Only UIDs above the cursor's ``last_uid`` are fetched (IMAP answers ``n:*`` with the last
  message even when it is older, so that one is filtered out here); messages are read with
  ``BODY.PEEK[]`` on a read-only selection, so polling changes nothing in the mailbox.
- If the folder's ``UIDVALIDITY`` changed (the server renumbered it), the cursor is reset and
  the folder read again; the application deduplicates on Message-ID, as it must anyway.
- :func:`run_poller` saves the cursor only after every message of the poll was handed over:
  delivery is at least once, never lost; a failing poll or handler is logged and retried
  after a back-off, and the loop ends only when the stop event is set.
- ``imapclient`` is synchronous: each poll runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

from hiring.mail.errors import MailboxUnavailable
from hiring.mail.inbound import InboundMail, parse_raw

__all__ = ["ImapCursor", "ImapSecurity", "ImapSettings", "poll_once", "run_poller"]

log = logging.getLogger(__name__)


class ImapSecurity(StrEnum):
    """How the IMAP connection is protected."""

    SSL = "ssl"  # TLS from the first byte; usually port 993
    STARTTLS = "starttls"  # plain connect, then STARTTLS; usually port 143
    NONE = "none"  # no TLS: only for a loopback test server


@dataclasses.dataclass(frozen=True)
class ImapSettings:
    """Which mailbox to poll and how to log in."""

    host: str
    username: str
    password: str
    port: int = 993
    security: ImapSecurity = ImapSecurity.SSL
    folder: str = "INBOX"
    timeout: float = 30.0
    batch: int = 100
    reply_prefix: str = "reply"
    validate_certs: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", ImapSecurity(self.security))
        if not 0 < self.port < 65536:
            raise ValueError(f"ImapSettings.port must be 1..65535, got {self.port}")
        if self.batch < 1:
            raise ValueError("ImapSettings.batch must be at least 1")

    def __repr__(self) -> str:  # never print the password
        return (
            f"ImapSettings(host={self.host!r}, port={self.port}, "
            f"security={self.security.value!r}, username={self.username!r}, "
            f"folder={self.folder!r})"
        )


@dataclasses.dataclass(frozen=True)
class ImapCursor:
    """How far the mailbox has been read: the folder's UIDVALIDITY and the last UID seen."""

    uid_validity: int | None = None
    last_uid: int = 0

    def to_dict(self) -> dict[str, int | None]:
        """A JSON-ready form, to keep in the engine's records."""
        return {"uid_validity": self.uid_validity, "last_uid": self.last_uid}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ImapCursor:
        """The cursor :meth:`to_dict` wrote."""
        validity = data.get("uid_validity")
        last_uid = data.get("last_uid", 0)
        if not (validity is None or isinstance(validity, int)) or not isinstance(last_uid, int):
            raise ValueError(f"not an IMAP cursor: {dict(data)!r}")
        return cls(uid_validity=validity, last_uid=last_uid)


async def poll_once(
    settings: ImapSettings, cursor: ImapCursor
) -> tuple[list[InboundMail], ImapCursor]:
    """The messages that arrived after ``cursor`` (at most ``settings.batch``) and the new cursor.

    Raises :class:`~hiring.mail.errors.MailboxUnavailable` when the server cannot be reached,
    refuses the login, or has no such folder.
    """
    return await asyncio.to_thread(_poll, settings, cursor)


def _poll(settings: ImapSettings, cursor: ImapCursor) -> tuple[list[InboundMail], ImapCursor]:
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError, LoginError

    where = f"{settings.host}:{settings.port}"
    context = _ssl_context(settings)
    try:
        client = IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.security is ImapSecurity.SSL,
            ssl_context=context,
            timeout=settings.timeout,
        )
    except (OSError, IMAPClientError) as error:
        raise MailboxUnavailable(f"cannot connect to the IMAP server {where}: {error}") from None
    try:
        if settings.security is ImapSecurity.STARTTLS:
            client.starttls(context)
        client.login(settings.username, settings.password)
        info = client.select_folder(settings.folder, readonly=True)
        validity = int(info[b"UIDVALIDITY"])
        last = cursor.last_uid if cursor.uid_validity in (None, validity) else 0
        if cursor.uid_validity not in (None, validity):
            log.warning(
                "IMAP folder %s on %s was renumbered (UIDVALIDITY %s -> %s): reading it again",
                settings.folder,
                where,
                cursor.uid_validity,
                validity,
            )
        uids = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)
        batch = uids[: settings.batch]
        fetched = client.fetch(batch, ["BODY.PEEK[]"]) if batch else {}
    except LoginError as error:
        raise MailboxUnavailable(
            f"the IMAP server {where} refused the login of {settings.username!r}: {error}"
        ) from None
    except (OSError, IMAPClientError) as error:
        raise MailboxUnavailable(
            f"reading {settings.folder!r} on {where} failed: {type(error).__name__}: {error}"
        ) from None
    finally:
        _logout(client)
    mails: list[InboundMail] = []
    for uid in batch:
        item = fetched.get(uid, {})
        raw = item.get(b"BODY[]")
        if not isinstance(raw, bytes):
            log.warning("IMAP message UID %s in %s came without a body; skipped", uid, where)
            continue
        mails.append(parse_raw(raw, reply_prefix=settings.reply_prefix))
    return mails, ImapCursor(validity, batch[-1] if batch else last)


def _ssl_context(settings: ImapSettings) -> ssl.SSLContext | None:
    if settings.security is ImapSecurity.NONE:
        return None
    context = ssl.create_default_context()
    if not settings.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _logout(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # the connection may already be gone; nothing to clean up then
        try:
            client.shutdown()
        except Exception:
            pass


async def run_poller(
    settings: ImapSettings,
    load_cursor: Callable[[], Awaitable[ImapCursor | None]],
    save_cursor: Callable[[ImapCursor], Awaitable[None]],
    on_mail: Callable[[InboundMail], Awaitable[None]],
    *,
    interval: float = 60.0,
    stop_event: asyncio.Event,
    max_backoff: float = 900.0,
) -> None:
    """Poll every ``interval`` seconds until ``stop_event`` is set.

    Each round: ``load_cursor()`` (None = from the start), :func:`poll_once`, ``on_mail`` for
    each message in UID order, then ``save_cursor``. Failures are logged and the next round
    waits longer (doubling, up to ``max_backoff``), so a mailbox that is down is not hammered.
    """
    if interval <= 0:
        raise ValueError("run_poller(interval=...) must be positive (seconds)")
    failures = 0
    while not stop_event.is_set():
        try:
            cursor = await load_cursor() or ImapCursor()
            mails, new_cursor = await poll_once(settings, cursor)
            for mail in mails:
                await on_mail(mail)
            if new_cursor != cursor:
                await save_cursor(new_cursor)
            failures = 0
        except MailboxUnavailable as error:
            failures += 1
            log.warning("IMAP poll failed (%s); trying again", error)
        except Exception:
            failures += 1
            log.exception("handling polled mail failed; the same messages come again next round")
        delay = interval if not failures else min(interval * 2**failures, max_backoff)
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=delay)
        except TimeoutError:
            pass
