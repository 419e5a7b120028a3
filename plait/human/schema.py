"""Checking an answer against the JSON Schema stored with its task, without the form's code.

A process that has not imported the workflow's code (``plait server --database URL``) cannot
build the form class, but the task row holds the form's JSON Schema. :func:`check_answer`
validates an answer against it and raises the same ``InvalidAnswer`` as the form would, each
field by its dotted path and why, so people can answer tasks there. The workflow still decodes
the answer into its form class when it resumes; an answer valid here that the class refuses
re-opens the task (``plait/human/ask.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from plait.errors import InvalidAnswer


def check_answer(schema_text: str, form_name: str, value: object, *, task_id: str) -> Any:
    """``value`` (a dict) checked against the stored schema: the plain JSON data to store.
    Raises ``InvalidAnswer`` listing each field that does not fit, and why."""
    what = f"the answer to human task {task_id!r}"
    if not isinstance(value, Mapping):
        why = f"expected a dict (the form {form_name} is not loaded here), got"
        raise InvalidAnswer(
            task_id, form_name, [("(answer)", f"{why} {type(value).__qualname__}")], what=what
        )
    try:  # the answer as JSON data, as it will be stored (keys are text)
        data = json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as exc:
        raise InvalidAnswer(
            task_id, form_name, [("(answer)", f"not JSON data: {exc}")], what=what
        ) from None
    schema: dict[str, Any] = json.loads(schema_text)
    errors: list[tuple[str, str]] = []
    known = schema.get("properties")
    if isinstance(known, dict):  # as the form does: an unknown field is an error
        errors.extend(
            (str(k), f"unknown field; the form has {', '.join(sorted(known))}")
            for k in data
            if k not in known
        )
    import jsonschema  # here, not at import: it costs ~70 ms and most processes never need it

    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            # Name the missing field itself, not the object that lacks it.
            # (jsonschema reports each missing one with the whole list: list each once.)
            for name in error.validator_value:
                field = ".".join([*path, str(name)])
                if name not in error.instance and (field, "Field required") not in errors:
                    errors.append((field, "Field required"))
            continue
        errors.append((".".join(path) or "(answer)", error.message))
    if errors:
        raise InvalidAnswer(task_id, form_name, errors, what=what)
    return data
