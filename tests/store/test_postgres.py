"""What only PostgreSQL does: reconnecting after connections die (nothing lost, nothing done
twice), looking up a COMMIT whose reply was lost, wake-ups by LISTEN/NOTIFY between
processes, and a pool of connections."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus

import plait
from plait.store import open_store, pglink
from plait.store.pglink import Link, numbered
from plait.store.postgres import PostgresStore, _Backend, _committed, conninfo
from plait.store.records import ListFilter

from .helpers import NOW, claim, new, running, step


@pytest.fixture
def pg_url(postgres: Any) -> Iterator[str]:
    url = postgres.create()
    yield url
    postgres.release(url)


def terminate(postgres: Any, url: str, application_name: str | None = None) -> int:
    """Ends every connection to ``url``'s database (as a restart or an admin would)."""
    rows = postgres.admin_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
        " AND pid <> pg_backend_pid() AND (%s::text IS NULL OR application_name = %s)",
        (url.rsplit("/", 1)[1], application_name, application_name),
    )
    return len(rows)


async def test_operations_go_on_after_every_connection_was_killed(
    postgres: Any, pg_url: str
) -> None:
    store = open_store(pg_url)
    await store.open()
    try:
        await store.create_workflow(new("a"), NOW)
        assert terminate(postgres, pg_url) >= 1
        assert await store.get("a") is not None
        await store.create_workflow(new("b"), NOW)
        assert terminate(postgres, pg_url) >= 1
        assert sorted(c.id for c in await claim(store)) == ["a", "b"]
    finally:
        await store.close()


async def test_connections_killed_mid_run_lose_nothing_and_double_nothing(
    postgres: Any, pg_url: str
) -> None:
    store = open_store(pg_url)
    await store.open()
    stop = asyncio.Event()
    kills = 0

    async def killer() -> None:
        nonlocal kills
        while not stop.is_set():
            await asyncio.sleep(random.uniform(0.02, 0.08))
            kills += await asyncio.to_thread(terminate, postgres, pg_url)

    async def sender(wave: int) -> list[bool]:
        return await asyncio.gather(
            *(store.send_signal("a", "go", f'"{wave}-{i}"', None, NOW) for i in range(30))
        )

    try:
        await store.create_workflow(new("a"), NOW)
        task = asyncio.create_task(killer())
        sent = [ok for wave in range(20) for ok in await sender(wave)]
        stop.set()
        await task
        assert all(sent) and kills > 0
        with psycopg.connect(pg_url) as conn:
            payloads = [r[0] for r in conn.execute("SELECT payload FROM signals")]
        expected = [f'"{w}-{i}"' for w in range(20) for i in range(30)]
        assert sorted(payloads) == sorted(expected)  # each exactly once
    finally:
        stop.set()
        await store.close()


def test_the_outcome_of_a_commit_is_looked_up_by_transaction_id(pg_url: str) -> None:
    backend = _Backend(conninfo(pg_url))
    conn, other = backend.connect(), backend.connect()
    try:
        backend.begin(conn, True)
        xid = backend._read_xid()
        assert xid is not None
        conn.execute("INSERT INTO workers (id, started_at, heartbeat_at) VALUES ('w', 1, 1)")
        assert _committed(other, xid) is None  # in progress
        backend.commit(conn)
        assert _committed(other, xid) is True

        backend.begin(conn, True)
        xid = backend._read_xid()
        assert xid is not None
        conn.execute("INSERT INTO workers (id, started_at, heartbeat_at) VALUES ('v', 1, 1)")
        backend.rollback(conn)
        assert _committed(other, xid) is False
        assert _committed(other, str(int(xid) + 10**9)) is False  # never existed
    finally:
        conn.close()
        other.close()


async def _until_heard(sender: Any, heard: asyncio.Event, timeout: float = 30) -> None:
    """Sends hints from ``sender`` until ``heard`` is set: the listener may not have run
    LISTEN yet, and a hint sent before that is not delivered (only a hang is a failure)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not heard.is_set():
        assert asyncio.get_running_loop().time() < deadline, "no hint was heard"
        sender.notify("default")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(heard.wait(), 0.5)


async def test_a_hint_from_another_process_wakes_subscribers(pg_url: str) -> None:
    a, b = open_store(pg_url), open_store(pg_url)
    await a.open()
    await b.open()
    woken = asyncio.Event()
    own = asyncio.Event()
    try:
        a.subscribe(woken.set)
        b.subscribe(own.set)
        await _until_heard(b, woken)  # a's listener is up and heard b
        # b's listener got that hint as a's did; being its own, it must not wake b. b can
        # only be woken once a sends one, so b woken now would be its own hint.
        assert not own.is_set()
        a.notify("default")
        await asyncio.wait_for(own.wait(), 30)  # b's listener hears other processes
    finally:
        await a.close()
        await b.close()


async def test_hints_are_coalesced(pg_url: str) -> None:
    a = open_store(pg_url)
    await a.open()
    assert isinstance(a, PostgresStore)
    try:
        for _ in range(500):
            a.notify("default")
        a.notify(None)
        for _ in range(600):  # until every hint went out (only a hang fails)
            if a._wakeups._sent and not a._wakeups._pending:
                break
            await asyncio.sleep(0.05)
        assert 1 <= a._wakeups._sent <= 2  # one NOTIFY statement (two queue names)
    finally:
        await a.close()


async def test_the_listener_reconnects_and_wakes_its_workers(postgres: Any, pg_url: str) -> None:
    a, b = open_store(pg_url), open_store(pg_url)
    await a.open()
    await b.open()
    woken = asyncio.Event()
    try:
        a.subscribe(woken.set)
        await _until_heard(b, woken)  # a is listening
        woken.clear()
        assert terminate(postgres, pg_url, "plait-wakeups") >= 1  # a's listener (b's sender)
        await asyncio.wait_for(woken.wait(), 30)  # hints may have been missed: wake up once
        woken.clear()  # woken right after LISTEN again: a hint from b is heard now
        await _until_heard(b, woken)
    finally:
        await a.close()
        await b.close()


async def test_a_slow_statement_does_not_hold_up_other_operations(pg_url: str) -> None:
    store = PostgresStore(pg_url, pool_size=2)
    await store.open()
    try:
        # The slow statement waits for a lock this test holds, so it lasts as long as needed.
        with psycopg.connect(pg_url, autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(4242)")
            slow = asyncio.ensure_future(
                store._run(lambda c: c.execute("SELECT pg_advisory_xact_lock(4242)"))
            )
            for _ in range(600):  # until the slow one is waiting for the lock
                await asyncio.sleep(0.05)
                waiting = holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                if waiting and waiting[0]:
                    break
            assert await asyncio.wait_for(store.list_workflows(ListFilter()), 60) == []
            assert not slow.done()  # answered on the other connection, beside the slow one
            holder.execute("SELECT pg_advisory_unlock(4242)")
        await slow
    finally:
        await store.close()


def test_passwords_stay_out_of_messages() -> None:
    store = PostgresStore("postgresql://ada:s3cret@db.example:6432/plait")
    assert store.url == "postgresql://ada:***@db.example:6432/plait"


def test_the_pool_size_is_a_url_option() -> None:
    store = PostgresStore("postgresql://ada@db.example/plait?sslmode=require&plait_pool_size=3")
    assert store.url == "postgresql://ada@db.example/plait?sslmode=require"
    assert len(store._executor._members) == 3  # type: ignore[attr-defined]
    with pytest.raises(plait.ConfigurationError, match="at least 1"):
        PostgresStore("postgresql://ada@db.example/plait?plait_pool_size=0")


@plait.workflow(name="pg-hello")
async def hello(ctx: plait.Context, who: str) -> str:
    return f"hello {who}"


async def test_a_start_in_one_process_wakes_a_worker_in_another(pg_url: str) -> None:
    slow_poll = timedelta(seconds=600)
    worker_side = plait.Engine(pg_url, workflows=[hello], poll_interval=slow_poll)
    client = plait.Engine(pg_url, workflows=[hello], poll_interval=timedelta(milliseconds=50))
    async with worker_side, client:
        async with worker_side.worker():
            await asyncio.sleep(0.3)  # the worker is idle, waiting up to ten minutes
            h = await client.start(hello, "ada")
            assert await h.result(timeout=60) == "hello ada"  # woken, not polled


async def test_a_process_holds_the_documented_connections(postgres: Any, pg_url: str) -> None:
    """docs/postgresql.md: plait_pool_size (2) connections named ``plait``, plus one named
    ``plait-wakeups`` once the process sends or listens for a hint; keepalives on."""
    for option, pool in (("", 2), ("?plait_pool_size=4", 4)):
        db = postgres.create()  # a database of its own: closed connections linger a moment
        store = open_store(db + option)
        await store.open()
        try:
            store.notify("default")
            assert isinstance(store, PostgresStore)
            for _ in range(600):  # until the hint went out (only a hang fails)
                if store._wakeups._sent:
                    break
                await asyncio.sleep(0.05)
            rows = postgres.admin_sql(
                "SELECT application_name, count(*) FROM pg_stat_activity"
                " WHERE datname = %s GROUP BY 1",
                (db.rsplit("/", 1)[1],),
            )
            assert dict(rows) == {"plait": pool, "plait-wakeups": 1}
        finally:
            await store.close()
            postgres.release(db, reuse=False)
    assert "keepalives=1" in conninfo(pg_url)


def test_statements_are_prepared_at_their_second_use_up_to_a_cap(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert numbered("SELECT %s, '%%' || %s") == "SELECT $1, '%' || $2"
    monkeypatch.setattr(pglink, "MAX_PREPARED", 1)
    link = Link(conninfo(pg_url))
    try:
        typed = "SELECT %s::bigint + 1 AS n"
        assert link._bound(typed, (41,)) == "SELECT 41::bigint + 1 AS n"  # once: inline
        assert link._bound(typed, (1,)) == "EXECUTE plait_0(1)"
        assert link._bound(typed, (2,)) == "EXECUTE plait_0(2)"  # prepared once
        other = "SELECT %s::bigint - 1 AS n"
        assert link._bound(other, (1,)) == link._bound(other, (1,)) == "SELECT 1::bigint - 1 AS n"
        names = [r["name"] for r in link.execute("SELECT name FROM pg_prepared_statements")]
        assert names == ["plait_0"]  # the cap
    finally:
        link.close()


def test_kept_statements_go_out_together_and_fail_together(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pglink, "PREPARE_AFTER", 1)  # prepared at the first use
    link = Link(conninfo(pg_url))
    try:
        typed = "SELECT %s::bigint + 1 AS n"
        assert link._bound(typed, (41,)) == "EXECUTE plait_0(41)"
        # a parameter whose type the text does not tell cannot be prepared: sent inline
        untyped = "SELECT %s IS NULL AS x"
        assert link._bound(untyped, ("it's",)) == "SELECT 'it''s' IS NULL AS x"
        assert link._prepared[untyped] is None  # not tried again
        # kept statements go out together at the first read, in order, in the transaction
        link.batch(True)
        link.execute("BEGIN")
        first = link.execute(typed, (1,))
        second = link.execute(untyped, (None,))
        assert link._kept and first.fetchone() == {"n": 2}
        assert second.fetchall() == [{"x": True}] and not link._kept
        link.execute("SELECT %s::int / 0 AS boom", (1,))
        failing = link.execute(typed, (2,))
        with pytest.raises(psycopg.errors.DivisionByZero):
            link.batch(False)
        with pytest.raises(psycopg.errors.DivisionByZero):
            failing.fetchone()  # every result of a failed string raises its error
        assert link.info.transaction_status == TransactionStatus.INERROR
        link.execute("ROLLBACK")
        # the division was prepared inside that transaction (in a savepoint): it stays
        names = [r["name"] for r in link.execute("SELECT name FROM pg_prepared_statements")]
        division = link._prepared["SELECT %s::int / 0 AS boom"]
        assert division is not None and sorted(names) == sorted(["plait_0", division])
        assert link._bound("SELECT %s::int / 0 AS boom", (3,)) == f"EXECUTE {division}(3)"
        # prepared statements deallocated by someone else: one failure, then prepared again
        link.execute("DEALLOCATE ALL")
        link.batch(True)
        gone = link.execute(typed, (1,))
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            gone.fetchone()
        link.batch(False)
        link.batch(True)
        again = link.execute(typed, (1,))
        assert again.fetchone() == {"n": 2}
        link.batch(False)
    finally:
        link.close()


async def test_a_batch_of_step_records_is_one_query_on_one_connection(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[int] = []
    one_trip = Link.one_trip

    def counted(link: Link, sends: Any, before_commit: Any) -> Any:
        trips.append(len(sends))
        return one_trip(link, sends, before_commit)

    monkeypatch.setattr(Link, "one_trip", counted)
    store = open_store(pg_url + "?plait_pool_size=1")
    await store.open()
    try:
        a = await running(store, "a")
        assert trips == []  # a start and a claim: the usual way
        assert await store.record(a, NOW + 1, [step(1)], []) is False
        assert await store.record(a, NOW + 2, [step(2)], []) is False
        assert trips == [1, 1]  # prepared at its second use
        prepared = await store._run(  # type: ignore[attr-defined]
            lambda conn: [
                r["statement"] for r in conn.execute("SELECT statement FROM pg_prepared_statements")
            ],
            write=False,
        )
        assert any("INSERT INTO journal" in p for p in prepared)
        assert [e.seq for e in await store.journal("a")] == [1, 2]
    finally:
        await store.close()


@pytest.mark.parametrize("after", [1, 99])  # prepared at the first use, or always inline
def test_values_bound_on_the_client_come_back_as_they_were(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    monkeypatch.setattr(pglink, "PREPARE_AFTER", after)
    values = [
        "it's a \\ backslash; -- not a comment",
        "%s %% %(name)s $1 ?",
        "é 😀 \n\t line",
        '{"json": "x\\"y"}',
        "",
    ]
    link = Link(conninfo(pg_url))
    try:
        link.batch(True)
        texts = [link.execute("SELECT %s::text AS v", (v,)) for v in values]
        rest = link.execute(
            "SELECT %s::bytea AS b, %s::bigint AS i, %s::float8 AS f, %s::boolean AS t,"
            " %s::text AS n",
            (b"\x00\x01'\\\xff", 2**62, 0.1, True, None),
        )
        link.batch(False)
        assert [r.fetchone()["v"] for r in texts] == values  # type: ignore[index]
        assert rest.fetchone() == {
            "b": b"\x00\x01'\\\xff",
            "i": 2**62,
            "f": 0.1,
            "t": True,
            "n": None,
        }
    finally:
        link.close()
