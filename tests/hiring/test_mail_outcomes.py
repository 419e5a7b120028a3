"""What the pipeline does with the mail that is not a plain reply: a bounce, an
out-of-office answer, a "not interested", a mail to the unsubscribe address, and the same
reply delivered twice (webhook and IMAP)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hiring import book, imap_loop, routing
from hiring.mail.devserver import ReceivedMail
from hiring.mail.imap import ImapSettings
from hiring.mail.inbound import parse_json
from plait.testing import TestEngine
from tests.hiring.pipeline_kit import Pipeline, pipeline, reply_payload, reply_raw
from tests.hiring.test_imap import append, imap_port, mailbox  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(120)


def dsn(bounced: ReceivedMail, recipient: str) -> str:
    """A mail server's permanent failure report (RFC 3464) for ``bounced``."""
    view = bounced.view()
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {view.from_addr}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {view.message_id}\r\nTo: {recipient}\r\n"
        "\r\n--b--\r\n"
    )


async def contacted(p: Pipeline) -> list[book.Profile]:
    """The job up to five candidates contacted; their profiles in shortlist order."""
    await p.start()
    await p.confirm_skills()
    chosen, _ = await p.shortlist()
    await p.confirm_declines()
    await p.approve_outreach()
    return [await p.profile(cid) for cid in chosen]


async def received(engine: TestEngine, cid: str) -> list[dict[str, object]]:
    found = await engine.records.list(book.MESSAGE, prefix=f"{cid}/")
    return [r.value for r in found if r.value.get("direction") == "received"]


async def test_bounce_auto_reply_decline_unsubscribe_and_duplicate(
    test_engine: TestEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: ImapSettings,  # noqa: F811
) -> None:
    engine = test_engine
    async with pipeline(engine, tmp_path, monkeypatch) as p:
        bounced, away, no, twice, stop = await contacted(p)
        contacted_at = engine.clock.now()

        # A bounce (a DSN through the webhook's raw form) marks the address undeliverable.
        routed = await routing.route(
            engine, parse_json({"raw": dsn(p.mails_to(bounced.email)[-1], bounced.email)})
        )
        assert (routed.outcome, routed.candidate_id) == ("bounce", bounced.id)

        # An out-of-office answer is kept on the candidate's page but is not a reply.
        ooo = reply_payload(p, away.email, "I am out of the office until the 20th.", 1)
        ooo["headers"] = {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"}
        assert (await routing.route(engine, parse_json(ooo))).outcome == "auto-reply"
        assert [m["label"] for m in await received(engine, away.id)] == ["auto-reply"]

        # A plain "no, thanks".
        text = "Thank you, but I'm not interested. I am happy where I am."
        assert (await p.reply(no.email, text, number=2)).outcome == "reply"

        # The same reply through the webhook and then through IMAP counts once.
        assert (await p.reply(twice.email, "Yes, interested!", number=3)).outcome == "reply"
        append(mailbox, reply_raw(p, twice.email, "Yes, interested!", 3))
        (again,) = await imap_loop.poll(engine, mailbox)
        assert (again.outcome, again.candidate_id) == ("duplicate", twice.id)
        assert await engine.records.list(imap_loop.INBOX) == []  # routed: nothing pending

        # A mail to the List-Unsubscribe mailto address (RFC 8058's other half).
        view = p.mails_to(stop.email)[-1].view()
        mailto = next(u for u in view.list_unsubscribe if u.startswith("mailto:"))
        address = mailto.removeprefix("mailto:").split("?")[0]
        request = {"from": stop.email, "to": address, "subject": "unsubscribe", "text": "."}
        routed = await routing.route(engine, parse_json(request))
        assert (routed.outcome, routed.candidate_id) == ("unsubscribed", stop.id)
        assert await engine.records.get(book.SUPPRESSED, book.address_key(stop.email))

        await p.step()
        assert (await engine.get(await p.journey(stop.id))).output == "unsubscribed"
        assert (await engine.get(await p.journey(bounced.id))).output == "undeliverable"
        assert (await p.profile(bounced.id)).undeliverable
        assert await engine.records.get(book.SUPPRESSED, book.address_key(bounced.email))
        assert (await engine.get(await p.journey(no.id))).output == "declined"
        assert len(await received(engine, twice.id)) == 1  # classified once
        assert (
            len([m for m in p.mails_to(twice.email) if "Interview times" in m.view().subject]) == 1
        )

        await p.step(within=timedelta(days=15))
        # The bounced and the declined got nothing after the first message ...
        for quiet in (bounced, no, stop):
            assert len(p.mails_to(quiet.email)) == 1
        # ... while the out-of-office did not stop the sequence: two follow-ups on time.
        journal = await engine.journal(await p.journey(away.id))
        follow = [x.started_at for x in journal if x.name.endswith("send_follow_up")]
        assert [round((t - contacted_at) / timedelta(days=1)) for t in follow] == [3, 7]
        assert (await engine.get(await p.journey(away.id))).output == "no response"
        assert len(p.mails_to(away.email)) == 3
        kinds = {x.kind for x in await book.audit_trail_for(engine, bounced.id)}
        assert "mail.bounced" in kinds
