"""Payload encryption at rest: AES-256-GCM with named keys, as the codec's transform.

``Engine(encryption=plait.Encryption({"k2": key2, "k1": key1}, current="k2"))``, or
``PLAIT_ENCRYPTION_KEYS="k2=<base64>,k1=<base64>"`` in the environment (the first key is the
current one; every engine, worker, server and CLI process reads it), makes the codec encrypt
every payload it writes: workflow arguments and results, step results, recorded values,
signals, human-task proposals, contexts, answers and comments, model calls, records and
blob bytes. What stays readable in the database (ids, names, statuses, status attributes,
errors, times, subjects) is listed in docs/operations.md.

Invariants kept here:
- A stored value is the envelope ``plait:enc:1:<key id>:<base64(nonce | ciphertext)>``
  (a blob: the same prefix in bytes, then the raw nonce and ciphertext). Columns are TEXT
  (not JSONB) on both databases, so the envelope is stored as it is; it uses only characters
  that JSON never escapes, so an envelope nested in a JSON wrapper (a signal payload inside
  a wait's journal output) appears in the stored text unchanged.
- Each value gets a fresh random 96-bit nonce; the envelope's prefix (with the key id) is the
  GCM associated data, so a key id swapped in the envelope fails authentication.
- Text without the prefix is plaintext written before encryption was enabled and is read as
  it is: a database may mix both. Writes always use the current key; reading takes the key
  the envelope names, so old keys stay usable until ``plait rekey`` has moved every value.
- Decryption never returns garbage: a tampered value, or one under a key this process does
  not have, raises :class:`DecryptionError` naming the key id and ``PLAIT_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping

from plait.errors import ConfigurationError, SerializationError

ENV = "PLAIT_ENCRYPTION_KEYS"
MARKER = "plait:enc:"
PREFIX = MARKER + "1:"
_PREFIX_BYTES = PREFIX.encode()
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# An envelope anywhere in stored text: alone, or as a JSON string (maybe escaped) in a wrapper.
ENVELOPE = re.compile(r"plait:enc:1:[A-Za-z0-9_.-]{1,64}:[A-Za-z0-9+/]+=*")


class DecryptionError(SerializationError):
    """A stored value cannot be decrypted: its key is not configured, or it was altered.

    A :class:`~plait.errors.SerializationError`, so a workflow that meets one while it replays
    is parked ``blocked`` (configure the key, then resume it), never failed."""


def new_key() -> str:
    """A new random 256-bit key, base64-encoded (for ``PLAIT_ENCRYPTION_KEYS``)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_keys(spec: str, *, source: str = ENV) -> tuple[dict[str, bytes], str]:
    """``"k2=<base64>,k1=<base64>"`` as ``({key id: key}, current key id)`` (the first)."""
    keys: dict[str, bytes] = {}
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if not items:
        raise ConfigurationError(
            f"{source} is empty; set it to 'keyid=<base64 key>[,older=<base64 key>...]' "
            "(make a key with 'plait keys new')"
        )
    for item in items:
        kid, sep, encoded = item.partition("=")
        kid = kid.strip()
        if not sep or not kid:
            raise ConfigurationError(
                f"{source}: {_redacted(item)!r} is not 'keyid=<base64 key>'; entries are "
                "separated by commas, the current key first"
            )
        if kid in keys:
            raise ConfigurationError(f"{source}: the key id {kid!r} is given twice")
        keys[kid] = _decode_key(kid, encoded.strip(), source)
    check_key_ids(keys)
    return keys, items[0].partition("=")[0].strip()


def _redacted(item: str) -> str:
    kid, sep, _ = item.partition("=")
    return f"{kid}=..." if sep else (item[:8] + "..." if len(item) > 8 else item)


def _decode_key(kid: str, encoded: str, source: str) -> bytes:
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        if "-" in encoded or "_" in encoded:
            key = base64.urlsafe_b64decode(padded)
        else:
            key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"{source}: the key {kid!r} is not valid base64 (make one with 'plait keys new')"
        ) from None
    if len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"{source}: the key {kid!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES} "
            "(make one with 'plait keys new')"
        )
    return key


def check_key_ids(keys: Mapping[str, bytes]) -> None:
    for kid, key in keys.items():
        if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
            raise ConfigurationError(
                f"bad key id {kid!r}: use 1 to 64 letters, digits, '_', '-' or '.'"
            )
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ConfigurationError(f"the key {kid!r} must be {KEY_BYTES} bytes (AES-256)")


class Encryption:
    """AES-256-GCM encryption of stored payloads under named keys (a codec transform).

    ``keys`` maps key ids to 32-byte keys; new values are encrypted with ``current``; a
    value is decrypted with the key its envelope names."""

    marker = MARKER

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError:  # pragma: no cover - the extra is part of dev
            raise ConfigurationError(
                "payload encryption needs the 'cryptography' package: "
                "pip install 'plait[encryption]'"
            ) from None
        if not keys:
            raise ConfigurationError("Encryption needs at least one key")
        check_key_ids(keys)
        if current not in keys:
            raise ConfigurationError(
                f"the current key id {current!r} is not among the keys ({', '.join(keys)})"
            )
        self.current = current
        self.key_ids = tuple(keys)
        self._ciphers = {kid: AESGCM(bytes(key)) for kid, key in keys.items()}
        self._aad = {kid: f"{PREFIX}{kid}:".encode() for kid in keys}

    def __repr__(self) -> str:  # never the keys
        return f"Encryption(keys={list(self.key_ids)!r}, current={self.current!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Encryption | None:
        """The encryption ``PLAIT_ENCRYPTION_KEYS`` configures, or ``None`` when it is unset
        (raises ``ConfigurationError`` when it is malformed)."""
        spec = (os.environ if environ is None else environ).get(ENV)
        if spec is None or not spec.strip():
            return None
        keys, current = parse_keys(spec)
        return cls(keys, current)

    # -- text (the Transform protocol) ---------------------------------------------------
    def forward(self, text: str) -> str:
        """``text`` encrypted under the current key, as an envelope."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        kid = self.current
        sealed = self._ciphers[kid].encrypt(nonce, text.encode(), self._aad[kid])
        return f"{PREFIX}{kid}:{base64.b64encode(nonce + sealed).decode()}"

    def backward(self, text: str) -> str:
        """The plaintext of an envelope; text that is not one is plaintext already."""
        if not text.startswith(MARKER):
            return text
        kid, sep, body = text[len(PREFIX) :].partition(":")
        if not text.startswith(PREFIX) or not sep or not _KEY_ID.fullmatch(kid):
            raise DecryptionError(
                f"a stored value starts with {MARKER!r} but is not a plait envelope of a "
                "known version (it was altered, or written by a newer plait)"
            )
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raw = b""  # an altered body: fails authentication below, with its message
        return self._decrypt(kid, raw).decode()

    # -- bytes (blobs) -------------------------------------------------------------------
    def forward_bytes(self, data: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        kid = self.current
        return self._aad[kid] + nonce + self._ciphers[kid].encrypt(nonce, data, self._aad[kid])

    def backward_bytes(self, data: bytes) -> bytes:
        if not data.startswith(_PREFIX_BYTES):
            return data
        end = data.find(b":", len(_PREFIX_BYTES))
        kid = data[len(_PREFIX_BYTES) : end].decode("ascii", "replace") if end > 0 else ""
        if end < 0 or not _KEY_ID.fullmatch(kid):
            raise DecryptionError("a stored blob starts with the plait envelope but is altered")
        return self._decrypt(kid, data[end + 1 :])

    def key_id_of_bytes(self, data: bytes) -> str | None:
        """The key id of an encrypted blob, ``None`` for plaintext bytes."""
        if not data.startswith(_PREFIX_BYTES):
            return None
        end = data.find(b":", len(_PREFIX_BYTES))
        return data[len(_PREFIX_BYTES) : end].decode("ascii", "replace")

    def _decrypt(self, kid: str, raw: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(
                f"a stored value is encrypted with the key {kid!r}, which this process does "
                f"not have (it has {', '.join(self.key_ids)}); add it to {ENV}"
            )
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad[kid])
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"a stored value encrypted with the key {kid!r} does not authenticate: it "
                f"was altered, or {ENV} gives {kid!r} another key than the one that wrote it"
            ) from None

    # -- rotation ------------------------------------------------------------------------
    def reseal(self, text: str) -> str | None:
        """A payload (an envelope, or plaintext written before encryption) under the current
        key; ``None`` when it is already."""
        if text.startswith(f"{PREFIX}{self.current}:"):
            return None
        return self.forward(self.backward(text))

    def reseal_nested(self, text: str) -> str | None:
        """``text`` with every envelope in it (a JSON wrapper's) moved to the current key;
        ``None`` when none needed it. Plaintext in it stays as it is."""
        if MARKER not in text:
            return None
        changed = False

        def swap(match: re.Match[str]) -> str:
            nonlocal changed
            new = self.reseal(match.group(0))
            if new is None:
                return match.group(0)
            changed = True
            return new

        new = ENVELOPE.sub(swap, text)
        return new if changed else None

    def reseal_bytes(self, data: bytes) -> bytes | None:
        """Blob bytes under the current key (plaintext ones encrypted); ``None`` when they
        are already."""
        if self.key_id_of_bytes(data) == self.current:
            return None
        return self.forward_bytes(self.backward_bytes(data))


__all__ = ["ENV", "DecryptionError", "Encryption", "new_key", "parse_keys"]
