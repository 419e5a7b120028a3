"""A received message as a person reads it: the headers that matter, the text, attachments.

:func:`read_mail` is what the demo mailbox shows for each message the dev server received,
and what tests check sent mail with.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from email.utils import parseaddr, parsedate_to_datetime

from hiring.mail.parsing import addresses, body_text, header, message_ids, parse_bytes
from hiring.scheduling.invites import InviteSummary, read_invite

__all__ = ["Attachment", "MailView", "read_mail"]


@dataclasses.dataclass(frozen=True)
class Attachment:
    """A part of the message that is a file: name, type and size in bytes."""

    filename: str | None
    content_type: str
    size: int


@dataclasses.dataclass(frozen=True)
class MailView:
    """What a received message says, with its invite read if it carries one."""

    from_name: str
    from_addr: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]
    reply_to: str | None
    list_unsubscribe: tuple[str, ...]
    one_click_unsubscribe: bool
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    invite: InviteSummary | None
    invite_error: str | None = None


def read_mail(raw: bytes) -> MailView:
    """Parse ``raw`` RFC 822 bytes into a :class:`MailView` (never raises on odd mail)."""
    message = parse_bytes(raw)
    from_name, from_addr = parseaddr(header(message, "From"))
    text, html = body_text(message)
    attachments: list[Attachment] = []
    calendar: bytes | None = None
    for part in message.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if kind == "text/calendar" and calendar is None:
            calendar = data
        if part.get_content_disposition() == "attachment":
            if kind in ("application/ics", "text/calendar") and calendar is None:
                calendar = data
            attachments.append(Attachment(part.get_filename(), kind, len(data)))
    invite: InviteSummary | None = None
    invite_error: str | None = None
    if calendar is not None:
        try:
            invite = read_invite(calendar)
        except ValueError as error:
            invite_error = str(error)
    in_reply_to = message_ids(header(message, "In-Reply-To"))
    unsubscribe = header(message, "List-Unsubscribe")
    return MailView(
        from_name=from_name,
        from_addr=from_addr,
        to=tuple(addresses(message, "To")),
        cc=tuple(addresses(message, "Cc")),
        subject=header(message, "Subject"),
        date=_date(header(message, "Date")),
        message_id=header(message, "Message-ID"),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=tuple(message_ids(header(message, "References"))),
        reply_to=next(iter(addresses(message, "Reply-To")), None),
        list_unsubscribe=tuple(
            item.strip().strip("<>") for item in unsubscribe.split(",") if item.strip()
        ),
        one_click_unsubscribe=header(message, "List-Unsubscribe-Post").replace(" ", "")
        == "List-Unsubscribe=One-Click",
        text=text,
        html=html,
        attachments=tuple(attachments),
        invite=invite,
        invite_error=invite_error,
    )


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
