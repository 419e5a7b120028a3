"""The errors of the mail components, and which of them a durable step may retry.

::

    MailError                       root; ``retryable`` says whether trying again can help
    ├── MailSendFailed              sending did not happen
    │   ├── MailServerUnavailable   retryable: no connection, timeout, 4xx (try later)
    │   ├── RecipientRefused        permanent: the server refused every recipient (5xx)
    │   ├── MessageRejected         permanent: the server refused the message itself (5xx)
    │   └── SmtpSettingsRejected    permanent: wrong password, no STARTTLS, bad certificate
    ├── InvalidToken                a token's signature, kind or form is wrong (ValueError)
    │   └── TokenExpired            the token was valid but its time is over
    ├── InvalidInboundMail          a webhook payload does not have the documented shape
    └── MailboxUnavailable          retryable: the IMAP server could not be polled

plait retries every ``Exception`` a step raises unless told otherwise, so a step that sends
mail passes :data:`PERMANENT_ERRORS` as ``Retry(non_retryable=...)``: a refused recipient is
then recorded once as the step's failure, while a server that is down is tried again.
"""

from __future__ import annotations

__all__ = [
    "PERMANENT_ERRORS",
    "InvalidInboundMail",
    "InvalidToken",
    "MailError",
    "MailSendFailed",
    "MailServerUnavailable",
    "MailboxUnavailable",
    "MessageRejected",
    "RecipientRefused",
    "SmtpSettingsRejected",
    "TokenExpired",
]


class MailError(Exception):
    """Root of the mail components' errors."""

    retryable: bool = False


class MailSendFailed(MailError):
    """A message was not handed to the SMTP server."""


class MailServerUnavailable(MailSendFailed):
    """The SMTP server could not be reached or asked to try later; retrying may succeed."""

    retryable = True


class RecipientRefused(MailSendFailed):
    """The SMTP server permanently refused every recipient of the message."""

    def __init__(self, message: str, refused: dict[str, str]) -> None:
        super().__init__(message)
        self.refused = refused


class MessageRejected(MailSendFailed):
    """The SMTP server permanently refused the message (size, policy, sender...)."""


class SmtpSettingsRejected(MailSendFailed):
    """The SMTP settings do not work with the server: credentials, STARTTLS, certificate."""


class InvalidToken(MailError, ValueError):
    """A token was altered, made for another purpose or with another secret, or is malformed."""


class TokenExpired(InvalidToken):
    """A token's signature is right but it has expired."""


class InvalidInboundMail(MailError, ValueError):
    """An inbound-mail payload does not have the accepted shape; the message names the field."""


class MailboxUnavailable(MailError):
    """The IMAP mailbox could not be reached, logged into or read; the next poll may work."""

    retryable = True


PERMANENT_ERRORS: tuple[type[MailError], ...] = (
    RecipientRefused,
    MessageRejected,
    SmtpSettingsRejected,
)
