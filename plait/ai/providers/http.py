"""What the HTTP providers share: keys kept out of sight, one POST, SSE lines, error classes.

Invariants kept here, for every provider built on them:

- An API key lives in a ``Secret``; its ``repr`` and ``str`` never show it, and every message
  built from a provider's answer goes through ``redact`` (providers echo key fragments, e.g.
  "Incorrect API key provided: sk-ab***yz").
- Every failure of a call leaves as a ``ModelError`` subclass chosen by ``classify_status`` or
  ``transport_error``; an ``httpx`` exception (which carries the request and its headers) is
  never chained or kept, so a traceback cannot show an ``Authorization`` header.
- One ``complete`` sends one request, with one client that is closed when the call ends
  (unless the user passed their own ``httpx.AsyncClient``, which they own and close).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from plait.ai.errors import (
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelResponseInvalid,
    ModelServerError,
    ModelTimeout,
)
from plait.frozen import Frozen

JsonObject = dict[str, Any]

DEFAULT_TIMEOUT = 120.0
"""Seconds to wait for an answer (per read while streaming); connecting has its own 10 s."""

_KEYLIKE = re.compile(r"\b(?:sk|key|pk)-[A-Za-z0-9_\-*.]{4,}")


class Secret:
    """An API key that does not show itself: ``repr``/``str`` give ``'***'``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself, for the one header that carries it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def redact(text: str, *secrets: Secret | None) -> str:
    """``text`` without any of ``secrets`` and without anything shaped like an API key."""
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), "***")
    return _KEYLIKE.sub("***", text)


class Endpoint(Frozen):
    """Where and how one provider's requests go (the key is read when a call is made)."""

    url: str
    model: str
    """``provider:model`` as it appears in responses, errors and the ledger."""
    key_env: str
    """The environment variable named in auth errors (e.g. ``OPENAI_API_KEY``)."""
    timeout: float = DEFAULT_TIMEOUT


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_message(body: bytes | str) -> str:
    """The provider's own words from an error body (OpenAI, Anthropic, Ollama shapes), short."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("type")
            if message:
                return str(message)[:500]
        elif isinstance(error, str):
            return error[:500]
        detail = data.get("detail") or data.get("message")
        if detail:
            return str(detail)[:500]
    return text.strip()[:500]


def classify_status(
    status: int,
    message: str,
    headers: Mapping[str, str],
    endpoint: Endpoint,
    secret: Secret | None = None,
) -> ModelError:
    """The ``ModelError`` for an HTTP error answer (429, 5xx/529, 401/403, other 4xx)."""
    said = redact(message, secret) or f"HTTP {status}"
    model = endpoint.model
    if status in (401, 403):
        return ModelAuthError(
            f"{model} refused the API key (HTTP {status}: {said}); "
            f"check {endpoint.key_env} (it must hold a valid key for {endpoint.url})",
            model=model,
            status=status,
        )
    if status == 429:
        return ModelRateLimited(
            f"{model} is rate limited (HTTP 429: {said})",
            model=model,
            status=status,
            retry_after=parse_retry_after(headers),
        )
    if status >= 500 or status == 408:
        return ModelServerError(
            f"{model} failed (HTTP {status}: {said})",
            model=model,
            status=status,
            retry_after=parse_retry_after(headers),
        )
    return ModelBadRequest(
        f"{model} refused the request (HTTP {status}: {said})", model=model, status=status
    )


def transport_error(exc: httpx.HTTPError, endpoint: Endpoint) -> ModelError:
    """Timeouts → ``ModelTimeout``; refused or dropped connections → ``ModelServerError``."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return ModelTimeout(
            f"{endpoint.model} did not answer within {endpoint.timeout:g} s ({kind})",
            model=endpoint.model,
        )
    if isinstance(exc, httpx.ConnectError):
        return ModelServerError(
            f"{endpoint.model}: cannot connect to {endpoint.url} ({kind}); is the server running?",
            model=endpoint.model,
        )
    return ModelServerError(
        f"{endpoint.model}: the connection to {endpoint.url} failed ({kind})",
        model=endpoint.model,
    )


def invalid(endpoint: Endpoint, what: str) -> ModelResponseInvalid:
    return ModelResponseInvalid(f"{endpoint.model} answered {what}", model=endpoint.model)


def _timeout(endpoint: Endpoint) -> httpx.Timeout:
    return httpx.Timeout(endpoint.timeout, connect=min(10.0, endpoint.timeout))


@asynccontextmanager
async def _client(client: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient() as own:
        yield own


async def post_json(
    endpoint: Endpoint,
    headers: Mapping[str, str],
    payload: JsonObject,
    *,
    secret: Secret | None = None,
    params: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
) -> JsonObject:
    """POST ``payload`` and return the JSON object answered, or raise the classified error."""
    try:
        async with _client(client) as http:
            response = await http.post(
                endpoint.url,
                json=payload,
                headers=dict(headers),
                params=params,
                timeout=_timeout(endpoint),
            )
            body = response.content
    except httpx.HTTPError as exc:
        raise transport_error(exc, endpoint) from None
    if response.status_code >= 400:
        raise classify_status(
            response.status_code, error_message(body), response.headers, endpoint, secret
        )
    try:
        data = json.loads(body)
    except ValueError:
        raise invalid(endpoint, f"malformed JSON ({body[:80]!r})") from None
    if not isinstance(data, dict):
        raise invalid(endpoint, f"JSON that is not an object ({type(data).__name__})")
    return data


async def post_sse(
    endpoint: Endpoint,
    headers: Mapping[str, str],
    payload: JsonObject,
    *,
    secret: Secret | None = None,
    params: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
) -> AsyncGenerator[tuple[str, str], None]:
    """POST ``payload`` and yield each server-sent event as ``(event, data)``.

    An error status raises its classified error before anything is yielded; a broken or timed
    out stream raises ``ModelTimeout``/``ModelServerError`` where it breaks.
    """
    try:
        async with (
            _client(client) as http,
            http.stream(
                "POST",
                endpoint.url,
                json=payload,
                headers=dict(headers),
                params=params,
                timeout=_timeout(endpoint),
            ) as response,
        ):
            if response.status_code >= 400:
                body = await response.aread()
                raise classify_status(
                    response.status_code, error_message(body), response.headers, endpoint, secret
                )
            event = "message"
            data: list[str] = []
            async for line in response.aiter_lines():
                if not line:
                    if data:
                        yield event, "\n".join(data)
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
            if data:
                yield event, "\n".join(data)
    except httpx.HTTPError as exc:
        raise transport_error(exc, endpoint) from None


def load_event(endpoint: Endpoint, data: str) -> JsonObject:
    """One SSE ``data`` field as a JSON object, or ``ModelResponseInvalid``."""
    try:
        value = json.loads(data)
    except ValueError:
        raise invalid(endpoint, f"a malformed stream event ({data[:80]!r})") from None
    if not isinstance(value, dict):
        raise invalid(endpoint, "a stream event that is not a JSON object")
    return value


def parse_arguments(endpoint: Endpoint, name: str, raw: object) -> dict[str, Any]:
    """A tool call's arguments (a JSON string or an object) as a dict."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            raise invalid(endpoint, f"tool call {name!r} with malformed JSON arguments") from None
        if isinstance(value, dict):
            return value
    raise invalid(endpoint, f"tool call {name!r} whose arguments are not a JSON object")


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
