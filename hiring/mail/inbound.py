"""Incoming mail: replies, auto-replies and bounces, from raw RFC 822 or a JSON webhook.

:func:`parse_raw` and :func:`parse_json` turn an inbound message into an :class:`InboundMail`;
:func:`match_reply` finds what it answers; :func:`detect_unsubscribe` spots the obvious
"please stop" replies.

The JSON shape :func:`parse_json` accepts (what an inbound-mail webhook posts)::

    {
      "from": "Sam Doe <sam@example.org>",           # required
      "to": "reply+TOKEN@reply.acme.example",        # required: a string or a list
      "cc": [...], "envelope_to": [...],             # optional, string or list
      "subject": "Re: ...",                           # optional
      "text": "...", "html": "...",                  # at least one of the two
      "message_id": "<...>", "in_reply_to": "<...>",  # optional (also read from headers)
      "references": "<a> <b>" or ["<a>", "<b>"],      # optional
      "headers": {"Auto-Submitted": "auto-replied"}  # optional: an object or [[name, value]]
    }

or ``{"raw": "<the whole RFC 822 message>"}`` (add ``"raw_encoding": "base64"`` when it is
base64), which is read exactly like :func:`parse_raw`.

Invariants:
- ``text`` is what the person wrote: quoted history (``>`` lines, "On ... wrote:", Outlook's
  "-----Original Message-----" and localised variants) and the signature are removed.
- Auto-replies are recognised by headers first (``Auto-Submitted`` other than ``no``,
  ``X-Autoreply``, ``X-Autorespond``, ``Precedence: auto_reply/bulk/junk``,
  ``X-Auto-Response-Suppress: All/OOF``), then by common out-of-office subjects.
- A bounce is a permanent delivery failure: a DSN (``multipart/report;
  report-type=delivery-status``) recipient with ``Action: failed`` and a ``5.x.x`` status, or
  ``X-Failed-Recipients``. ``4.x.x`` / ``Action: delayed`` recipients are only *delayed*.
- Every message has a Message-ID to deduplicate on: when the webhook gives none, one is
  derived from the content (the same payload twice gives the same id).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from email.message import Message
from email.utils import parseaddr
from typing import Generic, Literal, TypeVar

from hiring.mail.errors import InvalidInboundMail, InvalidToken
from hiring.mail.parsing import addresses, body_text, header, html_to_text, message_ids
from hiring.mail.parsing import parse_bytes as _parse_bytes
from hiring.mail.tokens import token_from_address

__all__ = [
    "InboundMail",
    "ReplyMatch",
    "detect_unsubscribe",
    "match_reply",
    "parse_json",
    "parse_raw",
    "strip_quoted",
]

T = TypeVar("T")

_TOKEN_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


@dataclasses.dataclass(frozen=True)
class InboundMail:
    """One inbound message, classified.

    ``text`` has quoted history and signature removed (``full_text`` keeps them).
    ``original_message_id`` is, for a bounce, the Message-ID of our message that bounced.
    ``unsubscribe_token`` is set when the mail went to the ``List-Unsubscribe`` mailto
    address (``unsubscribe+TOKEN@...``): the person asked to be removed, whatever the text.
    """

    message_id: str
    from_addr: str
    to_addrs: tuple[str, ...]
    subject: str
    text: str
    in_reply_to: str | None
    references: tuple[str, ...]
    token: str | None
    is_auto_reply: bool
    is_bounce: bool
    bounced_recipients: tuple[str, ...]
    raw_headers: tuple[tuple[str, str], ...]
    full_text: str = ""
    delayed_recipients: tuple[str, ...] = ()
    is_delivery_report: bool = False
    original_message_id: str | None = None
    unsubscribe_token: str | None = None

    @property
    def counts_as_reply(self) -> bool:
        """Whether a person answered: not an auto-reply, bounce or delivery report."""
        return not (self.is_auto_reply or self.is_bounce or self.is_delivery_report)


def parse_raw(raw: bytes, *, reply_prefix: str = "reply") -> InboundMail:
    """Classify a raw RFC 822 message; ``reply_prefix`` is the part before ``+TOKEN@``."""
    message = _parse_bytes(raw)
    full_text, _html = body_text(message)
    raw_headers = tuple((name, " ".join(str(value).split())) for name, value in message.items())
    recipients = addresses(message, *_TOKEN_HEADERS)
    report = _delivery_report(message)
    failed = tuple(dict.fromkeys([*report.failed, *_failed_header(raw_headers)]))
    subject = header(message, "Subject")
    from_addr = parseaddr(header(message, "From"))[1]
    return InboundMail(
        message_id=header(message, "Message-ID") or _derived_id(raw),
        from_addr=from_addr,
        to_addrs=tuple(addresses(message, "To", "Cc")),
        subject=subject,
        text=strip_quoted(full_text),
        in_reply_to=next(iter(message_ids(header(message, "In-Reply-To"))), None),
        references=tuple(message_ids(header(message, "References"))),
        token=_first_token(recipients, reply_prefix),
        is_auto_reply=_is_auto_reply(raw_headers, subject),
        is_bounce=bool(failed)
        or (report.is_report is False and _looks_bounced(from_addr, subject)),
        bounced_recipients=failed,
        raw_headers=raw_headers,
        full_text=full_text,
        delayed_recipients=report.delayed,
        is_delivery_report=report.is_report,
        original_message_id=report.original_message_id,
        unsubscribe_token=_first_token(recipients, "unsubscribe"),
    )


def parse_json(
    payload: Mapping[str, object] | str | bytes, *, reply_prefix: str = "reply"
) -> InboundMail:
    """Classify a webhook payload of the shape in this module's docstring.

    Raises :class:`~hiring.mail.errors.InvalidInboundMail` naming the field that is wrong.
    """
    data = _load_json(payload)
    if "raw" in data:
        return parse_raw(_raw_bytes(data), reply_prefix=reply_prefix)
    headers = _headers(data.get("headers"))
    lookup = {name.lower(): value for name, value in headers}
    sender = _text_field(data, "from", required=True)
    from_addr = parseaddr(sender)[1]
    if "@" not in from_addr:
        raise InvalidInboundMail(f"'from' must hold an e-mail address, got {sender!r}")
    to_addrs = _address_field(data, "to", required=True)
    cc_addrs = _address_field(data, "cc")
    envelope = _address_field(data, "envelope_to")
    text = _text_field(data, "text")
    html = _text_field(data, "html")
    if not text and not html:
        raise InvalidInboundMail("the payload needs 'text' or 'html' (the message body)")
    full_text = text or html_to_text(html)
    subject = _text_field(data, "subject") or lookup.get("subject", "")
    message_id = _text_field(data, "message_id") or lookup.get("message-id", "")
    in_reply_to = message_ids(_text_field(data, "in_reply_to") or lookup.get("in-reply-to", ""))
    references_value = data.get("references", lookup.get("references", ""))
    if isinstance(references_value, list):
        references_value = " ".join(str(item) for item in references_value)
    if not isinstance(references_value, str):
        raise InvalidInboundMail("'references' must be a string or a list of strings")
    failed = tuple(dict.fromkeys(_failed_header(headers)))
    if not message_id:
        canonical = json.dumps(
            [sender, to_addrs, subject, full_text, headers], sort_keys=True, ensure_ascii=False
        )
        message_id = _derived_id(canonical.encode())
    return InboundMail(
        message_id=" ".join(message_id.split()),
        from_addr=from_addr,
        to_addrs=tuple(dict.fromkeys([*to_addrs, *cc_addrs])),
        subject=" ".join(subject.split()),
        text=strip_quoted(full_text),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=tuple(message_ids(references_value)),
        token=_first_token([*to_addrs, *cc_addrs, *envelope], reply_prefix),
        is_auto_reply=_is_auto_reply(headers, subject),
        is_bounce=bool(failed) or _looks_bounced(from_addr, subject),
        bounced_recipients=failed,
        raw_headers=headers,
        full_text=full_text,
        unsubscribe_token=_first_token([*to_addrs, *cc_addrs, *envelope], "unsubscribe"),
    )


@dataclasses.dataclass(frozen=True)
class ReplyMatch(Generic[T]):
    """What an inbound message answers, and which key found it."""

    target: T
    by: Literal["token", "in_reply_to", "references", "original_message_id"]


async def match_reply(
    mail: InboundMail,
    resolve_token: Callable[[str], T | Awaitable[T | None] | None],
    resolve_message_id: Callable[[str], T | Awaitable[T | None] | None],
) -> ReplyMatch[T] | None:
    """Find what ``mail`` answers: by its reply token first, then by threading headers.

    ``resolve_token`` maps a token to the target (e.g. verify it and return the application
    id); an :class:`~hiring.mail.errors.InvalidToken` it raises counts as no match.
    ``resolve_message_id`` maps one of our Message-IDs to the target. Either may be async.
    """
    if mail.token:
        try:
            found = await _maybe_await(resolve_token(mail.token))
        except InvalidToken:
            found = None
        if found is not None:
            return ReplyMatch(found, "token")
    candidates: list[tuple[str, Literal["in_reply_to", "references", "original_message_id"]]]
    candidates = [(mail.in_reply_to, "in_reply_to")] if mail.in_reply_to else []
    candidates += [(ref, "references") for ref in reversed(mail.references)]
    if mail.original_message_id:
        candidates.append((mail.original_message_id, "original_message_id"))
    for message_id, how in candidates:
        found = await _maybe_await(resolve_message_id(message_id))
        if found is not None:
            return ReplyMatch(found, how)
    return None


async def _maybe_await(value: T | Awaitable[T | None] | None) -> T | None:
    if inspect.isawaitable(value):
        return await value
    return value


_UNSUBSCRIBE = re.compile(
    r"\bunsubscribe\b|\bopt[- ]?out\b|\bremove me\b|\btake me off\b"
    r"|\bstop (?:e-?mailing|emailing|contacting|messaging|writing to|sending me)\b"
    r"|\b(?:do not|don'?t|never) (?:contact|e-?mail|email|message|write to) me\b"
    r"|\bno (?:more|further) (?:e-?mails|emails|messages)\b"
    r"|\bno longer (?:wish|want) to (?:be contacted|receive|hear)\b",
    re.IGNORECASE,
)


def detect_unsubscribe(text: str) -> bool:
    """Whether a reply plainly asks to stop being contacted ("unsubscribe", "remove me"...).

    Quoted lines and lines with links are ignored, so our own footer in a quote does not
    count. The full classification of replies is the AI layer's job; this catches the
    obvious cases at once, without a model.
    """
    lines = [
        line
        for line in text.splitlines()
        if not line.lstrip().startswith(">") and "http://" not in line and "https://" not in line
    ]
    return bool(_UNSUBSCRIBE.search(" ".join(lines)))


_SIGNATURE = re.compile(r"^-- ?$")
_MOBILE = re.compile(
    r"^(sent from my \w+|sent from (?:outlook|mail) for \w+|get outlook for \w+|"
    r"von meinem \w+ gesendet|envoyé de mon \w+)",
    re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """What the person wrote, without the quoted history and the signature."""
    from mailparser_reply import EmailReplyParser

    text = text.replace("\r\n", "\n")
    try:
        latest = EmailReplyParser(languages=["en", "de", "fr", "es", "nl", "it"]).parse_reply(
            text=text
        )
    except Exception:  # a parser failure must not lose the reply: keep the full text
        latest = None
    lines = (latest if latest is not None else text).splitlines()
    kept: list[str] = []
    for line in lines:
        if _SIGNATURE.match(line.rstrip("\n")) or _MOBILE.match(line.strip()):
            break
        kept.append(line)
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    result = "\n".join(kept).strip()
    if result:
        return result
    fallback = (latest or text).strip()
    written = [line for line in fallback.splitlines() if not line.lstrip().startswith(">")]
    return fallback if any(line.strip() for line in written) else ""


_OOO_SUBJECT = re.compile(
    r"^\s*(?:\[?auto(?:matic)?[- ]?(?:reply|response|antwort)\]?|autoreply|auto:|"
    r"out of (?:the )?office|ooo\b|abwesenheit|automatische antwort|"
    r"r[ée]ponse automatique|absence|respuesta autom[áa]tica|fuera de la oficina|"
    r"afwezig|on (?:vacation|holiday|leave)|away from (?:the )?office|i am (?:currently )?out)",
    re.IGNORECASE,
)


def _is_auto_reply(headers: tuple[tuple[str, str], ...], subject: str) -> bool:
    for name, value in headers:
        key, lowered = name.lower(), value.strip().lower()
        if key == "auto-submitted" and lowered.split(";")[0].strip() not in ("", "no"):
            return True
        if key in ("x-autoreply", "x-autorespond", "x-autogenerated") and lowered != "no":
            return True
        if key == "precedence" and lowered in ("auto_reply", "bulk", "junk"):
            return True
        if key == "x-auto-response-suppress" and ("all" in lowered or "oof" in lowered):
            return True
    return bool(_OOO_SUBJECT.match(subject))


_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification \(failure\)|returned mail|failure notice"
    r"|mail delivery failed|delivery has failed",
    re.IGNORECASE,
)


def _looks_bounced(from_addr: str, subject: str) -> bool:
    return bool(_BOUNCE_SENDER.match(from_addr) and _BOUNCE_SUBJECT.search(subject))


def _failed_header(headers: tuple[tuple[str, str], ...]) -> list[str]:
    found: list[str] = []
    for name, value in headers:
        if name.lower() == "x-failed-recipients":
            found.extend(item.strip() for item in value.split(",") if "@" in item)
    return found


@dataclasses.dataclass(frozen=True)
class _Report:
    is_report: bool = False
    failed: tuple[str, ...] = ()
    delayed: tuple[str, ...] = ()
    original_message_id: str | None = None


def _delivery_report(message: Message) -> _Report:
    if message.get_content_type() != "multipart/report":
        return _Report()
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        return _Report()
    failed: list[str] = []
    delayed: list[str] = []
    original: str | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                recipient = _dsn_recipient(block)
                if recipient is None:
                    continue
                action = str(block.get("Action", "")).strip().lower()
                status = str(block.get("Status", "")).strip()
                if (status.startswith("5") and action in ("failed", "")) or (
                    action == "failed" and not status
                ):
                    failed.append(recipient)
                elif status.startswith("4") or action == "delayed":
                    delayed.append(recipient)
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = _original_id(part)
    return _Report(True, tuple(dict.fromkeys(failed)), tuple(dict.fromkeys(delayed)), original)


def _dsn_recipient(block: Message) -> str | None:
    for field in ("Final-Recipient", "Original-Recipient"):
        value = str(block.get(field, "")).strip()
        if value:
            address = value.split(";", 1)[-1].strip().strip("<>")
            if "@" in address:
                return address
    return None


def _original_id(part: Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        found = message_ids(header(payload[0], "Message-ID"))
    else:
        text = part.get_payload(decode=True)
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(payload)
        match = re.search(r"^Message-ID:\s*(<[^<>\s]+>)", raw, re.IGNORECASE | re.MULTILINE)
        found = [match.group(1)] if match else []
    return found[0] if found else None


def _first_token(recipients: list[str], prefix: str) -> str | None:
    for address in recipients:
        token = token_from_address(address, prefix)
        if token:
            return token
    return None


def _derived_id(content: bytes) -> str:
    return f"<{hashlib.sha256(content).hexdigest()[:32]}@inbound.invalid>"


def _load_json(payload: Mapping[str, object] | str | bytes) -> Mapping[str, object]:
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidInboundMail(f"the payload is not JSON: {error}") from None
    if not isinstance(payload, Mapping):
        raise InvalidInboundMail("the payload must be a JSON object")
    return payload


def _raw_bytes(data: Mapping[str, object]) -> bytes:
    raw = data["raw"]
    if not isinstance(raw, str) or not raw:
        raise InvalidInboundMail("'raw' must be the message as a non-empty string")
    encoding = data.get("raw_encoding")
    if encoding is None:
        return raw.encode("utf-8")
    if encoding != "base64":
        raise InvalidInboundMail("'raw_encoding' may only be 'base64'")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInboundMail("'raw' is not valid base64") from None


def _text_field(data: Mapping[str, object], name: str, *, required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInboundMail(f"the payload needs {name!r}")
        return ""
    if not isinstance(value, str):
        raise InvalidInboundMail(f"{name!r} must be a string, got {type(value).__name__}")
    return value


def _address_field(data: Mapping[str, object], name: str, *, required: bool = False) -> list[str]:
    value = data.get(name)
    if value is None or value == "" or value == []:
        if required:
            raise InvalidInboundMail(f"the payload needs {name!r} (the recipient addresses)")
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InvalidInboundMail(f"{name!r} must be a string or a list of strings")
    from email.utils import getaddresses

    return [address for _name, address in getaddresses(items) if "@" in address]


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list) and all(
        isinstance(item, list | tuple) and len(item) == 2 for item in value
    ):
        pairs = [(item[0], item[1]) for item in value]
    else:
        raise InvalidInboundMail("'headers' must be an object or a list of [name, value] pairs")
    result: list[tuple[str, str]] = []
    for name, item in pairs:
        if not isinstance(name, str) or not isinstance(item, str):
            raise InvalidInboundMail("each header's name and value must be strings")
        result.append((name, " ".join(item.split())))
    return tuple(result)
