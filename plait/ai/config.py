"""Stand-in for prov's model configuration (replaced when the providers branch is merged)."""

from __future__ import annotations

import os

from plait.ai.model import Model
from plait.errors import ConfigurationError

ENV = "PLAIT_MODEL"


def resolve_model(spec: str | Model | None = None) -> Model:
    if spec is not None and not isinstance(spec, str):
        return spec
    text = (os.environ.get(ENV, "") if spec is None else spec).strip()
    raise ConfigurationError(
        f"no chat model is configured: set {ENV} or pass Engine(model=...) ({text!r})"
    )
