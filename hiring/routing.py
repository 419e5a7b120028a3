"""Inbound mail and candidates' links, routed to the right candidate's workflow.

A reply is matched by the signed token in its ``reply+TOKEN@`` address first, then by
``In-Reply-To``/``References`` against the Message-IDs we sent; it reaches the candidate's
workflow as signal ``reply`` with the Message-ID as its dedup key, so the webhook and the
IMAP poller delivering the same message count it once. Auto-replies and out-of-office
answers are kept on the candidate's page but are not replies; a bounce marks the address
undeliverable and stops the sequence; an unsubscribe (link or reply) is honoured at once.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import plait
from hiring import book
from hiring.mail.errors import InvalidToken
from hiring.mail.inbound import InboundMail, match_reply
from hiring.mail.tokens import verify_token
from hiring.settings import settings

MESSAGE_ID = "hiring.message-id"  # our Message-ID → the candidate it went to


@dataclasses.dataclass(frozen=True)
class Routed:
    """What became of one inbound message."""

    outcome: str  # "reply", "auto-reply", "bounce", "unsubscribed", "unmatched", "duplicate",
    # "finished"
    candidate_id: str | None = None
    workflow_id: str | None = None


async def journey(engine: plait.Engine, candidate_id: str) -> str | None:
    """The id of the candidate's outreach workflow, if one was started."""
    page = await engine.page(name="hiring.candidate", attributes={"candidate": candidate_id})
    return page.items[0].id if page.items else None


async def _by_email(engine: plait.Engine, address: str) -> str | None:
    for r in await engine.records.list(book.CANDIDATE):
        if isinstance(r.value, dict) and str(r.value.get("email", "")).lower() == address.lower():
            return r.key
    return None


async def route(engine: plait.Engine, mail: InboundMail) -> Routed:
    """Delivers ``mail`` to the candidate's workflow (see the module docstring)."""
    secret = settings().secret

    def by_token(token: str) -> str | None:
        found = verify_token(token, "reply", secret)
        return None if found == "panel" else found

    async def by_message_id(message_id: str) -> str | None:
        value = await engine.records.get(MESSAGE_ID, message_id)
        return str(value) if value else None

    if mail.unsubscribe_token and mail.counts_as_reply:  # sent to our List-Unsubscribe mailto
        try:
            who = await unsubscribe(engine, mail.unsubscribe_token)
        except InvalidToken:
            return Routed("unmatched")
        return Routed("unsubscribed", who, await journey(engine, who))
    if mail.is_bounce:
        for address in mail.bounced_recipients:
            cid = await _by_email(engine, address)
            if cid is not None:
                return await _signal(engine, cid, "bounce", {"address": address}, mail)
        return Routed("unmatched")
    matched = await match_reply(mail, by_token, by_message_id)
    if matched is None:
        return Routed("unmatched")
    cid = matched.target
    received = {
        "message_id": mail.message_id,
        "subject": mail.subject,
        "text": mail.text,
        "from": mail.from_addr,
        "at": datetime.now(UTC),
    }
    if not mail.counts_as_reply:
        await book.log_message_for(engine, cid, "received", {**received, "label": "auto-reply"})
        return Routed("auto-reply", cid)
    payload: dict[str, object] = {
        "message_id": mail.message_id,
        "text": mail.text,
        "subject": mail.subject,
        "received_at": datetime.now(UTC).isoformat(),
    }
    return await _signal(engine, cid, "reply", payload, mail)


async def _signal(
    engine: plait.Engine, cid: str, name: str, payload: dict[str, object], mail: InboundMail
) -> Routed:
    wid = await journey(engine, cid)
    if wid is None:
        return Routed("unmatched", cid)
    try:
        sent = await engine.signal(wid, name, payload, dedup_key=mail.message_id, by="mail")
    except plait.WorkflowFinished:
        return Routed("finished", cid, wid)
    return Routed(name if sent else "duplicate", cid, wid)


async def unsubscribe(engine: plait.Engine, token: str) -> str:
    """Honours an unsubscribe link at once; returns the candidate id (``InvalidToken``)."""
    cid = verify_token(token, "unsubscribe", settings().secret)
    profile = await engine.records.get(book.CANDIDATE, cid, type=book.Profile)
    if isinstance(profile, book.Profile):
        await engine.records.put(
            book.SUPPRESSED,
            book.address_key(profile.email),
            {"reason": "unsubscribed", "at": datetime.now(UTC)},
        )
    wid = await journey(engine, cid)
    if wid is not None:
        try:
            await engine.signal(wid, "unsubscribe", None, dedup_key=f"unsubscribe:{cid}", by=cid)
        except plait.WorkflowFinished:
            pass
    return cid


async def choose_slot(engine: plait.Engine, token: str) -> tuple[str, int]:
    """A candidate's signed slot link: signals their choice; returns (candidate, number)."""
    subject = verify_token(token, "slot", settings().secret)
    cid, _, number = subject.rpartition(".")
    if not cid or not number.isdigit():
        raise InvalidToken("this slot link does not name a slot")
    wid = await journey(engine, cid)
    if wid is None:
        raise InvalidToken("this slot link belongs to no interview in progress")
    await engine.signal(wid, "slot", int(number), dedup_key=f"slot:{token}", by=cid)
    return cid, int(number)
