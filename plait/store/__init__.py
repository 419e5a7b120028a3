"""Stores: where workflows, journals and signals live. ``open_store`` picks one by URL."""

from __future__ import annotations

from plait.errors import ConfigurationError
from plait.store.base import Store


def open_store(url: str) -> Store:
    """A store for ``url``: ``sqlite:///file.db`` or ``postgresql://user@host/db``."""
    if url.startswith("sqlite:"):
        from plait.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        try:
            from plait.store.postgres import PostgresStore  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ConfigurationError(
                f"PostgreSQL support is not available ({exc}); install plait with psycopg"
            ) from None
        store: Store = PostgresStore(url)
        return store
    raise ConfigurationError(
        f"unknown database URL {url!r}: use sqlite:///plait.db or postgresql://user@host/db"
    )


__all__ = ["Store", "open_store"]
