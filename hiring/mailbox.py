"""The demo's mailbox: every message the local mail server received, kept in the engine's
records (kind ``hiring.mailbox``) so it survives a restart, and pages to read them and to
answer as the candidate.

- :func:`store_received` is the callback the demo's ``DevMailServer`` calls for each message.
  The key is the receiving time (sortable) and the Message-ID, so a message re-sent with the
  same Message-ID (the crash window) shows twice, as it arrived; the record's ``subject`` is
  the candidate when the message went to one, so erasing the candidate removes it.
- ``/hiring/mailbox`` lists them newest first; ``/hiring/mailbox/{key}`` shows one (the
  headers that matter, the text, attachments, an invite read back as an event in the
  viewer's zone) with "Reply as the candidate" — composed as a raw message to the
  message's Reply-To and delivered through :func:`hiring.public.deliver`, the webhook's path
  — and the message's unsubscribe and slot links as buttons.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import plait
from hiring import book
from hiring.mail.devserver import ReceivedMail
from hiring.mail.errors import InvalidToken
from hiring.mail.inbound import parse_raw
from hiring.mail.tokens import token_from_address, verify_token
from hiring.mail.view import MailView, read_mail
from plait.server import User, page_user, show_error, verify_csrf

MAILBOX = "hiring.mailbox"

# What "Reply as the candidate" did (?outcome=...), as the routing answered.
OUTCOMES = {
    "reply": ("Reply delivered: the candidate's workflow reads and classifies it now.", False),
    "duplicate": ("Already delivered (same Message-ID): counted once.", False),
    "unsubscribed": ("Unsubscribed: the address is on the suppression list.", False),
    "auto-reply": (
        "Delivered, but it reads as an auto-reply: kept on the candidate's page, not counted "
        "as an answer.",
        True,
    ),
    "unmatched": (
        "Delivered, but it matched no candidate in progress (no valid token and no known "
        "Message-ID).",
        True,
    ),
    "finished": ("Delivered, but the candidate's pipeline has already ended.", True),
}
router = APIRouter()

_SLOT_LINK = re.compile(r"https?://\S+?(/hiring/slot/[A-Za-z0-9.]+)")


async def _candidate_for(
    engine: plait.Engine, view: MailView, rcpt_tos: tuple[str, ...]
) -> str | None:
    """The candidate a message went to: by the reply token in its Reply-To (exact), else by
    a recipient's address among the candidates' profiles."""
    from hiring.settings import settings

    token = token_from_address(view.reply_to) if view.reply_to else None
    if token:
        try:
            found = verify_token(token, "reply", settings().secret)
        except (InvalidToken, plait.ConfigurationError):
            found = None
        if found and found != "panel":
            return found
    wanted = {a.lower() for a in (*rcpt_tos, *view.to)}
    for r in await engine.records.list(book.CANDIDATE):
        if isinstance(r.value, dict) and str(r.value.get("email", "")).lower() in wanted:
            return r.key
    return None


def mailbox_key(received_at: datetime, message_id: str) -> str:
    stamp = received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}/{message_id or '(no Message-ID)'}"


async def store_received(engine: plait.Engine, received: ReceivedMail) -> str:
    """Keeps one received message in the mailbox; returns its key."""
    view = received.view()
    cid = await _candidate_for(engine, view, received.rcpt_tos)
    key = mailbox_key(received.received_at, view.message_id)
    await engine.records.put(
        MAILBOX,
        key,
        {
            "received_at": received.received_at,
            "mail_from": received.mail_from,
            "rcpt_tos": list(received.rcpt_tos),
            "from": formataddr((view.from_name, view.from_addr)),
            "to": list(view.to),
            "subject": view.subject,
            "message_id": view.message_id,
            "candidate_id": cid,
            "has_invite": view.invite is not None,
            "raw": base64.b64encode(received.data).decode(),
        },
        subject=cid,
    )
    return key


def mailbox_url(key: str) -> str:
    return "/hiring/mailbox/" + quote(key, safe="")


@router.get("/hiring/mailbox", response_class=HTMLResponse)
async def mailbox_page(request: Request, user: User = Depends(page_user)) -> HTMLResponse:
    from hiring.web import as_time, engine_of, page

    engine = engine_of(request)
    found = await engine.records.list(MAILBOX)
    rows = []
    for r in reversed(found):
        value = r.value if isinstance(r.value, dict) else {}
        when = as_time(value.get("received_at")) or r.created_at
        rows.append({**value, "key": r.key, "url": mailbox_url(r.key), "received_at": when})
    names = await _names(engine, {str(row.get("candidate_id")) for row in rows})
    return await page(request, "hiring_mailbox.html", user, {"rows": rows, "names": names})


async def _names(engine: plait.Engine, ids: set[str]) -> dict[str, str]:
    names = {}
    for cid in ids:
        p = await engine.records.get(book.CANDIDATE, cid)
        if isinstance(p, dict):
            names[cid] = str(p.get("name", cid))
    return names


async def _message(engine: plait.Engine, key: str) -> tuple[dict[str, Any], bytes] | None:
    value = await engine.records.get(MAILBOX, key)
    if not isinstance(value, dict):
        return None
    try:
        raw = base64.b64decode(str(value.get("raw", "")))
    except ValueError:
        raw = b""
    return value, raw


def quoted(view: MailView) -> str:
    """The reply's prefilled text: a blank line to write on, then the message quoted."""
    when = f"{view.date:%a %d %b %Y %H:%M}" if view.date else "earlier"
    body = "\n".join(f"> {line}" if line else ">" for line in view.text.strip().splitlines())
    return f"\n\nOn {when}, {view.from_name or view.from_addr} wrote:\n{body}\n"


def links(view: MailView) -> dict[str, Any]:
    """The unsubscribe and slot links in the message, as paths on this server."""
    unsubscribe = next(
        (
            urlsplit(u).path
            for u in view.list_unsubscribe
            if u.startswith(("http://", "https://")) and "/hiring/unsubscribe/" in u
        ),
        None,
    )
    slots = list(dict.fromkeys(m.group(1) for m in _SLOT_LINK.finditer(view.text)))
    return {"unsubscribe": unsubscribe, "slots": slots}


@router.get("/hiring/mailbox/{key:path}", response_class=HTMLResponse)
async def message_page(request: Request, key: str, user: User = Depends(page_user)) -> Response:
    from hiring.web import as_time, engine_of, page

    engine = engine_of(request)
    found = await _message(engine, key)
    if found is None:
        return await show_error(
            request,
            user,
            404,
            "That message is not in the mailbox (it may belong to a candidate who was erased).",
            back="/hiring/mailbox",
        )
    value, raw = found
    value = {**value, "received_at": as_time(value.get("received_at"))}
    view = read_mail(raw)
    cid = value.get("candidate_id")
    names = await _names(engine, {str(cid)}) if cid else {}
    return await page(
        request,
        "hiring_message.html",
        user,
        {
            "key": key,
            "url": mailbox_url(key),
            "m": value,
            "v": view,
            "cid": cid,
            "name": names.get(str(cid)),
            "quoted": quoted(view),
            "links": links(view),
            "zone": user.time_zone or "UTC",
            "in_zone": _in_zone(user.time_zone or "UTC"),
            "raw_text": raw.decode("utf-8", "replace"),
            **_outcome(request.query_params.get("outcome")),
        },
    )


def _in_zone(zone: str) -> Any:
    from zoneinfo import ZoneInfo

    try:
        tz = ZoneInfo(zone)
    except (ValueError, KeyError):
        tz = ZoneInfo("UTC")

    def fmt(when: datetime, pattern: str) -> str:
        return when.astimezone(tz).strftime(pattern)

    return fmt


def _outcome(outcome: str | None) -> dict[str, Any]:
    if not outcome:
        return {}
    text, bad = OUTCOMES.get(outcome, (f"Delivered: {outcome}.", True))
    return {"flash": text, "flash_error": bad}


def compose_reply(view: MailView, text: str, *, now: datetime | None = None) -> bytes:
    """The candidate's reply to ``view`` as raw RFC 822: from the address it went to, to its
    Reply-To, threaded with In-Reply-To and References."""
    message = EmailMessage()
    sender = view.to[0] if view.to else "candidate@example.invalid"
    message["From"] = sender
    message["To"] = view.reply_to or view.from_addr
    subject = view.subject
    message["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    message["Date"] = format_datetime(now or datetime.now(UTC))
    domain = sender.rpartition("@")[2] or "example.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    if view.message_id:
        message["In-Reply-To"] = view.message_id
        message["References"] = " ".join([*view.references, view.message_id])
    message.set_content(text)
    return bytes(message)


@router.post("/hiring/mailbox/{key:path}/reply", dependencies=[Depends(verify_csrf)])
async def reply(request: Request, key: str, user: User = Depends(page_user)) -> Response:
    from hiring.public import Refused, deliver
    from hiring.web import engine_of, form_of

    engine = engine_of(request)
    back = mailbox_url(key)
    found = await _message(engine, key)
    if found is None:
        return await show_error(request, user, 404, "That message is not in the mailbox.")
    form = await form_of(request)
    text = form.get("text", "").replace("\r\n", "\n")
    if not text.strip():
        return await show_error(request, user, 422, "Write the reply first.", back=back)
    view = read_mail(found[1])
    raw = compose_reply(view, text)
    try:
        result = await deliver(engine, parse_raw(raw), trusted=True)
    except Refused as exc:
        return await show_error(request, user, exc.status, exc.message, back=back)
    return RedirectResponse(f"{back}?outcome={quote(str(result.get('outcome')))}", 303)
