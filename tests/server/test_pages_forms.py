"""The task form generated from a Pydantic model's JSON Schema, and a posted form read back."""

from __future__ import annotations

import enum
from typing import Literal

import pydantic

from plait.server.pages.forms import build_form, changes, parse_form, validate


class Level(enum.Enum):
    junior = "junior"
    senior = "senior"


class Address(pydantic.BaseModel):
    city: str
    zip_code: str | None = None


class Skill(pydantic.BaseModel):
    name: str
    years: int = pydantic.Field(ge=0, le=50)


class Offer(pydantic.BaseModel):
    salary: int = pydantic.Field(ge=1000, le=500_000, description="Yearly, in euros")
    ratio: float = 0.5
    level: Level
    track: Literal["ic", "manager"] = "ic"
    remote: bool = False
    comment: str | None = None
    tags: list[str] = []
    skills: list[Skill] = []
    address: Address
    extra: dict[str, int] = {}


SCHEMA = Offer.model_json_schema()
PROPOSAL = Offer(
    salary=50_000,
    level=Level.junior,
    address=Address(city="Lyon"),
    tags=["python", "sql"],
    skills=[Skill(name="Go", years=2)],
).model_dump(mode="json")


def by_path(field, path):
    if field.path == path:
        return field
    for child in field.children:
        found = by_path(child, path)
        if found:
            return found
    return None


def test_each_schema_type_gets_its_input():
    form = build_form(SCHEMA, PROPOSAL, proposal=PROPOSAL)
    assert form.kind == "object"
    salary = by_path(form, "salary")
    assert (salary.kind, salary.attrs["min"], salary.attrs["max"], salary.required) == (
        "integer",
        "1000",
        "500000",
        True,
    )
    assert "Yearly, in euros" in salary.description and "at least 1000" in salary.description
    assert by_path(form, "ratio").kind == "number"
    level = by_path(form, "level")  # an enum through $ref/$defs
    assert level.kind == "select" and [v for v, _ in level.options] == ["junior", "senior"]
    assert by_path(form, "track").kind == "select"
    assert by_path(form, "remote").kind == "boolean"
    comment = by_path(form, "comment")  # Optional[str]: anyOf with null
    assert (comment.kind, comment.nullable, comment.required) == ("textarea", True, False)
    tags = by_path(form, "tags")
    assert tags.kind == "list" and [c.value for c in tags.children] == ["python", "sql"]
    assert tags.item is not None and tags.item.path == "tags.__i__"
    skills = by_path(form, "skills")
    assert skills.children[0].kind == "object"
    assert by_path(form, "skills.0.years").attrs == {"min": "0", "max": "50", "step": "1"}
    assert by_path(form, "address.city").value == "Lyon"  # nested object through $ref
    assert by_path(form, "address.zip_code").nullable
    assert by_path(form, "extra").kind == "json"  # a free mapping: edited as JSON


def test_posted_form_reads_back_to_the_answer():
    posted = [
        ("f.salary", "61000"),
        ("f.ratio", "0.75"),
        ("f.level", "senior"),
        ("f.track", "manager"),
        ("f.remote", "false"),
        ("f.remote", "true"),
        ("f.comment", ""),
        ("f.tags.0", "python"),
        ("f.tags.2", "rust"),  # an item removed in between: indices need not be dense
        ("f.skills.0.name", "Go"),
        ("f.skills.0.years", "3"),
        ("f.address.city", "Paris"),
        ("f.address.zip_code", ""),
        ("f.extra", '{"a": 1}'),
        ("csrf_token", "x"),
    ]
    answer, errors = parse_form(SCHEMA, posted)
    assert errors == {}
    assert answer == {
        "salary": 61000,
        "ratio": 0.75,
        "level": "senior",
        "track": "manager",
        "remote": True,
        "comment": None,
        "tags": ["python", "rust"],
        "skills": [{"name": "Go", "years": 3}],
        "address": {"city": "Paris", "zip_code": None},
        "extra": {"a": 1},
    }
    assert Offer.model_validate(answer).salary == 61000
    assert validate(SCHEMA, answer) == {}


def test_unreadable_and_invalid_fields_are_named():
    posted = [
        ("f.salary", "lots"),
        ("f.level", "senior"),
        ("f.address.city", "X"),
        ("f.extra", "{nope"),
    ]
    answer, errors = parse_form(SCHEMA, posted)
    assert set(errors) == {"salary", "extra"}
    assert "whole number" in errors["salary"]
    answer, errors = parse_form(SCHEMA, [("f.salary", "10"), ("f.level", "senior")])
    assert errors == {}
    problems = validate(SCHEMA, answer)
    assert "10 is less than the minimum of 1000" in problems["salary"]
    assert problems["address.city"] == "Field required"
    form = build_form(SCHEMA, answer, errors=problems)
    assert "minimum" in by_path(form, "salary").error


def test_an_emptied_list_and_unchecked_box():
    answer, _ = parse_form(
        SCHEMA,
        [
            ("f.salary", "2000"),
            ("f.level", "junior"),
            ("f.remote", "false"),
            ("f.address.city", "X"),
        ],
    )
    assert answer["tags"] == [] and answer["remote"] is False and answer.get("comment") is None


def test_changes_name_fields_by_their_labels():
    answer = {**PROPOSAL, "salary": 70_000, "address": {"city": "Paris", "zip_code": None}}
    form = build_form(SCHEMA, answer, proposal=PROPOSAL)
    found = changes(form, PROPOSAL, answer)
    assert [(c.field, c.label, c.before, c.after) for c in found] == [
        ("salary", "Salary", 50_000, 70_000),
        ("address.city", "Address › City", "Lyon", "Paris"),
    ]
    assert by_path(form, "salary").changed and not by_path(form, "level").changed


def test_approval_form():
    schema = {
        "properties": {
            "approved": {"title": "Approved", "type": "boolean"},
            "comment": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["approved"],
        "title": "Approval",
        "type": "object",
    }
    form = build_form(schema, None)
    assert [c.kind for c in form.children] == ["boolean", "textarea"]
    answer, _ = parse_form(schema, [("f.approved", "false"), ("f.comment", "too high")])
    assert answer == {"approved": False, "comment": "too high"}


def test_the_inbox_says_what_a_task_is_about_in_one_short_line() -> None:
    from plait.server.pages.task_pages import about

    description = "Senior Backend Engineer\nLindenwerk Logistics GmbH · Berlin\n" + "x " * 500
    assert about({"job": "Backend", "description": description, "more": "unused"}) == (
        "Job: Backend · Description: Senior Backend Engineer…"
    )
    assert about({"note": "y" * 200}) == "Note: " + "y" * 79 + "…"
    assert about({"candidate": "Ada", "score": 0.7}) == "Candidate: Ada · Score: 0.7"


class Pick(pydantic.BaseModel):
    ref: str = pydantic.Field(json_schema_extra={"readOnly": True})
    include: bool = False


class Picks(pydantic.BaseModel):
    items: list[Pick] = pydantic.Field(json_schema_extra={"x-fixed-items": True})


def test_a_fixed_list_of_read_only_fields_is_diffed_item_by_item():
    schema = Picks.model_json_schema()
    proposal = {"items": [{"ref": "a", "include": True}, {"ref": "b", "include": False}]}
    answer = {"items": [{"ref": "a", "include": True}, {"ref": "b", "include": True}]}
    form = build_form(schema, answer, proposal=proposal)
    items = by_path(form, "items")
    assert items.fixed and by_path(form, "items.0.ref").attrs["readonly"] == "readonly"
    assert "readonly" not in by_path(form, "items.0.include").attrs
    found = changes(form, proposal, answer)
    assert [(c.field, c.before, c.after) for c in found] == [("items.1.include", False, True)]
    assert found[0].label.endswith("Include")
