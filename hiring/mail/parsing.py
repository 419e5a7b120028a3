"""Reading RFC 822 messages: headers normalised, the readable body, attachments.

Shared by :mod:`hiring.mail.view` (what the demo mailbox shows) and
:mod:`hiring.mail.inbound` (what a reply says).

Invariants:
- Parsing never raises on malformed mail: the stdlib parser records defects and carries on;
  what cannot be decoded is replaced, not dropped silently into an exception.
- Header values are unfolded and stripped (the stdlib can leave a leading space, which made
  Message-ID comparisons fail); Message-IDs keep their angle brackets.
- The body is the first ``text/plain`` part that is not an attachment, else the first
  ``text/html`` turned into text.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

__all__ = [
    "addresses",
    "body_text",
    "header",
    "html_to_text",
    "message_ids",
    "parse_bytes",
]

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def parse_bytes(raw: bytes) -> EmailMessage:
    """The message in ``raw`` (RFC 822 bytes) with the modern e-mail policy."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def header(message: Message, name: str) -> str:
    """The header's value unfolded and stripped, or ``""`` when absent or unreadable."""
    try:
        value = message.get(name)
    except Exception:  # a header whose value the policy cannot parse at all
        return ""
    if value is None:
        return ""
    return " ".join(str(value).split())


def addresses(message: Message, *names: str) -> list[str]:
    """The bare e-mail addresses in the named headers, in order, without duplicates."""
    values: list[str] = []
    for name in names:
        try:
            values.extend(str(value) for value in message.get_all(name, []))
        except Exception:
            continue
    found: list[str] = []
    for _display, address in getaddresses(values):
        if address and "@" in address and address not in found:
            found.append(address)
    return found


def message_ids(value: str) -> list[str]:
    """The ``<...>`` Message-IDs in a header value, in order."""
    return _MESSAGE_ID.findall(value)


def body_text(message: Message) -> tuple[str, str | None]:
    """The readable text of the message and its HTML body, if any.

    The text is the first inline ``text/plain`` part; without one, the HTML turned into text.
    """
    plain: str | None = None
    html: str | None = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "message/rfc822" or kind.startswith("message/"):
            continue
        if kind == "text/plain" and plain is None:
            plain = _decoded(part)
        elif kind == "text/html" and html is None:
            html = _decoded(part)
    if plain is None:
        plain = html_to_text(html) if html is not None else ""
    return plain.replace("\r\n", "\n"), html


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", errors="replace")


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.quote_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        if tag == "blockquote":
            self.quote_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.quote_depth:
            # Keep quoted history recognisable as quoted, so reply stripping removes it.
            data = "\n".join("> " + line for line in data.splitlines() if line.strip())
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text from an HTML body: block elements become line breaks, quotes ``>``."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts)
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
