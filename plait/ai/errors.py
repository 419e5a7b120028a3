"""Errors of model calls, classified so the retry loop knows what to retry.

::

    PlaitError
    └── ModelError                  a model call failed (``retryable`` says whether to retry)
        ├── ModelAuthError          the key is missing or refused: fix the key, not retried
        ├── ModelBadRequest         the provider refused the request as malformed: not retried
        ├── ModelRateLimited        429: retried after ``retry_after`` seconds (or backoff)
        ├── ModelServerError        5xx: retried with backoff
        ├── ModelTimeout            no answer in time: retried with backoff
        ├── ModelResponseInvalid    the provider's answer could not be read: retried
        ├── ModelUnavailable        every model (and fallback) failed after its retries
        └── BudgetExceeded          the workflow's budget would be exceeded: nothing sent

Messages never contain an API key.
"""

from __future__ import annotations

from plait.errors import PlaitError


class ModelError(PlaitError):
    """A model call failed. ``model`` is ``provider:model``; ``status`` the HTTP status."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        model: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.status = status
        self.retry_after = retry_after


class ModelAuthError(ModelError):
    """The provider refused the credentials (401/403): set the right key; never retried."""


class ModelBadRequest(ModelError):
    """The provider refused the request (400/404/422): fix the request or model name."""


class ModelRateLimited(ModelError):
    """429 or an overload answer; retried after ``retry_after`` seconds when given."""

    retryable = True


class ModelServerError(ModelError):
    """The provider failed (5xx); retried with backoff."""

    retryable = True


class ModelTimeout(ModelError):
    """No answer within the timeout; retried with backoff."""

    retryable = True


class ModelResponseInvalid(ModelError):
    """The provider's answer was not what its API promises (e.g. malformed JSON); retried."""

    retryable = True


class ModelUnavailable(ModelError):
    """Every model tried (the model and its fallbacks) failed after its retries."""


class BudgetExceeded(ModelError):
    """The call would take the workflow over its budget; nothing was sent."""
