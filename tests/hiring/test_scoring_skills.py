"""hiring.extract_skills: canonical names, required vs nice-to-have, the asking sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from hiring import Skill, extract_skills
from hiring.scoring.evaluation import load_pools

JOBS = {p.name: p.job for p in load_pools(Path(__file__).parent / "eval" / "pools")}


def _by_name(skills: list[Skill]) -> dict[str, Skill]:
    return {s.name: s for s in skills}


def test_nursing_required_and_nice_to_have() -> None:
    skills = _by_name(extract_skills(JOBS["nursing"]))
    for name in (
        "registered nurse licence",
        "BLS",
        "ACLS",
        "arterial lines",
        "central lines",
        "Epic",
    ):
        assert skills[name].required, name
    for name in ("CCRN", "CRRT", "ECMO"):
        assert not skills[name].required, name
    assert skills["CCRN"].sentence == "CCRN certification is a plus."


def test_accounting_cpa_preferred_and_sox_a_plus() -> None:
    skills = _by_name(extract_skills(JOBS["accounting"]))
    assert not skills["CPA"].required and skills["CPA"].sentence == "CPA license preferred."
    assert not skills["SOX compliance"].required
    assert skills["US GAAP"].required and skills["month-end close"].required


def test_aliases_become_one_canonical_name() -> None:
    job = (
        "Staff Nurse\n"
        "- Active RN license required.\n"
        "- Registered nurse with ICU experience.\n"
        "- Familiarity with A-lines is nice to have.\n"
    )
    skills = extract_skills(job)
    names = [s.name for s in skills]
    assert names.count("registered nurse licence") == 1
    assert "critical care" in names
    assert _by_name(skills)["arterial lines"].required is False


def test_non_tech_fields() -> None:
    electrician = _by_name(extract_skills(JOBS["electrician"]))
    assert electrician["National Electrical Code"].required
    assert electrician["conduit bending"].required
    assert not electrician["PLC"].required
    teacher = _by_name(extract_skills(JOBS["teacher"]))
    assert teacher["teaching certification"].required
    assert not teacher["calculus"].required  # "AP Calculus is a plus"
    mechanical = _by_name(extract_skills(JOBS["mechanical"]))
    assert mechanical["GD&T"].required and mechanical["SolidWorks"].required
    assert not mechanical["PDM"].required and not mechanical["sealing design"].required


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_sentence_is_from_the_job_text(name: str) -> None:
    for skill in extract_skills(JOBS[name]):
        assert skill.sentence and skill.sentence in JOBS[name], skill


def test_a_required_ask_wins_over_a_nice_to_have_ask() -> None:
    job = "Analyst\nSQL is a plus.\nRequirements:\n- Strong SQL.\n"
    (sql,) = [s for s in extract_skills(job) if s.name == "SQL"]
    assert sql.required and sql.sentence == "Strong SQL."


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="job text as a str"):
        extract_skills(b"Nurse")  # type: ignore[arg-type]
    assert extract_skills("") == []
