"""The application's IMAP poller (``hiring.imap_loop``): configured by ``HIRING_IMAP``, its
cursor in the engine's records, a message kept until routed, started and stopped with the
server through an included router's lifespan."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi import APIRouter, FastAPI

import plait
from hiring import imap_loop, public
from hiring import settings as hiring_settings
from hiring.mail.imap import ImapSecurity, ImapSettings
from plait.testing import TestEngine
from tests.hiring.test_imap import PASSWORD, USER, append, imap_port, mail, mailbox  # noqa: F401

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIRING_SECRET", "a-test-secret-long-enough-0123")
    hiring_settings.settings.cache_clear()


def test_the_mailbox_url() -> None:
    s = imap_loop.parse_imap("imaps://me%40acme.example:p%3Ass@mail.acme.example/Replies")
    assert (s.host, s.port, s.security) == ("mail.acme.example", 993, ImapSecurity.SSL)
    assert (s.username, s.password, s.folder) == ("me@acme.example", "p:ss", "Replies")
    s = imap_loop.parse_imap("imap://u:p@127.0.0.1:1143")
    assert (s.port, s.security, s.folder) == (1143, ImapSecurity.NONE, "INBOX")
    assert imap_loop.parse_imap("imap+starttls://u:p@h").security is ImapSecurity.STARTTLS
    with pytest.raises(plait.ConfigurationError, match="imaps://user:password@host") as error:
        imap_loop.parse_imap("pop3://u:secretpw@h")
    assert "secretpw" not in str(error.value)


def test_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HIRING_IMAP", raising=False)
    assert imap_loop.configured() is None
    monkeypatch.setenv("HIRING_IMAP", "imap://u:p@127.0.0.1:1143/INBOX")
    monkeypatch.setenv("HIRING_IMAP_INTERVAL", "5")
    found = imap_loop.configured()
    assert found is not None and found[1] == 5.0
    monkeypatch.setenv("HIRING_IMAP_INTERVAL", "soon")
    with pytest.raises(plait.ConfigurationError, match="positive number of seconds"):
        imap_loop.configured()


async def test_a_failing_handler_loses_nothing(
    test_engine: TestEngine,
    mailbox: ImapSettings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    append(mailbox, mail(1))

    async def down(engine: plait.Engine, item: object, **options: object) -> dict[str, str]:
        raise RuntimeError("the database is down")

    monkeypatch.setattr(public, "deliver", down)
    with pytest.raises(RuntimeError):
        await imap_loop.poll(test_engine, mailbox)
    (kept,) = await test_engine.records.list(imap_loop.INBOX)
    assert kept.value["message_id"] == "<reply-1@example.org>"
    assert await test_engine.records.list(imap_loop.CURSOR) == []  # the cursor did not move

    monkeypatch.undo()
    monkeypatch.setenv("HIRING_SECRET", "a-test-secret-long-enough-0123")
    (routed,) = await imap_loop.poll(test_engine, mailbox)
    # its reply token is not one of ours: checked as the webhook checks, dropped, not retried
    assert routed.outcome == "refused"
    assert await test_engine.records.list(imap_loop.INBOX) == []
    (cursor,) = await test_engine.records.list(imap_loop.CURSOR)
    assert cursor.value["last_uid"] > 0
    assert await imap_loop.poll(test_engine, mailbox) == []

    # Anyone can write to the mailbox: a bounce that quotes no message of ours is refused.
    append(mailbox, mail(2, "Delivery failed.", X_Failed_Recipients="sam@example.org"))
    (forged,) = await imap_loop.poll(test_engine, mailbox)
    assert forged.outcome == "refused"


async def test_the_server_starts_and_stops_the_poller(
    test_engine: TestEngine,
    mailbox: ImapSettings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"imap://{USER}:{PASSWORD}@127.0.0.1:{mailbox.port}/{mailbox.folder}"
    monkeypatch.setenv("HIRING_IMAP", url)
    monkeypatch.setenv("HIRING_IMAP_INTERVAL", "0.05")
    append(mailbox, mail(1), mail(2))
    app = FastAPI()
    app.include_router(APIRouter(lifespan=imap_loop.lifespan(test_engine)))
    async with app.router.lifespan_context(app):
        deadline = time.monotonic() + 60
        while not await test_engine.records.list(imap_loop.CURSOR):  # bounded: a hang fails
            assert time.monotonic() < deadline, "the poller did not poll"
            await asyncio.sleep(0.02)
        assert any(t.get_name() == "hiring-imap-poller" for t in asyncio.all_tasks())
    assert not any(t.get_name() == "hiring-imap-poller" for t in asyncio.all_tasks())
    (cursor,) = await test_engine.records.list(imap_loop.CURSOR)
    assert cursor.value["last_uid"] >= 2


async def test_no_mailbox_no_poller(
    test_engine: TestEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HIRING_IMAP", raising=False)
    async with imap_loop.running(test_engine) as task:
        assert task is None
