"""The mail path end to end on loopback: compose, send to the dev server, read what arrived,
then answer it (raw reply, JSON webhook, auto-reply, DSN bounce) and classify each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from hiring.mail.devserver import DevMailServer, ReceivedMail
from hiring.mail.errors import InvalidToken
from hiring.mail.inbound import detect_unsubscribe, match_reply, parse_json, parse_raw
from hiring.mail.outbound import (
    Draft,
    MessageKind,
    PrivacyNotice,
    Sender,
    compose,
    send,
)
from hiring.mail.tokens import verify_token
from hiring.mail.view import read_mail
from hiring.scheduling import Attendee, Interview, interview_uid, invite

SECRET = "an-e2e-secret-that-is-long-enough"
SENDER = Sender(
    name="Ana at Acme",
    address="ana@acme.example",
    reply_domain="reply.acme.example",
    unsubscribe_url="https://jobs.acme.example/u",
)
NOTICE = PrivacyNotice(
    controller="Acme GmbH, Hauptstr. 1, 10115 Berlin", contact="privacy@acme.example"
)
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def outreach(**changes) -> Draft:
    values = dict(
        kind=MessageKind.OUTREACH,
        to="sam@example.org",
        to_name="Sam Doe",
        subject="Senior Backend Engineer at Acme",
        text="Hi Sam,\n\nyour work on Django caught our eye. Would you like to talk?\n\nAna",
        idempotency_key="job-42/app-7/outreach",
        recipient_id="app-7",
        first_message=True,
        data_source="your public GitHub profile",
        date=WHEN,
    )
    values.update(changes)
    return Draft(**values)


@pytest.fixture
async def mailbox():
    received: list[ReceivedMail] = []

    async def store(mail: ReceivedMail) -> None:
        received.append(mail)

    async with DevMailServer(store) as server:
        yield server, received


async def test_outreach_then_follow_up_through_the_dev_server(mailbox):
    server, received = mailbox
    first = compose(outreach(), SENDER, SECRET, NOTICE)
    result = await send(first, server.smtp_settings)
    assert result.accepted == ("sam@example.org",) and not result.refused

    # A retried step composes the same draft again: the same Message-ID reaches the server.
    again = compose(outreach(date=datetime(2026, 12, 1, 9, 5, tzinfo=UTC)), SENDER, SECRET, NOTICE)
    await send(again, server.smtp_settings)

    follow = compose(
        outreach(
            kind=MessageKind.FOLLOW_UP,
            text="Hi Sam, just bringing this to the top of your inbox.",
            idempotency_key="job-42/app-7/follow-up-1",
            first_message=False,
            data_source=None,
            thread=(result.message_id,),
        ),
        SENDER,
        SECRET,
    )
    await send(follow, server.smtp_settings)

    assert len(received) == 3
    views = [read_mail(mail.data) for mail in received]
    assert received[0].mail_from == "ana@acme.example"
    assert received[0].rcpt_tos == ("sam@example.org",)
    one, two, three = views
    assert one.message_id == two.message_id == result.message_id
    assert one.message_id.endswith("@acme.example>")
    assert three.message_id != one.message_id

    assert (one.from_name, one.from_addr) == ("Ana at Acme", "ana@acme.example")
    assert one.to == ("sam@example.org",)
    assert one.subject == "Senior Backend Engineer at Acme"
    assert three.subject == "Re: Senior Backend Engineer at Acme"
    assert (three.in_reply_to, three.references) == (one.message_id, (one.message_id,))

    # Reply-To carries a token that verifies to the application, without any lookup.
    local = one.reply_to.split("@")[0]
    assert one.reply_to.endswith("@reply.acme.example") and local.startswith("reply+")
    assert verify_token(local.removeprefix("reply+"), "reply", SECRET) == "app-7"

    # RFC 8058: a mailto and an https one-click URL, both with a token for the application.
    assert one.one_click_unsubscribe
    mailto, url = one.list_unsubscribe
    assert mailto.startswith("mailto:unsubscribe+") and url.startswith(
        "https://jobs.acme.example/u/"
    )
    assert verify_token(url.rsplit("/", 1)[1], "unsubscribe", SECRET) == "app-7"
    assert url in one.text  # the visible link too

    # The GDPR Art. 14 notice is in the first message only, text and HTML.
    for view in (one, two):
        assert "Acme GmbH, Hauptstr. 1, 10115 Berlin" in view.text
        assert "your public GitHub profile" in view.text
        assert "object" in view.text and "privacy@acme.example" in view.text
        assert view.html is not None and "Hauptstr. 1" in view.html
    assert "Hauptstr" not in three.text and "Hauptstr" not in (three.html or "")
    assert url in three.text


async def test_invite_arrives_with_a_readable_calendar(mailbox):
    server, received = mailbox
    meeting = Interview(
        uid=interview_uid("job-42/app-7/interview", "acme.example"),
        start=datetime(2026, 12, 3, 14, 0, tzinfo=UTC),
        end=datetime(2026, 12, 3, 15, 0, tzinfo=UTC),
        summary="Interview: Senior Backend Engineer",
        organizer=Attendee("Ana at Acme", "ana@acme.example"),
        attendees=(Attendee("Sam Doe", "sam@example.org"), Attendee("Kim", "kim@acme.example")),
        timezone="Europe/Berlin",
    )
    message = compose(
        outreach(
            kind=MessageKind.INVITE,
            subject="Invitation: interview on 3 December",
            idempotency_key="job-42/app-7/invite",
            first_message=False,
            calendar=invite(meeting, stamp=WHEN),
        ),
        SENDER,
        SECRET,
    )
    await send(message, server.smtp_settings)
    view = read_mail(received[0].data)
    assert view.invite is not None
    assert (view.invite.method, view.invite.uid, view.invite.sequence) == (
        "REQUEST",
        meeting.uid,
        0,
    )
    assert view.invite.start == meeting.start and view.invite.timezone == "Europe/Berlin"
    assert [a.email for a in view.invite.attendees] == ["sam@example.org", "kim@acme.example"]
    assert [(a.filename, a.content_type) for a in view.attachments] == [
        ("invite.ics", "application/ics")
    ]
    assert "Would you like to talk?" in view.text


def reply_to(view, body: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Sam Doe <sam@example.org>"
    message["To"] = view.reply_to
    message["Subject"] = f"Re: {view.subject}"
    message["Message-ID"] = make_msgid(domain="example.org")
    message["In-Reply-To"] = view.message_id
    message["References"] = view.message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    quoted = "\n".join(f"> {line}" for line in view.text.splitlines())
    message.set_content(f"{body}\n\nOn Tue, 1 Dec 2026, Ana at Acme wrote:\n{quoted}\n")
    return message.as_bytes()


async def test_replies_webhooks_auto_replies_and_bounces_are_told_apart(mailbox):
    server, received = mailbox
    sent = compose(outreach(), SENDER, SECRET, NOTICE)
    await send(sent, server.smtp_settings)
    view = read_mail(received[0].data)
    ours = {view.message_id: "app-7"}

    def by_token(token: str) -> str:
        return verify_token(token, "reply", SECRET)

    async def by_message_id(message_id: str) -> str | None:
        return ours.get(message_id)

    # 1. A real reply, raw: quoted history (with our unsubscribe footer) removed.
    reply = parse_raw(reply_to(view, "Thanks! Yes, I'm interested. Thursday works for me."))
    assert reply.text == "Thanks! Yes, I'm interested. Thursday works for me."
    assert reply.counts_as_reply and not reply.is_bounce
    assert not detect_unsubscribe(reply.text) and not detect_unsubscribe(reply.full_text)
    found = await match_reply(reply, by_token, by_message_id)
    assert (found.target, found.by) == ("app-7", "token")

    # 2. The same kind of reply as a JSON webhook payload, asking to be removed.
    payload = json.dumps(
        {
            "from": "Sam Doe <sam@example.org>",
            "to": [view.reply_to],
            "subject": f"Re: {view.subject}",
            "text": "Please stop emailing me.\n\n> Hi Sam, would you like to talk?",
            "in_reply_to": view.message_id,
        }
    )
    hooked = parse_json(payload)
    assert hooked.text == "Please stop emailing me."
    assert hooked.counts_as_reply and detect_unsubscribe(hooked.text)
    assert (await match_reply(hooked, by_token, by_message_id)).target == "app-7"
    assert parse_json(payload).message_id == hooked.message_id  # stable id to dedupe on

    # 3. A client that dropped the token still threads: matched by In-Reply-To.
    no_token = parse_json({**json.loads(payload), "to": "jobs@acme.example"})
    assert no_token.token is None
    assert (await match_reply(no_token, by_token, by_message_id)).by == "in_reply_to"

    # A forged token is no match (and falls through to the threading headers).
    forged = parse_json({**json.loads(payload), "to": "reply+aaaa.bbbb@reply.acme.example"})
    with pytest.raises(InvalidToken):
        by_token(forged.token)
    assert (await match_reply(forged, by_token, by_message_id)).by == "in_reply_to"

    # 4. An out-of-office answer is not a reply.
    ooo = parse_raw(
        reply_to(view, "I am out of the office until 8 December.", Auto_Submitted="auto-replied")
    )
    assert ooo.is_auto_reply and not ooo.counts_as_reply and not ooo.is_bounce

    # 5. A DSN bounce names the failed recipient and our original message.
    bounce = parse_raw(dsn(view, "sam@example.org", "5.1.1", "failed"))
    assert bounce.is_bounce and bounce.bounced_recipients == ("sam@example.org",)
    assert not bounce.counts_as_reply and bounce.original_message_id == view.message_id
    assert (await match_reply(bounce, by_token, by_message_id)).by == "original_message_id"
    # 6. A mail client's one-click "unsubscribe" goes to the List-Unsubscribe mailto address.
    mailto = view.list_unsubscribe[0].removeprefix("mailto:").split("?")[0]
    request = EmailMessage()
    request["From"] = "sam@example.org"
    request["To"] = mailto
    request["Subject"] = "unsubscribe"
    request.set_content("This message was automatically generated by Gmail.")
    unsubscribed = parse_raw(request.as_bytes())
    assert unsubscribed.token is None
    assert verify_token(unsubscribed.unsubscribe_token, "unsubscribe", SECRET) == "app-7"

    no_status = parse_raw(dsn(view, "sam@example.org", "", "failed"))
    assert no_status.is_bounce and no_status.bounced_recipients == ("sam@example.org",)
    delayed = parse_raw(dsn(view, "sam@example.org", "4.2.2", "delayed"))
    assert not delayed.is_bounce and delayed.delayed_recipients == ("sam@example.org",)
    assert not delayed.counts_as_reply


def dsn(view, recipient: str, status: str, action: str) -> bytes:
    boundary = "dsn-boundary"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "To: ana@acme.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{status}@mx.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "Your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"From: Ana at Acme <ana@acme.example>\r\nTo: {recipient}\r\n"
        f"Message-ID: {view.message_id}\r\nSubject: {view.subject}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()
