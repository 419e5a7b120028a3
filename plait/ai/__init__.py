"""plait.ai: model calls as durable, typed, budgeted steps; providers; the offline default.

See docs/ai.md.
"""

from plait.ai.errors import (
    BudgetExceeded,
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelResponseInvalid,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
)
from plait.ai.model import Embedder, Model
from plait.ai.offline import OfflineEmbedder, OfflineModelError
from plait.ai.types import ChatRequest, ChatResponse, Message, OnToken, ToolCall, ToolSpec, Usage

__all__ = [
    "BudgetExceeded",
    "ChatRequest",
    "ChatResponse",
    "Embedder",
    "Message",
    "Model",
    "ModelAuthError",
    "ModelBadRequest",
    "ModelError",
    "ModelRateLimited",
    "ModelResponseInvalid",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "OfflineEmbedder",
    "OfflineModelError",
    "OnToken",
    "ToolCall",
    "ToolSpec",
    "Usage",
]
