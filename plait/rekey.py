"""Key rotation: every stored payload moved to the current encryption key.

``await engine.rekey()`` (``plait rekey``) walks each payload column of the store and the
blobs, batch by batch, and rewrites every value that is not encrypted with the engine's
current key: values under an older key are decrypted and encrypted again, plaintext
payloads written before encryption was enabled are encrypted. When it reports nothing left,
older keys can be removed from ``PLAIT_ENCRYPTION_KEYS``.

Invariants kept here:
- Each batch is one transaction (the store's ``rekey_batch``), so an interrupted pass
  leaves every value readable with the configured keys; running it again finishes the work
  (values already under the current key are left as they are).
- A value that cannot be decrypted (a key missing from this process, an altered value)
  stops the pass with :class:`~plait.encryption.DecryptionError` before its batch writes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from plait.encryption import ENV, Encryption
from plait.errors import ConfigurationError
from plait.frozen import Frozen
from plait.store.records import PAYLOAD_COLUMNS

if TYPE_CHECKING:
    from plait.engine import Engine

DEFAULT_BATCH_SIZE = 500
BLOBS = "blobs.data"
# Journal kinds whose output is one payload (steps, recorded values, model calls), and the
# waits whose output wraps one: {"signal" | "outcome": ..., "payload": <payload>}; a child's
# result wraps the child's end ({"status", "output": <payload>, "error"}).
_VALUE_KINDS = frozenset(("step", "now", "uuid", "random", "model"))
_WAIT_KINDS = frozenset(("signal", "human_task"))
_CHILD_KIND = "child_result"


class RekeyCount(Frozen):
    """What a pass did to one column: values read, values rewritten (or to rewrite)."""

    column: str
    scanned: int
    changed: int


class RekeyReport(Frozen):
    """What ``engine.rekey()`` did, per column (``blobs.data`` for blob bytes)."""

    key_id: str
    dry_run: bool
    columns: tuple[RekeyCount, ...]

    @property
    def scanned(self) -> int:
        return sum(c.scanned for c in self.columns)

    @property
    def changed(self) -> int:
        return sum(c.changed for c in self.columns)


async def rekey(
    engine: Engine, *, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False
) -> RekeyReport:
    """Re-encrypts every stored payload not under the current key (see the module doc)."""
    enc = engine.encryption
    if enc is None:
        raise ConfigurationError(
            f"rekey needs encryption keys: set {ENV} (the current key first) or give "
            "Engine(encryption=...)"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, not {batch_size!r}")
    store = engine.store
    counts: list[RekeyCount] = []
    for column in PAYLOAD_COLUMNS:
        scanned = changed = 0
        cursor: str | None = None
        while True:
            batch = await store.rekey_batch(
                column,
                cursor,
                batch_size,
                _Rewriter(enc).rewrite,
                dry_run,
            )
            scanned, changed, cursor = (
                scanned + batch.scanned,
                changed + batch.changed,
                batch.cursor,
            )
            if cursor is None:
                break
        counts.append(RekeyCount(column, scanned, changed))
    scanned = changed = 0
    cursor = None
    while True:
        batch = await store.rekey_blobs(cursor, batch_size, enc.reseal_bytes, dry_run)
        scanned, changed, cursor = scanned + batch.scanned, changed + batch.changed, batch.cursor
        if cursor is None:
            break
    counts.append(RekeyCount(BLOBS, scanned, changed))
    return RekeyReport(enc.current, dry_run, tuple(counts))


class _Rewriter:
    """A stored value, by its shape (the store's ``rekey_batch`` says which), with every
    payload in it under the current key: envelopes under other keys re-encrypted, plaintext
    payloads (stored before encryption was enabled) encrypted; the JSON around them kept."""

    def __init__(self, enc: Encryption) -> None:
        self.enc = enc
        self.changed = False

    def rewrite(self, text: str, shape: str) -> str | None:
        self.changed = False
        new = self._shaped(text, shape)
        return new if self.changed else None

    def _payload(self, text: str) -> str:
        new = self.enc.reseal(text)
        if new is None:
            return text
        self.changed = True
        return new

    def _shaped(self, text: str, shape: str) -> str:
        if shape == "value":
            return self._payload(text)
        kind = shape.removeprefix("journal:")
        if kind in _VALUE_KINDS:
            return self._payload(text)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if shape == "runs_journal" and isinstance(data, list):
            for row in data:
                if isinstance(row, dict) and isinstance(row.get("output"), str):
                    row["output"] = self._shaped(row["output"], f"journal:{row.get('kind')}")
            return self._dump(data, text)
        if isinstance(data, dict):
            inner: dict[str, str] = {}
            if kind in _WAIT_KINDS:
                inner = {"payload": "value"}
            elif kind == _CHILD_KIND:
                inner = {"payload": "child_end"}
            elif shape == "child_end":
                inner = {"output": "value"}
            elif shape == "task_event":
                inner = {"comment": "value", "answer": "value"}
            elif shape == "policy":
                inner = {"value": "value", "then": "policy"}
            for key, sub in inner.items():
                value: Any = data.get(key)
                if isinstance(value, str):
                    data[key] = self._shaped(value, sub)
                elif isinstance(value, dict) and sub == "policy":
                    data[key] = json.loads(self._shaped(json.dumps(value), sub))
            if inner:
                return self._dump(data, text)
        new = self.enc.reseal_nested(text)  # any other shape: only envelopes are moved
        if new is None:
            return text
        self.changed = True
        return new

    def _dump(self, data: Any, text: str) -> str:
        return json.dumps(data, separators=(",", ":")) if self.changed else text


__all__ = ["DEFAULT_BATCH_SIZE", "RekeyCount", "RekeyReport", "rekey"]
