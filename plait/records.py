"""``engine.records``: durable application state that is not a workflow.

Applications keep suppression lists, reply tokens, a demo mailbox, audit entries and the
like here instead of opening their own database connection: a JSON value under
``(kind, key)``, optionally about a person (``subject=``) so erasure can find it. Values go
through the engine's codec (Pydantic models, dataclasses, datetimes, ... and, later, its
encryption); ``get``/``list`` decode them to ``type=`` when given, else return plain JSON.

Invariants kept here:
- Nothing is written for a value that cannot be encoded: the ``SerializationError`` names
  the kind and key, and is raised before the store is called.
- Kinds starting with ``plait:`` are reserved for plait.
- Records are not journaled: a read in a workflow body could return something else on
  replay. They are used from steps (``plait.current_engine().records``) and outside
  workflows; in a workflow body they raise ``ConfigurationError``.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from plait.current import journal_var
from plait.errors import ConfigurationError, check_text
from plait.store.records import RESERVED_PREFIX, StoredRecord
from plait.types import Record, ms_to_datetime

if TYPE_CHECKING:
    from plait.engine import Engine


class Records:
    """The records API of one engine (``engine.records``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def put(self, kind: str, key: str, value: object, *, subject: str | None = None) -> None:
        """Stores ``value`` (JSON: plain data, a Pydantic model, a dataclass, ...) under
        ``(kind, key)``, replacing what was there; ``subject`` names the person it is about."""
        _check(kind, key)
        if subject is not None and (not isinstance(subject, str) or not subject):
            raise ConfigurationError("records.put(subject=...) must be a non-empty string")
        if subject is not None:
            check_text(subject, "records.put(subject=...)")
        codec = self._engine.codec
        stored = codec.encode(value, what=f"record {kind!r} {key!r}")
        now = self._engine.clock.now_ms()
        await self._engine.store.put_record(kind, key, stored, subject, now)

    async def get(self, kind: str, key: str, default: Any = None, *, type: Any = Any) -> Any:
        """The value under ``(kind, key)`` (decoded as ``type``), or ``default`` when there
        is none."""
        _check(kind, key)
        row = await self._engine.store.get_record(kind, key)
        return default if row is None else self._value(row, type)

    async def record(self, kind: str, key: str, *, type: Any = Any) -> Record | None:
        """The whole record under ``(kind, key)`` (subject, times), or ``None``."""
        _check(kind, key)
        row = await self._engine.store.get_record(kind, key)
        return None if row is None else self._record(row, type)

    async def delete(self, kind: str, key: str) -> bool:
        """Deletes the record; returns whether there was one."""
        _check(kind, key)
        return await self._engine.store.delete_record(kind, key)

    async def list(
        self,
        kind: str | None = None,
        prefix: str | None = None,
        subject: str | None = None,
        *,
        type: Any = Any,
    ) -> builtins.list[Record]:
        """Records of ``kind`` (all kinds when ``None``) whose key starts with ``prefix``
        (case-sensitive, no wildcards) and/or about ``subject``, in key order."""
        _usable()
        if kind is not None:
            _check(kind, "-")
        elif prefix is not None:
            raise ConfigurationError("records.list(prefix=...) needs a kind")
        rows = await self._engine.store.list_records(kind, prefix, subject)
        return [self._record(r, type) for r in rows]

    def _value(self, row: StoredRecord, annotation: Any) -> Any:
        what = f"record {row.kind!r} {row.key!r}"
        return self._engine.codec.decode(row.value, annotation, what=what)

    def _record(self, row: StoredRecord, annotation: Any) -> Record:
        return Record(
            kind=row.kind,
            key=row.key,
            value=self._value(row, annotation),
            subject=row.subject,
            created_at=ms_to_datetime(row.created_at),  # type: ignore[arg-type]
            updated_at=ms_to_datetime(row.updated_at),  # type: ignore[arg-type]
        )


def _usable() -> None:
    if journal_var.get() is not None:
        raise ConfigurationError(
            "engine.records is not journaled, so workflow code would read other values on "
            "replay; use it in a step (plait.current_engine().records)"
        )


def _check(kind: str, key: str) -> None:
    _usable()
    if not isinstance(kind, str) or not kind:
        raise ConfigurationError(f"a record kind must be a non-empty string, not {kind!r}")
    if kind.startswith(RESERVED_PREFIX):
        raise ConfigurationError(f"record kinds starting with {RESERVED_PREFIX!r} are plait's")
    if not isinstance(key, str) or not key:
        raise ConfigurationError(f"a record key must be a non-empty string, not {key!r}")
    check_text(kind, "a record kind")
    check_text(key, "a record key")


__all__ = ["Records"]
