"""hiring.score on the labelled set: ranking quality, stuffed non-fits, evidence, explanation."""

from __future__ import annotations

import time

import pytest

import hiring
from hiring.scoring.evaluation import Pool, pairwise_accuracy
from tests.hiring.conftest import POOLS


def test_the_labelled_set_is_what_the_docs_say() -> None:
    assert len(POOLS) >= 8
    assert sum(1 for p in POOLS if p.split == "holdout") == 3
    assert sum(1 for p in POOLS if p.split == "fresh") == 2
    for pool in POOLS:
        labels = [r.label for r in pool.resumes]
        assert len(labels) == 8 and set(labels) >= {0, 3}, pool.name
        assert any("keyword-stuffed" in r.note for r in pool.resumes), pool.name
        assert any("abbreviations" in r.note or "synonyms" in r.note for r in pool.resumes), (
            pool.name
        )


def test_pairwise_accuracy_on_the_repo_set_is_at_least_0_80(scored) -> None:
    right = pairs = 0.0
    for pool in POOLS:
        rows = scored[pool.name]
        accuracy, n = pairwise_accuracy([lab for _, lab, _ in rows], [s.value for s, _, _ in rows])
        assert accuracy >= 0.7, f"{pool.name}: pairwise accuracy {accuracy:.2f}"
        right += accuracy * n
        pairs += n
    assert right / pairs >= 0.80


def _stuffed_and_strong(pool: Pool) -> tuple[list[str], list[str]]:
    stuffed = [r.id for r in pool.resumes if "keyword-stuffed" in r.note]
    strong = [
        r.id
        for r in pool.resumes
        if r.label == 3 and ("abbreviations" in r.note or "synonyms" in r.note)
    ]
    return stuffed, strong


def test_a_keyword_stuffed_non_fit_ranks_below_the_synonym_written_strong_fit(scored) -> None:
    for pool in POOLS:
        values = {rid: s.value for s, _, rid in scored[pool.name]}
        stuffed, strong = _stuffed_and_strong(pool)
        assert stuffed and strong
        for s in stuffed:
            for t in strong:
                assert values[s] < values[t], f"{pool.name}: {s} {values[s]} >= {t} {values[t]}"


def test_every_evidence_sentence_is_quoted_verbatim_from_the_resume(scored) -> None:
    checked = 0
    for pool in POOLS:
        texts = {r.id: r.text for r in pool.resumes}
        for s, _, rid in scored[pool.name]:
            for m in s.matched:
                assert m.evidence and m.evidence in texts[rid], (rid, m)
                checked += 1
    assert checked > 200


def test_the_explanation_says_how_the_number_was_made(scored) -> None:
    s, label, rid = scored["nursing"][0]
    assert rid == "nurse-abbrev" and label == 3
    assert abs(sum(p.weight for p in s.parts) - 1.0) < 1e-9
    assert abs(s.value - sum(p.value * p.weight for p in s.parts)) < 1e-3
    assert {p.name for p in s.parts} == {"role", "skills", "tasks", "seniority", "document"}
    names = {m.name for m in s.matched}
    # written as "RN, BSN, CCRN", "vented", "pressors ... gtts", "A-lines, CVCs"
    assert {"registered nurse licence", "CCRN", "mechanical ventilation", "arterial lines"} <= names
    text = s.explain()
    assert "role" in text and "CCRN" in text and "✓" in text
    assert s.value == pytest.approx(s.value)


def test_a_stuffed_resume_is_explained_as_such(scored) -> None:
    rows = {rid: s for s, _, rid in scored["nursing"]}
    recruiter = rows["nurse-recruiter"]
    role = next(p for p in recruiter.parts if p.name == "role")
    assert "recruiting title" in role.detail
    # the skills it lists count for little: named in a recruiting line or a keyword list
    assert all(m.strength <= 0.4 for m in recruiter.matched)


def test_missing_skills_are_listed(scored) -> None:
    rows = {rid: s for s, _, rid in scored["accounting"]}
    bookkeeper = rows["acct-bookkeeper"]
    assert "US GAAP" in bookkeeper.missing
    assert "CPA" in bookkeeper.missing_optional


def test_score_works_on_unseen_text_and_rejects_bad_input() -> None:
    s = hiring.score(
        "Dental Hygienist\nClean teeth and take x-rays.", "Dental hygienist, 2015 - present"
    )
    assert 0.0 <= s.value <= 1.0
    with pytest.raises(TypeError, match="resume_text must be a str"):
        hiring.score("Nurse", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="job_text is empty"):
        hiring.score("  ", "Registered Nurse")
    assert hiring.score("Registered Nurse", "").value >= 0.0


def test_scoring_a_pool_does_not_hang() -> None:
    pool = POOLS[0]
    start = time.monotonic()
    for r in pool.resumes:
        hiring.score(pool.job, r.text)
    assert time.monotonic() - start < 60  # a hang guard only; latency is measured in bench/


def test_a_resume_written_as_prose_is_read_too() -> None:
    job = next(p.job for p in POOLS if p.name == "nursing")
    nurse = (
        "I have worked as an ICU registered nurse for six years at a teaching hospital, caring "
        "for ventilated patients and titrating pressor drips. I hold BLS, ACLS and CCRN."
    )
    recruiter = "I am a nurse recruiter. I have recruited ICU nurses with ACLS and CCRN for years."
    a, b = hiring.score(job, nurse), hiring.score(job, recruiter)
    assert a.titles == ("ICU registered nurse",)
    assert a.value > b.value + 0.3


def test_a_score_names_what_was_redacted_but_not_the_person() -> None:
    job = next(p.job for p in POOLS if p.name == "nursing")
    s = hiring.score(job, "Lakisha Washington\nlakisha@example.com\nStaff RN, ICU, 2018 - present")
    assert set(s.redacted) == {"name", "email"}
    assert "Lakisha" not in repr(s)


def test_a_jobs_vectors_are_computed_once(monkeypatch) -> None:
    import hiring.scoring.features as features

    calls: list[int] = []
    real = features.embed

    def counting(texts):
        calls.append(len(texts))
        return real(texts)

    monkeypatch.setattr(features, "embed", counting)
    job = "Warehouse Lead\n- Lead a team of pickers.\n- Keep inventory accurate.\n"
    hiring.score(job, "Warehouse Lead, Acme, 2019 - present")
    first = len(calls)
    hiring.score(job, "Picker, Acme, 2021 - present")
    assert first > 0 and len(calls) == first  # the second résumé embedded no job text


def test_hiring_uses_only_plaits_public_api() -> None:
    """The application imports plait's public packages only (the server's extension point
    is ``plait.server``), never their modules."""
    import ast
    from pathlib import Path

    public = {"plait", "plait.ai", "plait.testing", "plait.server"}
    for path in Path(hiring.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("plait"):
                assert node.module in public, f"{path}: from {node.module} import ..."
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("plait"):
                        assert alias.name in public, f"{path}: import {alias.name}"


def test_a_staffing_firm_nurse_is_a_nurse_and_a_nurse_recruiter_is_not() -> None:
    job = next(p.job for p in POOLS if p.name == "nursing")
    travel = hiring.score(job, "Travel ICU Nurse, Aya staffing, 2019 - present\n- Vented patients.")
    recruiter = hiring.score(
        job, "Nurse Recruiter, Aya staffing, 2019 - present\n- Placed ICU RNs."
    )
    role = {s: next(p for p in s.parts if p.name == "role") for s in (travel, recruiter)}
    assert "counts ¼" not in role[travel].detail
    assert "counts ¼" in role[recruiter].detail
    assert travel.value > recruiter.value


def test_a_keyword_list_under_experience_counts_as_a_keyword_list() -> None:
    job = next(p.job for p in POOLS if p.name == "nursing")
    listed = hiring.score(
        job,
        "Experience\nCoordinator, 2019 - present\n- ICU, ventilators, ACLS, CCRN, Epic, A-lines",
    )
    (vent,) = [m for m in listed.matched if m.name == "mechanical ventilation"]
    assert vent.strength <= 0.3
    done = hiring.score(
        job, "Experience\nStaff RN, ICU, 2019 - present\n- Managed ventilated patients."
    )
    (vent,) = [m for m in done.matched if m.name == "mechanical ventilation"]
    assert vent.strength == 1.0
