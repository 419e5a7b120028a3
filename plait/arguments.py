"""A workflow's arguments: checked and encoded when it starts, decoded when it runs.

``encode_arguments`` is the gate between ``engine.start`` (and ``ctx.start_child``) and the
store; ``decode_arguments`` is how the worker reads them back. Invariant: a workflow is
stored only with arguments that bind to its signature, encode as JSON, and decode again as
each parameter's annotation exactly as ``decode_arguments`` will decode them. So a workflow
that starts can run (until its code changes), and a bad argument is the caller's error
(naming the workflow, the parameter and what was wrong) at the call, with nothing written,
instead of a workflow parked ``blocked`` later. Unannotated parameters take any
JSON-encodable value.
"""

from __future__ import annotations

import inspect
import json
import weakref
from typing import Any

from plait.codec import Codec, type_name
from plait.definitions import WorkflowDef
from plait.errors import InvalidArguments, SerializationError

SHOWN_CHARS = 80  # how much of a bad value a message shows

# Exact types whose values always decode as themselves from the JSON ``json.dumps`` writes
# for them, so checking them through pydantic cannot fail and is skipped: ``int`` (any
# size; not ``bool``, whose type is not ``int``), ``bool``, ``float`` (also nan and inf) and
# ASCII ``str`` (a lone surrogate is written as an escape pydantic refuses, so other
# strings are checked).
_NATIVE = frozenset({int, bool, float, str})


class _Parameters:
    """What ``wf``'s arguments are checked against, worked out once per definition (the
    check runs at every start of a burst)."""

    __slots__ = ("given", "hi", "lo", "params", "plain", "shapes", "types", "what")

    def __init__(self, wf: WorkflowDef[..., Any]) -> None:
        params = tuple(wf.signature.parameters.values())
        self.params = params
        self.types = tuple(wf.param_types)
        self.given = tuple(_decoded_as(t) for t in self.types)
        kinds = {p.kind for p in params}
        # Only positional values are passed, so without *args or required keyword-only
        # parameters ``signature.bind`` succeeds exactly for lo <= len(args) <= hi.
        self.plain = inspect.Parameter.VAR_POSITIONAL not in kinds and not any(
            p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
            for p in params
        )
        positional = [
            p
            for p in params
            if p.kind
            in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        self.hi = len(positional)
        self.lo = sum(1 for p in positional if p.default is inspect.Parameter.empty)
        self.shapes: dict[int, Any] = {}  # number of values -> what they are validated as
        self.what = f"the arguments of workflow {wf.name!r}"

    def binds(self, wf: WorkflowDef[..., Any], n: int, values: tuple[Any, ...] | list[Any]) -> None:
        """Raises ``TypeError`` (from ``signature.bind``) unless ``n`` values fit."""
        if not (self.plain and self.lo <= n <= self.hi):
            wf.signature.bind(*values)

    def shape(self, n: int) -> Any:
        """``tuple[...]`` of the first ``n`` parameters' types, or ``None``: nothing to check."""
        try:
            return self.shapes[n]
        except KeyError:
            given = self.given[:n]
            shape = None if all(t is Any for t in given) else tuple[given]  # type: ignore[valid-type]
            self.shapes[n] = shape
            return shape


_parameters: weakref.WeakKeyDictionary[WorkflowDef[..., Any], _Parameters] = (
    weakref.WeakKeyDictionary()
)


def _of(wf: WorkflowDef[..., Any]) -> _Parameters:
    found = _parameters.get(wf)
    if found is None:
        found = _parameters[wf] = _Parameters(wf)
    return found


def encode_arguments(codec: Codec, wf: WorkflowDef[..., Any], args: tuple[Any, ...]) -> str:
    """The plaintext JSON of ``args`` for ``wf``. Raises :class:`InvalidArguments` when they
    do not fit its parameters, :class:`SerializationError` when one cannot be encoded."""
    ps = _of(wf)
    n = len(args)
    try:
        ps.binds(wf, n, args)
    except TypeError as exc:
        raise InvalidArguments(
            f"bad arguments for workflow {wf.name!r}: {exc}; expected {_signature(wf)}"
        ) from None
    plain = codec.dumps(list(args), what=ps.what)
    params = ps.params
    if n > len(params):
        # Only through *args: the worker decodes one stored value per parameter.
        raise InvalidArguments(
            f"bad arguments for workflow {wf.name!r}: {n} values for "
            f"{len(params)} parameters; plait passes one value per parameter, so give "
            f"*{params[-1].name} at most one value (or make it a list); expected {_signature(wf)}"
        )
    shape = ps.shape(n)
    if shape is None or _native(ps.given, args):
        return plain  # nothing to check, or nothing that could fail
    # The stored list, validated as a tuple of the parameters' types: in one call, exactly
    # as the worker decodes each value (JSON in, each value as its annotation).
    misfits = codec.misfits(plain, shape)
    if misfits and not misfits[0][0]:  # not about one argument (cannot happen: same length)
        raise InvalidArguments(f"bad arguments for workflow {wf.name!r}: {misfits[0][1]}")
    if misfits:
        index = int(misfits[0][0][0])
        why = [(path[1:], reason) for path, reason in misfits if path[0] == index]
        types = ps.types
        raise InvalidArguments(_message(wf, params[index], types[index], args[index], why))
    return plain


def _native(given: tuple[Any, ...], args: tuple[Any, ...]) -> bool:
    """Whether every value is of exactly its (JSON-native) annotation, so it decodes."""
    for annotation, value in zip(given, args, strict=False):
        if annotation is Any:
            continue
        kind = type(value)  # compared by identity: an annotation need not be hashable
        if annotation is not kind or kind not in _NATIVE or (kind is str and not value.isascii()):
            return False
    return True


def decode_arguments(codec: Codec, wf: WorkflowDef[..., Any], stored: str) -> list[Any]:
    """The stored arguments of ``wf``, each decoded as its parameter's annotation. Raises
    :class:`SerializationError` (the worker parks the workflow ``blocked``) when they no
    longer fit: its code changed after the workflow started."""
    raw = codec.loads(stored)
    ps = _of(wf)
    try:
        # Parameters with defaults may have been left out when it was started.
        fits = isinstance(raw, list) and len(raw) <= len(ps.types)
        if fits:
            ps.binds(wf, len(raw), raw)
    except TypeError:
        fits = False
    if not fits:
        raise SerializationError(
            f"the stored arguments of workflow {wf.name!r} do not fit its parameters "
            f"{_signature(wf)}. Change the code back (or make it accept them), then resume "
            "the workflow."
        )
    params = ps.params
    return [
        value
        if _as_is(annotation, value)
        else codec.decode_plain(
            json.dumps(value),
            annotation,
            what=f"argument {param.name!r} of workflow {wf.name!r}",
            fix="Make the parameter accept it (or change the code back), then resume the workflow.",
        )
        for value, param, annotation in zip(raw, params, ps.types, strict=False)
    ]


def _as_is(annotation: Any, value: Any) -> bool:
    """Whether ``decode_plain`` would return the JSON value ``value`` itself (or an equal
    copy): its annotation is ``Any``, or it is exactly of its JSON-native annotation (an
    ASCII ``str``: other text may hold a lone surrogate, which the validator refuses)."""
    if annotation is Any:
        return True
    kind = type(value)  # compared by identity: an annotation need not be hashable
    return annotation is kind and kind in _NATIVE and (kind is not str or value.isascii())


def _decoded_as(annotation: Any) -> Any:
    """What the worker validates a value as: ``None`` annotations take any JSON value too."""
    return Any if annotation is None or annotation is type(None) else annotation


def _message(
    wf: WorkflowDef[..., Any],
    param: inspect.Parameter,
    annotation: Any,
    value: object,
    misfits: list[tuple[tuple[int | str, ...], str]],
) -> str:
    shown = repr(value)
    if len(shown) > SHOWN_CHARS:
        shown = shown[: SHOWN_CHARS - 3] + "..."
    why = "; ".join(f"{_path(path)}: {reason}" if path else reason for path, reason in misfits)
    return (
        f"workflow {wf.name!r}: argument {param.name!r} expects {type_name(annotation)}, "
        f"got {shown} ({why}); nothing was started"
    )


def _path(path: tuple[int | str, ...]) -> str:
    """``[0].content``: where in an argument a misfit is."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return text.removeprefix(".")


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
