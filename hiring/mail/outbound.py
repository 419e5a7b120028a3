"""Outgoing mail: compose outreach, follow-ups, declines and invites, and send them by SMTP.

:func:`compose` builds an :class:`email.message.EmailMessage` from a :class:`Draft`;
:func:`send` hands it to an SMTP server with ``aiosmtplib``.

Invariants:
- The ``Message-ID`` is a keyed hash of the draft's idempotency key and the sender's secret,
  at the From address's domain: composing the same draft again (a step retried after a
  crash) gives the same Message-ID, so a second copy is recognisable as the same message;
  without the secret nobody can forge an id that matches a reply to our thread.
- ``Reply-To`` is ``reply+<token>@<reply domain>``, the token signed for the draft's
  ``recipient_id`` (kind ``"reply"``); every message carries RFC 8058 one-click unsubscribe
  headers (mailto and https, token of kind ``"unsubscribe"``) and a visible unsubscribe line.
- The GDPR Art. 14 notice is appended (text and HTML) exactly when the draft says it is the
  first message to that person; composing a first message without a notice is refused.
- A follow-up sets ``In-Reply-To`` (the last message) and ``References`` (the whole thread)
  so mail clients show it in the same conversation.
- :func:`send` raises :class:`~hiring.mail.errors.RecipientRefused`,
  :class:`~hiring.mail.errors.MessageRejected` or
  :class:`~hiring.mail.errors.SmtpSettingsRejected` for what will fail again (permanent), and
  :class:`~hiring.mail.errors.MailServerUnavailable` for what may work later (retryable).
"""

from __future__ import annotations

import copy as copy_module
import dataclasses
import email.policy
import html
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses
from enum import StrEnum

from hiring.mail.errors import (
    MailServerUnavailable,
    MessageRejected,
    RecipientRefused,
    SmtpSettingsRejected,
)
from hiring.mail.tokens import keyed_id, make_token, reply_address

__all__ = [
    "DEFAULT_NOTICE",
    "Draft",
    "MessageKind",
    "PrivacyNotice",
    "SendResult",
    "Sender",
    "SmtpSecurity",
    "SmtpSettings",
    "compose",
    "message_id_for",
    "send",
    "to_bytes",
]

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$|^[^@\s<>,;\"]+@localhost$")


# Headers are folded at 998 (RFC 5322's hard limit), not 78: the stdlib would otherwise turn a
# long List-Unsubscribe value into RFC 2047 encoded words, which mail clients do not decode
# in that header. Bodies are already encoded at 76 by then and are not affected.
_WIRE = email.policy.SMTP.clone(max_line_length=998)


def to_bytes(message: EmailMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends, long headers kept whole)."""
    return message.as_bytes(policy=_WIRE)


class MessageKind(StrEnum):
    """Why a message is sent; a follow-up must name the thread it continues."""

    OUTREACH = "outreach"
    FOLLOW_UP = "follow_up"
    DECLINE = "decline"
    INVITE = "invite"


@dataclasses.dataclass(frozen=True)
class Sender:
    """Who sends, where replies and unsubscribes go.

    ``unsubscribe_url`` is the https base of the one-click link (the token is appended as a
    path segment); ``unsubscribe_address`` the mailto target, by default
    ``unsubscribe+<token>@<reply_domain>``.
    """

    name: str
    address: str
    reply_domain: str
    unsubscribe_url: str
    unsubscribe_address: str | None = None

    def __post_init__(self) -> None:
        _check_address(self.address, "Sender.address")
        _check_header_text(self.name, "Sender.name")
        if not re.match(r"^[A-Za-z0-9.-]+$", self.reply_domain):
            raise ValueError(f"Sender.reply_domain {self.reply_domain!r} is not a domain name")
        if not self.unsubscribe_url.startswith(("https://", "http://")):
            raise ValueError(
                f"Sender.unsubscribe_url {self.unsubscribe_url!r} must be an https:// URL "
                "(RFC 8058 one-click unsubscribe needs one; http:// only for a local demo)"
            )
        if self.unsubscribe_address is not None:
            _check_address(self.unsubscribe_address, "Sender.unsubscribe_address")

    @property
    def domain(self) -> str:
        """The From address's domain (the right part of every Message-ID)."""
        return self.address.rpartition("@")[2].lower()


DEFAULT_NOTICE = """\
Why you are hearing from us: {controller} is contacting you about a job opening. We found \
your professional details through {source}, and we process them ({purpose}) on the basis of \
{legal_basis}. We keep them {retention}.

You may ask us at any time for a copy of your data, to correct or erase it, or to restrict \
its use, and you may complain to a data protection authority. You may object to our use of \
your data at any time: reply "unsubscribe" or use {objection_url} and we will stop \
contacting you and delete your data. Privacy questions: {contact}."""


@dataclasses.dataclass(frozen=True)
class PrivacyNotice:
    """The GDPR Art. 14 information given in the first message to a sourced candidate.

    ``template`` is a :meth:`str.format` text using ``{controller}``, ``{contact}``,
    ``{purpose}``, ``{legal_basis}``, ``{retention}``, ``{source}`` and ``{objection_url}``;
    a template naming anything else is refused when the notice is created.
    """

    controller: str
    contact: str
    purpose: str = "to consider you for this role"
    legal_basis: str = "our legitimate interest in recruiting (Art. 6(1)(f) GDPR)"
    retention: str = "until this hiring process ends and at most six months after it"
    template: str = DEFAULT_NOTICE

    def __post_init__(self) -> None:
        try:
            self.render(source="a source", objection_url="https://example.invalid/u")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"PrivacyNotice.template cannot be filled in ({error!r}); it may use only "
                "{controller}, {contact}, {purpose}, {legal_basis}, {retention}, {source} and "
                "{objection_url} (write {{ and }} for literal braces)"
            ) from None

    def render(self, *, source: str, objection_url: str) -> str:
        """The notice for one person, naming where their data came from."""
        return self.template.format(
            controller=self.controller,
            contact=self.contact,
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            retention=self.retention,
            source=source,
            objection_url=objection_url,
        )


@dataclasses.dataclass(frozen=True)
class Draft:
    """One message to one person, as approved, before it is composed.

    ``recipient_id`` is what the reply and unsubscribe tokens stand for (keep it short, e.g.
    an application id: the reply address may not exceed 64 characters before the ``@``).
    ``thread`` lists the Message-IDs already sent in this conversation, oldest first.
    ``calendar`` is an iCalendar file (``METHOD:REQUEST`` or ``CANCEL``) to attach.
    ``date`` defaults to now; pass the workflow's time for a reproducible message.
    """

    kind: MessageKind
    to: str
    subject: str
    text: str
    idempotency_key: str
    recipient_id: str
    to_name: str | None = None
    html: str | None = None
    first_message: bool = False
    data_source: str | None = None
    thread: tuple[str, ...] = ()
    calendar: bytes | None = None
    date: datetime | None = None

    def __post_init__(self) -> None:
        _check_address(self.to, "Draft.to")
        _check_header_text(self.subject, "Draft.subject")
        if self.to_name is not None:
            _check_header_text(self.to_name, "Draft.to_name")
        if not self.idempotency_key:
            raise ValueError("Draft.idempotency_key must not be empty")
        if isinstance(self.thread, list):
            object.__setattr__(self, "thread", tuple(self.thread))
        if self.kind is MessageKind.FOLLOW_UP and not self.thread:
            raise ValueError(
                "a follow-up continues a thread: pass the Message-IDs sent before as thread="
            )
        if self.kind is MessageKind.INVITE and self.calendar is None:
            raise ValueError("an invite needs its iCalendar file as calendar=")
        if self.date is not None and self.date.tzinfo is None:
            raise ValueError("Draft.date must be timezone-aware")


def message_id_for(idempotency_key: str, sender: Sender, secret: str | bytes) -> str:
    """The Message-ID a draft with this idempotency key gets (``<id@sender-domain>``)."""
    return f"<{keyed_id('message-id', idempotency_key, secret)}@{sender.domain}>"


def compose(
    draft: Draft,
    sender: Sender,
    secret: str | bytes,
    notice: PrivacyNotice | None = None,
) -> EmailMessage:
    """The e-mail for ``draft``: headers, plain text and HTML, and the invite if any."""
    if draft.first_message and notice is None:
        raise ValueError(
            "the first message to a person must carry the privacy notice (GDPR Art. 14): "
            "pass notice=PrivacyNotice(...)"
        )
    if draft.first_message and not draft.data_source:
        raise ValueError(
            "the privacy notice must say where the person's data came from: pass "
            "Draft(data_source='your public GitHub profile', ...)"
        )
    reply_token = make_token("reply", draft.recipient_id, secret)
    unsubscribe_token = make_token("unsubscribe", draft.recipient_id, secret)
    unsubscribe_url = f"{sender.unsubscribe_url.rstrip('/')}/{unsubscribe_token}"
    unsubscribe_mailto = sender.unsubscribe_address or reply_address(
        unsubscribe_token, sender.reply_domain, prefix="unsubscribe"
    )

    message = EmailMessage()
    message["From"] = formataddr((sender.name, sender.address))
    message["To"] = formataddr((draft.to_name or "", draft.to))
    message["Subject"] = _subject(draft)
    message["Date"] = format_datetime(draft.date or datetime.now(UTC))
    message["Message-ID"] = message_id_for(draft.idempotency_key, sender, secret)
    message["Reply-To"] = reply_address(reply_token, sender.reply_domain)
    if draft.thread:
        message["In-Reply-To"] = draft.thread[-1]
        message["References"] = " ".join(draft.thread)
    message["List-Unsubscribe"] = (
        f"<mailto:{unsubscribe_mailto}?subject=unsubscribe>, <{unsubscribe_url}>"
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    footer = f"Not interested in hearing from us? Unsubscribe: {unsubscribe_url}"
    notice_text = (
        notice.render(source=draft.data_source or "", objection_url=unsubscribe_url)
        if draft.first_message and notice is not None
        else None
    )
    text = "\n\n".join(
        part for part in (draft.text.rstrip(), "-- ", notice_text, footer) if part is not None
    )
    message.set_content(text + "\n")
    body_html = draft.html if draft.html is not None else _text_to_html(draft.text)
    small = ' style="font-size:small;color:#555"'
    extra = "".join(
        f"<p{small}>{_text_to_html_inline(part)}</p>"
        for part in (notice_text, footer)
        if part is not None
    )
    message.add_alternative(
        f"<!doctype html><html><body>{body_html}<hr>{extra}</body></html>\n", subtype="html"
    )
    if draft.calendar is not None:
        _attach_calendar(message, draft.calendar)
    return message


def _subject(draft: Draft) -> str:
    if draft.kind is MessageKind.FOLLOW_UP and not draft.subject.lower().startswith("re:"):
        return f"Re: {draft.subject}"
    return draft.subject


def _attach_calendar(message: EmailMessage, calendar: bytes) -> None:
    found = re.search(rb"^METHOD:([A-Za-z-]+)\r?$", calendar, re.M)
    if not found or b"BEGIN:VCALENDAR" not in calendar:
        raise ValueError("Draft.calendar must be an iCalendar file with a METHOD (e.g. REQUEST)")
    method = found.group(1).decode().upper()
    # iMIP (RFC 6047): clients offer accept/decline for a text/calendar alternative; the
    # attached copy lets people add it to any calendar by hand.
    message.add_alternative(
        calendar, maintype="text", subtype="calendar", params={"method": method, "charset": "utf-8"}
    )
    message.add_attachment(calendar, maintype="application", subtype="ics", filename="invite.ics")


_URL = re.compile(r"(https?://[^\s<>\"]*[^\s<>\".,;:!?)])")


def _text_to_html_inline(text: str) -> str:
    escaped = html.escape(text)
    return _URL.sub(r'<a href="\1">\1</a>', escaped).replace("\n", "<br>")


def _text_to_html(text: str) -> str:
    paragraphs = [part for part in re.split(r"\n\s*\n", text.strip()) if part.strip()]
    return "".join(f"<p>{_text_to_html_inline(part)}</p>" for part in paragraphs)


def _check_address(address: str, what: str) -> None:
    if not _ADDRESS.match(address):
        raise ValueError(f"{what} {address!r} is not a plain e-mail address (name@domain)")


def _check_header_text(text: str, what: str) -> None:
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} must be one line (no line breaks)")


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected."""

    STARTTLS = "starttls"  # plain connect, then STARTTLS (required); usually port 587
    SSL = "ssl"  # TLS from the first byte; usually port 465
    NONE = "none"  # no TLS: only for a local relay or the dev server


@dataclasses.dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail."""

    host: str
    port: int = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    validate_certs: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", SmtpSecurity(self.security))
        if not 0 < self.port < 65536:
            raise ValueError(f"SmtpSettings.port must be 1..65535, got {self.port}")
        if (self.username is None) != (self.password is None):
            raise ValueError("SmtpSettings: give both username and password, or neither")
        if self.timeout <= 0:
            raise ValueError("SmtpSettings.timeout must be positive (seconds)")

    def __repr__(self) -> str:  # never print the password
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security.value!r}, "
            f"username={self.username!r})"
        )


@dataclasses.dataclass(frozen=True)
class SendResult:
    """What the SMTP server accepted; ``refused`` maps each refused recipient to the reason."""

    message_id: str
    accepted: tuple[str, ...]
    refused: Mapping[str, str]
    response: str


async def send(
    message: EmailMessage, smtp: SmtpSettings, *, envelope_from: str | None = None
) -> SendResult:
    """Hand ``message`` to the SMTP server; raise a permanent or retryable error if it fails.

    ``envelope_from`` (the bounce address) defaults to the From header's address. When some
    but not all recipients are refused, the message went to the others: the result lists the
    refused ones instead of raising.
    """
    import aiosmtplib

    message_id = str(message.get("Message-ID", "")).strip()
    where = f"{smtp.host}:{smtp.port}"
    recipients = _recipients(message)
    sender = envelope_from or _first_address(message, "From")
    if not recipients or not sender:
        raise ValueError("the message needs a From and at least one To, Cc or Bcc address")
    raw = to_bytes(_without_bcc(message))
    try:
        refused, response = await aiosmtplib.send(
            raw,
            sender=sender,
            recipients=recipients,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.security is SmtpSecurity.SSL,
            start_tls=smtp.security is SmtpSecurity.STARTTLS,
            validate_certs=smtp.validate_certs,
            timeout=smtp.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        reasons = {item.recipient: f"{item.code} {item.message}" for item in error.recipients}
        if all(item.code >= 500 for item in error.recipients):
            raise RecipientRefused(
                f"{where} refused every recipient: {_describe(reasons)}", reasons
            ) from None
        raise MailServerUnavailable(
            f"{where} asked to try the recipients later: {_describe(reasons)}"
        ) from None
    except aiosmtplib.SMTPAuthenticationError as error:
        raise SmtpSettingsRejected(
            f"{where} did not accept the user name and password ({error.code} {error.message}); "
            "check SmtpSettings.username/password"
        ) from None
    except aiosmtplib.SMTPNotSupported as error:
        raise SmtpSettingsRejected(
            f"{where} does not support what the settings ask for ({error}); check "
            "SmtpSettings.security (starttls, ssl or none) and the port"
        ) from None
    except ssl.SSLCertVerificationError as error:
        raise SmtpSettingsRejected(
            f"{where}'s TLS certificate was not accepted ({error.verify_message}); fix the "
            "server's certificate or, for a test server only, set validate_certs=False"
        ) from None
    except aiosmtplib.SMTPResponseException as error:
        what = f"{where} answered {error.code} {error.message}"
        if error.code >= 500:
            raise MessageRejected(f"{what}: the message was not accepted") from None
        raise MailServerUnavailable(f"{what}: try again later") from None
    except (aiosmtplib.SMTPException, OSError) as error:
        # aiosmtplib reports a missing STARTTLS or AUTH extension as a bare SMTPException.
        if type(error) is aiosmtplib.SMTPException and "not supported" in str(error):
            raise SmtpSettingsRejected(
                f"{where}: {error} Check SmtpSettings.security (starttls, ssl or none), the "
                "port, and whether this server takes a user name and password"
            ) from None
        raise MailServerUnavailable(
            f"could not send through {where}: {type(error).__name__}: {error}"
        ) from None
    reasons = {address: f"{reply.code} {reply.message}" for address, reply in refused.items()}
    accepted = tuple(address for address in recipients if address not in reasons)
    return SendResult(message_id=message_id, accepted=accepted, refused=reasons, response=response)


def _recipients(message: EmailMessage) -> list[str]:
    values = [str(value) for field in ("To", "Cc", "Bcc") for value in message.get_all(field, [])]
    return [address for _name, address in getaddresses(values) if address]


def _first_address(message: EmailMessage, field: str) -> str | None:
    found = [address for _name, address in getaddresses(message.get_all(field, [])) if address]
    return found[0] if found else None


def _without_bcc(message: EmailMessage) -> EmailMessage:
    if "Bcc" not in message:
        return message
    copy = copy_module.deepcopy(message)
    del copy["Bcc"]
    return copy


def _describe(reasons: Mapping[str, str]) -> str:
    return "; ".join(f"{address}: {reason}" for address, reason in reasons.items())
