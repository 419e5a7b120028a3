"""Payload encryption at rest: with PLAIT_ENCRYPTION_KEYS (or Engine(encryption=...)) no
payload is readable in the database, while the engine, the REST API and the CLI read them in
plaintext; a key rotation keeps old rows readable and ``plait rekey`` moves every value to
the new key (and encrypts what was stored before encryption was enabled); a missing key or an
altered value is a clear error, never garbage."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pydantic
import pytest
from click.testing import CliRunner

import plait
from plait.cli import main
from plait.encryption import new_key
from plait.server import ServerSettings, create_app
from plait.testing import TestEngine
from tests.ai.scripted import Scripted, says
from tests.rawsql import sql
from tests.server.apifixtures import (  # noqa: F401  (fixtures)
    KEY,
    client_of,
    tokens,
    users_file,
    users_template,
)

MARKER = "Zyx-Ada-Lovelace-4242"
K1, K2 = new_key(), new_key()


def keys(*pairs: tuple[str, str]) -> plait.Encryption:
    return plait.Encryption({kid: base64.b64decode(k) for kid, k in pairs}, current=pairs[0][0])


class Note(pydantic.BaseModel):
    text: str


@plait.step
async def profile(name: str) -> dict[str, str]:
    ref = await plait.put_blob(f"cv of {name}".encode(), content_type="text/plain")
    # Record keys and subjects are identifiers (not encrypted): ids, never personal data.
    key = f"note-{name[:3]}"
    await plait.current_engine().records.put("notes", key, {"text": name}, subject=key)
    return {"name": name, "blob": ref.digest}


@plait.workflow
async def child(ctx: plait.Context, name: str) -> str:
    return f"child saw {name}"


@plait.workflow
async def dossier(ctx: plait.Context, name: str, round: int = 0) -> str:
    if round == 0:
        ctx.continue_as_new(name, 1)  # the first run's input and journal kept in workflow_runs
    p = await profile(name)
    await ctx.ai.chat(None, f"summarise {name}", name="summary")
    said = await ctx.child(child, name)
    reply = await ctx.wait_for_signal("reply", type=str)
    note = await ctx.ask_human(
        "Review", form=Note, proposal=Note(text=name), context={"cv": p["name"]}
    )
    return f"{p['name']}|{said}|{reply}|{note.text}"


@plait.workflow
async def waits(ctx: plait.Context, name: str) -> str:
    said = await child_step(name)
    return said + await ctx.wait_for_signal("go", type=str)


@plait.step
async def child_step(name: str) -> str:
    return f"child saw {name}"


def everything(url: str) -> str:
    """Every value of every column of every table, as one text to search."""
    if url.startswith("sqlite"):
        tables = [r[0] for r in sql(url, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    else:
        tables = [
            r[0]
            for r in sql(
                url,
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
        ]
    assert {"workflows", "journal", "blobs", "records", "human_tasks"} <= set(map(str, tables))
    parts = []
    for table in tables:
        for row in sql(url, f'SELECT * FROM "{table}"'):
            for value in row:
                if isinstance(value, bytes | memoryview):
                    parts.append(bytes(value).decode(errors="replace"))
                else:
                    parts.append(str(value))
    return "\n".join(parts)


def envelopes(url: str, kid: str) -> int:
    """How many stored values (anywhere in them) are encrypted with ``kid``."""
    pattern = f"plait:enc:1:{kid}:"
    return everything(url).count(pattern)


async def run_dossier(engine: TestEngine, workflow_id: str, name: str) -> str:
    engine.model = Scripted(says(f"summary of {name}"))
    # A schedule's arguments are a payload too (paused: it only has to be stored).
    await engine.schedules.add(
        plait.Schedule(f"s-{workflow_id}", child, name, every=timedelta(days=1), paused=True)
    )
    h = await engine.start(dossier, name, id=workflow_id)
    await engine.run_until_idle()
    await engine.signal(workflow_id, "reply", f"reply from {name}")
    await engine.run_until_idle()
    [task] = await engine.tasks(workflow_id=workflow_id, status="open")
    await engine.complete_task(task.id, {"text": f"ok {name}"}, by="ada", comment=f"c {name}")
    await engine.run_until_idle()
    return str(await h.result())


async def check_readable(engine: plait.Engine, workflow_id: str, name: str) -> None:
    """Every payload of ``run_dossier`` read back in plaintext through the engine."""
    result = await engine.handle(workflow_id).result()
    assert result == f"{name}|child saw {name}|reply from {name}|ok {name}"
    assert (await engine.schedules.get(f"s-{workflow_id}")).args == [name]
    info = await engine.get(workflow_id)
    assert info.input == [name, 1] and info.output == result
    journal = await engine.journal(workflow_id)
    assert {"name": name, "blob": journal[0].output["blob"]} == journal[0].output
    text = json.dumps([j.output for j in journal])
    assert f"summarise {name}" in text and f"reply from {name}" in text
    assert f"child saw {name}" in text and f"ok {name}" in text
    [run] = await engine.runs(workflow_id)
    assert run.input == [name]
    [task] = await engine.tasks(workflow_id=workflow_id)
    assert task.proposal == {"text": name} and task.context == {"cv": name}
    assert task.answer == {"text": f"ok {name}"} and task.comment == f"c {name}"
    events = await engine.task_events(task.id)
    assert any(e.payload.get("comment") == f"c {name}" for e in events)
    assert await engine.records.get("notes", f"note-{name[:3]}") == {"text": name}
    blob = await engine.get_blob(journal[0].output["blob"])
    assert blob.data == f"cv of {name}".encode() and blob.size == len(blob.data)


async def test_payloads_are_unreadable_in_the_database_and_plain_through_the_api(
    plait_backend: str,
    new_db_url: Callable[..., str],
    users_file: Path,  # noqa: F811  (the fixture imported above)
    tokens: dict[str, str],  # noqa: F811
) -> None:
    url = new_db_url() if plait_backend == "postgresql" else None
    async with TestEngine(url, workflows=[dossier, child], encryption=keys(("k1", K1))) as engine:
        db = engine.url
        await run_dossier(engine, "w1", MARKER)
        stored = everything(db)
        assert MARKER not in stored and "Lovelace" not in stored
        assert stored.count("plait:enc:1:k1:") > 10
        await check_readable(engine, "w1", MARKER)

        # Start idempotency compares a hash of the plaintext arguments, not the ciphertext.
        assert (await engine.start(child, MARKER, id="idem")).id == "idem"
        assert (await engine.start(child, MARKER, id="idem")).id == "idem"
        with pytest.raises(plait.WorkflowAlreadyExists):
            await engine.start(child, "someone else", id="idem")

        app = create_app(engine, ServerSettings(users_file=users_file, secret_key=KEY))
        async with client_of(app) as client:
            auth = {"Authorization": f"Bearer {tokens['vera']}"}
            r = await client.get("/api/workflows/w1", headers=auth)
            assert r.status_code == 200, r.text
            detail = r.json()
            task_id = detail["tasks"][0]["id"]
            r = await client.get(f"/api/tasks/{task_id}", headers=auth)
            assert r.status_code == 200, r.text
        body = json.dumps(detail) + r.text
        assert "plait:enc:" not in body
        assert detail["info"]["input"] == [MARKER, 1]
        assert detail["runs"][0]["input"] == [MARKER]
        for seen in ("summarise", "reply from", "child saw", "ok"):
            assert f"{seen} {MARKER}" in body  # journal outputs, nested ones too
        assert r.json()["proposal"] == {"text": MARKER}
        assert r.json()["answer"] == {"text": f"ok {MARKER}"}

        # The pages too (local mode: no sign-in): the timeline, a model call, the task.
        local = create_app(engine, ServerSettings(users_file=users_file, local_mode=True))
        async with client_of(local) as client:
            page = (await client.get("/workflows/w1")).text
            task_page = (await client.get(f"/tasks/{task_id}")).text
        assert f"summarise {MARKER}" in page and f"reply from {MARKER}" in page
        assert f"ok {MARKER}" in task_page and "plait:enc:" not in page + task_page


async def test_rotation_from_plaintext_to_k1_to_k2_with_rekey(
    plait_backend: str, new_db_url: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = new_db_url()
    names = {"w0": "Plain-" + MARKER, "w1": "One-" + MARKER, "w2": "Two-" + MARKER}
    monkeypatch.delenv("PLAIT_ENCRYPTION_KEYS", raising=False)
    async with TestEngine(db, workflows=[dossier, child]) as engine:  # no encryption yet
        assert engine.encryption is None
        await run_dossier(engine, "w0", names["w0"])
    assert names["w0"] in everything(db)

    monkeypatch.setenv("PLAIT_ENCRYPTION_KEYS", f"k1={K1}")
    async with TestEngine(db, workflows=[dossier, child]) as engine:
        assert engine.encryption is not None and engine.encryption.current == "k1"
        await run_dossier(engine, "w1", names["w1"])
        await check_readable(engine, "w0", names["w0"])  # plaintext rows stay readable

    monkeypatch.setenv("PLAIT_ENCRYPTION_KEYS", f"k2={K2}, k1={K1}")
    async with TestEngine(db, workflows=[dossier, child]) as engine:
        await run_dossier(engine, "w2", names["w2"])
        for wid, name in names.items():
            await check_readable(engine, wid, name)
    [(w2_input,)] = sql(db, "SELECT input FROM workflows WHERE id = 'w2'")
    assert str(w2_input).startswith("plait:enc:1:k2:")
    assert envelopes(db, "k1") > 0 and names["w0"] in everything(db)

    runner = CliRunner()
    args = ["rekey", "--database", db, "--batch-size", "3", "--json"]
    dry = await asyncio.to_thread(runner.invoke, main, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["changed"] > 0 and envelopes(db, "k1") > 0
    done = await asyncio.to_thread(runner.invoke, main, args)
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["key_id"] == "k2" and report["changed"] == json.loads(dry.output)["changed"]
    assert envelopes(db, "k1") == 0
    stored = everything(db)
    assert all(name not in stored for name in names.values()) and MARKER not in stored
    again = await asyncio.to_thread(runner.invoke, main, args)
    assert json.loads(again.output)["changed"] == 0  # nothing left: safe to run again

    monkeypatch.setenv("PLAIT_ENCRYPTION_KEYS", f"k2={K2}")  # k1 removed
    async with TestEngine(db, workflows=[dossier, child]) as engine:
        for wid, name in names.items():
            await check_readable(engine, wid, name)


async def test_a_missing_key_or_an_altered_value_is_a_clear_error(
    plait_backend: str, new_db_url: Callable[..., str]
) -> None:
    db = new_db_url()
    async with TestEngine(db, workflows=[child, waits], encryption=keys(("k1", K1))) as engine:
        await engine.start(waits, MARKER, id="w")
        await engine.run_until_idle()
        await engine.records.put("notes", "a", {"text": MARKER})
        await engine.records.put("notes", "b", {"text": MARKER})
        ref = await engine.put_blob(MARKER.encode(), content_type="text/plain")
    async with TestEngine(db, workflows=[child, waits], encryption=keys(("k2", K2))) as engine:
        # A worker without the key parks the workflow blocked (never failed) ...
        await engine.signal("w", "go", "!")
        await engine.run_until_idle()
        info = await engine.get("w", decode=False)
        assert info.status == "blocked" and info.error is not None
        assert "'k1'" in info.error.message and "PLAIT_ENCRYPTION_KEYS" in info.error.message
        with pytest.raises(plait.DecryptionError, match="'k1'.*PLAIT_ENCRYPTION_KEYS"):
            await engine.records.get("notes", "a")
        with pytest.raises(plait.DecryptionError, match="'k1'"):
            await engine.get_blob(ref)
        with pytest.raises(plait.DecryptionError, match="'k1'"):
            await engine.rekey()  # cannot move k1 values either: nothing is written
    [(stored,)] = sql(db, "SELECT value FROM records WHERE key = 'a'")
    text = str(stored)
    altered = text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1]
    sql(db, "UPDATE records SET value = ? WHERE key = 'a'", (altered,))
    async with TestEngine(
        db, workflows=[child, waits], encryption=keys(("k2", K2), ("k1", K1))
    ) as engine:  # ... until one with the key resumes it
        await engine.resume("w")
        await engine.run_until_idle()
        assert await engine.handle("w").result() == f"child saw {MARKER}!"
    async with TestEngine(db, encryption=keys(("k1", K1))) as engine:
        with pytest.raises(plait.DecryptionError, match="does not authenticate"):
            await engine.records.get("notes", "a")
        assert await engine.records.get("notes", "b") == {"text": MARKER}


@pytest.mark.backends("sqlite")
def test_keys_from_the_environment_and_the_keys_command(monkeypatch: pytest.MonkeyPatch) -> None:
    out = CliRunner().invoke(main, ["keys", "new", "--id", "k3"])
    assert out.exit_code == 0
    kid, _, key = out.output.strip().partition("=")
    assert kid == "k3" and len(base64.b64decode(key)) == 32
    for spec, why in [
        ("k1", "not 'keyid=<base64 key>'"),
        (f"k1={K1},k1={K2}", "given twice"),
        ("k1=c2hvcnQ=", "is 5 bytes; AES-256 needs 32"),
        ("k1=%%%", "not valid base64"),
        (f"bad id={K1}", "bad key id"),
    ]:
        monkeypatch.setenv("PLAIT_ENCRYPTION_KEYS", spec)
        with pytest.raises(plait.ConfigurationError, match=why):
            plait.Engine("sqlite:///:memory:")
    monkeypatch.setenv("PLAIT_ENCRYPTION_KEYS", f"new={K2},old={K1}")
    enc = plait.Engine("sqlite:///:memory:").encryption
    assert enc is not None and enc.current == "new" and enc.key_ids == ("new", "old")
    assert K1 not in repr(enc)
