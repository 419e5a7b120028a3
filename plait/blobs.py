"""Blobs: large bytes (résumés, attachments) stored once and passed by reference.

``await plait.put_blob(data, content_type=...)`` stores bytes and returns a :class:`BlobRef`,
a small JSON value that goes into step results, workflow arguments and signals instead of
the bytes; ``await plait.get_blob(ref)`` returns the :class:`Blob`. Inside a workflow or a
step they use the running engine, and the blob belongs to the running workflow; elsewhere
(a webhook, a script) call them on an engine: ``engine.put_blob(...)``.

Invariants kept here:
- Content addressing: a blob is named by the SHA-256 of its bytes, so storing the same bytes
  again stores nothing new (the store keeps one copy per digest, whoever stored it) and
  returns an equal ref. This is what makes ``put_blob`` safe in a workflow body without a
  journal entry: a replay computes the same digest from the same bytes, the put is a no-op
  for the bytes, and the ref the first run returned still names them. The put commits
  before it returns, so a ref is never handed out for bytes that are not stored.
- A blob lives while something holds it: the workflow that stored it (or ``owner=``), a
  ``subject`` (until erasure), or a workflow started or signalled with its ref in the
  arguments or payload (adopted in that transaction). A blob nobody holds (stored outside a
  workflow with neither owner nor subject and never adopted, or whose workflows were
  deleted) is an orphan; ``engine.collect_blobs()`` deletes orphans older than a day.
- With encryption configured the bytes are stored encrypted (``codec.seal_bytes``); the
  digest stays the SHA-256 of the plaintext, so deduplication works as before, and equal
  bytes stored by two workflows are one row (docs/operations.md says what a digest reveals).
- A blob may be larger than ``max_payload_bytes`` (that is its point); it is limited to
  ``engine.max_blob_bytes`` (:data:`MAX_BLOB_BYTES`, 64 MiB, by default), since it is
  written in one transaction and read into memory whole.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from plait.clock import duration_ms
from plait.current import engine_var, journal_var, workflow_var
from plait.errors import (
    BlobNotFound,
    ConfigurationError,
    PlaitError,
    SerializationError,
    _StoreUnavailable,
)
from plait.frozen import Frozen
from plait.types import Duration

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from plait.clock import Clock
    from plait.codec import Codec
    from plait.store import Store

T = TypeVar("T")

MAX_BLOB_BYTES = 64 * 1024 * 1024
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REF_KEYS = frozenset(("digest", "size", "content_type"))


class BlobRef(Frozen):
    """A reference to stored bytes: JSON-encodable, so it goes into step results, workflow
    arguments and signals (``digest`` is ``"sha256:<hex>"``)."""

    digest: str
    size: int
    content_type: str

    def __post_init__(self) -> None:
        if not isinstance(self.digest, str) or not _DIGEST.fullmatch(self.digest):
            raise ConfigurationError(f"{self.digest!r} is not a blob digest ('sha256:<hex>')")


class Blob(Frozen):
    """A blob's bytes and what they are."""

    data: bytes
    content_type: str
    size: int
    digest: str

    @property
    def ref(self) -> BlobRef:
        return BlobRef(self.digest, self.size, self.content_type)


def blob_digests(plain: str) -> tuple[str, ...]:
    """The digests of the blob refs in plaintext JSON (workflow arguments, a signal's
    payload), in order of appearance, each once."""
    if '"sha256:' not in plain:  # the common case costs a substring search
        return ()
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            digest = value.get("digest")
            if value.keys() == _REF_KEYS and isinstance(digest, str) and _DIGEST.fullmatch(digest):
                found[digest] = None
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(plain))
    return tuple(found)


class BlobAPI:
    """Blob methods of :class:`~plait.engine.Engine`."""

    max_blob_bytes: int = MAX_BLOB_BYTES

    if TYPE_CHECKING:  # provided by Engine
        store: Store
        clock: Clock
        codec: Codec

    async def put_blob(
        self,
        data: bytes,
        *,
        content_type: str,
        subject: str | None = None,
        owner: str | None = None,
    ) -> BlobRef:
        """Stores ``data`` once and returns its reference. In a workflow or a step of this
        engine the blob belongs to the running workflow, else to ``owner`` (a workflow id)
        and/or ``subject`` (the person it is about); with none of them it is kept a day
        unless a workflow is started or signalled with its ref."""
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise ConfigurationError(f"put_blob takes bytes, not {type(data).__name__}")
        if not isinstance(content_type, str) or not content_type:
            raise ConfigurationError("put_blob needs a content_type, e.g. 'application/pdf'")
        for what, value in (("owner", owner), ("subject", subject)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"put_blob({what}=...) must be a non-empty string")
        if len(data) > self.max_blob_bytes:
            raise SerializationError(
                f"a blob of {len(data):,} bytes is larger than max_blob_bytes "
                f"({self.max_blob_bytes:,}); split it, or raise engine.max_blob_bytes"
            )
        if owner is None and engine_var.get() is self:
            owner = workflow_var.get()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        sealed = self.codec.seal_bytes(data)  # the digest stays the plaintext's: dedupe
        await _store(
            self.store.put_blob(digest, sealed, content_type, owner, subject, self.clock.now_ms())
        )
        return BlobRef(digest, len(data), content_type)

    async def get_blob(self, ref: BlobRef | str) -> Blob:
        """The blob ``ref`` (a :class:`BlobRef` or its digest) names; raises
        ``BlobNotFound``."""
        digest = ref.digest if isinstance(ref, BlobRef) else ref
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise ConfigurationError(f"get_blob takes a BlobRef or a digest, not {ref!r}")
        stored = await _store(self.store.get_blob(digest))
        if stored is None:
            raise BlobNotFound(
                f"no blob {digest} is stored: it was never stored here, or it was collected "
                "as an orphan (store it with owner= or subject=, or pass its ref to a workflow)"
            )
        content_type = ref.content_type if isinstance(ref, BlobRef) else stored.content_type
        data = self.codec.unseal_bytes(stored.data)
        return Blob(data, content_type, len(data), stored.digest)

    async def collect_blobs(self, *, older_than: Duration = timedelta(days=1)) -> int:
        """Deletes orphan blobs (held by no workflow and no subject) last stored more than
        ``older_than`` ago; returns how many."""
        before = self.clock.now_ms() - duration_ms(older_than, "older_than")
        return await self.store.collect_blobs(before)


async def _store(call: Awaitable[T]) -> T:
    try:
        return await call
    except PlaitError:
        raise
    except Exception as exc:
        if journal_var.get() is not None:
            # In workflow code the database failed, not the workflow: stop this run (it is
            # taken up again), as every durable operation does, instead of failing it.
            raise _StoreUnavailable() from exc
        raise


def _engine(what: str) -> BlobAPI:
    engine = engine_var.get()
    if engine is None:
        raise ConfigurationError(
            f"plait.{what}() outside a workflow or a step needs an engine: await engine.{what}(...)"
        )
    return engine


async def put_blob(
    data: bytes,
    *,
    content_type: str,
    subject: str | None = None,
    owner: str | None = None,
) -> BlobRef:
    """Stores ``data`` once, owned by the running workflow (or ``owner=``, a workflow id)
    and/or a ``subject``; returns its :class:`BlobRef`. In a workflow body as in a step:
    a replay stores nothing again and returns the same ref."""
    return await _engine("put_blob").put_blob(
        data, content_type=content_type, subject=subject, owner=owner
    )


async def get_blob(ref: BlobRef | str) -> Blob:
    """The :class:`Blob` ``ref`` names, from the running workflow's engine."""
    return await _engine("get_blob").get_blob(ref)


__all__ = ["MAX_BLOB_BYTES", "Blob", "BlobAPI", "BlobRef", "blob_digests", "get_blob", "put_blob"]
