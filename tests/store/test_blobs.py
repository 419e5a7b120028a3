"""Store conformance: blobs stored once per digest, references, adoption and collection.

Every test here runs on SQLite and on PostgreSQL (``store_url``).
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from plait.errors import WorkflowNotFound
from plait.store import Store
from tests.rawsql import count, sql

from .helpers import NOW, new

DAY = 86_400_000


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def test_a_blob_round_trips_and_is_stored_once(store: Store, store_url: str) -> None:
    data = bytes(range(256)) * 10
    await store.create_workflow(new("a"), NOW)
    await store.put_blob(digest(data), data, "application/pdf", "a", None, NOW)
    await store.put_blob(digest(data), data, "application/pdf", "a", None, NOW + 1)
    await store.put_blob(digest(data), data, "text/plain", None, "cand-1", NOW + 2)
    got = await store.get_blob(digest(data))
    assert got is not None
    assert (got.data, got.size, got.content_type) == (data, len(data), "application/pdf")
    assert await store.get_blob(digest(b"other")) is None
    assert count(store_url, "blobs") == 1
    assert count(store_url, "blob_refs") == 2  # the workflow's and the subject's


async def test_empty_bytes_are_a_blob(store: Store) -> None:
    await store.put_blob(digest(b""), b"", "text/plain", None, "s", NOW)
    got = await store.get_blob(digest(b""))
    assert got is not None and (got.data, got.size) == (b"", 0)


async def test_an_unknown_owner_is_refused_and_nothing_is_stored(store: Store) -> None:
    with pytest.raises(WorkflowNotFound, match="ghost"):
        await store.put_blob(digest(b"x"), b"x", "text/plain", "ghost", None, NOW)
    assert await store.get_blob(digest(b"x")) is None


async def test_collection_deletes_only_old_orphans(store: Store, store_url: str) -> None:
    blobs = {name: name.encode() for name in ("floating", "fresh", "owned", "subject", "gone")}
    await store.create_workflow(new("keeper"), NOW)
    await store.create_workflow(new("doomed"), NOW)
    await store.put_blob(digest(blobs["floating"]), blobs["floating"], "t/p", None, None, NOW)
    await store.put_blob(digest(blobs["fresh"]), blobs["fresh"], "t/p", None, None, NOW + DAY)
    await store.put_blob(digest(blobs["owned"]), blobs["owned"], "t/p", "keeper", None, NOW)
    await store.put_blob(digest(blobs["subject"]), blobs["subject"], "t/p", None, "c-1", NOW)
    await store.put_blob(digest(blobs["gone"]), blobs["gone"], "t/p", "doomed", None, NOW)
    sql(store_url, "DELETE FROM workflows WHERE id = 'doomed'")  # as gc will

    assert await store.collect_blobs(NOW + DAY) == 2  # the floating one and the gone one's
    left = {n for n, d in blobs.items() if await store.get_blob(digest(d)) is not None}
    assert left == {"fresh", "owned", "subject"}
    assert await store.collect_blobs(NOW + DAY) == 0


async def test_a_put_again_keeps_a_floating_blob_alive(store: Store) -> None:
    await store.put_blob(digest(b"x"), b"x", "t/p", None, None, NOW)
    await store.put_blob(digest(b"x"), b"x", "t/p", None, None, NOW + DAY)
    assert await store.collect_blobs(NOW + DAY) == 0
    assert await store.get_blob(digest(b"x")) is not None


async def test_a_workflow_started_or_signalled_with_a_ref_adopts_the_blob(store: Store) -> None:
    for name in ("arg", "sig", "missing"):
        if name != "missing":
            await store.put_blob(digest(name.encode()), name.encode(), "t/p", None, None, NOW)
    started = dataclasses.replace(new("a"), blobs=(digest(b"arg"), digest(b"missing")))
    await store.create_workflow(started, NOW)
    assert await store.send_signal("a", "file", "{}", "d1", NOW, blobs=(digest(b"sig"),))
    assert await store.collect_blobs(NOW + 2 * DAY) == 0
    assert await store.get_blob(digest(b"arg")) is not None
    assert await store.get_blob(digest(b"sig")) is not None
    assert await store.get_blob(digest(b"missing")) is None
