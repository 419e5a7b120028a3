"""Fixtures of the store conformance suite: an open store on each backend (``store_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from plait.store import Store, open_store


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def other(store: Store, store_url: str) -> AsyncIterator[Store]:
    """A second store on the same database, as another process would have (own connections)."""
    s = open_store(store_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
