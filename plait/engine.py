"""The engine: the client API (start, signal, cancel, resume, inspect) and the home of workers.

An ``Engine`` binds a store (chosen by URL), a codec, a clock and the registered workflows.
Everything a user, the CLI or the server does goes through it. Workers run in the same
process (``engine.worker()``) or in others (``plait worker module:engine``); they share
work only through the store.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from plait.alerts import AlertAPI, Alerts, resolve
from plait.arguments import decode_arguments, encode_arguments
from plait.blobs import BlobAPI, blob_digests
from plait.clock import Clock, SystemClock, duration_ms
from plait.codec import DEFAULT_MAX_PAYLOAD_BYTES, Codec, Transform, digest
from plait.definitions import WorkflowDef
from plait.encryption import Encryption
from plait.errors import (
    ConfigurationError,
    WorkflowNotFound,
    check_text,
)
from plait.handle import WorkflowHandle
from plait.human.directory import Directory
from plait.human.inbox import TaskAPI
from plait.limits import Limit, Queue, check_queues, declare_queues
from plait.operations import OperationsAPI, check_by
from plait.records import Records
from plait.retention import Retention, RetentionAPI, RetentionSpec
from plait.schedules import Schedule
from plait.scheduling import Schedules, check_schedules
from plait.store import Store, open_store
from plait.store.records import RESERVED_PREFIX, ListFilter, NewWorkflow
from plait.types import (
    AttemptRecord,
    Duration,
    RunInfo,
    StepRecord,
    WorkflowEvent,
    WorkflowInfo,
    WorkflowStatus,
    ms_to_datetime,
    parse_enum,
)
from plait.views import ViewAPI
from plait.wakeups import Beacon, Endings
from plait.worker import Worker

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from plait.ai.budget import Price, Prices
    from plait.ai.model import Model
    from plait.telemetry.hooks import Telemetry

R = TypeVar("R")

STEP_THREAD_PREFIX = "plait-step"  # the names of the threads sync steps run in


def new_workflow_id() -> str:
    """A new workflow's id: a random (version 4) UUID's 32 hex digits, as
    ``uuid.uuid4().hex`` makes them, without importing ``uuid`` (which imports ``platform``:
    ~2 ms at the start of every process, also of a worker that never starts a workflow)."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # the RFC 4122 variant
    return b.hex()


class Engine(TaskAPI, BlobAPI, ViewAPI, OperationsAPI, AlertAPI, RetentionAPI):
    """plait's engine: ``async with plait.Engine("sqlite:///plait.db", workflows=[...])``.

    ``directory`` (a :class:`plait.Directory`) makes human-task answers, claims and
    reassignments checked against who belongs to which group; without one, ``by=`` is
    recorded as given. The human-task methods are in :class:`plait.human.inbox.TaskAPI`, the
    server's reads (counts, pages, workers, the change feed) in :class:`plait.views.ViewAPI`.
    ``encryption`` (:class:`plait.Encryption`; by default from ``PLAIT_ENCRYPTION_KEYS``
    when it is set) encrypts every payload stored (see docs/operations.md).
    ``queues`` (:class:`plait.Queue`) declares queues' concurrency and rate limits; they
    are stored when the engine opens, and every worker applies them.
    ``schedules`` (:class:`plait.Schedule`) start workflows on a cron expression or at an
    interval; they are stored when the engine opens, and workers start their ticks.
    ``records`` (:class:`plait.records.Records`) keeps application state; the blob methods
    are in :class:`plait.blobs.BlobAPI`.
    The AI layer (``plait.ai``, see docs/ai.md) reads ``model`` (the default chat model: a
    ``plait.ai.Model`` or a spec such as ``"openai:gpt-4o-mini"``; else ``PLAIT_MODEL``),
    ``prices`` (a ``plait.ai.Prices`` table for the cost ledger), ``ai_budget_usd`` (what
    one workflow's model calls may cost in all) and ``ai_limits`` (``plait.limit(...)``
    objects keyed by model name: requests and tokens per minute across workers).
    ``tracer_provider`` (an OpenTelemetry ``TracerProvider``) turns on traces of run
    segments, steps and model calls (``plait.telemetry``, docs/operations.md#monitoring).
    ``alerts`` (:class:`plait.Alerts`, else ``PLAIT_ALERT_*`` in the environment): where
    workers send alerts; ``list_alerts`` shows them (:class:`plait.alerts.AlertAPI`).
    ``retention`` (a duration, or workflow names to durations with ``"*"`` the default),
    ``record_retention`` (record kinds to durations) and ``retention_interval`` are the
    policies workers apply (:mod:`plait.retention`; ``gc`` and ``apply_retention`` there).
    ``migrate=False`` leaves the schema to ``plait migrate`` (see :mod:`plait.schema`).
    """

    def __init__(
        self,
        url: str = "sqlite:///plait.db",
        *,
        workflows: Iterable[WorkflowDef[..., Any]] = (),
        clock: Clock | None = None,
        lease_ttl: Duration = timedelta(seconds=30),
        poll_interval: Duration = timedelta(milliseconds=500),
        max_recoveries: int = 5,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        transform: Transform | None = None,
        encryption: Encryption | None = None,
        step_threads: int = 32,
        directory: Directory | None = None,
        queues: Iterable[Queue] = (),
        model: Model | str | None = None,
        prices: Mapping[str, Price] | None = None,
        ai_budget_usd: float | None = None,
        ai_limits: Iterable[Limit] = (),
        schedules: Iterable[Schedule] = (),
        tracer_provider: TracerProvider | None = None,
        alerts: Alerts | None = None,
        retention: RetentionSpec | Mapping[str, RetentionSpec] = None,
        record_retention: Mapping[str, Duration | str] | None = None,
        retention_interval: Duration = timedelta(hours=1),
        migrate: bool = True,
    ) -> None:
        self.url = url
        self.migrate = migrate
        self.telemetry: Telemetry | None = None  # plait.telemetry.instrument turns it on
        if tracer_provider is not None:
            from plait.telemetry import instrument

            instrument(self, tracer_provider=tracer_provider)
        self.store: Store = open_store(url)
        self.clock: Clock = clock or SystemClock()
        if encryption is not None and transform is not None:
            raise ConfigurationError("give Engine(encryption=...) or transform=..., not both")
        if encryption is None and transform is None:
            encryption = Encryption.from_env()  # PLAIT_ENCRYPTION_KEYS: every process alike
        self.encryption = encryption
        self.codec = Codec(max_payload_bytes=max_payload_bytes, transform=transform or encryption)
        self.lease_ms = duration_ms(lease_ttl, "lease_ttl")
        if self.lease_ms < 300:
            raise ConfigurationError("lease_ttl must be at least 0.3 s")
        self.poll_interval = duration_ms(poll_interval, "poll_interval") / 1000
        self.max_recoveries = max_recoveries
        self.retention = Retention(retention, record_retention, retention_interval)
        if directory is not None and not isinstance(directory, Directory):
            raise ConfigurationError("Engine(directory=...) takes a plait.Directory")
        self.directory = directory
        self.alerts = resolve(alerts)
        self._closed = False
        self.queues = check_queues(queues)
        self.declared_schedules = check_schedules(schedules)
        self.random = random.Random()
        self._step_threads = step_threads
        self.threads = ThreadPoolExecutor(
            max_workers=step_threads, thread_name_prefix=STEP_THREAD_PREFIX
        )
        self.registry: dict[tuple[str, str], WorkflowDef[..., Any]] = {}
        self.registry_by_name: dict[str, WorkflowDef[..., Any]] = {}
        for wf in workflows:
            self.register(wf)
        self.beacon = Beacon()  # in-process hint: work may be runnable
        self.endings = Endings()  # in-process hint: a workflow ended here
        self.local_workers: builtins.list[Worker] = []  # this engine's running workers
        self._open = False
        self.model = model
        self.prices: Prices | None = None
        if prices is not None:
            from plait.ai.budget import Prices

            self.prices = prices if isinstance(prices, Prices) else Prices(prices)
        if ai_budget_usd is not None:
            from plait.ai.budget import check_budget

            ai_budget_usd = check_budget(ai_budget_usd)
        self.ai_budget_usd = ai_budget_usd
        self.ai_limits: dict[str, Limit] = {}
        for lim in ai_limits:
            if not isinstance(lim, Limit):
                raise ConfigurationError(
                    f"Engine(ai_limits=...) takes plait.limit(model_name, ...) objects, not {lim!r}"
                )
            self.ai_limits[lim.key] = lim

    # -- life cycle --------------------------------------------------------------------
    def register(self, wf: WorkflowDef[..., Any]) -> None:
        """Adds a workflow this engine's workers may run."""
        if not isinstance(wf, WorkflowDef):
            raise ConfigurationError(f"{wf!r} is not a @plait.workflow")
        key = (wf.name, wf.version)
        if key in self.registry and self.registry[key] is not wf:
            raise ConfigurationError(
                f"two workflows are registered as {wf.name!r} version {wf.version!r}; "
                "give one another name= or version="
            )
        self.registry[key] = wf
        latest = self.registry_by_name.get(wf.name)
        if latest is None or _version_key(wf.version) >= _version_key(latest.version):
            self.registry_by_name[wf.name] = wf

    @property
    def registered_pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.registry))

    async def open(self) -> None:
        """Opens the store and applies pending migrations; with ``migrate=False``, refuses a
        schema behind this code instead (``plait migrate`` applies them, see plait.schema)."""
        if not self._open:
            if self._closed:  # opened before: a closed store and thread pool start afresh
                self.store = open_store(self.url)
                self.threads = ThreadPoolExecutor(
                    max_workers=self._step_threads, thread_name_prefix=STEP_THREAD_PREFIX
                )
                self._closed = False
            await self.store.open(migrate=self.migrate)
            self._open = True
            try:
                if not self.migrate:
                    from plait.schema import check_schema

                    await check_schema(self.store)
                await declare_queues(self, self.queues)
                await self.schedules.declare(self.declared_schedules)
            except BaseException:
                await self.close()
                raise

    @property
    def is_open(self) -> bool:
        """Whether the engine is open (``open()`` called, ``close()`` not since), so a layer
        given an engine (the server) knows whether to open and close it itself."""
        return self._open

    async def close(self) -> None:
        if self._open:
            self._open = False
            await self.store.close()
        self.threads.shutdown(wait=False)
        self._closed = True

    async def __aenter__(self) -> Engine:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def worker(
        self,
        *,
        concurrency: int = 100,
        queues: Sequence[str] | None = None,
        shutdown_grace: Duration = timedelta(seconds=10),
    ) -> Worker:
        """A worker running this engine's workflows in this process (``async with``)."""
        return Worker(
            self,
            concurrency=concurrency,
            queues=tuple(queues) if queues else None,
            shutdown_grace=shutdown_grace,
        )

    def wake(self, queue: str | None = None) -> None:
        """After a commit that may have made work runnable: wakes this process's workers
        at once, and (PostgreSQL) sends a coalesced hint to the other processes'."""
        self.beacon.fire()
        self.store.notify(queue)

    # The names Engine mixins used before these became public-to-the-package (issue 7).
    _wake = wake

    @property
    def _beacon(self) -> Beacon:
        return self.beacon

    # -- starting ----------------------------------------------------------------------
    def _workflow(self, wf: WorkflowDef[..., R] | str) -> WorkflowDef[..., R]:
        if isinstance(wf, WorkflowDef):
            return wf
        found = self.registry_by_name.get(wf)
        if found is None:
            known = ", ".join(sorted(self.registry_by_name)) or "none"
            raise ConfigurationError(f"no workflow named {wf!r} is registered (known: {known})")
        return found

    def new_workflow(
        self,
        wf: WorkflowDef[..., Any],
        args: tuple[Any, ...],
        *,
        id: str,
        queue: str | None = None,
        priority: int = 0,
        concurrency_key: str | None = None,
        delay: Duration | None = None,
        timeout: Duration | None = None,
        parent_id: str | None = None,
        subject: str | None = None,
    ) -> NewWorkflow:
        """The store record of a new workflow ``wf(*args)`` (arguments checked and sealed)."""
        plain, sealed, input_hash = self.encode_input(wf, args)
        now = self.clock.now_ms()
        return NewWorkflow(
            id=id,
            name=wf.name,
            version=wf.version,
            input=sealed,
            input_hash=input_hash,
            queue=queue or "default",
            priority=priority,
            concurrency_key=concurrency_key,
            available_at=now + (duration_ms(delay, "delay") if delay is not None else 0),
            deadline_at=None if timeout is None else now + duration_ms(timeout, "timeout"),
            parent_id=parent_id,
            subject=subject,
            blobs=blob_digests(plain),
        )

    def encode_input(
        self, wf: WorkflowDef[..., Any], args: tuple[Any, ...]
    ) -> tuple[str, str, str]:
        """``wf``'s arguments ``args`` checked (before anything is written) and encoded:
        ``(plaintext JSON, sealed as stored, hash compared by start with an id)``."""
        plain = encode_arguments(self.codec, wf, args)
        return plain, self.codec.seal(plain), digest(f"{wf.name}\n{plain}")

    def decode_args(self, wf: WorkflowDef[..., Any], stored: str) -> list[Any]:
        """A workflow's stored arguments decoded for its parameters (``SerializationError``
        when they no longer fit)."""
        return decode_arguments(self.codec, wf, stored)

    async def start(
        self,
        wf: WorkflowDef[..., R] | str,
        *args: Any,
        id: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        concurrency_key: str | None = None,
        delay: Duration | None = None,
        timeout: Duration | None = None,
        subject: str | None = None,
        by: str = "system",
    ) -> WorkflowHandle[R]:
        """Starts a workflow. The same ``id`` with equal arguments returns the existing
        workflow; with other arguments it raises ``WorkflowAlreadyExists``. ``subject``
        names the person the workflow is about; ``by`` who starts it (``engine.events``)."""
        definition = self._workflow(wf)
        if id is not None and (not isinstance(id, str) or not id):
            raise ConfigurationError("a workflow id must be a non-empty string")
        for value, what in ((id, "the workflow id"), (subject, "start(subject=...)")):
            if value is not None:
                check_text(value, what)
        if subject is not None and (not isinstance(subject, str) or not subject):
            raise ConfigurationError("start(subject=...) must be a non-empty string")
        check_by(by)
        new = self.new_workflow(
            definition,
            args,
            id=id or new_workflow_id(),
            queue=queue,
            priority=priority,
            concurrency_key=concurrency_key,
            delay=delay,
            timeout=timeout,
            subject=subject,
        )
        here = next((w for w in self.local_workers if w.takes(new)), None)
        if here is not None:  # one commit for the start and a claim by this process's worker
            created, taken = await here.start_here(new, by)
        else:
            _, created = await self.store.create_workflow(new, self.clock.now_ms(), by)
            taken = False
        if created and not taken:
            self.wake(new.queue)
        return WorkflowHandle(self, new.id, definition)

    def handle(self, workflow_id: str) -> WorkflowHandle[Any]:
        """A handle for an existing workflow (no I/O)."""
        return WorkflowHandle(self, workflow_id)

    # -- inspecting --------------------------------------------------------------------
    async def get(self, workflow_id: str, *, decode: bool = True) -> WorkflowInfo:
        """The workflow's record; raises ``WorkflowNotFound``."""
        info = await self.store.get(workflow_id)
        if info is None:
            raise WorkflowNotFound(f"no workflow {workflow_id!r} in {self.url}")
        return self._plain(info) if decode else info

    def _plain(self, info: WorkflowInfo) -> WorkflowInfo:
        return dataclasses.replace(
            info, input=self.codec.loads(info.input), output=self.codec.loads(info.output)
        )

    async def list(
        self,
        *,
        status: WorkflowStatus | str | Sequence[WorkflowStatus | str] | None = None,
        name: str | None = None,
        parent_id: str | None = None,
        subject: str | None = None,
        limit: int = 100,
        offset: int = 0,
        **attributes: str | int | float | bool,
    ) -> builtins.list[WorkflowInfo]:
        """Workflows, newest first, filtered by status, name, parent, subject and status
        attributes."""
        if status is None:
            statuses: tuple[WorkflowStatus, ...] = ()
        elif isinstance(status, str):
            statuses = (parse_enum(WorkflowStatus, status, "status"),)
        else:
            statuses = tuple(parse_enum(WorkflowStatus, s, "status") for s in status)
        flt = ListFilter(
            status=statuses,
            name=name,
            parent_id=parent_id,
            subject=subject,
            attributes=tuple((k, _attr_text(v)) for k, v in attributes.items()),
            limit=limit,
            offset=offset,
        )
        return [self._plain(i) for i in await self.store.list_workflows(flt)]

    async def journal(self, workflow_id: str) -> builtins.list[StepRecord]:
        """The workflow's journal, in program order."""
        return self.codec.reveal_steps(await self.store.journal(workflow_id))

    async def runs(self, workflow_id: str) -> builtins.list[RunInfo]:
        """The runs of the workflow that ended with ``ctx.continue_as_new``, oldest first
        (each with its arguments and journal); the current run is not among them."""
        return [
            RunInfo(
                workflow_id=r.workflow_id,
                run=r.run,
                input=self.codec.loads(r.input),
                started_at=ms_to_datetime(r.started_at),  # type: ignore[arg-type]
                ended_at=ms_to_datetime(r.ended_at),  # type: ignore[arg-type]
                journal=self.codec.reveal_steps(r.journal),
                attempts=r.attempts,
            )
            for r in await self.store.finished_runs(workflow_id)
        ]

    async def attempts(self, workflow_id: str) -> builtins.list[AttemptRecord]:
        """Every recorded attempt of the workflow's steps (start, end, error)."""
        return await self.store.attempts(workflow_id)

    async def events(self, workflow_id: str) -> builtins.list[WorkflowEvent]:
        """Who started, signalled, cancelled and resumed the workflow, and when, oldest
        first; raises ``WorkflowNotFound``."""
        return await self.store.events(workflow_id)

    @functools.cached_property
    def schedules(self) -> Schedules:
        """Schedules: ``list``, ``get``, ``add``, ``pause``, ``resume``, ``delete``,
        ``trigger`` (``plait.Schedule``; those in ``Engine(schedules=...)`` are declared
        when the engine opens)."""
        return Schedules(self)

    @functools.cached_property
    def records(self) -> Records:
        """Durable application records: ``put``, ``get``, ``delete``, ``list``."""
        return Records(self)

    # -- commands ----------------------------------------------------------------------
    async def signal(
        self,
        workflow_id: str,
        name: str,
        payload: Any = None,
        *,
        dedup_key: str | None = None,
        by: str = "system",
    ) -> bool:
        """Sends a signal to a workflow's durable mailbox. Returns False when ``dedup_key``
        was already used (nothing is sent twice)."""
        if not name or name.startswith(RESERVED_PREFIX):
            raise ConfigurationError(f"bad signal name {name!r}")
        check_text(name, "a signal name")
        if dedup_key is not None:
            check_text(dedup_key, "signal(dedup_key=...)")
        check_by(by)
        plain = self.codec.dumps(payload, what=f"signal {name!r}")
        sent = await self.store.send_signal(
            workflow_id,
            name,
            self.codec.seal(plain),
            dedup_key,
            self.clock.now_ms(),
            by,
            blob_digests(plain),
        )
        self.wake()
        return sent

    async def cancel(self, workflow_id: str, *, by: str = "system") -> WorkflowStatus:
        """Cancels a workflow and its children: it sees ``asyncio.CancelledError`` at its next
        durable point (a waiting workflow is woken for it), so cleanup code runs."""
        check_by(by)
        status = await self.store.cancel(workflow_id, self.clock.now_ms(), by)
        self.wake()
        self.endings.fire()
        return status

    async def resume(self, workflow_id: str, *, by: str = "system") -> None:
        """Continues a ``failed`` or ``blocked`` workflow from where it stopped; completed
        steps are not run again."""
        check_by(by)
        await self.store.resume(workflow_id, self.clock.now_ms(), by)
        self.wake()


def _attr_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _version_key(version: str) -> tuple[int, ...] | tuple[float, str]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (float("inf"), version)
