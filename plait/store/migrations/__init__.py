"""Numbered SQL migrations, one folder per dialect (``001_init.sql``, ``002_...sql``)."""

from __future__ import annotations

from importlib import resources


def load(dialect: str) -> list[tuple[int, str]]:
    """The migrations of ``dialect`` as ``(number, sql)``, in order."""
    folder = resources.files(__package__).joinpath(dialect)
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            found.append((int(item.name.split("_", 1)[0]), item.read_text()))
    return sorted(found)
