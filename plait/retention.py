"""Retention: deleting what is old (``engine.gc``) and keeping it for as long as configured.

``engine.gc(older_than=...)`` deletes ended workflows (completed, failed, cancelled) whose
end is older than ``older_than``, with everything that belongs to them, and orphan blobs
older than a day. Policies say how long to keep each workflow name
(``@plait.workflow(retention=...)``, ``Engine(retention={"hiring.job": "90d", "*": "30d"})``)
and each record kind (``Engine(record_retention={"mailbox": "30d"})``); workers apply them
every ``retention_interval`` (an hour by default): ``engine.apply_retention()``.

Invariants kept here:
- A workflow is collected with its children, never before them: a tree goes when all of it
  ended before the cutoff (see ``plait/store/gc.py``); it is named by its top-level workflow.
- Work is done in batches of :data:`BATCH` trees (and of records), one transaction each,
  so a large collection never holds the database in one transaction, and stopping half-way
  (a crash, a shutdown) leaves only whole trees deleted. Every delete is idempotent, so
  workers applying the policies at once do no harm: each tree is deleted once. Workers
  apply them once per interval on the whole database (one wins ``claim_pass``).
- Without any policy, nothing is ever deleted automatically.
- A dry run reads and counts; it writes nothing.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import logging
import random
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from plait.clock import Clock
from plait.errors import ConfigurationError
from plait.store.records import GcFilter
from plait.types import (
    Duration,
    GcReport,
    SubjectInfo,
    WorkflowEvent,
    WorkflowEventKind,
    WorkflowInfo,
    to_seconds,
)

if TYPE_CHECKING:
    from plait.definitions import WorkflowDef
    from plait.store import Store

log = logging.getLogger("plait.retention")

BATCH = 100  # trees (or records) per transaction
ORPHAN_AGE = timedelta(days=1)  # an unreferenced blob is kept this long (a put in flight)
DEFAULT_NAME = "*"  # the key of the default in Engine(retention={...})
PASS_KEY = "plait:retention"  # + policies' digest: the limiter row of the next pass
CHECKS = 4  # a worker asks whether a pass is due this often per interval
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms])\s*$")

RetentionSpec = Duration | str | None


def parse_duration(value: Duration | str, what: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"``, a ``timedelta`` or a number of
    seconds, as a positive ``timedelta``."""
    if isinstance(value, str):
        found = _DURATION.match(value.lower())
        if found is None:
            raise ConfigurationError(
                f"{what} must be a duration such as 30d, 12h, 90m or 45s, not {value!r}"
            )
        seconds = float(found.group(1)) * _UNITS[found.group(2)]
    else:
        seconds = to_seconds(value, what)
    if seconds <= 0:
        raise ConfigurationError(f"{what} must be longer than zero (got {value!r})")
    return timedelta(seconds=seconds)


def _policy(value: RetentionSpec, what: str) -> timedelta | None:
    return None if value is None else parse_duration(value, what)


class Retention:
    """How long to keep workflows (per name, a default) and records (per kind)."""

    def __init__(
        self,
        workflows: RetentionSpec | Mapping[str, RetentionSpec] = None,
        records: Mapping[str, Duration | str] | None = None,
        interval: Duration = timedelta(hours=1),
    ) -> None:
        self.names: dict[str, timedelta | None] = {}
        self.default: timedelta | None = None
        if isinstance(workflows, Mapping):
            for name, value in workflows.items():
                if not isinstance(name, str) or not name:
                    raise ConfigurationError(
                        f"Engine(retention=...) maps workflow names to durations, not {name!r}"
                    )
                keep = _policy(value, f"retention of {name!r}")
                if name == DEFAULT_NAME:
                    self.default = keep
                else:
                    self.names[name] = keep
        else:
            self.default = _policy(workflows, "Engine(retention=...)")
        self.records: dict[str, timedelta] = {}
        for kind, value in (records or {}).items():
            if not isinstance(kind, str) or not kind:
                raise ConfigurationError(
                    f"Engine(record_retention=...) maps record kinds to durations, not {kind!r}"
                )
            self.records[kind] = parse_duration(value, f"record retention of {kind!r}")
        self.interval = parse_duration(interval, "retention_interval")

    def resolve(
        self, registered: Mapping[str, WorkflowDef[..., Any]]
    ) -> dict[str, timedelta | None]:
        """Each named policy: the engine's mapping wins over ``@workflow(retention=...)``."""
        found: dict[str, timedelta | None] = {
            name: wf.retention for name, wf in registered.items() if wf.retention is not None
        }
        found.update(self.names)
        return found

    def fingerprint(self, registered: Mapping[str, WorkflowDef[..., Any]]) -> str:
        """A short digest of the policies in force (equal for workers of one deployment)."""
        text = repr(
            (
                sorted(self.resolve(registered).items()),
                self.default,
                sorted(self.records.items()),
                self.interval,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def configured(self) -> bool:
        return bool(self.default or self.records or any(self.names.values()))


async def collect(
    store: Store,
    clock: Clock,
    *,
    before: int,
    name: str | None = None,
    exclude: tuple[str, ...] = (),
    dry_run: bool,
    by: str,
    into: dict[str, int],
) -> None:
    """Collects the ended trees of ``name`` (or of every name but ``exclude``) that ended
    before ``before``, batch by batch, adding the rows per table to ``into``."""
    after: tuple[int, str] | None = None
    while True:
        flt = GcFilter(before=before, name=name, exclude=exclude, after=after, limit=BATCH)
        batch = await store.collect_workflows(flt, clock.now_ms(), by, not dry_run)
        for table, n in batch.deleted.items():
            into[table] = into.get(table, 0) + n
        if batch.last is None:
            return
        after = batch.last
        await asyncio.sleep(0)  # between batches: let the rest of the process run


async def collect_orphans(store: Store, clock: Clock, dry_run: bool, into: dict[str, int]) -> None:
    now = clock.now_ms()
    found = await store.collect_orphans(
        now - int(ORPHAN_AGE.total_seconds() * 1000), now, not dry_run
    )
    for table, n in found.items():
        into[table] = into.get(table, 0) + n


async def collect_records(
    store: Store, kind: str, before: int, dry_run: bool, into: dict[str, int]
) -> None:
    while True:
        n = await store.collect_records(kind, before, BATCH, not dry_run)
        if n:
            into["records"] = into.get("records", 0) + n
        if dry_run or n < BATCH:
            return
        await asyncio.sleep(0)


def report(deleted: dict[str, int], dry_run: bool) -> GcReport:
    return GcReport(dry_run=dry_run, deleted={k: v for k, v in sorted(deleted.items()) if v})


class RetentionAPI:
    """gc, retention and the subject lookup: methods of :class:`~plait.engine.Engine`."""

    if TYPE_CHECKING:  # provided by Engine
        store: Store
        clock: Clock
        retention: Retention
        registry_by_name: dict[str, WorkflowDef[..., Any]]

        async def list(
            self, *, subject: str | None = None, limit: int = 100
        ) -> builtins.list[WorkflowInfo]: ...

        async def events(self, workflow_id: str) -> builtins.list[WorkflowEvent]: ...

    async def gc(
        self,
        *,
        older_than: Duration | str,
        name: str | None = None,
        dry_run: bool = False,
        by: str = "system",
    ) -> GcReport:
        """Deletes ended workflows (completed, failed, cancelled) whose end is older than
        ``older_than`` (``timedelta``, seconds, or ``"30d"``), of ``name`` or of every name,
        with their children (a tree goes once all of it ended), journals, attempts, signals,
        human tasks, runs, ledger rows and the blobs only they held; then orphan blobs older
        than a day. Each collected workflow keeps a ``collected`` event (``by``, when).
        ``dry_run`` counts and deletes nothing. Returns the rows per table."""
        _check_by(by)
        keep = parse_duration(older_than, "older_than")
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigurationError(f"gc(name=...) must be a workflow name, not {name!r}")
        deleted: dict[str, int] = {}
        before = self.clock.now_ms() - _ms(keep)
        await collect(
            self.store, self.clock, before=before, name=name, dry_run=dry_run, by=by, into=deleted
        )
        await collect_orphans(self.store, self.clock, dry_run, deleted)
        return report(deleted, dry_run)

    async def apply_retention(self, *, dry_run: bool = False, by: str = "system") -> GcReport:
        """Applies the retention policies once (workers do it every
        ``retention_interval``): each workflow name's, the default for the other names,
        each record kind's, and the orphan blobs'. Without policies it deletes only orphans."""
        _check_by(by)
        deleted: dict[str, int] = {}
        now = self.clock.now_ms()
        named = self.retention.resolve(self.registry_by_name)
        for name, keep in sorted(named.items()):
            if keep is not None:
                await collect(
                    self.store,
                    self.clock,
                    before=now - _ms(keep),
                    name=name,
                    dry_run=dry_run,
                    by=by,
                    into=deleted,
                )
        if self.retention.default is not None:
            await collect(
                self.store,
                self.clock,
                before=now - _ms(self.retention.default),
                exclude=tuple(sorted(named)),
                dry_run=dry_run,
                by=by,
                into=deleted,
            )
        for kind, keep in sorted(self.retention.records.items()):
            await collect_records(self.store, kind, now - _ms(keep), dry_run, deleted)
        await collect_orphans(self.store, self.clock, dry_run, deleted)
        return report(deleted, dry_run)

    async def subject(self, subject: str, *, limit: int = 50) -> SubjectInfo:
        """What carries ``subject`` (what ``erase_subject`` would erase): the workflows
        started with ``subject=`` (newest ``limit``), counts of workflows with their
        children, records and blobs, and the erasures done before (``erased`` events)."""
        if not isinstance(subject, str) or not subject:
            raise ConfigurationError(f"subject() needs a subject, not {subject!r}")
        counts = await self.store.describe_subject(subject)
        found = await self.list(subject=subject, limit=limit)
        erasures = [
            e for w in found for e in await self.events(w.id) if e.kind == WorkflowEventKind.ERASED
        ]
        return SubjectInfo(
            subject=subject,
            workflows=tuple(found),
            workflow_count=counts["workflows"],
            records=counts["records"],
            blobs=counts["blobs"],
            erasures=tuple(sorted(erasures, key=lambda e: e.at)),
        )


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)


def _check_by(by: str) -> None:
    if not isinstance(by, str) or not by:
        raise ConfigurationError(f"by= names who acts (a user name or 'system'), not {by!r}")


async def retention_loop(engine: RetentionAPI) -> None:
    """A worker's loop: applies the engine's policies once per ``retention.interval`` on the
    whole database. Every worker checks a few times per interval (the first time at a random
    moment within a minute of starting) whether it is the database's turn (``claim_pass``: one
    conditional UPDATE); the one that wins applies the policies, the others skip."""
    policy = engine.retention
    if not (policy.configured or policy.resolve(engine.registry_by_name)):
        return  # nothing to apply: orphan blobs are gc's (plait gc, engine.collect_blobs)
    period = policy.interval.total_seconds()
    interval_ms = _ms(policy.interval)
    # Workers with the same policies take turns; an application with other policies on the
    # same database (another engine's workflows) gets turns of its own.
    key = f"{PASS_KEY}:{policy.fingerprint(engine.registry_by_name)}"
    await asyncio.sleep(random.uniform(0.0, min(period, 60.0)))
    while True:
        try:
            if await engine.store.claim_pass(key, engine.clock.now_ms(), interval_ms):
                done = await engine.apply_retention()
                if done.deleted:
                    counts = ", ".join(f"{n} {t}" for t, n in done.deleted.items())
                    log.info("retention deleted %s", counts)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("applying the retention policies failed; trying again later")
        await asyncio.sleep(period / CHECKS)
