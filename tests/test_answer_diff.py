"""The changes a person made to a proposal, as the engine records them: nested objects by
dotted path, a list of objects of the same length item by item, other lists whole."""

from __future__ import annotations

from plait.human.forms import diff


def test_a_list_of_the_same_length_is_compared_item_by_item() -> None:
    before = {"candidates": [{"id": "a", "include": True}, {"id": "b", "include": False}]}
    after = {"candidates": [{"id": "a", "include": True}, {"id": "b", "include": True}]}
    assert [(c.field, c.before, c.after) for c in diff(before, after)] == [
        ("candidates.1.include", False, True)
    ]


def test_a_list_that_grew_or_shrank_is_one_change() -> None:
    before = {"skills": ["Python", "SQL"]}
    after = {"skills": ["Python", "SQL", "Kafka"]}
    assert [(c.field, c.before, c.after) for c in diff(before, after)] == [
        ("skills", ["Python", "SQL"], ["Python", "SQL", "Kafka"])
    ]
    assert diff({"x": []}, {"x": []}) == []


def test_a_list_of_plain_values_is_one_change_even_when_its_length_stays() -> None:
    before, after = {"skills": ["Go", "SQL"]}, {"skills": ["SQL", "Kafka"]}
    assert [(c.field, c.after) for c in diff(before, after)] == [("skills", ["SQL", "Kafka"])]
