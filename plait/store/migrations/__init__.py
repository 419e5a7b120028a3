"""Numbered SQL migrations, one folder per dialect (``001_init.sql``, ``002_...sql``), and what
a database's schema looks like against them (:class:`SchemaStatus`).

A database records each migration it has applied in ``schema_migrations``. Migrations are
additive (new tables, new nullable or defaulted columns, new or replaced indexes), so the
previous release of plait keeps working against a schema one release ahead: that is what
lets old and new workers run side by side during a rollout (docs/operations.md, "Upgrades").
"""

from __future__ import annotations

import os

from plait.frozen import Frozen

# The SQL files sit beside this module (plait is installed as files, never zipped): read
# with os, not importlib.resources, whose import (with zipfile) cost a worker's start-up
# ~10 ms before every engine open.
_HERE = os.path.dirname(os.path.abspath(__file__))


def _files(dialect: str) -> list[str]:
    return [n for n in os.listdir(os.path.join(_HERE, dialect)) if n.endswith(".sql")]


def load(dialect: str) -> list[tuple[int, str]]:
    """The migrations of ``dialect`` as ``(number, sql)``, in order."""
    found = []
    for name in _files(dialect):
        with open(os.path.join(_HERE, dialect, name), encoding="utf-8") as f:
            found.append((int(name.split("_", 1)[0]), f.read()))
    return sorted(found)


def names(dialect: str) -> dict[int, str]:
    """The migrations of ``dialect`` by number: ``{7: "007_views"}``."""
    return {int(n.split("_", 1)[0]): n.removesuffix(".sql") for n in _files(dialect)}


class SchemaStatus(Frozen):
    """A database's schema against the migrations this plait knows.

    ``applied``: the numbers recorded in the database; ``known``: this plait's migrations by
    number (their file names); ``pending``: known but not applied (``plait migrate`` applies
    them); ``unknown``: applied but not known, i.e. the schema is ahead of this code (written by
    a newer plait; allowed, since migrations are additive).
    """

    url: str
    applied: tuple[int, ...]
    known: dict[int, str]

    @property
    def pending(self) -> tuple[int, ...]:
        done = set(self.applied)
        return tuple(n for n in sorted(self.known) if n not in done)

    @property
    def unknown(self) -> tuple[int, ...]:
        return tuple(n for n in self.applied if n not in self.known)

    def describe_pending(self) -> str:
        """``"007_views, 008_model_ledger"``."""
        return ", ".join(self.known[n] for n in self.pending)
