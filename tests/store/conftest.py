"""Fixtures of the store conformance suite: an open store on each backend (``store_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from plait.store import Store, open_store


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    s = open_store(url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with opened(store_url) as s:
        yield s


@pytest.fixture
async def other(store: Store, store_url: str) -> AsyncIterator[Store]:
    """A second store on the same database, as another process would have (own connections)."""
    async with opened(store_url) as s:
        yield s


@pytest.fixture
async def one(store_url: str) -> AsyncIterator[Store]:
    """A store with one connection (on PostgreSQL, of the default two): what is sent
    together is one batch in one transaction, in the order sent."""
    url = store_url
    if url.startswith("postgresql"):
        url += ("&" if "?" in url else "?") + "plait_pool_size=1"
    async with opened(url) as s:
        yield s
