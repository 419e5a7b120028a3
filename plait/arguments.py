"""Checking a workflow's arguments before it is started.

``encode_arguments`` is the gate between ``engine.start`` (and ``ctx.start_child``) and the
store. Invariant: a workflow is stored only with arguments that bind to its signature, encode
as JSON, and decode again as each parameter's annotation exactly as the worker decodes them
when it runs the workflow. So a workflow that starts can run, and a bad argument is the
caller's error (naming the workflow, the parameter and what was wrong) at the call, with
nothing written, instead of a workflow parked ``blocked`` later. Unannotated parameters take
any JSON-encodable value.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from plait.codec import Codec, type_name
from plait.definitions import WorkflowDef
from plait.errors import InvalidArguments

SHOWN_CHARS = 80  # how much of a bad value a message shows


def encode_arguments(codec: Codec, wf: WorkflowDef[..., Any], args: tuple[Any, ...]) -> str:
    """The plaintext JSON of ``args`` for ``wf``. Raises :class:`InvalidArguments` when they
    do not fit its parameters, :class:`SerializationError` when one cannot be encoded."""
    signature = _signature(wf)
    try:
        wf.signature.bind(*args)
    except TypeError as exc:
        raise InvalidArguments(
            f"bad arguments for workflow {wf.name!r}: {exc}; expected {signature}"
        ) from None
    plain = codec.dumps(list(args), what=f"the arguments of workflow {wf.name!r}")
    params = list(wf.signature.parameters.values())
    types = wf.param_types
    if len(args) > len(params):
        # Only through *args: the worker decodes one stored value per parameter.
        raise InvalidArguments(
            f"bad arguments for workflow {wf.name!r}: {len(args)} values for "
            f"{len(params)} parameters; plait passes one value per parameter, so give "
            f"*{params[-1].name} at most one value (or make it a list); expected {signature}"
        )
    if all(t is Any for t in types[: len(args)]):
        return plain  # nothing to check: skip decoding the arguments again
    for arg, stored, param, annotation in zip(args, json.loads(plain), params, types, strict=False):
        misfits = codec.misfits(json.dumps(stored), annotation)
        if misfits:
            raise InvalidArguments(_message(wf, param, annotation, arg, misfits))
    return plain


def _message(
    wf: WorkflowDef[..., Any],
    param: inspect.Parameter,
    annotation: Any,
    value: object,
    misfits: list[tuple[str, str]],
) -> str:
    shown = repr(value)
    if len(shown) > SHOWN_CHARS:
        shown = shown[: SHOWN_CHARS - 3] + "..."
    why = "; ".join(f"{where}: {reason}" if where else reason for where, reason in misfits)
    return (
        f"workflow {wf.name!r}: argument {param.name!r} expects {type_name(annotation)}, "
        f"got {shown} ({why}); nothing was started"
    )


def _signature(wf: WorkflowDef[..., Any]) -> str:
    """``add(x: int, y: int = 2)``: the parameters with their resolved annotations."""
    parts: list[str] = []
    star = False
    for param, annotation in zip(wf.signature.parameters.values(), wf.param_types, strict=True):
        text = param.name
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            text, star = f"*{text}", True
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            text = f"**{text}"
        elif param.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if annotation is not Any:
            text += f": {type_name(annotation)}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    return f"{wf.name}({', '.join(parts)})"
