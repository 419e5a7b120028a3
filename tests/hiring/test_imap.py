"""The IMAP poller against a real IMAP server on loopback (pymap, in-memory backend)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient

from hiring.mail.errors import MailboxUnavailable
from hiring.mail.imap import ImapCursor, ImapSecurity, ImapSettings, poll_once, run_poller
from hiring.mail.inbound import InboundMail

USER, PASSWORD = "demouser", "demopass"
folders = itertools.count(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def imap_port():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from pymap.main import main; main()"]
        + ["--host", "127.0.0.1", "--port", str(port), "--no-tls", "dict"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # wait until it accepts connections (bounded: catches a hang)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "pymap exited during start-up"
                assert time.monotonic() < deadline, "pymap did not start listening"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def mailbox(imap_port):
    """A fresh folder on the server and settings that poll it."""
    folder = f"Replies{next(folders)}"
    with IMAPClient("127.0.0.1", imap_port, ssl=False) as client:
        client.login(USER, PASSWORD)
        client.create_folder(folder)
    settings = ImapSettings(
        "127.0.0.1",
        USER,
        PASSWORD,
        port=imap_port,
        security=ImapSecurity.NONE,
        folder=folder,
        timeout=10,
    )
    return settings


def append(settings: ImapSettings, *messages: bytes) -> None:
    with IMAPClient(settings.host, settings.port, ssl=False) as client:
        client.login(USER, PASSWORD)
        for message in messages:
            client.append(settings.folder, message)


def mail(number: int, body: str = "Yes, I'm interested.", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Sam Doe <sam@example.org>"
    message["To"] = "reply+tok.mac@reply.acme.example"
    message["Subject"] = "Re: Backend role"
    message["Message-ID"] = f"<reply-{number}@example.org>"
    message["In-Reply-To"] = "<outreach-1@acme.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(f"{body}\n\nOn Mon, Ana wrote:\n> Would you like to talk?\n")
    return message.as_bytes()


async def test_poll_fetches_only_new_messages_and_is_idempotent(mailbox):
    append(mailbox, mail(1), mail(2, "Back on Monday.", Auto_Submitted="auto-replied"))
    mails, cursor = await poll_once(mailbox, ImapCursor())
    assert [m.message_id for m in mails] == ["<reply-1@example.org>", "<reply-2@example.org>"]
    first, second = mails
    assert first.text == "Yes, I'm interested." and first.token == "tok.mac"
    assert first.in_reply_to == "<outreach-1@acme.example>" and first.counts_as_reply
    assert second.is_auto_reply and not second.counts_as_reply
    assert cursor.uid_validity is not None and cursor.last_uid > 0

    again, same = await poll_once(mailbox, cursor)
    assert again == [] and same == cursor  # nothing new: nothing returned

    append(mailbox, mail(3, "One more question: is it remote?"))
    newer, later = await poll_once(mailbox, cursor)
    assert [m.message_id for m in newer] == ["<reply-3@example.org>"]
    assert later.last_uid > cursor.last_uid

    # Polling read with PEEK on a read-only folder: the messages are still unseen.
    with IMAPClient(mailbox.host, mailbox.port, ssl=False) as client:
        client.login(USER, PASSWORD)
        client.select_folder(mailbox.folder, readonly=True)
        assert len(client.search(["UNSEEN"])) == 3


async def test_batches_and_a_renumbered_folder(mailbox):
    append(mailbox, *(mail(n) for n in range(1, 6)))
    small = ImapSettings(**{**mailbox.__dict__, "batch": 2})
    seen: list[str] = []
    cursor = ImapCursor()
    for _round in range(4):
        mails, cursor = await poll_once(small, cursor)
        seen += [m.message_id for m in mails]
    assert seen == [f"<reply-{n}@example.org>" for n in range(1, 6)]
    # Another UIDVALIDITY means the old UIDs mean nothing: read the folder again.
    stale = ImapCursor(uid_validity=(cursor.uid_validity or 0) + 1, last_uid=cursor.last_uid)
    mails, fresh = await poll_once(mailbox, stale)
    assert len(mails) == 5 and fresh.uid_validity == cursor.uid_validity
    assert ImapCursor.from_dict(fresh.to_dict()) == fresh


async def test_unreachable_server_and_wrong_password(mailbox):
    wrong = ImapSettings(**{**mailbox.__dict__, "password": "nope"})
    with pytest.raises(MailboxUnavailable, match="refused the login"):
        await poll_once(wrong, ImapCursor())
    down = ImapSettings(**{**mailbox.__dict__, "port": free_port()})
    with pytest.raises(MailboxUnavailable, match="cannot connect"):
        await poll_once(down, ImapCursor())
    missing = ImapSettings(**{**mailbox.__dict__, "folder": "NoSuchFolder"})
    with pytest.raises(MailboxUnavailable, match="NoSuchFolder"):
        await poll_once(missing, ImapCursor())
    assert "demopass" not in repr(mailbox)


async def test_run_poller_keeps_its_cursor_and_delivers_each_message_once(mailbox):
    append(mailbox, mail(1), mail(2))
    stored: dict[str, ImapCursor] = {}
    delivered: list[InboundMail] = []
    stop = asyncio.Event()
    rounds = 0

    async def load() -> ImapCursor | None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            stop.set()  # this is the last round
        return stored.get("cursor")

    async def save(cursor: ImapCursor) -> None:
        stored["cursor"] = cursor

    async def on_mail(item: InboundMail) -> None:
        delivered.append(item)
        if item.message_id == "<reply-2@example.org>":
            append(mailbox, mail(3))  # arrives while the poller runs

    await asyncio.wait_for(
        run_poller(mailbox, load, save, on_mail, interval=0.01, stop_event=stop), timeout=60
    )
    assert [m.message_id for m in delivered] == [f"<reply-{n}@example.org>" for n in (1, 2, 3)]
    assert stored["cursor"].last_uid > 0

    # A restarted poller continues from the saved cursor: nothing is delivered twice.
    again: list[InboundMail] = []
    rounds = 0
    stop.clear()

    async def collect(item: InboundMail) -> None:
        again.append(item)

    await asyncio.wait_for(
        run_poller(mailbox, load, save, collect, interval=0.01, stop_event=stop), timeout=60
    )
    assert again == []


async def test_a_failing_handler_gets_the_same_messages_again(mailbox):
    append(mailbox, mail(1))
    stored: dict[str, ImapCursor] = {}
    attempts: list[str] = []
    stop = asyncio.Event()

    async def load() -> ImapCursor | None:
        return stored.get("cursor")

    async def save(cursor: ImapCursor) -> None:
        stored["cursor"] = cursor

    async def on_mail(item: InboundMail) -> None:
        attempts.append(item.message_id)
        if len(attempts) == 1:
            raise RuntimeError("database is down")
        stop.set()

    await asyncio.wait_for(
        run_poller(mailbox, load, save, on_mail, interval=0.01, stop_event=stop), timeout=60
    )
    assert attempts == ["<reply-1@example.org>", "<reply-1@example.org>"]
    assert "cursor" in stored
