"""Store conformance: application records (``engine.records``), by kind, prefix and subject.

Every test here runs on SQLite and on PostgreSQL (``store_url``).
"""

from __future__ import annotations

from plait.store import Store

from .helpers import NOW


async def test_put_get_replace_and_delete(store: Store) -> None:
    assert await store.get_record("optout", "a@x.org") is None
    await store.put_record("optout", "a@x.org", '{"at":1}', "cand-1", NOW)
    await store.put_record("optout", "a@x.org", '{"at":2}', None, NOW + 5)
    got = await store.get_record("optout", "a@x.org")
    assert got is not None
    assert (got.value, got.subject, got.created_at, got.updated_at) == (
        '{"at":2}',
        None,
        NOW,
        NOW + 5,
    )
    assert await store.get_record("other-kind", "a@x.org") is None
    assert await store.delete_record("optout", "a@x.org")
    assert not await store.delete_record("optout", "a@x.org")
    assert await store.get_record("optout", "a@x.org") is None


async def test_list_by_kind_prefix_and_subject(store: Store) -> None:
    rows = [
        ("audit", "cand-1/001", "cand-1"),
        ("audit", "cand-1/002", "cand-1"),
        ("audit", "cand-10/001", "cand-10"),
        ("audit", "Cand-1/003", "cand-1"),  # case matters in a prefix
        ("audit", "cand_1/004", None),  # so does '_', which LIKE would match
        ("token", "t1", "cand-1"),
    ]
    for kind, key, subject in reversed(rows):
        await store.put_record(kind, key, '"v"', subject, NOW)
    by_prefix = await store.list_records("audit", "cand-1/", None)
    assert [r.key for r in by_prefix] == ["cand-1/001", "cand-1/002"]
    assert [r.key for r in await store.list_records("audit", "cand-1", None)] == [
        "cand-1/001",
        "cand-1/002",
        "cand-10/001",
    ]
    by_subject = await store.list_records(None, None, "cand-1")
    assert [(r.kind, r.key) for r in by_subject] == [
        ("audit", "Cand-1/003"),
        ("audit", "cand-1/001"),
        ("audit", "cand-1/002"),
        ("token", "t1"),
    ]
    assert [r.key for r in await store.list_records("token", None, "cand-10")] == []
    assert len(await store.list_records("audit", None, None)) == 5
    assert [r.key for r in await store.list_records("audit", "%", None)] == []


async def test_records_are_shared_between_processes(store: Store, other: Store) -> None:
    await store.put_record("mailbox", "m1", '{"to":"a"}', None, NOW)
    got = await other.get_record("mailbox", "m1")
    assert got is not None and got.value == '{"to":"a"}'
