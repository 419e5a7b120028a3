"""hiring.redact, and that a personal cue anywhere in a résumé changes no rank."""

from __future__ import annotations

import pytest

import hiring
from tests.hiring.conftest import POOLS
from tests.hiring.cues import CUES, WHERE, with_cue

RESUMES = [(pool, r) for pool in POOLS for r in pool.resumes]


@pytest.mark.parametrize("kind", sorted(CUES))
def test_a_cue_anywhere_redacts_to_the_same_text_and_is_gone(kind: str) -> None:
    checked = 0
    for _, resume in RESUMES:
        base = hiring.redact(resume.text).text
        for cue in CUES[kind]:
            for where in WHERE:
                cued = with_cue(resume.text, cue, where)
                assert cue in cued
                redacted = hiring.redact(cued)
                assert cue not in redacted.text, (resume.id, cue, where)
                assert redacted.text == base, (resume.id, cue, where)
                assert redacted.removed, (resume.id, cue, where)
                checked += 1
    assert checked == len(RESUMES) * len(CUES[kind]) * len(WHERE)


def _ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = rank
    return ranks


KINDS = sorted(CUES)


def _one_cue(text: str, i: int) -> str:
    """Résumé i of the set gets one cue; kinds, cues and positions rotate over the set."""
    kind = KINDS[i % len(KINDS)]
    cue = CUES[kind][(i // len(KINDS)) % len(CUES[kind])]
    return with_cue(text, cue, WHERE[(i // 2) % len(WHERE)])


def _every_kind(text: str, i: int) -> str:
    """Résumé i gets a cue of every kind, each at a different position."""
    for j, kind in enumerate(KINDS):
        text = with_cue(text, CUES[kind][i % len(CUES[kind])], WHERE[(i + j) % len(WHERE)])
    return text


@pytest.mark.parametrize("put", [_one_cue, _every_kind])
def test_cues_in_every_resume_change_no_rank_in_any_pool(put, scored) -> None:
    n = 0
    for pool in POOLS:
        base = [s.value for s, _, _ in scored[pool.name]]
        cued = []
        for r in pool.resumes:
            cued.append(hiring.score(pool.job, put(r.text, n)).value)
            n += 1
        assert _ranks(cued) == _ranks(base), pool.name
        assert cued == base, pool.name


def test_header_name_email_phone_link_and_sign_off() -> None:
    text = (
        "Jamal Jones\n"
        "jamal.jones@example.com | +1 415 555 0199 | linkedin.com/in/jamaljones\n"
        "Registered Nurse\n"
        "Experience\n"
        "Staff Nurse, Mercy Hospital, 2018 - present\n"
        "Kind regards,\n"
        "Jamal Jones\n"
    )
    red = hiring.redact(text)
    assert "Jamal" not in red.text and "@" not in red.text and "555" not in red.text
    assert "linkedin" not in red.text
    assert red.text.splitlines() == [
        "Registered Nurse",
        "Experience",
        "Staff Nurse, Mercy Hospital, 2018 - present",
    ]
    kinds = {k for k, _ in red.removed}
    assert {"name", "personal"} <= kinds or {"name", "email", "phone"} <= kinds


def test_name_before_credentials_keeps_the_credentials() -> None:
    red = hiring.redact("R. Okafor, CPA\nSenior Accountant")
    assert red.text.splitlines() == ["CPA", "Senior Accountant"]
    assert ("name", "R. Okafor") in red.removed


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Pronouns: they/them", "personal"),
        ("(she/her)", "pronoun"),
        ("She is a caring nurse.", "pronoun"),
        ("Age: 47", "personal"),
        ("I am 47 years old.", "age"),
        ("DOB 03/04/1970", "age"),
        ("Married, two children.", "family"),
        ("Father of 3", "family"),
        ("I use a wheelchair.", "disability"),
        ("Hard of hearing", "disability"),
        ("Nationality: Nigerian", "personal"),
        ("Practising Muslim", "nationality"),
        ("12 Oak Street, Springfield", "address"),
        ("Photo: headshot.jpg", "personal"),
        ("[photo]", "photo"),
        ("Ms. Lakisha Washington", "pronoun"),
        ("Uses hearing aids", "disability"),
        ("Wife and mother", "family"),
        ("Took a career break raising my children", "family"),
        ("Nigerian citizen", "nationality"),
    ],
)
def test_each_cue_kind_is_removed(line: str, kind: str) -> None:
    red = hiring.redact(f"Registered Nurse\n{line}\nICU nurse, 2018 - present")
    assert red.text.splitlines() == ["Registered Nurse", "ICU nurse, 2018 - present"], red
    assert kind in {k for k, _ in red.removed}


def test_an_inline_cue_goes_and_the_rest_of_the_line_stays() -> None:
    red = hiring.redact("ICU nurse (she/her), 2018 - present. Mother of two.")
    assert red.text == "ICU nurse, 2018 - present."


def test_a_personal_details_block_goes_whole() -> None:
    text = (
        "Summary\nMachinist with ten years on CNC mills.\n"
        "PERSONAL DETAILS\n"
        "Date of birth: 1 May 1968\n"
        "Marital status: widowed\n"
        "Driving licence: yes\n"
        "Health: good\n"
        "Experience\nCNC Machinist, Acme, 2014 - present\n"
    )
    red = hiring.redact(text)
    assert red.text.splitlines() == [
        "Summary",
        "Machinist with ten years on CNC mills.",
        "Experience",
        "CNC Machinist, Acme, 2014 - present",
    ]


def test_work_about_other_people_is_kept() -> None:
    text = (
        "Cared for patients with diabetes and epilepsy.\n"
        "Adapted lessons for students with disabilities and her IEP goals.\n"
        "Managed 12 nurses across 24 beds.\n"
    )
    assert hiring.redact(text).text == text.strip()


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="résumé as a str"):
        hiring.redact(None)  # type: ignore[arg-type]
    assert hiring.redact("").text == ""


def test_a_name_the_list_does_not_know_changes_nothing_mid_text(scored) -> None:
    """A bare name line mid-text that the redactor cannot tell from a company name is left,
    but the scorer reads no work from a line of capitalised words, so the score is the same."""
    pool = POOLS[0]
    for r, (s, _, _) in zip(pool.resumes, scored[pool.name], strict=True):
        base = s.value
        cued = with_cue(r.text, "Oluwaseun Adeyemi-Okonkwo", "middle")
        assert hiring.score(pool.job, cued).value == base, r.id


def test_titles_mid_text_are_not_taken_for_names() -> None:
    text = (
        "Summary\nHR professional.\nExperience\nHuman Resources Generalist, Acme, 2019 - present\n"
    )
    assert "Human Resources Generalist" in hiring.redact(text).text
