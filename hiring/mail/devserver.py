"""A local SMTP server for the demo and tests: every message it receives goes to a callback.

:class:`DevMailServer` runs aiosmtpd's threaded ``Controller`` on loopback (a free port unless
one is given). For each message it calls ``on_message`` with a :class:`ReceivedMail` (the
envelope and the raw bytes); the application stores it (in the demo: in the engine's records,
as the mailbox).

Invariants:
- The server answers ``250`` only after the callback returned: a message the callback could
  not store is answered ``451`` (try again later), so the sender keeps it and nothing is lost.
- An ``async def`` callback runs on the event loop that started the server (the
  application's loop), not on the server's own thread, so it may use the engine; a plain
  function runs on the server's thread.
- It listens on loopback only by default and never relays anything anywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from hiring.mail.outbound import SmtpSecurity, SmtpSettings
from hiring.mail.view import MailView, read_mail

__all__ = ["DevMailServer", "MailView", "ReceivedMail", "read_mail"]

log = logging.getLogger(__name__)

OnMessage = Callable[["ReceivedMail"], Awaitable[None] | None]


@dataclasses.dataclass(frozen=True)
class ReceivedMail:
    """One message as the server received it: envelope sender, recipients, raw bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    received_at: datetime
    peer: str = ""

    def view(self) -> MailView:
        """The message parsed into what a person reads (see :func:`read_mail`)."""
        return read_mail(self.data)


class DevMailServer:
    """An SMTP server on loopback handing each received message to ``on_message``.

    ``refuse`` (optional) is asked for each recipient; when it says yes the server answers
    ``550 5.1.1`` as for an unknown mailbox (to try the bounce paths). Use it as a context
    manager (``with`` or ``async with``) or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        on_message: OnMessage,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        refuse: Callable[[str], bool] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._on_message = on_message
        self._refuse = refuse
        self._loop = loop
        self._controller: Any = None
        self._lock = threading.Lock()

    @property
    def smtp_settings(self) -> SmtpSettings:
        """Settings that send to this server (no TLS, no login)."""
        if self._controller is None:
            raise RuntimeError("the dev mail server is not running: call start() first")
        return SmtpSettings(host=self.host, port=self.port, security=SmtpSecurity.NONE)

    def start(self) -> None:
        """Start listening (in a thread); picks a free port if none was given."""
        from aiosmtpd.controller import Controller

        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._loop = None
        with self._lock:
            if self._controller is not None:
                return
            last_error: Exception | None = None
            for _attempt in range(5):
                port = self.port or _free_port(self.host)
                controller = Controller(
                    _Handler(self), hostname=self.host, port=port, enable_SMTPUTF8=True
                )
                try:
                    controller.start()
                except Exception as error:  # the free port was taken meanwhile
                    last_error = error
                    if self.port:
                        break
                    continue
                self.port = port
                self._controller = controller
                log.info("dev mail server listening on %s:%s", self.host, port)
                return
            raise OSError(f"could not start the dev mail server on {self.host}: {last_error}")

    def stop(self) -> None:
        """Stop listening; messages being received are finished first."""
        with self._lock:
            controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> DevMailServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> DevMailServer:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def refuses(self, address: str) -> bool:
        """Whether the server refuses mail for ``address``."""
        return self._refuse is not None and self._refuse(address)

    async def deliver(self, mail: ReceivedMail) -> None:
        """Hand ``mail`` to the callback, on the application's loop if it is a coroutine."""
        result = self._on_message(mail)
        if not inspect.iscoroutine(result):
            return
        app_loop = self._loop
        if app_loop is None or app_loop is asyncio.get_running_loop():
            await result
            return
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(result, app_loop))


class _Handler:
    def __init__(self, server: DevMailServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.server.refuses(address):
            return f"550 5.1.1 <{address}>: no such mailbox here (dev server)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        peer = session.peer
        mail = ReceivedMail(
            mail_from=str(envelope.mail_from or ""),
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            received_at=datetime.now(UTC),
            peer=f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer),
        )
        try:
            await self.server.deliver(mail)
        except Exception:
            log.exception("the dev mail server's callback failed; answering 451")
            return "451 4.3.0 The message could not be stored; try again later"
        return "250 2.0.0 Message accepted"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
