"""A SQLite database copied while in use, with SQLite's online backup API (``plait backup``).

Invariant: ``target`` only ever holds a complete, checked copy: the copy is written to
``target.partial``, checked (``PRAGMA quick_check``) and renamed.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from plait.errors import ConfigurationError
from plait.store.sqlite import path_from_url


def backup_sqlite(url: str, target: Path) -> int:
    """Copies the SQLite database at ``url`` to the new file ``target``; the bytes written."""
    source_path = path_from_url(url)
    if source_path == ":memory:":
        raise ConfigurationError("an in-memory database cannot be backed up")
    if not os.path.exists(source_path):
        raise ConfigurationError(f"no database file at {source_path!r} (from {url})")
    if target.exists():
        raise ConfigurationError(f"{str(target)!r} exists; give a new file name")
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(source_path, timeout=30.0)
    try:
        source.execute("PRAGMA busy_timeout = 30000")
        copy = sqlite3.connect(partial)
        try:
            # All pages in one step: one read transaction, so one consistent snapshot (in WAL
            # mode writers are not blocked meanwhile).
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise ConfigurationError(f"the copy of {url} failed its check: {verdict}")
        finally:
            copy.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, target)
    return target.stat().st_size
