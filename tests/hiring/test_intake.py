"""hiring.intake: the shipped sample jobs and résumés load and validate, and anything wrong
in a job folder or a candidate list is reported naming the file and the field."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

import plait
from hiring.intake import IntakeError, load_candidates, load_job_folder
from hiring.models import JobConfig
from hiring.samples import JOBS, job_folders

SAMPLE_JOBS = {"backend-engineer": 9, "icu-nurse": 8, "support-lead": 8}
EXAMPLE_DOMAINS = ("@example.com", "@example.net", "@example.org")


def _ref(n: int) -> plait.BlobRef:
    return plait.BlobRef(f"sha256:{n:064x}", 100 + n, "text/calendar")


@pytest.fixture
def backend(tmp_path: Path) -> Path:
    """A copy of the backend sample job (TOML + CSV) to break."""
    return Path(shutil.copytree(JOBS / "backend-engineer", tmp_path / "backend-engineer"))


@pytest.fixture
def support(tmp_path: Path) -> Path:
    """A copy of the support sample job (YAML + JSON) to break."""
    return Path(shutil.copytree(JOBS / "support-lead", tmp_path / "support-lead"))


def _problems(call: object, *args: object) -> list[str]:
    with pytest.raises(IntakeError) as caught:
        call(*args)  # type: ignore[operator]
    assert isinstance(caught.value, plait.ConfigurationError)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# -- the sample data -------------------------------------------------------------------------
def test_the_three_sample_jobs_are_shipped() -> None:
    assert [p.name for p in job_folders()] == sorted(SAMPLE_JOBS)


@pytest.mark.parametrize("job_id", sorted(SAMPLE_JOBS))
def test_every_sample_job_folder_loads_and_validates(job_id: str) -> None:
    files = load_job_folder(JOBS / job_id)
    config = files.config
    assert config.id == job_id
    assert files.description_name == "description.md"
    assert files.description_type == "text/markdown"
    assert files.description.decode().startswith("# ") and len(files.description) > 1500
    assert config.title and config.location
    assert 2 <= len(config.panel) <= 3
    assert config.sender.email.endswith("@example.com")
    assert all(m.email.endswith("@example.com") for m in config.panel)
    # every member has a calendar, read from the folder under the path the file gave
    assert [len(p) for p in files.panel_calendars] == [1] * len(config.panel)
    for paths in files.panel_calendars:
        for rel in paths:
            assert files.calendars[rel] == (JOBS / job_id / rel).read_bytes()
    assert all(m.calendars == [] for m in config.panel)  # refs come once stored


def test_a_sample_panel_spans_two_time_zones() -> None:
    zones = {p.name: {m.time_zone for m in load_job_folder(p).config.panel} for p in job_folders()}
    assert zones["backend-engineer"] == {"Europe/Berlin", "Europe/Lisbon"}
    assert zones["support-lead"] == {"Europe/London", "America/New_York"}


def test_the_config_file_may_be_named_directly_and_yaml_reads_like_toml() -> None:
    by_folder = load_job_folder(JOBS / "support-lead")
    by_file = load_job_folder(JOBS / "support-lead" / "job.yaml")
    assert by_file.config == by_folder.config
    assert by_folder.config_name == "job.yaml"
    assert by_folder.config.panel[1].working_hours["fri"] == "08:00-16:30"
    nurse = load_job_folder(JOBS / "icu-nurse").config
    assert [d.days for d in nurse.cadence.follow_ups] == [3, 7]
    assert nurse.cadence.no_response_after.days == 14


def test_with_calendars_puts_the_stored_refs_on_each_member() -> None:
    files = load_job_folder(JOBS / "backend-engineer")
    refs = {rel: _ref(i) for i, rel in enumerate(files.calendars)}
    config = files.with_calendars(refs)
    for member, paths in zip(config.panel, files.panel_calendars, strict=True):
        assert member.calendars == [refs[p] for p in paths]
    # still a valid JobConfig that travels as JSON
    assert JobConfig.model_validate_json(config.model_dump_json()) == config
    with pytest.raises(plait.ConfigurationError, match="henrik-aalto.ics"):
        files.with_calendars({k: v for k, v in refs.items() if "henrik" not in k})


def test_every_sample_candidate_loads() -> None:
    total = 0
    for folder in job_folders():
        candidates = load_candidates(folder)
        assert len(candidates) == SAMPLE_JOBS[folder.name]
        total += len(candidates)
        assert len({c.email for c in candidates}) == len(candidates)
        for c in candidates:
            assert c.email.endswith(EXAMPLE_DOMAINS), c.email
            assert c.data == (folder / "candidates" / c.filename).read_bytes()
            ZoneInfo(c.time_zone)
            assert c.source and c.source not in ("csv", "json")
        docx = [c for c in candidates if c.filename.endswith(".docx")]
        assert len(docx) == 1 and docx[0].data.startswith(b"PK")
        assert docx[0].content_type.endswith("wordprocessingml.document")
    assert total == 25


def test_the_labels_cover_every_sample_resume_once() -> None:
    with (JOBS.parent / "labels.csv").open(encoding="utf-8") as f:
        labels = list(csv.DictReader(f))
    listed = {
        (folder.name, f"candidates/{c.filename}")
        for folder in job_folders()
        for c in load_candidates(folder)
    }
    assert {(r["job"], r["file"]) for r in labels} == listed
    assert len(labels) == len(listed) == 25
    for job in SAMPLE_JOBS:
        fits = [r["fit"] for r in labels if r["job"] == job]
        assert 2 <= fits.count("strong") <= 3
        assert {"partial", "near-miss", "keyword-stuffed", "off-field"} <= set(fits)


def test_a_folder_without_a_listing_reads_names_and_addresses_from_the_resumes() -> None:
    for folder in job_folders():
        listed = {(c.name, c.email, c.data) for c in load_candidates(folder)}
        found = load_candidates(folder / "candidates")
        assert {(c.name, c.email, c.data) for c in found} == listed  # txt, md and docx alike
        assert {c.source for c in found} == {"folder"}


def test_the_sample_calendars_recur_with_exceptions_for_months() -> None:
    paths = sorted(JOBS.glob("*/calendars/*.ics"))
    assert len(paths) == 7
    jobs_with_rrule, jobs_with_exdate = set(), set()
    for path in paths:
        calendar = icalendar.Calendar.from_ical(path.read_bytes())
        events = list(calendar.walk("VEVENT"))
        assert events and all(not c.errors for c in calendar.walk())
        if any("RRULE" in e for e in events):
            jobs_with_rrule.add(path.parent.parent.name)
        if any("EXDATE" in e for e in events):
            jobs_with_exdate.add(path.parent.parent.name)
        later = recurring_ical_events.of(calendar).between(date(2027, 3, 1), date(2027, 3, 15))
        assert later, f"{path.name} has no busy time in March 2027"
    assert jobs_with_rrule == jobs_with_exdate == set(SAMPLE_JOBS)

    # an EXDATE removes one occurrence of a weekly meeting and keeps the others
    jana = icalendar.Calendar.from_ical(
        (JOBS / "backend-engineer/calendars/jana-petersen.ics").read_bytes()
    )
    planning = [
        e["DTSTART"].dt
        for e in recurring_ical_events.of(jana).between(date(2026, 12, 14), date(2027, 1, 13))
        if str(e["SUMMARY"]) == "Shipments planning"
    ]
    berlin = ZoneInfo("Europe/Berlin")
    assert datetime(2026, 12, 22, 14, tzinfo=berlin) in planning
    assert datetime(2026, 12, 29, 14, tzinfo=berlin) not in planning
    assert datetime(2027, 1, 5, 14, tzinfo=berlin) in planning


def test_the_docx_samples_are_what_make_docx_writes() -> None:
    from hiring.samples import make_docx

    for job, stem, lines in make_docx.RESUMES:
        assert (JOBS / job / "candidates" / f"{stem}.docx").read_bytes() == make_docx.build(
            lines
        ), f"run hiring/samples/make_docx.py: {stem}.docx is out of date"


# -- a job folder with mistakes --------------------------------------------------------------
def test_a_bad_email_names_the_file_and_the_field(backend: Path) -> None:
    _edit(backend / "job.toml", '"jana.petersen@example.com"', '"jana.petersen@"')
    (problem,) = _problems(load_job_folder, backend)
    assert problem.startswith("job.toml: panel.0.email: value is not a valid email address")
    assert "'jana.petersen@'" in problem


def test_a_bad_email_in_yaml_names_the_yaml_file(support: Path) -> None:
    _edit(support / "job.yaml", "email: deshawn.carter@example.com", "email: deshawn carter")
    (problem,) = _problems(load_job_folder, support)
    assert problem.startswith("job.yaml: panel.1.email: value is not a valid email address")


def test_unknown_fields_are_named_with_the_fields_allowed_there(backend: Path) -> None:
    _edit(backend / "job.toml", 'name = "Jana Petersen"', 'name = "Jana Petersen"\nphone = "1"')
    _edit(backend / "job.toml", "shortlist_size = 4", "shortlist_size = 4\nsalary = 90000")
    problems = _problems(load_job_folder, backend)
    assert len(problems) == 2
    phone = next(p for p in problems if "phone" in p)
    assert phone.startswith("job.toml: panel.0.phone: unknown field (the fields here are: ")
    assert "working_hours" in phone and "calendars" in phone
    salary = next(p for p in problems if "salary" in p)
    assert salary.startswith("job.toml: salary: unknown field") and "interview_minutes" in salary


def test_missing_and_wrong_values_are_each_reported(backend: Path) -> None:
    text = (backend / "job.toml").read_text()
    text = text.replace('id = "backend-engineer"\n', "")
    text = text.replace('time_zone = "Europe/Lisbon"', 'time_zone = "Europe/Lisboa"')
    text = text.replace("interview_minutes = 45", "interview_minutes = 5")
    text = text.replace('fri = "09:00-14:00"', 'fri = "9 to 2"')
    (backend / "job.toml").write_text(text)
    problems = _problems(load_job_folder, backend)
    assert "job.toml: id: missing (required)" in problems
    assert any(p.startswith("job.toml: interview_minutes: ") and "15" in p for p in problems)
    assert any(
        p.startswith("job.toml: panel.0.working_hours: fri: '9 to 2' is not 'HH:MM-HH:MM'")
        for p in problems
    )
    # the zone is checked once the rest validates: fix the rest and it is reported
    text = text.replace("interview_minutes = 5", "interview_minutes = 45")
    text = text.replace('fri = "9 to 2"', 'fri = "09:00-14:00"')
    (backend / "job.toml").write_text('id = "backend-engineer"\n' + text)
    (problem,) = _problems(load_job_folder, backend)
    assert problem.startswith("job.toml: panel.1.time_zone: 'Europe/Lisboa' is not an IANA")


def test_a_job_id_that_is_not_a_slug_says_what_an_id_looks_like(backend: Path) -> None:
    _edit(backend / "job.toml", 'id = "backend-engineer"', 'id = "Backend Engineer"')
    (problem,) = _problems(load_job_folder, backend)
    assert problem.startswith("job.toml: id: 'Backend Engineer' is not a job id: use lowercase")


def test_a_pdf_description_is_read_as_bytes_with_its_type(backend: Path) -> None:
    (backend / "description.md").unlink()
    (backend / "description.pdf").write_bytes(b"%PDF-1.7 stand-in")
    files = load_job_folder(backend)
    assert files.description_name == "description.pdf"
    assert files.description == b"%PDF-1.7 stand-in"
    assert files.description_type == "application/pdf"


def test_a_missing_description_is_reported(backend: Path) -> None:
    (backend / "description.md").unlink()
    (problem,) = _problems(load_job_folder, backend)
    assert str(backend) in problem
    assert "no job description: add description.md, .txt, .pdf or .docx beside job.toml" in problem


def test_a_legacy_word_description_asks_for_docx_or_pdf(backend: Path) -> None:
    (backend / "description.md").rename(backend / "description.doc")
    (problem,) = _problems(load_job_folder, backend)
    assert problem.startswith("description.doc: ") and ".docx" in problem


def test_two_descriptions_or_two_configs_are_refused(backend: Path) -> None:
    (backend / "description.txt").write_text("Senior Backend Engineer")
    (problem,) = _problems(load_job_folder, backend)
    assert "description.md and description.txt are both descriptions" in problem
    (backend / "description.txt").unlink()
    (backend / "job.yaml").write_text("id: x\n")
    (problem,) = _problems(load_job_folder, backend)
    assert "job.toml and job.yaml both configure the job" in problem


def test_no_configuration_file(backend: Path) -> None:
    (backend / "job.toml").unlink()
    (problem,) = _problems(load_job_folder, backend)
    assert "no job configuration: add job.toml or job.yaml" in problem
    (problem,) = _problems(load_job_folder, backend / "description.md")
    assert problem.startswith("description.md: not a job configuration: pass the job folder")


def test_a_calendar_that_does_not_parse_names_the_member_and_the_file(backend: Path) -> None:
    broken = b"BEGIN:VCALENDAR\r\nThis is not a calendar\r\n"
    with pytest.raises(ValueError):  # icalendar agrees it is not one
        icalendar.Calendar.from_ical(broken)
    (backend / "calendars/tomas-ferreira.ics").write_bytes(broken)
    (problem,) = _problems(load_job_folder, backend)
    assert problem.startswith(
        "job.toml: panel.1.calendars.0: calendars/tomas-ferreira.ics is not a valid iCalendar"
    )


def test_a_calendar_with_a_broken_recurrence_rule_is_reported(backend: Path) -> None:
    _edit(
        backend / "calendars/henrik-aalto.ics",
        "RRULE:FREQ=WEEKLY;BYDAY=FR",
        "RRULE:FREQ=FORTNIGHTLY;BYDAY=FR",
    )
    parsed = icalendar.Calendar.from_ical((backend / "calendars/henrik-aalto.ics").read_bytes())
    assert any(c.errors for c in parsed.walk())  # icalendar keeps the error beside the event
    (problem,) = _problems(load_job_folder, backend)
    assert problem.startswith("job.toml: panel.2.calendars.0: calendars/henrik-aalto.ics: ")
    assert "henrik-focus-friday@example.com" in problem and "RRULE" in problem


def test_a_missing_calendar_and_a_wrong_calendar_value(backend: Path) -> None:
    (backend / "calendars/jana-petersen.ics").unlink()
    _edit(
        backend / "job.toml",
        'calendars = ["calendars/henrik-aalto.ics"]',
        'calendars = "calendars/henrik-aalto.ics"',
    )
    problems = _problems(load_job_folder, backend)
    assert any(
        p.startswith("job.toml: panel.0.calendars.0: calendars/jana-petersen.ics: no such file")
        for p in problems
    )
    assert any(
        p.startswith("job.toml: panel.2.calendars: expected a list of .ics paths")
        and '"calendars/henrik-aalto.ics"' in p
        for p in problems
    )


def test_a_config_that_is_not_toml(backend: Path) -> None:
    (backend / "job.toml").write_text("id = backend-engineer\n")
    (problem,) = _problems(load_job_folder, backend)
    assert problem.startswith("job.toml: not valid TOML: ") and "line 1" in problem


# -- candidate lists with mistakes -----------------------------------------------------------
def _write_csv(folder: Path, rows: list[list[str]]) -> Path:
    path = folder / "candidates.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


HEADER = ["name", "email", "time_zone", "file", "source"]


def test_a_csv_naming_a_missing_file_names_the_line_and_field(backend: Path) -> None:
    _write_csv(
        backend,
        [
            HEADER,
            ["Priya Raghunathan", "priya@example.com", "", "candidates/priya-raghunathan.md", ""],
            ["Nobody Here", "nobody@example.com", "UTC", "candidates/nobody.md", "referral"],
        ],
    )
    (problem,) = _problems(load_candidates, backend)
    assert problem.startswith("candidates.csv: line 3: file: candidates/nobody.md: no such file")


def test_a_csv_with_a_bad_email_a_bad_zone_and_a_duplicate(backend: Path) -> None:
    md = "candidates/priya-raghunathan.md"
    _write_csv(
        backend,
        [
            HEADER,
            ["Priya Raghunathan", "priya@example.com", "Europe/Berlin", md, ""],
            ["Priya R.", "PRIYA@example.com", "", "candidates/sofia-marchetti.md", ""],
            ["Kenji Watanabe", "kenji at example.net", "", "candidates/kenji-watanabe.txt", ""],
            ["Emre Yıldız", "emre@example.com", "Leipzig", "candidates/emre-yildiz.md", ""],
        ],
    )
    problems = _problems(load_candidates, backend / "candidates.csv")
    assert problems[0] == (
        "candidates.csv: line 3: email: PRIYA@example.com is already on line 2 (one candidate "
        "per address: remove one entry, or merge them by hand)"
    )
    assert problems[1].startswith("candidates.csv: line 4: email: value is not a valid email")
    assert problems[2].startswith("candidates.csv: line 5: time_zone: 'Leipzig' is not an IANA")
    assert len(problems) == 3


def test_a_csv_with_unknown_and_missing_columns(backend: Path) -> None:
    _write_csv(backend, [["name", "phone", "file"], ["A B", "1", "candidates/emre-yildiz.md"]])
    problems = _problems(load_candidates, backend)
    assert problems[0].startswith("candidates.csv: line 1: phone: unknown column (the columns")
    assert problems[1].startswith("candidates.csv: line 1: email: missing column")


def test_defaults_when_optional_cells_are_empty(backend: Path) -> None:
    _write_csv(
        backend,
        [
            HEADER,
            ["Emre Yıldız", "emre@example.com", "", "candidates/emre-yildiz.md", ""],
            [""] * 5,
        ],
    )
    (only,) = load_candidates(backend)
    assert (only.name, only.time_zone, only.source, only.filename) == (
        "Emre Yıldız",
        "UTC",
        "csv",
        "emre-yildiz.md",
    )


def test_a_json_listing_reports_entries_by_number(support: Path) -> None:
    entries = json.loads((support / "candidates.json").read_text())
    entries[1]["email"] = "kwame.asante@"
    entries[2]["notes"] = "met at a fair"
    del entries[3]["file"]
    (support / "candidates.json").write_text(json.dumps({"candidates": entries}))
    problems = _problems(load_candidates, support)
    assert problems[0].startswith("candidates.json: entry 2: email: value is not a valid email")
    assert problems[1].startswith("candidates.json: entry 3: notes: unknown field (the fields")
    assert problems[2] == "candidates.json: entry 4: file: missing (required)"


def test_both_listings_in_one_folder_are_refused(support: Path) -> None:
    _write_csv(support, [HEADER])
    (problem,) = _problems(load_candidates, support)
    assert "both candidates.csv and candidates.json" in problem


def test_a_folder_of_resumes_without_an_address_or_a_name(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Ana Silva\nana.silva@example.org\nNurse")
    (tmp_path / "b.md").write_text("# Bea Kim\nPhone only: 555-0100\n")
    (tmp_path / "c.txt").write_text("12 Main Street\nc@example.org\n")
    (tmp_path / "d.txt").write_text("Ana Silva\nANA.SILVA@example.org\n")
    (tmp_path / "notes.csv.bak").write_text("ignored")
    problems = _problems(load_candidates, tmp_path)
    assert problems[0].startswith("b.md: email: no e-mail address in the résumé")
    assert problems[1].startswith("c.txt: name: the first line '12 Main Street' is not a name")
    assert problems[2].startswith("d.txt: email: ANA.SILVA@example.org is also in a.txt")
    assert all("candidates.csv" in p for p in problems[:2])


def test_a_single_resume_file_and_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "cv.md").write_text("Curriculum Vitae\n\n# JOHN O'NEILL\njohn@example.com\n")
    (only,) = load_candidates(tmp_path / "cv.md")
    assert (only.name, only.email, only.content_type) == (
        "John O'Neill",
        "john@example.com",
        "text/markdown",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    (problem,) = _problems(load_candidates, empty)
    assert "no résumés" in problem and "candidates.csv" in problem
