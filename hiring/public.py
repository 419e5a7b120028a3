"""The routes people and mail providers reach without a session, each authenticated by its
own signed token: the unsubscribe link (RFC 8058 one-click), the interview slot link, and
the inbound-mail webhook.

- ``GET /hiring/unsubscribe/{token}`` asks for confirmation (a link scanner that follows the
  link unsubscribes nobody); ``POST`` unsubscribes at once and answers 200 — what a mail
  client's one-click button (body ``List-Unsubscribe=One-Click``) and the page's button send.
- ``GET /hiring/slot/{token}`` shows the proposed time and a confirm button; ``POST``
  takes it (:func:`hiring.routing.choose_slot`).
- ``POST /hiring/inbound``: one inbound message, raw RFC 822 (``Content-Type:
  message/rfc822``) or JSON (the shape :func:`hiring.mail.inbound.parse_json` reads);
  authenticated by the HMAC-signed reply token inside the message and, when
  ``HIRING_WEBHOOK_SECRET`` is set, the header ``X-Hiring-Webhook-Secret`` (compared in
  constant time). Answers ``{"outcome": ..., "candidate_id": ...}``; a malformed payload
  is 422 with what is wrong, a forged or wrong token 403. The demo mailbox's "Reply as the
  candidate" goes through :func:`deliver` too.

A bad or expired token is a friendly page (400), never a traceback.
"""

from __future__ import annotations

import hmac
import json
import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

import plait
from hiring import book, routing
from hiring.mail.errors import InvalidInboundMail, InvalidToken
from hiring.mail.inbound import InboundMail, parse_json, parse_raw
from hiring.mail.tokens import verify_token
from hiring.settings import settings
from plait.server import render

router = APIRouter()

WEBHOOK_SECRET_HEADER = "X-Hiring-Webhook-Secret"
MAX_INBOUND_BYTES = 10 * 1024 * 1024


def engine_of(request: Request) -> plait.Engine:
    found: plait.Engine = request.app.state.engine
    return found


async def _page(
    request: Request, title: str, message: str, *, status: int = 200, **more: Any
) -> HTMLResponse:
    return await render(
        request,
        "hiring_public.html",
        None,
        {"title": title, "message": message, **more},
        status=status,
    )


async def _bad_link(request: Request, what: str, exc: Exception) -> HTMLResponse:
    expired = "expired" in str(exc).lower()
    return await _page(
        request,
        "This link has expired" if expired else "This link does not work",
        f"The {what} link is {'no longer valid' if expired else 'not valid'}. Copy the whole "
        "link from the e-mail (it can break across lines), or simply reply to the e-mail and "
        "we will take care of it.",
        status=400,
    )


# -- unsubscribe -----------------------------------------------------------------------------
@router.get("/hiring/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    try:
        verify_token(token, "unsubscribe", settings().secret)
    except InvalidToken as exc:
        return await _bad_link(request, "unsubscribe", exc)
    return await _page(
        request,
        "Stop hearing from us?",
        "Press the button and we will not e-mail you again about this or any other role. "
        "Your application is withdrawn from the process.",
        action=f"/hiring/unsubscribe/{token}",
        button="Unsubscribe",
        fields={"List-Unsubscribe": "One-Click"},
    )


@router.post("/hiring/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(request: Request, token: str) -> HTMLResponse:
    """RFC 8058 one-click: unsubscribes at once and answers 200."""
    try:
        await routing.unsubscribe(engine_of(request), token)
    except InvalidToken as exc:
        return await _bad_link(request, "unsubscribe", exc)
    return await _page(
        request,
        "You are unsubscribed",
        "We will not e-mail you again. If this was a mistake, reply to any of our e-mails.",
    )


# -- interview slots -------------------------------------------------------------------------
async def _proposed(engine: plait.Engine, cid: str, number: int) -> dict[str, Any] | None:
    """The slot ``number`` (1-based) the candidate's workflow proposed, if it can be found."""
    wid = await routing.journey(engine, cid)
    if wid is None:
        return None
    for entry in reversed(await engine.journal(wid)):
        if not entry.name.endswith("propose_slots"):
            continue
        slots = entry.output
        if isinstance(slots, str):
            try:
                slots = json.loads(slots)
            except ValueError:
                return None
        if isinstance(slots, list) and 1 <= number <= len(slots):
            slot = slots[number - 1]
            return slot if isinstance(slot, dict) else None
    return None


def _when(slot: dict[str, Any], zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
        start = datetime.fromisoformat(str(slot["start"])).astimezone(tz)
        end = datetime.fromisoformat(str(slot["end"])).astimezone(tz)
    except (KeyError, ValueError):
        return ""
    return f"{start:%A %d %B %Y, %H:%M} to {end:%H:%M} ({zone})"


@router.get("/hiring/slot/{token}", response_class=HTMLResponse)
async def slot_page(request: Request, token: str) -> HTMLResponse:
    try:
        subject = verify_token(token, "slot", settings().secret)
    except InvalidToken as exc:
        return await _bad_link(request, "interview time", exc)
    engine = engine_of(request)
    cid, _, number = subject.rpartition(".")
    profile = await engine.records.get(book.CANDIDATE, cid, type=book.Profile)
    zone = profile.time_zone if isinstance(profile, book.Profile) else "UTC"
    slot = await _proposed(engine, cid, int(number)) if number.isdigit() else None
    when = _when(slot, zone) if slot else ""
    return await _page(
        request,
        f"Confirm interview time {number}",
        f"You chose {when}." if when else f"You chose the time numbered {number} in our e-mail.",
        action=f"/hiring/slot/{token}",
        button="Confirm this time",
        fields={},
        note="We will send you and the interviewers a calendar invite.",
    )


@router.post("/hiring/slot/{token}", response_class=HTMLResponse)
async def choose_slot(request: Request, token: str) -> HTMLResponse:
    engine = engine_of(request)
    try:
        cid, number = await routing.choose_slot(engine, token)
    except InvalidToken as exc:
        return await _bad_link(request, "interview time", exc)
    except plait.WorkflowFinished:
        return await _page(
            request,
            "This interview is no longer being scheduled",
            "The process this link belongs to has ended. Reply to our e-mail if you still "
            "want to talk.",
            status=409,
        )
    profile = await engine.records.get(book.CANDIDATE, cid, type=book.Profile)
    zone = profile.time_zone if isinstance(profile, book.Profile) else "UTC"
    slot = await _proposed(engine, cid, number)
    when = _when(slot, zone) if slot else f"time {number}"
    return await _page(
        request,
        "Thank you — your interview time is confirmed",
        f"You chose {when}. A calendar invite is on its way to you and the interviewers.",
    )


# -- the inbound-mail webhook -----------------------------------------------------------------
class Refused(Exception):
    """The inbound message is not accepted: an HTTP status and what is wrong."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


async def deliver(
    engine: plait.Engine, mail: InboundMail, *, trusted: bool = False
) -> dict[str, str | None]:
    """Routes one inbound message (the webhook and the demo mailbox's reply): an unsubscribe
    to the List-Unsubscribe address is honoured at once; a reply token must verify (else
    :class:`Refused` 403); then :func:`hiring.routing.route` finds the workflow.

    A bounce carries no token of ours, so unless the sender is ``trusted`` (the webhook
    secret was given, or a signed-in person in the mailbox) it is accepted only when it
    quotes the Message-ID of a message we sent: otherwise anyone could mark any address
    undeliverable."""
    secret = settings().secret
    if mail.is_bounce and not trusted:
        known = mail.original_message_id and await engine.records.get(
            routing.MESSAGE_ID, mail.original_message_id
        )
        if not known:
            raise Refused(
                403,
                "unverified_bounce",
                "a bounce is accepted with the webhook secret, or when its returned message "
                "part carries the Message-ID of a message this application sent",
            )
    if mail.unsubscribe_token:
        try:
            cid = await routing.unsubscribe(engine, mail.unsubscribe_token)
        except InvalidToken as exc:
            raise Refused(
                403, "invalid_token", f"the unsubscribe token is not valid: {exc}"
            ) from None
        return {"outcome": "unsubscribed", "candidate_id": cid, "workflow_id": None}
    if mail.token:
        try:
            verify_token(mail.token, "reply", secret)
        except InvalidToken as exc:
            raise Refused(
                403,
                "invalid_token",
                f"the reply token in the recipient address is not valid: {exc}",
            ) from None
    routed = await routing.route(engine, mail)
    return {
        "outcome": routed.outcome,
        "candidate_id": routed.candidate_id,
        "workflow_id": routed.workflow_id,
    }


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "field": None}, status_code=status)


@router.post(
    "/hiring/inbound",
    responses={
        401: {"description": "missing or wrong webhook secret"},
        403: {"description": "the reply token does not verify"},
        415: {"description": "not message/rfc822 or application/json"},
        422: {"description": "a malformed message"},
    },
)
async def inbound(request: Request) -> Response:
    expected = os.environ.get("HIRING_WEBHOOK_SECRET", "")
    trusted = False
    if expected:
        given = request.headers.get(WEBHOOK_SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(
                401,
                "unauthenticated",
                f"send the webhook secret in the {WEBHOOK_SECRET_HEADER} header",
            )
        trusted = True
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > MAX_INBOUND_BYTES:
        return _error(413, "too_large", "the message is over 10 MB")
    if not body.strip():
        return _error(422, "invalid", "the body is empty: post the message (RFC 822 or JSON)")
    try:
        if kind in ("message/rfc822", "text/plain"):
            mail = parse_raw(body)
        elif kind == "application/json":
            mail = parse_json(body)
        else:
            return _error(
                415,
                "unsupported",
                f"Content-Type {kind or '(none)'!r}: post message/rfc822 (the raw message) "
                "or application/json",
            )
    except InvalidInboundMail as exc:
        return _error(422, "invalid", f"the message could not be read: {exc}")
    except Exception as exc:  # a parser failing on odd bytes: say what, not a traceback
        return _error(422, "invalid", f"the message could not be read: {type(exc).__name__}")
    try:
        result = await deliver(engine_of(request), mail, trusted=trusted)
    except Refused as exc:
        return _error(exc.status, exc.error, exc.message)
    return JSONResponse(result)
