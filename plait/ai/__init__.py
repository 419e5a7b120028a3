"""plait.ai: model calls as durable, typed, budgeted steps; providers; the offline default.

See docs/ai.md.
"""

from plait.ai import stream
from plait.ai.budget import Price, Prices
from plait.ai.call import ChatResult
from plait.ai.chat import chat
from plait.ai.classifier import Classification, aclassify, classify
from plait.ai.config import ENV as MODEL_ENV
from plait.ai.config import is_offline, resolve_model
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
from plait.ai.fallback import Fallback
from plait.ai.ledger import CostLine, Costs
from plait.ai.model import Embedder, Model
from plait.ai.offline import OfflineEmbedder, OfflineModelError
from plait.ai.retrying import ModelRetry, call_with_retries
from plait.ai.tools import MaxTurnsExceeded, ToolApproval, ToolRun, run_tools
from plait.ai.toolspec import Tool, tool
from plait.ai.types import ChatRequest, ChatResponse, Message, OnToken, ToolCall, ToolSpec, Usage

__all__ = [
    "MODEL_ENV",
    "BudgetExceeded",
    "ChatRequest",
    "ChatResponse",
    "ChatResult",
    "Classification",
    "CostLine",
    "Costs",
    "Embedder",
    "Fallback",
    "MaxTurnsExceeded",
    "Message",
    "Model",
    "ModelAuthError",
    "ModelBadRequest",
    "ModelError",
    "ModelRateLimited",
    "ModelResponseInvalid",
    "ModelRetry",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "OfflineEmbedder",
    "OfflineModelError",
    "OnToken",
    "Price",
    "Prices",
    "Tool",
    "ToolApproval",
    "ToolCall",
    "ToolRun",
    "ToolSpec",
    "Usage",
    "aclassify",
    "call_with_retries",
    "chat",
    "classify",
    "is_offline",
    "resolve_model",
    "run_tools",
    "stream",
    "tool",
]
