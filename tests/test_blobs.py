"""Blobs: stored once, passed by reference through steps, workflow code, arguments and
signals; owned by a workflow or a subject; orphans collected after a day."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

import plait
from plait.testing import TestEngine
from tests.rawsql import count, sql

UPLOADS: list[str] = []


@plait.step
async def upload(name: str) -> plait.BlobRef:
    UPLOADS.append(name)
    return await plait.put_blob(f"résumé of {name}".encode(), content_type="application/pdf")


@plait.step
async def read(ref: plait.BlobRef) -> str:
    blob = await plait.get_blob(ref)
    return f"{blob.content_type} {blob.size} {blob.data.decode()}"


@plait.workflow
async def screening(ctx: plait.Context, name: str) -> list[str]:
    resume = await upload(name)
    note = await plait.put_blob(f"notes on {name}".encode(), content_type="text/plain")
    await ctx.sleep(timedelta(hours=1))  # suspends: the next run replays all of the above
    assert isinstance(resume, plait.BlobRef)  # a step result decodes back into a ref
    return [await read(resume), await read(note)]


@plait.workflow
async def takes_a_file(ctx: plait.Context, file: plait.BlobRef) -> int:
    blob = await plait.get_blob(file)  # in workflow code: immutable bytes, same on replay
    extra = await ctx.wait_for_signal("attachment", type=plait.BlobRef)
    return blob.size + (await plait.get_blob(extra)).size


async def test_a_blob_from_a_step_is_read_by_a_later_step_after_a_replay(
    test_engine: TestEngine,
) -> None:
    UPLOADS.clear()
    test_engine.register(screening)
    h = await test_engine.start(screening, "ada", id="s1")
    assert await test_engine.run_until_idle() == 2  # the first run, and the replay
    assert await h.result() == ["application/pdf 15 résumé of ada", "text/plain 12 notes on ada"]
    assert UPLOADS == ["ada"]  # the step ran once; the workflow code's put ran twice
    assert count(test_engine.url, "blobs") == 2  # ... and stored once
    owners = sql(test_engine.url, "SELECT workflow_id, subject FROM blob_refs")
    assert sorted(owners) == [("s1", None), ("s1", None)]
    assert "blob" not in {e.kind for e in await test_engine.journal("s1")}


async def test_refs_in_arguments_and_signals_keep_blobs_and_orphans_go(
    test_engine: TestEngine,
) -> None:
    test_engine.register(takes_a_file)
    e = test_engine
    cv = await e.put_blob(b"%PDF-1.7 cv", content_type="application/pdf")  # a webhook's upload
    mail = await e.put_blob(b"attached", content_type="text/plain")
    lost = await e.put_blob(b"never used", content_type="text/plain")
    about = await e.put_blob(b"self-id", content_type="text/plain", subject="cand-1")
    assert cv == plait.BlobRef(
        "sha256:" + hashlib.sha256(b"%PDF-1.7 cv").hexdigest(), 11, "application/pdf"
    )
    h = await e.start(takes_a_file, cv)
    await e.run_until_idle()
    assert await e.signal(h.id, "attachment", mail)
    e.clock.advance(timedelta(days=2))
    assert await e.collect_blobs() == 1  # only the one nobody holds
    with pytest.raises(plait.BlobNotFound, match=lost.digest):
        await e.get_blob(lost)
    assert (await e.get_blob(about)).data == b"self-id"
    await e.run_until_idle()
    assert await h.result() == 11 + 8

    sql(e.url, "DELETE FROM workflows WHERE id = ?", (h.id,))  # as gc will
    assert await e.collect_blobs(older_than=timedelta(days=1)) == 2
    assert (await e.get_blob(about.digest)).content_type == "text/plain"


async def test_a_fresh_orphan_is_kept_for_a_day(test_engine: TestEngine) -> None:
    ref = await test_engine.put_blob(b"just uploaded", content_type="text/plain")
    test_engine.clock.advance(timedelta(hours=23))
    assert await test_engine.collect_blobs() == 0
    assert (await test_engine.get_blob(ref)).data == b"just uploaded"


async def test_blob_errors(test_engine: TestEngine) -> None:
    with pytest.raises(plait.ConfigurationError, match="engine.put_blob"):
        await plait.put_blob(b"x", content_type="text/plain")
    with pytest.raises(plait.ConfigurationError, match="engine.get_blob"):
        await plait.get_blob("sha256:" + "0" * 64)
    with pytest.raises(plait.WorkflowNotFound, match="ghost"):
        await test_engine.put_blob(b"x", content_type="text/plain", owner="ghost")
    with pytest.raises(plait.ConfigurationError, match="content_type"):
        await test_engine.put_blob(b"x", content_type="")
    with pytest.raises(plait.ConfigurationError, match="bytes"):
        await test_engine.put_blob("text", content_type="text/plain")  # type: ignore[arg-type]
    with pytest.raises(plait.BlobNotFound):
        await test_engine.get_blob("sha256:" + "0" * 64)
    with pytest.raises(plait.ConfigurationError, match="digest"):
        plait.BlobRef("md5:abc", 1, "text/plain")
    test_engine.max_blob_bytes = 8
    with pytest.raises(plait.SerializationError, match="max_blob_bytes"):
        await test_engine.put_blob(b"123456789", content_type="text/plain")
    assert count(test_engine.url, "blobs") == 0


async def test_a_blob_may_be_larger_than_a_payload(test_engine: TestEngine) -> None:
    data = bytes(range(256)) * 12 * 1024  # 3 MiB: more than the default 2 MB of a payload
    assert len(data) > test_engine.codec.max_payload_bytes
    ref = await test_engine.put_blob(data, content_type="application/octet-stream")
    assert (await test_engine.get_blob(ref)).data == data


async def test_a_blob_stored_outside_for_a_workflow_is_kept(test_engine: TestEngine) -> None:
    test_engine.register(takes_a_file)
    placeholder = await test_engine.put_blob(b"first", content_type="text/plain", subject="c")
    h = await test_engine.start(takes_a_file, placeholder)
    ref = await test_engine.put_blob(b"for it", content_type="text/plain", owner=h.id)
    test_engine.clock.advance(timedelta(days=3))
    assert await test_engine.collect_blobs() == 0
    assert (await test_engine.get_blob(ref)).data == b"for it"
