"""Inbound mail: quoted text stripped, auto-replies and bounces recognised, webhooks checked."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest

from hiring.mail.errors import InvalidInboundMail
from hiring.mail.inbound import detect_unsubscribe, match_reply, parse_json, parse_raw, strip_quoted


def raw(
    body: str = "Sounds good.",
    subject: str = "Re: Backend role",
    html: str | None = None,
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = "Sam Doe <sam@example.org>"
    message["To"] = "reply+abc.def@reply.acme.example"
    message["Subject"] = subject
    message["Message-ID"] = "<r1@example.org>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    if html is None:
        message.set_content(body)
    else:
        message.set_content(html, subtype="html")
    return message.as_bytes()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Sure, let's talk.\n\n-----Original Message-----\nFrom: Ana <ana@acme.example>\n"
            "Sent: Monday\nTo: Sam\nSubject: Role\n\nHi Sam, unsubscribe here",
            "Sure, let's talk.",
        ),
        (
            "Ja, gerne.\n\nAm 01.12.2026 um 10:00 schrieb Ana <ana@acme.example>:\n> Hallo\n",
            "Ja, gerne.",
        ),
        (
            "What is the salary range?\n\nBest,\nSam\n-- \nSam Doe\n+49 30 1234\n",
            "What is the salary range?\n\nBest,\nSam",
        ),
        ("Yes, Thursday is fine.\n\nSent from my iPhone\n", "Yes, Thursday is fine."),
        ("Interested!\n\n> Hi Sam\n> would you like to talk?\n", "Interested!"),
        ("> Hi Sam\n> would you like to talk?\n", ""),  # nothing written but the quote
        ("Yes.\n> When could you talk?\nThursday.\n", "Yes.\n> When could you talk?\nThursday."),
    ],
)
def test_quoted_history_and_signatures_are_removed(text, expected):
    assert strip_quoted(text) == expected


def test_html_only_reply_is_read_without_the_quote():
    html = (
        "<html><body><p>Happy to chat on Friday.</p><div>On Mon, Ana wrote:</div>"
        "<blockquote><p>Hi Sam, would you like to talk?</p></blockquote></body></html>"
    )
    mail = parse_raw(raw(html=html))
    assert mail.text == "Happy to chat on Friday."
    assert mail.token == "abc.def"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated; owner-email=x@y"},
        {"X_Autoreply": "yes"},
        {"X_Autorespond": "Out of office"},
        {"Precedence": "auto_reply"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"X_Auto_Response_Suppress": "All"},
    ],
)
def test_auto_reply_headers(headers):
    mail = parse_raw(raw("I am away.", **headers))
    assert mail.is_auto_reply and not mail.counts_as_reply


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Backend role",
        "Out of Office: Backend role",
        "Auto: Backend role",
        "Abwesenheitsnotiz: Backend role",
        "Réponse automatique : Backend role",
        "AutoReply",
    ],
)
def test_out_of_office_subjects(subject):
    assert parse_raw(raw("Back on Monday.", subject=subject)).is_auto_reply


def test_real_replies_are_not_auto_replies():
    assert parse_raw(raw(Auto_Submitted="no")).counts_as_reply
    assert parse_raw(raw(subject="Re: Out of office hours?")).counts_as_reply
    assert parse_raw(raw(Precedence="normal")).counts_as_reply


def test_exim_style_bounce_and_mailer_daemon_without_details():
    exim = parse_raw(
        raw(
            "This message was created automatically by mail delivery software.",
            subject="Mail delivery failed: returning message to sender",
            X_Failed_Recipients="sam@example.org",
        )
    )
    assert exim.is_bounce and exim.bounced_recipients == ("sam@example.org",)
    message = EmailMessage()
    message["From"] = "MAILER-DAEMON@mx.example.org"
    message["To"] = "ana@acme.example"
    message["Subject"] = "Undeliverable: Backend role"
    message.set_content("Delivery has failed.")
    vague = parse_raw(message.as_bytes())
    assert vague.is_bounce and vague.bounced_recipients == () and not vague.counts_as_reply


def test_message_without_id_gets_a_stable_derived_one():
    message = EmailMessage()
    message["From"] = "sam@example.org"
    message["To"] = "reply+x.y@reply.acme.example"
    message.set_content("Hello")
    first, second = parse_raw(message.as_bytes()), parse_raw(message.as_bytes())
    assert first.message_id == second.message_id and first.message_id.endswith("@inbound.invalid>")


def test_json_payload_fields_and_headers():
    mail = parse_json(
        {
            "from": "sam@example.org",
            "to": "Jobs <reply+tok.mac@reply.acme.example>",
            "subject": "Re: Backend role",
            "text": "Yes!\n\nOn Mon, Ana wrote:\n> hi",
            "headers": [["Message-ID", "<w1@example.org>"], ["References", "<a@x> <b@x>"]],
        }
    )
    assert (mail.message_id, mail.token, mail.text) == ("<w1@example.org>", "tok.mac", "Yes!")
    assert mail.references == ("<a@x>", "<b@x>") and mail.in_reply_to is None
    ooo = parse_json(
        {
            "from": "sam@example.org",
            "to": ["a@acme.example"],
            "html": "<p>Away</p>",
            "headers": {"X-Autoreply": "yes"},
        }
    )
    assert ooo.is_auto_reply and ooo.text == "Away"


def test_json_raw_message_is_read_like_raw_bytes():
    data = raw("Raw via webhook.", Auto_Submitted="auto-replied")
    for payload in (
        {"raw": data.decode()},
        {"raw": base64.b64encode(data).decode(), "raw_encoding": "base64"},
    ):
        mail = parse_json(payload)
        assert mail.text == "Raw via webhook." and mail.is_auto_reply and mail.token == "abc.def"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "not JSON"),
        ([1, 2], "JSON object"),
        ({"to": "a@b.example", "text": "x"}, "needs 'from'"),
        ({"from": "nobody", "to": "a@b.example", "text": "x"}, "e-mail address"),
        ({"from": "s@x.example", "text": "x"}, "needs 'to'"),
        ({"from": "s@x.example", "to": [1], "text": "x"}, "list of strings"),
        ({"from": "s@x.example", "to": "a@b.example"}, "'text' or 'html'"),
        ({"from": "s@x.example", "to": "a@b.example", "text": "x", "headers": "X: y"}, "'headers'"),
        ({"raw": "abc", "raw_encoding": "base64"}, "base64"),
        ({"raw": "x", "raw_encoding": "hex"}, "only be 'base64'"),
    ],
)
def test_bad_payloads_name_what_is_wrong(payload, message):
    with pytest.raises(InvalidInboundMail, match=message):
        parse_json(payload)


@pytest.mark.parametrize(
    "text",
    [
        "Unsubscribe",
        "please stop emailing me",
        "Remove me from your list.",
        "Don't contact me again.",
        "I want to opt out.",
        "No more emails please",
        "Stop contacting me",
    ],
)
def test_obvious_unsubscribe_requests(text):
    assert detect_unsubscribe(text)


@pytest.mark.parametrize(
    "text",
    [
        "Yes, I'm interested!",
        "Not interested at the moment, but keep me in mind.",
        "Could we stop by the office on Friday?",
        "Not interested in hearing from us? Unsubscribe: https://jobs.acme.example/u/abc",
        "> unsubscribe",
    ],
)
def test_other_replies_are_not_unsubscribes(text):
    assert not detect_unsubscribe(text)


async def test_match_reply_order_and_no_match():
    mail = parse_json(
        {
            "from": "s@x.example",
            "to": "reply+tok.mac@r.example",
            "text": "hi",
            "in_reply_to": "<m2@acme>",
            "references": ["<m1@acme>", "<m2@acme>"],
        }
    )
    known = {"<m1@acme>": "app-1"}
    found = await match_reply(mail, lambda token: None, known.get)
    assert (found.target, found.by) == ("app-1", "references")
    assert await match_reply(mail, lambda token: None, lambda message_id: None) is None
