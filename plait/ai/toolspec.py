"""Tools a model may call: a ``@plait.step`` with the JSON Schema of its arguments.

``plait.ai.tool(step, needs_approval=True)`` wraps a step as a :class:`Tool`; a bare step
passed in ``tools=[...]`` is wrapped with the defaults. The arguments' schema is built from
the step function's signature (Pydantic), and the arguments a model proposes are validated
against it before the step runs: arguments that do not fit are reported back to the model,
never passed to the step.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Iterable
from typing import Any

import pydantic
import pydantic_core

from plait.ai.types import ToolSpec
from plait.definitions import StepDef
from plait.errors import ConfigurationError
from plait.frozen import Frozen


class Tool(Frozen):
    """A step offered to a model as a tool (made by :func:`tool`)."""

    step: StepDef[..., Any]
    spec: ToolSpec
    arguments: type[pydantic.BaseModel]
    needs_approval: bool = False
    assignee: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def check(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The step's keyword arguments from a model's proposal; ``ValueError`` saying what
        does not fit."""
        try:
            validated = self.arguments.model_validate(arguments)
        except pydantic.ValidationError as exc:
            raise ValueError(_errors(exc)) from None
        return {name: getattr(validated, name) for name in type(validated).model_fields}


def _errors(exc: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'the value'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def tool(
    step: StepDef[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    needs_approval: bool = False,
    assignee: str | None = None,
) -> Tool:
    """Offers ``step`` to a model as a tool. With ``needs_approval``, a person (``assignee``,
    a user or group) sees each proposed call and its arguments and may approve, edit or
    refuse it before the step runs (a human task)."""
    if not isinstance(step, StepDef):
        raise ConfigurationError(
            f"a tool is a @plait.step (so its result is journaled and retried), not {step!r}"
        )
    if assignee is not None and (not isinstance(assignee, str) or not assignee):
        raise ConfigurationError("tool(assignee=...) must be a person or group name")
    tool_name = name or step.name.replace(".", "_").replace("<", "").replace(">", "")
    model = _arguments_model(step, tool_name)
    doc = description if description is not None else inspect.getdoc(step.fn) or ""
    spec = ToolSpec(
        name=tool_name,
        description=doc.split("\n\n", 1)[0].strip(),
        parameters=model.model_json_schema(),
    )
    return Tool(step, spec, model, needs_approval, assignee)


def _arguments_model(step: StepDef[..., Any], name: str) -> type[pydantic.BaseModel]:
    try:
        hints = typing.get_type_hints(step.fn)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    for p in inspect.signature(step.fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ConfigurationError(
                f"tool {name!r}: a tool's step takes named parameters, not *{p.name}"
            )
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (hints.get(p.name, Any), default)
    return pydantic.create_model(  # type: ignore[call-overload,no-any-return]
        f"{name}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields
    )


def as_tool(item: Tool | StepDef[..., Any]) -> Tool:
    """A tool from ``tools=[...]``: a :class:`Tool`, or a step wrapped with the defaults."""
    return item if isinstance(item, Tool) else tool(item)


def specs(items: Iterable[Tool | StepDef[..., Any] | ToolSpec]) -> tuple[ToolSpec, ...]:
    """What the model is told about ``tools=[...]``; names must be unique."""
    found: list[ToolSpec] = []
    for item in items:
        found.append(item if isinstance(item, ToolSpec) else as_tool(item).spec)
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"two tools share a name: {sorted(names)}")
    return tuple(found)


def result_text(value: object) -> str:
    """A tool's result as the text the model reads (JSON unless it is a string)."""
    if isinstance(value, str):
        return value
    return json.dumps(pydantic_core.to_jsonable_python(value, bytes_mode="base64"))
