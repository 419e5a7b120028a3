"""Queue limits and the keyed limiter in the store.

:class:`SQLLimits` is a part of :class:`~plait.store.sql.SQLStore`; like the rest of the
store, each public coroutine is one transaction and the SQL is portable. The claim
(``SQLRuns._claim``) takes ready workflows through :meth:`SQLLimits._claim_ready`, and
idle workers learn when to look again from :meth:`SQLLimits._next_ready`.

Invariants kept here:
- A workflow of a *restricted* queue (one with a concurrency or rate limit) or with a
  concurrency key is claimed only under its queue's lock, and the running workflows are
  counted under that lock by fresh statements. On PostgreSQL the lock is a transaction
  advisory lock per queue (``Dialect.queue_lock``): ``FOR UPDATE SKIP LOCKED`` alone would let
  two claims each skip the other's rows, both read the same count and both spend the last
  slot (write skew). On SQLite ``BEGIN IMMEDIATE`` already serializes every claim.
- Queue locks are taken in name order, so claims never deadlock on one another.
- Only ``running`` workflows hold a slot. A waiting workflow holds none, so a parent waiting
  for children on its own queue cannot starve them.
- A rate is GCRA without bursts: ``tat`` is the earliest time of the next start, and each
  start moves it to ``max(tat, now) + per / limit`` (rounded up to a millisecond), so no
  window of ``per`` ever holds more than ``limit`` starts. A start is a first claim
  (``attempt = 0``); continuing after a wait or a crash is not one.
- The keyed limiter locks its key's row before it reads the key's slots or rate state, and
  never waits for that lock (a busy key is retried by the caller). A slot is a lease: a
  holder that dies stops renewing it, and it frees itself at ``expires_at``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from plait.frozen import Frozen
from plait.store.records import QueueLimits
from plait.store.sqlbase import Conn, SQLBase

T = TypeVar("T")

# Running workflows that share the candidate's queue and concurrency key, under that queue's
# per-key limit (1 for a queue without a row).
_KEY_FREE = (
    "(w.concurrency_key IS NULL OR (SELECT count(*) FROM workflows r WHERE r.status = 'running'"
    " AND r.queue = w.queue AND r.concurrency_key = w.concurrency_key) < COALESCE((SELECT"
    " q.per_key_concurrency FROM queues q WHERE q.name = w.queue), 1))"
)


class _QueueState(Frozen):
    limits: QueueLimits
    tat: int


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _ready_where(
    queues: Sequence[str] | None, full: Sequence[str], paced: Sequence[str]
) -> tuple[str, list[object]]:
    """Ready-or-waiting workflows (alias ``w``) on ``queues`` that limits allow to run: not on
    a ``full`` queue, not a start on a ``paced`` queue, not over their key's limit."""
    sql = "w.status IN ('pending', 'waiting')"
    params: list[object] = []
    if queues:
        sql += f" AND w.queue IN ({_marks(queues)})"
        params.extend(queues)
    if full:
        sql += f" AND w.queue NOT IN ({_marks(full)})"
        params.extend(full)
    if paced:
        sql += f" AND NOT (w.attempt = 0 AND w.queue IN ({_marks(paced)}))"
        params.extend(paced)
    return f"{sql} AND {_KEY_FREE}", params


class SQLLimits(SQLBase):
    """Queue limits and the keyed limiter of a SQL store (a part of ``SQLStore``)."""

    # -- queue configuration -----------------------------------------------------------
    async def configure_queues(
        self, queues: Sequence[QueueLimits], now: int
    ) -> list[tuple[QueueLimits, QueueLimits]]:
        """Stores the limits of ``queues`` (the last declaration wins); returns each queue
        whose stored limits were different, as ``(before, now)``. Rate state is kept."""

        def op(conn: Conn) -> list[tuple[QueueLimits, QueueLimits]]:
            changed = []
            for new in queues:
                old = self._queue_states(conn, (new.name,)).get(new.name)
                if old is not None and old.limits != new:
                    changed.append((old.limits, new))
                self._x(
                    conn,
                    "INSERT INTO queues (name, concurrency, per_key_concurrency, rate_limit,"
                    " rate_per_ms, tat, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)"
                    " ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency,"
                    " per_key_concurrency = excluded.per_key_concurrency,"
                    " rate_limit = excluded.rate_limit, rate_per_ms = excluded.rate_per_ms,"
                    " updated_at = excluded.updated_at",
                    (
                        new.name,
                        new.concurrency,
                        new.per_key_concurrency,
                        new.rate_limit,
                        new.rate_per_ms,
                        now,
                    ),
                )
            return changed

        return await self._run(op)

    def _queue_states(self, conn: Conn, names: Sequence[str] | None) -> dict[str, _QueueState]:
        return self._send_queue_states(conn, names)()

    def _send_queue_states(
        self, conn: Conn, names: Sequence[str] | None
    ) -> Callable[[], dict[str, _QueueState]]:
        sql = (
            "SELECT name, concurrency, per_key_concurrency, rate_limit, rate_per_ms, tat"
            " FROM queues"
        )
        if names:
            sql += f" WHERE name IN ({_marks(names)})"
        cur = self._x(conn, sql, list(names or ()))
        return lambda: {
            r["name"]: _QueueState(
                QueueLimits(
                    r["name"],
                    r["concurrency"],
                    r["per_key_concurrency"],
                    r["rate_limit"],
                    r["rate_per_ms"],
                ),
                r["tat"],
            )
            for r in cur.fetchall()
        }

    def _running(self, conn: Conn, names: Sequence[str]) -> dict[str, int]:
        if not names:
            return {}
        rows = self._all(
            conn,
            "SELECT queue, count(*) AS n FROM workflows WHERE status = 'running'"
            f" AND queue IN ({_marks(names)}) GROUP BY queue",
            names,
        )
        return {r["queue"]: int(r["n"]) for r in rows}

    def _full(self, states: dict[str, _QueueState], running: dict[str, int]) -> list[str]:
        return sorted(
            name
            for name, s in states.items()
            if s.limits.concurrency is not None and running.get(name, 0) >= s.limits.concurrency
        )

    # -- the claim -----------------------------------------------------------------------
    def _send_claim_ready(
        self, conn: Conn, queues: Sequence[str] | None
    ) -> Callable[[Sequence[tuple[str, str]], int, int], list[str]]:
        """Hook (see ``SQLBase``): sends the first read of ``_claim_ready`` (the queues'
        limits) and returns the rest of it, to be called with ``pairs, want, now``."""
        read = self._send_queue_states(conn, queues)
        return lambda pairs, want, now: self._claim_ready(conn, queues, pairs, want, now, read())

    def _claim_ready(
        self,
        conn: Conn,
        queues: Sequence[str] | None,
        pairs: Sequence[tuple[str, str]],
        want: int,
        now: int,
        states: dict[str, _QueueState] | None = None,
    ) -> list[str]:
        """Locks and returns the ids of up to ``want`` ready workflows, by priority, that the
        queues' limits allow to run now; moves the rate state of the queues they start on.
        ``states``: the queues' limits, read already in this transaction."""
        if states is None:
            states = self._queue_states(conn, queues)
        limited = [n for n, s in states.items() if s.limits.concurrency is not None]
        full = self._full(states, self._running(conn, limited))
        paced = sorted(n for n, s in states.items() if s.limits.rate_limit and s.tat > now)
        # A first pass without locks: what the limits seemed to allow when it ran.
        where, params = _ready_where(queues, full, paced)
        rows = self._all(
            conn,
            "SELECT w.id, w.queue, w.concurrency_key, w.attempt FROM workflows w"
            f" WHERE {where} AND w.available_at <= ?"
            f" AND (w.name, w.version) IN (VALUES {', '.join('(?, ?)' for _ in pairs)})"
            " ORDER BY w.priority DESC, w.available_at"
            f" LIMIT ?{self.dialect.for_update}{self.dialect.skip_locked}",
            (*params, now, *(x for pair in pairs for x in pair), want),
        )
        restricted = sorted(
            {
                r["queue"]
                for r in rows
                if r["concurrency_key"] is not None
                or (r["queue"] in states and states[r["queue"]].limits.restricted)
            }
        )
        if not restricted:
            return [r["id"] for r in rows]
        if self.dialect.queue_lock:
            for name in restricted:
                self._x(conn, self.dialect.queue_lock, (name,))
            # Statements from here on see every claim committed before the locks were granted.
            states.update(self._queue_states(conn, restricted))
        running = self._running(conn, restricted)
        keys = sorted({r["concurrency_key"] for r in rows if r["concurrency_key"] is not None})
        per_key: dict[tuple[str, str], int] = {}
        if keys:
            for r in self._all(
                conn,
                "SELECT queue, concurrency_key, count(*) AS n FROM workflows"
                f" WHERE status = 'running' AND queue IN ({_marks(restricted)})"
                f" AND concurrency_key IN ({_marks(keys)}) GROUP BY queue, concurrency_key",
                (*restricted, *keys),
            ):
                per_key[r["queue"], r["concurrency_key"]] = int(r["n"])
        picked: list[str] = []
        tats: dict[str, int] = {}
        for r in rows:
            name, key = r["queue"], r["concurrency_key"]
            state = states.get(name)
            if name in restricted:
                lim = state.limits if state is not None else QueueLimits(name)
                if lim.concurrency is not None and running.get(name, 0) >= lim.concurrency:
                    continue
                if key is not None and per_key.get((name, key), 0) >= lim.per_key_concurrency:
                    continue
                if r["attempt"] == 0 and lim.rate_limit is not None and state is not None:
                    tat = tats.get(name, state.tat)
                    if tat > now:
                        continue
                    tats[name] = max(tat, now) + lim.interval_ms
                running[name] = running.get(name, 0) + 1
                if key is not None:
                    per_key[name, key] = per_key.get((name, key), 0) + 1
            picked.append(r["id"])
        for name, tat in tats.items():
            self._x(conn, "UPDATE queues SET tat = ? WHERE name = ?", (tat, name))
        return picked

    def _send_next_ready(
        self, conn: Conn, queues: Sequence[str] | None
    ) -> Callable[[], int | None]:
        """Hook (see ``SQLBase``): sends the first read of ``_next_ready`` (the queues'
        limits) and returns the rest of it."""
        read = self._send_queue_states(conn, queues)
        return lambda: self._next_ready(conn, queues, read())

    def _next_ready(
        self,
        conn: Conn,
        queues: Sequence[str] | None,
        states: dict[str, _QueueState] | None = None,
    ) -> int | None:
        """When the next ready or waiting workflow on ``queues`` may be claimed as far as its
        time and the limits go (a full queue or key waits for a slot: no time). ``states``:
        the queues' limits, read already in this transaction."""
        if states is None:
            states = self._queue_states(conn, queues)
        limited = [n for n, s in states.items() if s.limits.concurrency is not None]
        full = self._full(states, self._running(conn, limited))
        rated = sorted(n for n, s in states.items() if s.limits.rate_limit and n not in full)
        where, params = _ready_where(queues, full, rated)
        row = self._one(
            conn,
            f"SELECT min(w.available_at) AS t FROM workflows w WHERE {where}"
            " AND w.available_at IS NOT NULL",
            params,
        )
        times = [] if row is None or row["t"] is None else [int(row["t"])]
        if rated:  # a start on a rate-limited queue waits for its time too
            for r in self._all(
                conn,
                "SELECT w.queue, min(w.available_at) AS t FROM workflows w"
                " WHERE w.status = 'pending' AND w.attempt = 0 AND w.available_at IS NOT NULL"
                f" AND w.queue IN ({_marks(rated)}) AND {_KEY_FREE} GROUP BY w.queue",
                rated,
            ):
                times.append(max(int(r["t"]), states[r["queue"]].tat))
        return min(times, default=None)

    # -- the keyed limiter ---------------------------------------------------------------
    async def acquire_limit(
        self,
        key: str,
        holder: str,
        now: int,
        interval_ms: int | None,
        slots: int | None,
        lease_ms: int,
    ) -> tuple[bool, int]:
        """Takes one of ``slots`` for ``holder`` (when ``slots`` is set) and the next start
        time at one per ``interval_ms`` (when set). Returns ``(True, start)``: granted, the
        holder may begin at ``start`` (``now`` or later); or ``(False, at)``: not now, ask
        again at ``at`` (when the first slot's lease ends, or at once if the key was busy).

        The key's row is locked without waiting (``SKIP LOCKED``): a key in use by another
        transaction is reported busy instead, so limiter calls batched with other work in
        any order never deadlock, and never make a batch wait."""

        def op(conn: Conn) -> tuple[bool, int]:
            lock = (
                f"SELECT tat FROM limits WHERE key = ?{self.dialect.for_update}"
                f"{self.dialect.skip_locked}"
            )
            row = self._one(conn, lock, (key,))
            if row is None:  # first use of the key, or another transaction holds it
                self._x(
                    conn,
                    "INSERT INTO limits (key, tat, updated_at) VALUES (?, 0, ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (key, now),
                )
                row = self._one(conn, lock, (key,))
                if row is None:
                    return False, now
            if slots is not None:
                self._x(
                    conn, "DELETE FROM limit_slots WHERE key = ? AND expires_at <= ?", (key, now)
                )
                held = self._one(
                    conn,
                    "SELECT count(*) AS n, min(expires_at) AS t FROM limit_slots WHERE key = ?",
                    (key,),
                )
                if held is not None and held["n"] >= slots:
                    return False, int(held["t"])
                self._x(
                    conn,
                    "INSERT INTO limit_slots (key, holder, expires_at) VALUES (?, ?, ?)",
                    (key, holder, now + lease_ms),
                )
            if interval_ms is None:
                return True, now
            start = max(int(row["tat"]), now)
            self._x(
                conn,
                "UPDATE limits SET tat = ?, updated_at = ? WHERE key = ?",
                (start + interval_ms, now, key),
            )
            return True, start

        return await self._run(op)

    async def renew_limit(self, key: str, holder: str, expires_at: int) -> bool:
        """Extends a held slot's lease; False when it had already expired and was taken."""

        def op(conn: Conn) -> bool:
            cur = self._x(
                conn,
                "UPDATE limit_slots SET expires_at = ? WHERE key = ? AND holder = ?",
                (expires_at, key, holder),
            )
            return bool(cur.rowcount == 1)

        return await self._run(op)

    async def release_limit(self, key: str, holder: str) -> None:
        """Gives a slot back."""
        await self._run(
            lambda c: self._x(
                c, "DELETE FROM limit_slots WHERE key = ? AND holder = ?", (key, holder)
            )
        )

    async def settle_limit(self, key: str, delta_ms: int, now: int) -> None:
        """Moves the key's next start time by ``delta_ms``: a weighted acquire that reserved
        more (or less) than it used settles the difference."""
        await self._run(
            lambda c: self._x(
                c,
                "UPDATE limits SET tat = tat + ?, updated_at = ? WHERE key = ?",
                (delta_ms, now, key),
            )
        )
