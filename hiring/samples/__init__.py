"""The hiring demo's sample data: three job folders with their résumés (see README.md)."""

from __future__ import annotations

from pathlib import Path

JOBS = Path(__file__).parent / "jobs"


def job_folders() -> list[Path]:
    """The sample job folders, by name."""
    return sorted(p for p in JOBS.iterdir() if p.is_dir())
