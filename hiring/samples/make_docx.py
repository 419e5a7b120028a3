"""Writes the sample résumés that ship as Word files (.docx), so the demo and the tests read
DOCX as well as text. The generated files are committed; nothing runs this at run time.

Run it again after changing a résumé below::

    .venv/bin/python hiring/samples/make_docx.py

The output is byte-for-byte reproducible (fixed document properties and ZIP timestamps), so
re-running it without changes leaves git clean.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

from docx import Document

JOBS = Path(__file__).parent / "jobs"
FIXED = datetime(2026, 12, 1, 9, 0, 0)

# Each résumé: (job, file stem, lines). A line starting "# " is the name (a title), "## " a
# heading, "- " a bullet; "|" separates the cells of a one-row table (how Word CVs often lay
# out contact details); anything else is a paragraph.
RESUMES: list[tuple[str, str, list[str]]] = [
    (
        "backend-engineer",
        "adaeze-okonkwo",
        [
            "# Adaeze Okonkwo",
            "Senior Software Engineer, Backend",
            "London, United Kingdom | adaeze.okonkwo@example.com | +44 20 7946 0874",
            "## Summary",
            "Backend engineer with seven years in Python, five of them on payment and billing "
            "systems backed by PostgreSQL. I design APIs other teams like to use, I care about "
            "correctness where money is involved, and I have led the technical side of two "
            "teams through large migrations.",
            "## Experience",
            "Senior Software Engineer, Copperleaf Payments Ltd, London (2022 – present)",
            "- Technical lead for the billing platform: Python 3.11, FastAPI, SQLAlchemy 2 and "
            "PostgreSQL 15 on AWS RDS, 25 million invoices a year.",
            "- Designed the double-entry ledger schema and its constraints; cut reconciliation "
            "mismatches from hundreds a month to none.",
            "- Moved usage ingestion to Kafka with an outbox table, so no event is lost when a "
            "consumer restarts.",
            "- Led the upgrade from PostgreSQL 11 to 15 with logical replication and a "
            "ten-minute switchover.",
            "- Run the team's on-call rotation and incident reviews; mentor two engineers.",
            "Software Engineer, Brightmile Insurance, Manchester (2019 – 2022)",
            "- Built quote and policy APIs in Django REST Framework on PostgreSQL.",
            "- Wrote the team's integration tests against a real database with pytest and "
            "Docker; flaky test rate fell from 8% to under 1%.",
            "Graduate Developer, Brightmile Insurance, Manchester (2018 – 2019)",
            "- Python scripts and internal Django tools for the claims team.",
            "## Education",
            "MEng Computer Science, University of Manchester, 2018",
            "## Skills",
            "Python, FastAPI, Django, SQLAlchemy, asyncio, PostgreSQL, Redis, Kafka, Docker, "
            "Kubernetes, Terraform, AWS, pytest, OpenTelemetry.",
        ],
    ),
    (
        "icu-nurse",
        "daniel-haddad",
        [
            "# Daniel Haddad, RN",
            "Oak Park, IL | daniel.haddad@example.org | (708) 555-0166",
            "## Summary",
            "Registered nurse with four years of experience, three on a progressive care "
            "(step-down) unit and the last year floating to the medical and surgical ICUs. "
            "Looking for a permanent critical care position.",
            "## Licences and certifications",
            "- Registered Nurse, Illinois (active)",
            "- BLS and ACLS (American Heart Association), current",
            "- PCCN (progressive care certified nurse), 2024",
            "## Experience",
            "Registered Nurse, Float Pool (critical care and step-down), Riverside General "
            "Hospital, Chicago (2025 – present)",
            "- Float to the MICU and SICU about two shifts a week with one or two patients; "
            "ventilated patients, sedation and vasopressor infusions under ICU protocols.",
            "- Cover step-down and telemetry units on the other shifts.",
            "Registered Nurse, Progressive Care Unit, Riverside General Hospital (2022 – 2025)",
            "- Three to four patients per shift: post-ICU transfers, BiPAP, titratable "
            "diltiazem, heparin and insulin infusions, new tracheostomies.",
            "- Rapid response team member in 2024; unit preceptor for three new graduates.",
            "## Education",
            "Bachelor of Science in Nursing, DePaul University, 2022",
            "## Skills",
            "Epic, telemetry interpretation, arterial line monitoring, patient and family "
            "education, Arabic (fluent).",
        ],
    ),
    (
        "support-lead",
        "fiona-macleod",
        [
            "# Fiona MacLeod",
            "Customer Support Team Lead",
            "Glasgow, United Kingdom | fiona.macleod@example.com | 07700 900 145",
            "## Profile",
            "Customer support team lead with seven years in SaaS support and three years "
            "leading a team of ten. I coach people to write clear, kind answers, I plan rotas "
            "around the data, and I keep our customers and engineers talking to each other.",
            "## Experience",
            "Customer Support Team Lead, Tradebook Software Ltd, Glasgow (2023 – present)",
            "- Lead a team of ten support specialists for a job-scheduling and invoicing app "
            "used by 6,000 tradespeople: one-to-ones, quality reviews, hiring and onboarding.",
            "- Own the team's CSAT (92%), first response time (under one hour on e-mail) and "
            "SLAs; report to the Head of Support every week from Zendesk Explore.",
            "- Introduced a quality assurance scorecard and monthly calibration sessions.",
            "- Plan rotas with our workforce planner around month-end invoicing peaks.",
            "- Handle escalations and run the weekly bug review with engineering in Jira.",
            "Senior Support Specialist, Tradebook Software Ltd (2020 – 2023)",
            "- Tier 2 support for integrations with accounting packages; trained new starters.",
            "Support Specialist, Pennywise Accounting Ltd, Edinburgh (2018 – 2020)",
            "- E-mail and phone support for a bookkeeping app for sole traders.",
            "## Education",
            "MA (Hons) Psychology, University of Glasgow, 2018",
            "## Skills",
            "Zendesk, Intercom, Jira, Zendesk Explore, Excel, basic SQL, coaching, QA, "
            "workforce planning.",
        ],
    ),
]


def build(lines: list[str]) -> bytes:
    doc = Document()
    props = doc.core_properties
    props.author = props.last_modified_by = "plait samples"
    props.created = props.modified = FIXED
    props.revision = 1
    for line in lines:
        if line.startswith("# "):
            doc.add_heading(line[2:], level=0)
        elif line.startswith("## "):
            doc.add_heading(line[3:], level=1)
        elif line.startswith("- "):
            doc.add_paragraph(line[2:], style="List Bullet")
        elif " | " in line:
            cells = line.split(" | ")
            row = doc.add_table(rows=1, cols=len(cells)).rows[0]
            for cell, text in zip(row.cells, cells, strict=True):
                cell.text = text
        else:
            doc.add_paragraph(line)
    raw = io.BytesIO()
    doc.save(raw)
    return _reproducible(raw.getvalue())


def _reproducible(data: bytes) -> bytes:
    """The same ZIP with fixed timestamps, so the output does not change between runs."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=FIXED.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, source.read(item.filename))
    return out.getvalue()


def main() -> None:
    for job, stem, lines in RESUMES:
        path = JOBS / job / "candidates" / f"{stem}.docx"
        path.write_bytes(build(lines))
        print(f"wrote {path.relative_to(JOBS.parent)}")


if __name__ == "__main__":
    main()
