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

import dataclasses
from typing import TYPE_CHECKING

from plait.encryption import ENV
from plait.errors import ConfigurationError
from plait.store.records import PAYLOAD_COLUMNS

if TYPE_CHECKING:
    from plait.engine import Engine

DEFAULT_BATCH_SIZE = 500
BLOBS = "blobs.data"


@dataclasses.dataclass(frozen=True)
class RekeyCount:
    """What a pass did to one column: values read, values rewritten (or to rewrite)."""

    column: str
    scanned: int
    changed: int


@dataclasses.dataclass(frozen=True)
class RekeyReport:
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
                lambda text, whole: enc.rekey_text(text, whole=whole),
                dry_run,
            )
            scanned, changed, cursor = scanned + batch.scanned, changed + batch.changed, batch.cursor
            if cursor is None:
                break
        counts.append(RekeyCount(column, scanned, changed))
    scanned = changed = 0
    cursor = None
    while True:
        batch = await store.rekey_blobs(cursor, batch_size, enc.rekey_bytes, dry_run)
        scanned, changed, cursor = scanned + batch.scanned, changed + batch.changed, batch.cursor
        if cursor is None:
            break
    counts.append(RekeyCount(BLOBS, scanned, changed))
    return RekeyReport(enc.current, dry_run, tuple(counts))


__all__ = ["DEFAULT_BATCH_SIZE", "RekeyCount", "RekeyReport", "rekey"]
