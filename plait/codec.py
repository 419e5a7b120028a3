"""Payload codec: values to JSON text and back, decoded to the annotated type.

JSON only, never pickle: Pydantic models, dataclasses, datetimes, enums, UUIDs, decimals,
sets and tuples are encoded through pydantic-core; ``bytes`` as base64. Decoding validates
the stored JSON against the type annotation (a Pydantic ``TypeAdapter``), so a step annotated
``-> Score`` returns a ``Score`` on replay too. A value that cannot be encoded raises
:class:`SerializationError` naming what produced it; so does a stored value that no longer
fits its type (the engine then parks the workflow as ``blocked``).

The codec is a layer: ``encode`` -> optional ``Transform`` (e.g. encryption) -> store.
Argument hashes are taken on the plaintext JSON so a transform never changes them.

Start-up: a value whose annotation is a plain JSON type (``int``, ``str``, ``bool``,
``float``, ``dict[str, Any]``, ``list[Any]``, ...) and that ``json.loads`` already returns as
exactly that type is returned without pydantic, so a worker whose workflows carry plain JSON
never imports pydantic's schema machinery (about 70 ms); anything else, including every value
that would need coercion or fails, goes through the ``TypeAdapter`` as before.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from plait.errors import ConfigurationError, SerializationError

if TYPE_CHECKING:
    import pydantic

    from plait.types import StepRecord

DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
# What json.dumps(value, separators=(",", ":")) writes, without making an encoder per call
# (json.dumps reuses its own only when every option is the default).
COMPACT = json.JSONEncoder(separators=(",", ":"))


def _compact_dumps() -> Callable[[Any], str]:
    """``COMPACT.encode`` without the C encoder ``encode`` builds on every call (half its
    time for a step's 100-byte result). No circular-reference check: what it is given comes
    from ``to_jsonable_python`` or ``json.loads``, never circular (pydantic-core refuses a
    cycle itself)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the encoder's own path
        return COMPACT.encode
    encode = make(
        None,  # markers: no circular check
        COMPACT.default,
        json.encoder.encode_basestring_ascii,  # type: ignore[attr-defined]
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    return lambda value: "".join(encode(value, 0))


compact_dumps = _compact_dumps()
RENAME_THE_STEP = "Rename the step (e.g. 'score:v2') or accept the old shape when decoding."


class Transform(Protocol):
    """Turns stored text into other text and back (encryption, compression)."""

    def forward(self, text: str) -> str: ...

    def backward(self, text: str) -> str: ...


@typing.runtime_checkable
class Envelope(Transform, Protocol):
    """A transform whose output starts with ``marker`` (``plait.Encryption``): stored text
    without it is plaintext written before the transform was configured and is read as it
    is, values nested in JSON wrappers are found by it, and blob bytes are sealed too."""

    marker: str

    def forward_bytes(self, data: bytes) -> bytes: ...

    def backward_bytes(self, data: bytes) -> bytes: ...


# Annotations a JSON value satisfies as is when ``json.loads`` returns exactly this type.
_PLAIN: dict[Any, type] = {
    int: int,
    str: str,
    bool: bool,
    float: float,
    dict: dict,
    list: list,
    dict[str, Any]: dict,
    dict[str, object]: dict,
    list[Any]: list,
    list[object]: list,
}


@functools.lru_cache(maxsize=1024)
def _adapter(annotation: Any) -> pydantic.TypeAdapter[list[Any]]:
    """A validator of one-element lists of ``annotation`` that reads bytes as base64.

    The list carries the config: a dataclass or model given to ``TypeAdapter`` directly
    ignores it (a Pydantic model's own config still decides for its own fields).
    """
    import pydantic  # here: a worker with plain JSON values never needs it

    config = pydantic.ConfigDict(val_json_bytes="base64")
    return pydantic.TypeAdapter(list[annotation], config=config)  # type: ignore[valid-type]


def _plain(text: str, annotation: Any) -> tuple[bool, Any]:
    """``(True, value)`` when ``text`` is a plain JSON value of exactly ``annotation``'s type
    (what the ``TypeAdapter`` would return for it too), else ``(False, None)``."""
    try:
        expected = _PLAIN.get(annotation)
    except TypeError:  # an unhashable annotation
        return False, None
    # A lone surrogate escape is refused by pydantic: leave such text to it.
    if expected is None or "\\ud" in text or "\\uD" in text:
        return False, None
    try:
        value = json.loads(text)
    except ValueError:  # not JSON: pydantic says what is wrong, as before
        return False, None
    return (True, value) if type(value) is expected else (False, None)


_SCALARS = frozenset({str, int, float, bool, type(None)})
_PLAIN_DEPTH = 32  # deeper values go through pydantic-core (which has its own limit)


def _is_plain(value: object, depth: int) -> bool:
    """Whether ``value`` is plain JSON data of exactly the built-in types (no subclasses:
    an enum that is a ``str``, a ``defaultdict``, a tuple all go through pydantic-core).
    Loops, not ``all()`` over a generator: 0.7 µs for a step's small dict against 1.0 µs
    for pydantic-core (1.8 µs with generators)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if depth >= _PLAIN_DEPTH:
        return False
    if kind is dict:
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) is not str or (type(v) not in _SCALARS and not _is_plain(v, depth + 1)):
                return False
        return True
    if kind is list:
        for v in value:  # type: ignore[attr-defined]  # noqa: SIM110 (a loop: see above)
            if type(v) not in _SCALARS and not _is_plain(v, depth + 1):
                return False
        return True
    return False


class Codec:
    """Encodes values for the store and decodes them to a type."""

    def __init__(
        self,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        transform: Transform | None = None,
    ) -> None:
        self.max_payload_bytes = max_payload_bytes
        self.transform = transform
        self.envelope = transform if isinstance(transform, Envelope) else None

    def to_jsonable(self, value: object, *, what: str) -> Any:
        """``value`` as plain JSON data, or :class:`SerializationError` naming ``what``.
        Plain JSON data (exactly str, int, float, bool, None, dicts with str keys, lists) is
        returned as it is: pydantic-core would return the same values (checked in
        tests/test_codec.py), and a worker that only passes plain data never imports it."""
        if _is_plain(value, 0):
            return value
        import pydantic_core  # here: ~30 ms of a worker's start-up, for richer values only

        try:
            return pydantic_core.to_jsonable_python(value, bytes_mode="base64")
        except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as exc:
            raise SerializationError(
                f"{what} produced a value of type {type(value).__qualname__} that cannot be "
                f"stored as JSON ({exc}). Return a Pydantic model, dataclass or plain JSON "
                "data (dict, list, str, int, float, bool, None, datetime, enum, bytes); "
                "a Pydantic model with bytes fields needs model_config = ConfigDict("
                "ser_json_bytes='base64', val_json_bytes='base64')."
            ) from None

    def dumps(self, value: object, *, what: str) -> str:
        """Plaintext JSON for ``value``; enforces ``max_payload_bytes``."""
        text = compact_dumps(self.to_jsonable(value, what=what))
        if len(text) > self.max_payload_bytes:
            raise SerializationError(
                f"{what} produced {len(text):,} bytes of JSON, more than max_payload_bytes "
                f"({self.max_payload_bytes:,}). Store large data as a blob and pass a reference."
            )
        return text

    def encode(self, value: object, *, what: str) -> str:
        """Stored text for ``value`` (plaintext JSON, then the transform if any)."""
        return self.seal(self.dumps(value, what=what))

    def seal(self, text: str) -> str:
        return text if self.transform is None else self.transform.forward(text)

    def unseal(self, stored: str) -> str:
        if self.transform is None:
            return stored
        if self.envelope is not None and not stored.startswith(self.envelope.marker):
            return stored  # plaintext, written before the transform was configured
        return self.transform.backward(stored)

    def seal_bytes(self, data: bytes) -> bytes:
        """Blob bytes as stored (encrypted when the transform seals bytes)."""
        return data if self.envelope is None else self.envelope.forward_bytes(data)

    def unseal_bytes(self, stored: bytes) -> bytes:
        return stored if self.envelope is None else self.envelope.backward_bytes(stored)

    def reveal(self, value: Any) -> Any:
        """A JSON value read from the store (a journal entry's output, a task event's
        payload) with the sealed payloads in it opened: a value that is itself sealed text
        is decoded, sealed text nested in it (a signal's payload in a wait's output) becomes
        the plaintext JSON text it stood for, so readers see what an unsealed store holds."""
        env = self.envelope
        if env is None:
            return value
        if isinstance(value, str) and value.startswith(env.marker):
            return json.loads(self.unseal(value))
        return self._reveal_nested(value)

    def reveal_steps(self, records: list[StepRecord]) -> list[StepRecord]:
        """Journal records with their outputs revealed (see :meth:`reveal`)."""
        if self.envelope is None:
            return records
        return [dataclasses.replace(r, output=self.reveal(r.output)) for r in records]

    def _reveal_nested(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._reveal_nested(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._reveal_nested(v) for v in value]
        if isinstance(value, str):
            return self.reveal_text(value)
        return value

    def reveal_text(self, text: str) -> str:
        """Stored text with every sealed payload in it opened (see :meth:`reveal`)."""
        env = self.envelope
        if env is None or env.marker not in text:
            return text
        if text.startswith(env.marker):
            return self.unseal(text)
        try:
            inner = json.loads(text)
        except ValueError:
            return text
        return compact_dumps(self._reveal_nested(inner))

    def decode(self, stored: str | None, annotation: Any = Any, *, what: str) -> Any:
        """The value stored as ``stored``, validated as ``annotation``."""
        if stored is None:
            return None
        return self.decode_plain(self.unseal(stored), annotation, what=what)

    def decode_plain(
        self, text: str, annotation: Any = Any, *, what: str, fix: str = RENAME_THE_STEP
    ) -> Any:
        """Plaintext JSON ``text`` validated as ``annotation`` (no transform applied); ``fix``
        ends the message when it no longer fits."""
        if annotation is Any or annotation is None or annotation is type(None):
            return json.loads(text)
        done, value = _plain(text, annotation)
        if done:
            return value
        import pydantic_core

        try:
            return _adapter(annotation).validate_json(f"[{text}]")[0]
        except pydantic_core.ValidationError as exc:
            raise SerializationError(
                f"the recorded value of {what} no longer fits its type "
                f"{type_name(annotation)}: {exc}. {fix}"
            ) from None

    def misfits(self, text: str, annotation: Any) -> list[tuple[tuple[int | str, ...], str]]:
        """Why plaintext JSON ``text`` does not decode as ``annotation``: ``(path, why)``
        pairs, ``path`` leading into the value (empty for the value itself); empty when it
        decodes."""
        if annotation is Any or annotation is None or annotation is type(None):
            return []
        if _plain(text, annotation)[0]:
            return []
        import pydantic
        import pydantic_core

        try:
            adapter = _adapter(annotation)
        except pydantic.PydanticUserError as exc:  # e.g. a class pydantic has no schema for
            raise ConfigurationError(
                f"the type {type_name(annotation)} cannot be decoded from JSON: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        try:
            adapter.validate_json(f"[{text}]")
        except pydantic_core.ValidationError as exc:
            return [(tuple(e["loc"][1:]), e["msg"]) for e in exc.errors(include_url=False)]
        return []

    def loads(self, stored: str | None) -> Any:
        """Plain JSON data for ``stored``, with no type."""
        return None if stored is None else json.loads(self.unseal(stored))


def type_name(annotation: Any) -> str:
    """How a type annotation reads in a message: ``int``, ``list[Score]``, ``str | None``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is None or annotation is type(None):
        return "None"
    if origin is None or not args:
        if isinstance(annotation, type):
            return annotation.__qualname__
        return str(annotation).replace("typing.", "")
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
    return f"{getattr(origin, '__qualname__', origin)}[{inner}]"


def digest(text: str) -> str:
    """A stable hash of plaintext JSON, used to compare workflow arguments."""
    return hashlib.sha256(text.encode()).hexdigest()
