"""Replay-check: would the current code replay these journals, before it is deployed?

``replay_check(engine, ...)`` replays journals against the workflows ``engine`` registers
and reports, for each workflow, whether its replay reaches the end of its journal (it
``passed``), would block (``blocked``: the code calls another operation than the journal
recorded, or a recorded value no longer decodes), raises where the recorded workflow did not
(``failed``), or ends before positions the journal recorded (``diverged``). Workflows whose
``(name, version)`` the engine does not register are ``not_checked``: a worker of their
version runs them.

The journals come from the database (the in-flight workflows: pending, running, waiting,
blocked) or from golden journal files (JSON, written by :func:`export_journals`).

The replay is the engine's own: a :class:`~plait.journal.Journal` whose operations, when they
would run for real (the point where ``interrupts`` is called, or any store call), park
instead. So no step body runs, nothing is written, no timer, signal, child or human task is
created: recorded results are returned, and once every operation in flight has parked (or
the workflow has ended) the replay is over, the way a real run suspends.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from plait.codec import Codec
from plait.errors import ConfigurationError, NondeterminismError, SerializationError, _Suspend
from plait.frozen import Frozen
from plait.journal import Journal
from plait.outcome import Blocked, Cancelled, Completed, ContinuedAsNew, Failed, Suspended
from plait.store.records import Claimed, Entry
from plait.types import WorkflowStatus
from plait.worker import start_run

if TYPE_CHECKING:
    from plait.engine import Engine

T = TypeVar("T")

GOLDEN_FORMAT = "plait-golden-journal"
GOLDEN_VERSION = 1
IN_FLIGHT = (
    WorkflowStatus.PENDING,
    WorkflowStatus.RUNNING,
    WorkflowStatus.WAITING,
    WorkflowStatus.BLOCKED,
)
REPLAY_TIMEOUT = 30.0  # seconds one replay may take (it runs no step: only workflow code)


class ReplayOutcome(StrEnum):
    """What replaying one workflow's journal with the current code found."""

    PASSED = "passed"
    BLOCKED = "blocked"
    FAILED = "failed"
    DIVERGED = "diverged"
    NOT_CHECKED = "not_checked"


class ReplayResult(Frozen):
    """One workflow's replay: ``outcome``; for a problem, the first one: its journal
    ``position``, what the journal ``recorded`` there and what the code now ``called``
    (``"step 'score'"``) when known, and a ``message``. ``source`` is ``"database"`` or the
    golden file's path; ``status`` the workflow's status there."""

    workflow_id: str
    name: str
    version: str
    status: str
    source: str
    outcome: ReplayOutcome
    replayed: int = 0  # recorded entries the replay went through
    position: int | None = None
    recorded: str | None = None
    called: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """False when the current code would not replay this journal."""
        return self.outcome in (ReplayOutcome.PASSED, ReplayOutcome.NOT_CHECKED)


class ReplayReport(Frozen):
    """Every workflow checked; ``ok`` when none would block, fail or diverge."""

    results: tuple[ReplayResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def problems(self) -> list[ReplayResult]:
        return [r for r in self.results if not r.ok]

    @property
    def not_checked(self) -> list[ReplayResult]:
        return [r for r in self.results if r.outcome == ReplayOutcome.NOT_CHECKED]


class GoldenJournal(Frozen):
    """A workflow's run as replay needs it: its arguments and journal as stored."""

    workflow_id: str
    name: str
    version: str
    status: str
    input: str
    entries: tuple[Entry, ...]
    run: int = 1
    seq_base: int = 0

    def to_json(self) -> dict[str, Any]:
        """The golden file's content (times, tracebacks and wake-up times left out, so a
        regenerated file differs only where the journal does)."""
        return {
            "format": GOLDEN_FORMAT,
            "format_version": GOLDEN_VERSION,
            "workflow": {
                "id": self.workflow_id,
                "name": self.name,
                "version": self.version,
                "status": self.status,
                "run": self.run,
                "seq_base": self.seq_base,
            },
            "input": _value(self.input),
            "journal": [
                {
                    "seq": e.seq,
                    "kind": e.kind,
                    "name": e.name,
                    "status": e.status,
                    "output": _value(e.output),
                    "error": None
                    if e.error is None
                    else {k: v for k, v in e.error.items() if k != "traceback"},
                    "attempts": e.attempts,
                    "fingerprint": e.fingerprint,
                }
                for e in self.entries
            ],
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> GoldenJournal:
        """Reads a golden file's content; a file of another format is a ConfigurationError."""
        if not isinstance(data, dict) or data.get("format") != GOLDEN_FORMAT:
            raise ConfigurationError(f"{source} is not a plait golden journal (no format key)")
        if data.get("format_version") != GOLDEN_VERSION:
            raise ConfigurationError(
                f"{source} is a golden journal of format version "
                f"{data.get('format_version')!r}; this plait reads version {GOLDEN_VERSION}"
            )
        try:
            wf = data["workflow"]
            entries = tuple(
                Entry(
                    seq=int(e["seq"]),
                    kind=str(e["kind"]),
                    name=str(e["name"]),
                    status=str(e["status"]),
                    output=_text(e.get("output")),
                    error=e.get("error"),
                    attempts=int(e.get("attempts", 1)),
                    fingerprint=e.get("fingerprint"),
                )
                for e in data["journal"]
            )
            return cls(
                workflow_id=str(wf["id"]),
                name=str(wf["name"]),
                version=str(wf["version"]),
                status=str(wf.get("status", "waiting")),
                input=_text(data["input"]) or "[]",
                entries=entries,
                run=int(wf.get("run", 1)),
                seq_base=int(wf.get("seq_base", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"{source} is not a valid golden journal: {exc!r}") from None


def _value(stored: str | None) -> Any:
    # Stored text is JSON (export refuses a codec with a transform): kept as a JSON value,
    # so the file reads as JSON. A stored JSON null and no value at all both read as None.
    return None if stored is None else json.loads(stored)


def _text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


class ReplayJournal(Journal):
    """A journal that replays what it holds and parks every operation that would run for
    real: it never calls the store."""

    def __init__(self, engine: Engine, claimed: Claimed) -> None:
        super().__init__(engine, claimed, "replay-check")
        self.reached = 0  # the highest position the code reserved

    def reserve(
        self,
        kind: str,
        name: str,
        fingerprint: str | None = None,
        *,
        explain: Callable[[str, str | None], str] | None = None,
    ) -> tuple[int, Entry | None]:
        seq, entry = super().reserve(kind, name, fingerprint, explain=explain)
        self.reached = max(self.reached, seq)
        return seq, entry

    def patched(self, patch_id: str) -> bool:
        taken = super().patched(patch_id)
        self.reached = max(self.reached, self.next_seq - 1)
        return taken

    def deprecate_patch(self, patch_id: str) -> None:
        super().deprecate_patch(patch_id)
        self.reached = max(self.reached, self.next_seq - 1)

    @property
    def interrupting(self) -> bool:
        return True  # every operation that would run for real calls interrupts(): it parks

    async def interrupts(self, seq: int, entry: Entry | None, kind: str, name: str) -> None:
        if self._suspending:
            raise _Suspend()
        await self.park((), None)  # the operation would run for real here: the replay ends

    async def store_call(self, awaitable: Awaitable[T]) -> T:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never started: nothing reaches the database
        await self.park((), None)
        raise _Suspend()  # pragma: no cover - park only ends by raising

    async def flush(self) -> None:
        return None


async def replay(engine: Engine, golden: GoldenJournal, source: str) -> ReplayResult:
    """Replays one workflow's journal with the code ``engine`` registers."""
    base = ReplayResult(
        golden.workflow_id,
        golden.name,
        golden.version,
        golden.status,
        source,
        ReplayOutcome.PASSED,
    )
    wf = engine.registry.get((golden.name, golden.version))
    if wf is None:
        known = sorted(v for n, v in engine.registry if n == golden.name)
        return dataclasses.replace(
            base,
            outcome=ReplayOutcome.NOT_CHECKED,
            message=(
                f"version {golden.version!r} of {golden.name!r} is not registered by this app "
                f"(it registers {', '.join(repr(v) for v in known) or 'no version'}); "
                "a worker of that version runs it"
            ),
        )
    claimed = Claimed(
        id=golden.workflow_id,
        name=golden.name,
        version=golden.version,
        input=golden.input,
        attempt=0,
        cancel_requested=False,
        parent_id=None,
        queue="default",
        journal=list(golden.entries),
        run=golden.run,
        seq_base=golden.seq_base,
    )
    journal = ReplayJournal(engine, claimed)
    try:
        args = engine.decode_args(wf, golden.input)
    except SerializationError as bad:
        return dataclasses.replace(base, outcome=ReplayOutcome.BLOCKED, message=str(bad))
    task = start_run(engine, journal, wf, args)
    try:
        result: object = await asyncio.wait_for(asyncio.shield(task), REPLAY_TIMEOUT)
    except TimeoutError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return dataclasses.replace(
            base,
            outcome=ReplayOutcome.FAILED,
            message=(
                f"the replay did not reach the end of the journal within {REPLAY_TIMEOUT:.0f} s: "
                "does the workflow await something that is not a durable operation?"
            ),
        )
    except BaseException as raised:  # what the workflow raised is how its run ended
        result = raised
    replayed = sum(1 for e in golden.entries if e.seq <= journal.reached)
    base = dataclasses.replace(base, replayed=replayed)
    match journal.conclude(result):
        case Blocked(error=err):
            if isinstance(err, NondeterminismError):
                return dataclasses.replace(
                    base,
                    outcome=ReplayOutcome.BLOCKED,
                    position=err.position,
                    recorded=err.recorded,
                    called=err.called,
                    message=str(err),
                )
            return dataclasses.replace(base, outcome=ReplayOutcome.BLOCKED, message=str(err))
        case Failed(error=failure) if golden.status != WorkflowStatus.FAILED:
            return dataclasses.replace(
                base,
                outcome=ReplayOutcome.FAILED,
                message=f"the code now raises during replay: {type(failure).__name__}: {failure}",
            )
        case Suspended():
            return base
        case Completed() | Failed() | Cancelled() | ContinuedAsNew():
            left = [e for e in golden.entries if e.seq > journal.reached]
            if left:
                first = left[0]
                return dataclasses.replace(
                    base,
                    outcome=ReplayOutcome.DIVERGED,
                    position=first.seq,
                    recorded=f"{first.kind} {first.name!r}",
                    called="nothing (the workflow ended)",
                    message=(
                        f"the workflow now ends before position {first.seq}, where the "
                        f"journal recorded {first.kind} {first.name!r}"
                    ),
                )
            return base
        case _:
            return base


async def in_flight(engine: Engine, name: str | None = None) -> list[str]:
    """The ids of the workflows that can still run (pending, running, waiting, blocked)."""
    ids: list[str] = []
    offset = 0
    while True:
        batch = await engine.list(status=IN_FLIGHT, name=name, limit=500, offset=offset)
        ids.extend(i.id for i in batch)
        if len(batch) < 500:
            return ids
        offset += 500


async def stored(engine: Engine, workflow_id: str) -> GoldenJournal:
    """A stored workflow's current run, read without claiming it."""
    info = await engine.get(workflow_id, decode=False)  # WorkflowNotFound
    snap = await engine.store.snapshot(workflow_id)
    if snap is None:  # deleted in between
        from plait.errors import WorkflowNotFound

        raise WorkflowNotFound(f"no workflow {workflow_id!r} in {engine.url}")
    return GoldenJournal(
        workflow_id=snap.id,
        name=snap.name,
        version=snap.version,
        status=str(info.status),
        input=snap.input,
        entries=tuple(snap.journal),
        run=snap.run,
        seq_base=snap.seq_base,
    )


def golden_files(paths: Iterable[str | Path]) -> list[Path]:
    """The golden files ``paths`` name: files, and the ``*.json`` files of directories."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.glob("*.json")))
        elif p.is_file():
            found.append(p)
        else:
            raise ConfigurationError(f"no golden journal file or directory {str(p)!r}")
    return found


def load_golden(path: Path) -> GoldenJournal:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read golden journal {str(path)!r}: {exc}") from None
    return GoldenJournal.from_json(data, str(path))


async def replay_check(
    engine: Engine,
    *,
    workflow_ids: Sequence[str] = (),
    name: str | None = None,
    golden: Sequence[str | Path] = (),
) -> ReplayReport:
    """Replays journals against the code ``engine`` registers, without side effects.

    With ``golden`` (files, or directories of ``*.json`` files): those golden journals (the
    database is not read; ``name`` and ``workflow_ids`` filter them). Otherwise the stored
    workflows ``workflow_ids`` (any status), or every in-flight one (of ``name``)."""
    results: list[ReplayResult] = []
    if golden:
        # Golden files hold plaintext: replayed with a codec that has no transform.
        plain = copy.copy(engine)
        plain.codec = Codec(max_payload_bytes=engine.codec.max_payload_bytes)
        for path in golden_files(golden):
            g = load_golden(path)
            if (name is None or g.name == name) and (
                not workflow_ids or g.workflow_id in workflow_ids
            ):
                results.append(await replay(plain, g, str(path)))
        return ReplayReport(tuple(results))
    ids = list(workflow_ids) if workflow_ids else await in_flight(engine, name)
    for wid in ids:
        g = await stored(engine, wid)
        if name is None or g.name == name:
            results.append(await replay(engine, g, "database"))
    return ReplayReport(tuple(results))


async def export_journals(
    engine: Engine, workflow_ids: Sequence[str], directory: str | Path
) -> list[Path]:
    """Writes the stored workflows ``workflow_ids`` as golden journal files
    ``<directory>/<id>.json`` (``:`` in ids becomes ``_``); returns their paths."""
    if engine.codec.transform is not None:
        raise ConfigurationError(
            "golden journals hold plaintext: export them from a database whose payloads are "
            "not encrypted (a test or staging run)"
        )
    journals = [await stored(engine, wid) for wid in workflow_ids]
    return _write(journals, Path(directory))


def _write(journals: list[GoldenJournal], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for g in journals:
        path = directory / f"{_file_name(g.workflow_id)}.json"
        path.write_text(json.dumps(g.to_json(), indent=2) + "\n", "utf-8")
        written.append(path)
    return written


def _file_name(workflow_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in workflow_id)


__all__ = [
    "GoldenJournal",
    "ReplayJournal",
    "ReplayOutcome",
    "ReplayReport",
    "ReplayResult",
    "export_journals",
    "replay",
    "replay_check",
]
