"""Reading a job and its candidates from the file system: what ``make demo`` and
``python -m hiring`` hand to the pipeline.

A **job folder** holds the description (``description.md``, ``.txt``, ``.pdf`` or ``.docx``)
and beside it the job's configuration (``job.toml``, ``job.yaml`` or ``job.yml``): the
:class:`~hiring.models.JobConfig` fields, where each panel member's ``calendars`` are paths
of ``.ics`` files relative to the folder. :func:`load_job_folder` returns the validated
configuration, the description's bytes and each calendar's bytes keyed by its path as
written; the caller stores them as blobs and puts the references in with
:meth:`JobFiles.with_calendars`.

**Candidates** come from a listing (``candidates.csv`` or ``candidates.json``: ``name``,
``email``, ``file``, optional ``time_zone`` and ``source``), or, without one, from every
résumé in a folder, the name read from its first line and the e-mail address found in its
text. :func:`load_candidates` returns each with the résumé's bytes.

These are pure functions over the file system: no engine, no database. Anything wrong is
an :class:`IntakeError` listing every problem found, each naming the file and the field
(``job.toml: panel.0.email: value is not a valid email address: ...``), so a person can fix
them all in one pass. Two candidates with the same address are reported, never merged.
"""

from hiring.intake.candidates import CandidateFile, load_candidates
from hiring.intake.common import (
    CONFIG_NAMES,
    CONTENT_TYPES,
    DOCUMENT_SUFFIXES,
    LISTING_NAMES,
    IntakeError,
    content_type,
)
from hiring.intake.jobs import JobFiles, load_job_folder

__all__ = [
    "CONFIG_NAMES",
    "CONTENT_TYPES",
    "DOCUMENT_SUFFIXES",
    "LISTING_NAMES",
    "CandidateFile",
    "IntakeError",
    "JobFiles",
    "content_type",
    "load_candidates",
    "load_job_folder",
]
