"""Which chat model a process uses, from a URL-like setting (``PLAIT_MODEL``).

::

    openai:gpt-4o-mini                          OPENAI_API_KEY, OPENAI_BASE_URL (optional)
    openai:qwen2.5@http://127.0.0.1:8000/v1     any OpenAI-compatible server (vLLM, llama.cpp,
                                                LM Studio); PLAIT_MODEL_API_KEY sent when set
    ollama:qwen2.5                              Ollama at http://127.0.0.1:11434 (or @URL, or
                                                OLLAMA_HOST), through its OpenAI-compatible /v1;
                                                PLAIT_MODEL_API_KEY sent when set
    azure:DEPLOYMENT@https://RES.openai.azure.com
                                                AZURE_OPENAI_API_KEY; endpoint also from
                                                AZURE_OPENAI_ENDPOINT; AZURE_OPENAI_API_VERSION
    anthropic:claude-sonnet-4-5                 ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL (optional)
    openai:gpt-4o-mini,ollama:qwen2.5           a Fallback: the first, then the next

``offline`` names no chat model: it selects the offline implementations of an application's
AI tasks (embeddings and rules), so ``resolve_model("offline")`` raises a
``ConfigurationError`` that says so, and ``is_offline()`` lets an application choose.
Keys are read from the environment when a call is made, never stored in a spec or a name, and
a key goes only where it belongs: ``OPENAI_API_KEY`` to OpenAI (or ``OPENAI_BASE_URL``), never
to a server named by ``@URL``, which gets ``PLAIT_MODEL_API_KEY`` when that is set.
"""

from __future__ import annotations

import os

from plait.ai.fallback import Fallback
from plait.ai.model import Model
from plait.errors import ConfigurationError

ENV = "PLAIT_MODEL"
OFFLINE = "offline"
PROVIDERS = ("openai", "ollama", "azure", "anthropic")
OLLAMA_URL = "http://127.0.0.1:11434"
AZURE_API_VERSION = "2024-10-21"
SERVER_KEY_ENV = "PLAIT_MODEL_API_KEY"
"""The key sent to a server named by ``@URL`` or to Ollama (never ``OPENAI_API_KEY``)."""

_EXAMPLE = (
    "e.g. PLAIT_MODEL=openai:gpt-4o-mini or PLAIT_MODEL=ollama:qwen2.5@http://127.0.0.1:11434"
)


def resolve_model(spec: str | Model | None = None) -> Model:
    """The chat model ``spec`` names (or ``PLAIT_MODEL`` when None); a Model passes through."""
    if isinstance(spec, Model):
        return spec
    if spec is not None and not isinstance(spec, str):
        raise ConfigurationError(
            f"a model must be a spec like 'openai:gpt-4o-mini' or a plait.ai.Model, "
            f"not {type(spec).__name__}"
        )
    text = (os.environ.get(ENV, "") if spec is None else spec).strip()
    if not text:
        raise ConfigurationError(
            f"no chat model is configured: set {ENV} ({_EXAMPLE}) or pass Engine(model=...)"
        )
    parts = [part.strip() for part in text.split(",")]
    if any(not part for part in parts):
        raise ConfigurationError(f"{ENV}={text!r} has an empty entry between commas")
    models = [_one(part) for part in parts]
    return models[0] if len(models) == 1 else Fallback(*models)


def is_offline(spec: str | Model | None = None) -> bool:
    """Whether ``spec`` (or ``PLAIT_MODEL``) selects the offline implementations (no chat)."""
    if spec is not None and not isinstance(spec, str):
        return False
    text = os.environ.get(ENV, "") if spec is None else spec
    return text.strip().lower() == OFFLINE


def _one(spec: str) -> Model:
    if spec.lower() == OFFLINE:
        raise ConfigurationError(
            f"{ENV}=offline has no chat model: offline, plait has embeddings "
            "(plait.ai.OfflineEmbedder) and rules, and an application's AI tasks use their "
            f"offline implementations; to chat, set {ENV} to a model ({_EXAMPLE})"
        )
    provider, colon, rest = spec.partition(":")
    provider = provider.strip().lower()
    if not colon or provider not in PROVIDERS:
        known = ", ".join(f"{p}:" for p in PROVIDERS)
        raise ConfigurationError(
            f"unknown model {spec!r}: start it with a provider ({known}) or use '{OFFLINE}'; "
            f"{_EXAMPLE}"
        )
    model, url = _split_url(spec, rest)
    try:
        from plait.ai.providers.anthropic import ANTHROPIC_URL, AnthropicModel
        from plait.ai.providers.openai import OPENAI_URL, OpenAIModel
    except ImportError as exc:
        raise ConfigurationError(
            f"{spec!r} needs the model providers' HTTP client ({exc.name}): pip install 'plait[ai]'"
        ) from None
    if provider == "openai" and url:
        return OpenAIModel(model, base_url=url, key_env=SERVER_KEY_ENV)
    if provider == "openai":
        base = os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
        return OpenAIModel(model, base_url=base)
    if provider == "ollama":
        root = (url or os.environ.get("OLLAMA_HOST") or OLLAMA_URL).rstrip("/")
        if "://" not in root:
            root = f"http://{root}"
        base = root if root.endswith("/v1") else f"{root}/v1"
        return OpenAIModel(model, base_url=base, provider="ollama", key_env=SERVER_KEY_ENV)
    if provider == "azure":
        endpoint = url or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise ConfigurationError(
                f"{spec!r} needs the Azure endpoint: azure:DEPLOYMENT@https://RESOURCE"
                ".openai.azure.com, or set AZURE_OPENAI_ENDPOINT"
            )
        version = (
            os.environ.get("AZURE_OPENAI_API_VERSION")
            or os.environ.get("OPENAI_API_VERSION")
            or AZURE_API_VERSION
        )
        return OpenAIModel.azure(model, endpoint=endpoint, api_version=version)
    base = url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_URL
    return AnthropicModel(model, base_url=base)


def _split_url(spec: str, rest: str) -> tuple[str, str | None]:
    model, at, url = rest.rpartition("@")
    if not at:
        model, url = rest, ""
    model, url = model.strip(), url.strip()
    if not model:
        raise ConfigurationError(f"{spec!r} names no model: write provider:model, {_EXAMPLE}")
    if at and not url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"{spec!r}: what follows '@' must be a URL starting with http:// or https://"
        )
    return model, url or None
