"""Human tasks, the forms side: answers, deadline policies, and what plait keeps of a form.

- :class:`Approval`, the answer when no form is given; any Pydantic model (or dataclass) can
  be a form. A form is stored with the task as JSON Schema (:func:`form_spec`), so a client
  can render it without importing the workflow's code; :func:`resolve_form` finds the form
  class again by its stored name, among modules already imported.
- ``on_timeout`` policies: ``"raise"``, :class:`Default`, :class:`Escalate`.
- :func:`diff`: which fields of a proposal a person changed.

Invariant kept here: an answer is validated against its form *before* anything is written,
and what is stored (and delivered to the workflow) is the validated value as JSON, so the
workflow decodes exactly what was checked.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from plait.errors import ConfigurationError, InvalidAnswer, check_text
from plait.frozen import Frozen
from plait.human.records import FieldChange
from plait.types import Duration, JSONValue, to_seconds

if TYPE_CHECKING:
    import pydantic

    from plait.human.approval import Approval as Approval

F = TypeVar("F")


def __getattr__(name: str) -> Any:
    # Approval lives in plait.human.approval, loaded on first use (see there why).
    if name == "Approval":
        from plait.human.approval import Approval

        return Approval
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Default(Frozen, Generic[F]):
    """``on_timeout=Default(value)``: at the deadline the task expires and the workflow
    receives ``value`` (an instance of the form, or a dict that fits it) as the answer."""

    value: F


class Escalate(Frozen):
    """``on_timeout=Escalate(to=..., due=...)``: at the deadline the task is reassigned to
    ``to`` (a person or a group) with a new deadline ``due`` after the old one, and the
    workflow keeps waiting. ``then`` applies when the new deadline passes too."""

    to: str
    due: Duration
    then: OnTimeout = "raise"

    def __post_init__(self) -> None:
        if not isinstance(self.to, str) or not self.to:
            raise ConfigurationError("Escalate(to=...) needs a person or group name")
        check_text(self.to, "Escalate(to=...)")
        if to_seconds(self.due, "Escalate(due=...)") <= 0:
            raise ConfigurationError("Escalate(due=...) must be longer than zero")
        check_on_timeout(self.then)


OnTimeout = Literal["raise"] | Default[Any] | Escalate


def check_on_timeout(policy: object) -> None:
    """Raises ``ConfigurationError`` unless ``policy`` is a valid ``on_timeout``."""
    if policy != "raise" and not isinstance(policy, Default | Escalate):
        raise ConfigurationError(
            f"on_timeout must be 'raise', plait.Default(value) or plait.Escalate(to=..., "
            f"due=...), not {policy!r}"
        )


# -- forms -------------------------------------------------------------------------------
class FormSpec(Frozen):
    """A form type with what plait needs of it: a stable name, its JSON Schema, a validator."""

    type: type[Any]
    name: str
    schema: str
    adapter: pydantic.TypeAdapter[Any]

    @property
    def fields(self) -> tuple[str, ...]:
        import pydantic

        if issubclass(self.type, pydantic.BaseModel):
            names: list[str] = []
            for name, info in self.type.model_fields.items():
                names.append(name)
                if info.alias:
                    names.append(info.alias)
            return tuple(names)
        return tuple(f.name for f in dataclasses.fields(self.type))

    def check(self, value: object, *, what: str, task_id: str = "") -> tuple[Any, Any]:
        """``value`` (a dict or an instance) validated: ``(instance, plain JSON data)``.
        Raises ``InvalidAnswer`` listing each field that does not fit, and why."""
        import pydantic
        import pydantic_core

        if isinstance(value, pydantic.BaseModel) or (
            dataclasses.is_dataclass(value) and not isinstance(value, type)
        ):
            data: object = pydantic_core.to_jsonable_python(value, bytes_mode="base64")
        elif isinstance(value, Mapping):
            data = dict(value)
        else:
            raise InvalidAnswer(
                task_id,
                self.name,
                [
                    (
                        "(answer)",
                        f"expected a dict or a {self.type.__qualname__}, got "
                        f"{type(value).__qualname__}",
                    )
                ],
                what=what,
            )
        assert isinstance(data, dict)
        known = set(self.fields)
        errors = [
            (str(k), f"unknown field; the form has {', '.join(sorted(known))}")
            for k in data
            if k not in known
        ]
        try:
            instance = self.adapter.validate_python(data)
        except pydantic.ValidationError as exc:
            errors.extend(
                (".".join(str(p) for p in e["loc"]) or "(answer)", e["msg"]) for e in exc.errors()
            )
        if errors:
            raise InvalidAnswer(task_id, self.name, errors, what=what)
        return instance, self.adapter.dump_python(instance, mode="json")


_forms: dict[str, type[Any]] = {}
_specs: dict[type[Any], FormSpec] = {}


def form_spec(form: type[Any]) -> FormSpec:
    """The :class:`FormSpec` of a Pydantic model or dataclass (cached)."""
    if isinstance(form, type) and form in _specs:
        return _specs[form]
    # Here, not at the top: a worker whose workflows ask no human never loads pydantic.
    import pydantic

    if not isinstance(form, type) or not (
        issubclass(form, pydantic.BaseModel) or dataclasses.is_dataclass(form)
    ):
        raise ConfigurationError(
            f"ask_human(form=...) takes a Pydantic model or a dataclass, not {form!r}"
        )
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(form)
    schema = (
        form.model_json_schema() if issubclass(form, pydantic.BaseModel) else adapter.json_schema()
    )
    name = f"{form.__module__}:{form.__qualname__}"
    _forms[name] = form
    spec = _specs[form] = FormSpec(form, name, json.dumps(schema, separators=(",", ":")), adapter)
    return spec


def resolve_form(name: str) -> type[Any] | None:
    """The form type stored as ``"module:QualName"``, if this process has loaded it.

    Only modules already imported are searched: a name read from the database never makes
    plait import code.
    """
    if name in _forms:
        return _forms[name]
    module_name, _, qualname = name.partition(":")
    found: object = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


def diff(before: JSONValue, after: JSONValue, path: str = "") -> list[FieldChange]:
    """The fields that differ between two JSON values (nested objects by dotted path; lists
    of objects of the same length item by item, ``candidates.3.include``; other lists and
    values compared whole)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[FieldChange] = []
        for key in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{key}" if path else str(key)
            changes.extend(diff(before.get(key), after.get(key), sub))
        return changes
    same_length = isinstance(before, list) and isinstance(after, list) and len(before) == len(after)
    if same_length and before and all(isinstance(x, dict) for x in [*before, *after]):  # type: ignore[misc]
        changes = []
        for i, (x, y) in enumerate(zip(before, after, strict=True)):  # type: ignore[arg-type]
            changes.extend(diff(x, y, f"{path}.{i}" if path else str(i)))
        return changes
    if before == after and type(before) is type(after):
        return []
    return [FieldChange(path or "(answer)", before, after)]


def offsets_ms(remind: Duration | Collection[Duration] | None) -> tuple[int, ...]:
    """Reminder offsets (before the deadline) in milliseconds, largest first."""
    if remind is None:
        return ()
    items = [remind] if isinstance(remind, timedelta | int | float) else list(remind)
    out = set()
    for item in items:
        ms = int(to_seconds(item, "ask_human(remind=...)") * 1000)
        if ms <= 0:
            raise ConfigurationError("ask_human(remind=...) must be longer than zero")
        out.add(ms)
    return tuple(sorted(out, reverse=True))
