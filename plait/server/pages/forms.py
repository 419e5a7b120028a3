"""A human task's form, generated from the JSON Schema stored with the task, and back.

:func:`build_form` turns the schema (as Pydantic emits it: ``$ref``/``$defs``, ``anyOf`` with
``null`` for optional fields, ``allOf`` around a reference, enums, bounds) and a value (the
proposal, or what the person posted) into a tree of :class:`Field`: what a template needs to
draw a label, an input and the error next to it. :func:`parse_form` reads a posted form back
into a JSON value, with the fields it could not read and why.

Input names are the field's dotted path under ``f.`` (``f.skills.0``, ``f.address.city``);
a list's items are found by the indices posted, so a list can grow and shrink (with JavaScript,
or by the "add"/"remove" buttons, which post the form back). A checkbox is preceded by a
hidden ``false`` under the same name: the last value posted wins.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

PREFIX = "f."
LONG_TEXT = 120  # a proposal longer than this (or with a line break) gets a text area
LONG_NAMES = frozenset(
    [
        "comment",
        "comments",
        "note",
        "notes",
        "reason",
        "description",
        "summary",
        "message",
        "body",
        "explanation",
        "feedback",
        "text",
        "details",
        "justification",
    ]
)
MISSING: Any = object()


@dataclasses.dataclass
class Field:
    """One field of a generated form, ready for a template."""

    path: str  # dotted path in the answer ("" for the whole answer)
    name: str  # the key in its parent (or the index in a list)
    label: str
    kind: str  # text, textarea, integer, number, boolean, select, object, list, json
    required: bool = False
    nullable: bool = False
    description: str | None = None
    value: Any = None  # what the input shows
    proposal: Any = MISSING  # the proposed value at this path, when there is one
    input_type: str = "text"  # for kind text: text, email, url, date, ...
    options: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    attrs: dict[str, str] = dataclasses.field(default_factory=dict)  # min, max, step, ...
    children: list[Field] = dataclasses.field(default_factory=list)
    item: Field | None = None  # a list's template for a new item (its path ends in "__i__")
    error: str | None = None
    in_list: bool = False  # an item of a list: its label is for screen readers only
    fixed: bool = False  # a list whose items are given ("x-fixed-items"): no add or remove

    @property
    def input_name(self) -> str:
        return PREFIX + self.path

    @property
    def dom_id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.path or "answer")

    @property
    def changed(self) -> bool:
        """Whether the value differs from the proposal (a proposal was given)."""
        if self.proposal is MISSING or self.kind in ("object", "list"):
            return False
        return not _same(self.value, self.proposal)

    @property
    def text(self) -> str:
        """The value as the input's text."""
        if self.value is None or self.value is MISSING:
            return ""
        if self.kind == "json":
            return json.dumps(self.value, indent=2, ensure_ascii=False)
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)


def _same(a: Any, b: Any) -> bool:
    return bool(a == b and type(a) is type(b)) or (a in (None, "") and b in (None, ""))


# -- schema -> fields ----------------------------------------------------------------------
def build_form(
    schema: Mapping[str, Any],
    value: Any,
    *,
    proposal: Any = MISSING,
    errors: Mapping[str, str] | None = None,
) -> Field:
    """The form for ``schema``, showing ``value``; ``proposal`` marks changed fields and
    ``errors`` (dotted path → why) puts each error next to its field."""
    root = _field(schema, schema, "", "", value, proposal, required=True)
    if errors:
        _attach(root, dict(errors))
    return root


def _attach(field: Field, errors: dict[str, str]) -> None:
    if field.path in errors:
        field.error = errors.pop(field.path)
    for child in field.children:
        _attach(child, errors)
    if field.path == "" and errors:  # errors naming no field shown: on the whole form
        field.error = "; ".join(f"{k}: {v}" if k != "(answer)" else v for k, v in errors.items())


def resolve(root: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with ``$ref`` (to ``#/$defs/...`` or ``#/definitions/...``) and a lone
    ``allOf`` resolved; sibling keys (title, default, description) win over the target's."""
    seen = 0
    out = dict(node)
    while seen < 20:
        seen += 1
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            out.pop("$ref")
            out = {**target, **out}
            continue
        all_of = out.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
            out.pop("allOf")
            out = {**all_of[0], **out}
            continue
        break
    return out


def _nullable(root: Mapping[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``(the non-null schema, whether null is allowed)`` for ``anyOf: [X, null]`` and
    ``type: [X, "null"]``."""
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list):
            rest = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
            if len(rest) < len(options) and len(rest) == 1 and isinstance(rest[0], Mapping):
                inner = {k: v for k, v in node.items() if k != key}
                return {**resolve(root, rest[0]), **inner}, True
    kinds = node.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        others = [k for k in kinds if k != "null"]
        return {**node, "type": others[0] if len(others) == 1 else others}, True
    return node, False


def _kind(node: Mapping[str, Any], name: str, value: Any) -> str:
    if "enum" in node or "const" in node:
        return "select"
    kind = node.get("type")
    if kind == "object" and isinstance(node.get("properties"), Mapping):
        return "object"
    if kind == "array" and isinstance(node.get("items"), Mapping):
        return "list"
    if kind == "string":
        long_value = isinstance(value, str) and (len(value) > LONG_TEXT or "\n" in value)
        max_length = node.get("maxLength")
        long_field = name.lower() in LONG_NAMES or node.get("format") in ("textarea", "multiline")
        if long_value or (long_field and not (isinstance(max_length, int) and max_length <= 80)):
            return "textarea"
        if isinstance(max_length, int) and max_length > 500:
            return "textarea"
        return "text"
    if kind in ("integer", "number", "boolean"):
        return str(kind)
    return "json"


def _label(node: Mapping[str, Any], name: str) -> str:
    title = node.get("title")
    if isinstance(title, str) and title:
        return title
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "Answer"


_FORMATS = {"email": "email", "uri": "url", "date": "date", "time": "time"}


def _field(
    root: Mapping[str, Any],
    raw: Mapping[str, Any],
    path: str,
    name: str,
    value: Any,
    proposal: Any,
    *,
    required: bool,
) -> Field:
    node, nullable = _nullable(root, resolve(root, raw))
    if value is MISSING:
        value = node.get("default")
    kind = _kind(node, name, value if value is not None else proposal)
    field = Field(
        path=path,
        name=name,
        label=_label(node, name),
        kind=kind,
        required=required and not nullable,
        nullable=nullable,
        description=node.get("description") if isinstance(node.get("description"), str) else None,
        value=value,
        proposal=proposal,
    )
    if node.get("readOnly") is True and kind in ("text", "textarea", "integer", "number"):
        field.attrs["readonly"] = "readonly"  # shown and sent back as proposed, not edited
    if kind == "list" and node.get("x-fixed-items") is True:
        field.fixed = True
    if kind == "text":
        field.input_type = _FORMATS.get(str(node.get("format")), "text")
        _copy(node, field.attrs, {"minLength": "minlength", "maxLength": "maxlength"})
        if isinstance(node.get("pattern"), str):
            field.attrs["pattern"] = node["pattern"]
    elif kind == "textarea":
        _copy(node, field.attrs, {"minLength": "minlength", "maxLength": "maxlength"})
    elif kind in ("integer", "number"):
        _copy(node, field.attrs, {"minimum": "min", "maximum": "max", "multipleOf": "step"})
        if "step" not in field.attrs:
            field.attrs["step"] = "1" if kind == "integer" else "any"
        field.description = _join(field.description, _bounds(node))
    elif kind == "select":
        choices = node["enum"] if "enum" in node else [node["const"]]
        field.options = [(_option(c), str(c)) for c in choices]
        if nullable or not field.required:
            field.options.insert(0, ("", "(none)"))
    elif kind == "object":
        needed = set(node.get("required", ()))
        for key, sub in node["properties"].items():
            sub_value = value.get(key, MISSING) if isinstance(value, Mapping) else MISSING
            sub_prop = proposal.get(key, MISSING) if isinstance(proposal, Mapping) else MISSING
            sub_path = f"{path}.{key}" if path else str(key)
            field.children.append(
                _field(root, sub, sub_path, str(key), sub_value, sub_prop, required=key in needed)
            )
    elif kind == "list":
        items = node["items"]
        values = list(value) if isinstance(value, list | tuple) else []
        proposed = proposal if isinstance(proposal, list) else []
        for i, item in enumerate(values):
            sub_prop = proposed[i] if i < len(proposed) else MISSING
            child = _field(
                root,
                items,
                f"{path}.{i}" if path else str(i),
                str(i),
                item,
                sub_prop,
                required=True,
            )
            child.label, child.in_list = f"{field.label} {i + 1}", True
            field.children.append(child)
        template_path = f"{path}.__i__" if path else "__i__"
        field.item = _field(root, items, template_path, "__i__", MISSING, MISSING, required=True)
        field.item.label, field.item.in_list = f"{field.label} (new)", True
        _copy(node, field.attrs, {"minItems": "data-min", "maxItems": "data-max"})
    return field


def _copy(node: Mapping[str, Any], attrs: dict[str, str], names: Mapping[str, str]) -> None:
    for key, attr in names.items():
        if isinstance(node.get(key), int | float) and not isinstance(node.get(key), bool):
            attrs[attr] = _number_text(node[key])


def _number_text(n: float) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _bounds(node: Mapping[str, Any]) -> str | None:
    parts = []
    for key, word in (
        ("minimum", "at least"),
        ("exclusiveMinimum", "more than"),
        ("maximum", "at most"),
        ("exclusiveMaximum", "less than"),
    ):
        if isinstance(node.get(key), int | float):
            parts.append(f"{word} {_number_text(node[key])}")
    return ", ".join(parts) if parts else None


def _join(a: str | None, b: str | None) -> str | None:
    return "; ".join(x for x in (a, b) if x) or None


def _option(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# -- posted form -> value --------------------------------------------------------------------
def parse_form(
    schema: Mapping[str, Any], posted: Sequence[tuple[str, str]]
) -> tuple[Any, dict[str, str]]:
    """The answer a posted form describes, and ``{dotted path: why}`` for the fields that
    could not be read (a number that is not one, JSON that does not parse)."""
    values: dict[str, str] = {}
    for key, text in posted:
        if key.startswith(PREFIX):
            values[key[len(PREFIX) :]] = text  # the last one wins (checkbox after its hidden)
    errors: dict[str, str] = {}
    answer = _read(schema, schema, "", values, errors, required=True)
    return ({} if answer is MISSING else answer), errors


def _read(
    root: Mapping[str, Any],
    raw: Mapping[str, Any],
    path: str,
    values: Mapping[str, str],
    errors: dict[str, str],
    *,
    required: bool,
) -> Any:
    node, nullable = _nullable(root, resolve(root, raw))
    kind = _kind(node, path.rsplit(".", 1)[-1], None)
    if kind == "object":
        out: dict[str, Any] = {}
        needed = set(node.get("required", ()))
        prefix = f"{path}." if path else ""
        for key, sub in node["properties"].items():
            got = _read(root, sub, prefix + str(key), values, errors, required=key in needed)
            if got is not MISSING:
                out[str(key)] = got
        if nullable and path and not any(v is not None and v != "" for v in out.values()):
            return None  # an optional group left empty
        return out
    if kind == "list":
        prefix = f"{path}." if path else ""
        indices = sorted(
            {int(k[len(prefix) :].split(".")[0]) for k in values if _is_item(k, prefix)}
        )
        return [
            _read(root, node["items"], f"{prefix}{i}", values, errors, required=True)
            for i in indices
        ]
    text = values.get(path)
    if kind == "boolean":
        return text == "true" if text is not None else (None if nullable else False)
    if text is None:
        return None if nullable else MISSING
    if text.strip() == "":
        if kind in ("text", "textarea") and required and not nullable:
            return ""  # a required text left empty: the form's own rules decide
        return None if nullable else MISSING  # an optional field left empty: its default
    return _scalar(node, kind, path, text, errors)


def _is_item(key: str, prefix: str) -> bool:
    rest = key[len(prefix) :] if key.startswith(prefix) else ""
    head = rest.split(".")[0]
    return head.isdigit()


def _scalar(
    node: Mapping[str, Any], kind: str, path: str, text: str, errors: dict[str, str]
) -> Any:
    where = path or "(answer)"
    if kind == "integer":
        try:
            return int(text.strip())
        except ValueError:
            errors[where] = f"enter a whole number, not {text!r}"
            return text
    if kind == "number":
        try:
            number = float(text.strip())
        except ValueError:
            errors[where] = f"enter a number, not {text!r}"
            return text
        return int(number) if number.is_integer() and "." not in text else number
    if kind == "select":
        choices = node["enum"] if "enum" in node else [node["const"]]
        for choice in choices:
            if _option(choice) == text:
                return choice
        errors[where] = f"choose one of {', '.join(_option(c) for c in choices)}"
        return text
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError as exc:
            errors[where] = f"enter JSON ({exc.msg} at line {exc.lineno})"  # type: ignore[attr-defined]
            return text
    return text


# -- answer vs proposal ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Change:
    """One field whose answer differs from the proposal."""

    field: str
    label: str
    before: Any
    after: Any


def changes(form: Field, before: Any, after: Any) -> list[Change]:
    """The fields that differ between the proposal and the answer: nested objects by dotted
    path, lists of objects of the same length item by item (``candidates.3.include``), other
    lists and values whole (as the engine records them), each with the label the form shows."""
    labels: dict[str, str] = {}

    def walk(f: Field, trail: str) -> None:
        text = (
            f"{trail} \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} {f.label}"
            if trail
            else f.label
        )
        labels[f.path] = text
        if f.kind in ("object", "list"):
            for c in f.children:
                walk(c, text if f.path else "")

    walk(form, "")
    out: list[Change] = []

    def diff(a: Any, b: Any, path: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in [*a, *(k for k in b if k not in a)]:
                diff(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            return
        items = [*a, *b] if isinstance(a, list) and isinstance(b, list) else []
        if items and len(a) == len(b) and all(isinstance(x, Mapping) for x in items):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                diff(x, y, f"{path}.{i}" if path else str(i))
            return
        if not _same(a, b):
            out.append(Change(path or "(answer)", labels.get(path, path or "Answer"), a, b))

    diff(before, after, "")
    return out


def validate(schema: Mapping[str, Any], answer: Any) -> dict[str, str]:
    """``{dotted path: why}`` for each place ``answer`` does not fit ``schema`` (empty when
    it fits), to show before the person confirms; the engine checks again on completion."""
    import jsonschema  # here: it is only needed when a form is posted

    errors: dict[str, str] = {}
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and isinstance(answer, Mapping):
        for key in answer:
            if key not in properties:
                errors[str(key)] = "unknown field"
    validator = jsonschema.Draft202012Validator(dict(schema))
    for error in validator.iter_errors(answer):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, Mapping):
            for name in error.validator_value:
                if name not in error.instance:
                    errors.setdefault(".".join([*path, str(name)]), "Field required")
            continue
        errors.setdefault(".".join(path) or "(answer)", error.message)
    return errors
