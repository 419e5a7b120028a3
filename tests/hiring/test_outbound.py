"""compose refusals; send errors: permanent (refused recipient) vs retryable (server down)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller

import plait
from hiring.mail.devserver import DevMailServer, ReceivedMail
from hiring.mail.errors import (
    PERMANENT_ERRORS,
    MailServerUnavailable,
    RecipientRefused,
    SmtpSettingsRejected,
)
from hiring.mail.outbound import (
    Draft,
    MessageKind,
    PrivacyNotice,
    Sender,
    SmtpSecurity,
    SmtpSettings,
    compose,
    message_id_for,
    send,
    to_bytes,
)
from hiring.mail.view import read_mail

SECRET = "outbound-test-secret-long-enough"
SENDER = Sender(
    "Ana at Acme", "ana@acme.example", "reply.acme.example", "https://jobs.acme.example/u"
)
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def draft(**changes) -> Draft:
    values = dict(
        kind=MessageKind.OUTREACH,
        to="sam@example.org",
        subject="Hello",
        text="Hi Sam",
        idempotency_key="k-1",
        recipient_id="app-7",
        date=WHEN,
    )
    values.update(changes)
    return Draft(**values)


def test_same_key_same_message_id_and_other_key_other_id():
    a = compose(draft(), SENDER, SECRET)
    b = compose(draft(text="edited"), SENDER, SECRET)
    c = compose(draft(idempotency_key="k-2"), SENDER, SECRET)
    assert a["Message-ID"] == b["Message-ID"] == message_id_for("k-1", SENDER, SECRET)
    assert c["Message-ID"] != a["Message-ID"]


def test_long_unsubscribe_header_is_not_encoded_on_the_wire():
    sender = Sender(
        "Ana",
        "ana@acme.example",
        "replies.careers.a-long-company-name.example",
        "https://careers.a-long-company-name.example/privacy/unsubscribe",
    )
    raw = to_bytes(compose(draft(recipient_id="application-000123"), sender, SECRET))
    assert b"=?utf-8?" not in raw
    view = read_mail(raw)
    assert view.list_unsubscribe[0].startswith("mailto:unsubscribe+")
    assert view.list_unsubscribe[1].startswith("https://careers.a-long-company-name.example/")


def test_compose_refuses_what_would_go_wrong():
    with pytest.raises(ValueError, match="privacy notice"):
        compose(draft(first_message=True, data_source="GitHub"), SENDER, SECRET)
    notice = PrivacyNotice("Acme", "privacy@acme.example")
    with pytest.raises(ValueError, match="where the person's data came from"):
        compose(draft(first_message=True), SENDER, SECRET, notice)
    with pytest.raises(ValueError, match="follow-up continues a thread"):
        draft(kind=MessageKind.FOLLOW_UP)
    with pytest.raises(ValueError, match="needs its iCalendar"):
        draft(kind=MessageKind.INVITE)
    with pytest.raises(ValueError, match="not a plain e-mail address"):
        draft(to="Sam <sam@example.org>\nBcc: x@evil.example")
    with pytest.raises(ValueError, match="one line"):
        draft(subject="Hello\r\nBcc: x@evil.example")
    with pytest.raises(ValueError, match="can only use|may use only"):
        PrivacyNotice("Acme", "privacy@acme.example", template="We are {company}.")
    with pytest.raises(ValueError, match="https:// URL"):
        Sender("Ana", "ana@acme.example", "reply.acme.example", "jobs.acme.example/u")


def test_a_custom_notice_template_is_used():
    notice = PrivacyNotice(
        "Acme", "privacy@acme.example", template="{controller} got your data from {source}."
    )
    message = compose(draft(first_message=True, data_source="a referral"), SENDER, SECRET, notice)
    assert "Acme got your data from a referral." in read_mail(to_bytes(message)).text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_dev_server_as_a_plain_context_manager_on_a_given_port():
    port = free_port()
    received: list[ReceivedMail] = []
    with DevMailServer(received.append, port=port) as server:
        assert server.smtp_settings.port == port
        await send(compose(draft(), SENDER, SECRET), server.smtp_settings)
    view = received[0].view()
    assert (view.subject, view.to, received[0].mail_from) == (
        "Hello",
        ("sam@example.org",),
        "ana@acme.example",
    )
    with pytest.raises(RuntimeError, match="not running"):
        server.smtp_settings


async def test_server_down_is_retryable():
    settings = SmtpSettings("127.0.0.1", free_port(), SmtpSecurity.NONE, timeout=5)
    with pytest.raises(MailServerUnavailable, match="could not send through") as caught:
        await send(compose(draft(), SENDER, SECRET), settings)
    assert caught.value.retryable
    assert plait.Retry(non_retryable=PERMANENT_ERRORS).should_retry(caught.value)


async def test_refused_recipient_is_permanent_and_partial_refusal_is_reported():
    received: list[ReceivedMail] = []
    async with DevMailServer(received.append, refuse=lambda a: a.startswith("gone@")) as server:
        with pytest.raises(RecipientRefused, match="gone@example.org: 550") as caught:
            await send(compose(draft(to="gone@example.org"), SENDER, SECRET), server.smtp_settings)
        assert not caught.value.retryable and caught.value.refused.keys() == {"gone@example.org"}
        assert not plait.Retry(non_retryable=PERMANENT_ERRORS).should_retry(caught.value)
        assert received == []

        message = compose(draft(), SENDER, SECRET)
        message["Cc"] = "gone@example.org"
        result = await send(message, server.smtp_settings)
        assert result.accepted == ("sam@example.org",)
        assert list(result.refused) == ["gone@example.org"]
        assert received[0].rcpt_tos == ("sam@example.org",)


async def test_a_callback_that_cannot_store_makes_the_sender_retry():
    calls = 0

    async def flaky(mail: ReceivedMail) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database is down")

    async with DevMailServer(flaky) as server:
        with pytest.raises(MailServerUnavailable, match="451"):
            await send(compose(draft(), SENDER, SECRET), server.smtp_settings)
        result = await send(compose(draft(), SENDER, SECRET), server.smtp_settings)
        assert result.accepted == ("sam@example.org",) and calls == 2


async def test_greylisting_is_retryable():
    class Greylist:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return "450 4.2.0 greylisted, try again later"

    port = free_port()
    controller = Controller(Greylist(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = SmtpSettings("127.0.0.1", port, SmtpSecurity.NONE)
        with pytest.raises(MailServerUnavailable, match="try the recipients later"):
            await send(compose(draft(), SENDER, SECRET), settings)
    finally:
        controller.stop()


async def test_settings_the_server_cannot_honour_are_permanent():
    async with DevMailServer(lambda mail: None) as server:
        starttls = SmtpSettings(server.host, server.port, SmtpSecurity.STARTTLS)
        with pytest.raises(SmtpSettingsRejected, match="security"):
            await send(compose(draft(), SENDER, SECRET), starttls)
        login = SmtpSettings(server.host, server.port, SmtpSecurity.NONE, "ana", "pw")
        with pytest.raises(SmtpSettingsRejected):
            await send(compose(draft(), SENDER, SECRET), login)


def test_smtp_settings_validate_and_hide_the_password():
    settings = SmtpSettings("smtp.acme.example", 587, "starttls", "ana", "hunter2")
    assert settings.security is SmtpSecurity.STARTTLS and "hunter2" not in repr(settings)
    with pytest.raises(ValueError, match="both username and password"):
        SmtpSettings("smtp.acme.example", username="ana")
    with pytest.raises(ValueError):
        SmtpSettings("smtp.acme.example", security="tls-please")
