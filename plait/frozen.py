"""``class X(Frozen)``: a frozen dataclass whose methods are made at first use.

Python 3.11 writes a dataclass's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__`` and ``__delattr__`` as source text and compiles each when the class is
defined: about 0.7 ms a class. plait's records are ~90 such classes and a worker makes
instances of a dozen of them, so compiling the others was most of what importing plait cost a
restarted worker (bench/HISTORY.md, "Records made at first use").

A class that derives from :class:`Frozen` becomes exactly what ``@dataclasses.dataclass(
frozen=True)`` would have made of it, the first time it is used:

- its first instance (``X(...)``);
- anything that reads its fields: ``dataclasses.fields``, ``replace`` and ``asdict``,
  pydantic and FastAPI read ``__dataclass_fields__``, which is a stand-in until then;
- unpickling one (pickle would make it without calling the class);
- :func:`build`, for code that makes instances without calling the class.

``dataclasses.is_dataclass`` is true from the start. Each class gets a metaclass of its own,
whose ``__call__`` makes the dataclass under a lock and is then deleted: after the first
instance, making one costs what it costs for any dataclass, and a thread that calls the class
while another is making it waits for the whole of it. A mistake in a class's fields (one
without a default after one with) is raised at first use, not at import; tests/test_frozen.py
makes every such class of plait, so a mistake fails the tests.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Any:
        return lambda c: c


_lock = threading.RLock()  # a base is made while its subclass is, in the same thread
_pending: set[type] = set()  # left only once the class is entirely made


def build(cls: type) -> None:
    """Makes ``cls``, and each class it inherits from that waits to be made, a dataclass
    now, if that is not done yet. Safe from any thread; once done, a set lookup per base."""
    for klass in reversed(cls.__mro__):
        if klass in _pending:
            with _lock:
                if klass in _pending:
                    dataclasses.dataclass(frozen=True)(klass)
                    _pending.discard(klass)
                    meta = type(klass)
                    if "__call__" in meta.__dict__:
                        del meta.__call__  # the class's calls go straight to type's again


def _first_call(cls: type, *args: Any, **kwargs: Any) -> Any:
    build(cls)
    return type.__call__(cls, *args, **kwargs)


class _Fields(Mapping[str, Any]):
    """A waiting class's ``__dataclass_fields__``: any read makes the class first."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def _fields(self) -> Mapping[str, Any]:
        build(self.cls)
        fields: Mapping[str, Any] = self.cls.__dict__["__dataclass_fields__"]
        return fields

    def __getitem__(self, name: str) -> Any:
        return self._fields()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())

    def __repr__(self) -> str:
        return f"<the fields of {self.cls.__qualname__}, made at first use>"


_MADE_BY_DATACLASS = frozenset({"__dataclass_params__", "__match_args__"})


class _Meta(type):
    """Gives each class that derives from :class:`Frozen` a metaclass of its own, whose
    ``__call__`` makes the dataclass at the first call and is then deleted."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _Meta:
        if mcls is not _Meta or not bases:  # Frozen itself, or a subclass of a record
            return super().__new__(mcls, name, bases, namespace)
        own = type.__new__(
            type, f"Frozen[{name}]", (_Meta,), {"__call__": _first_call, "__module__": __name__}
        )
        cls: _Meta = super().__new__(own, name, bases, namespace)
        cls.__dataclass_fields__ = _Fields(cls)  # type: ignore[attr-defined]
        _pending.add(cls)
        return cls

    def __getattr__(cls, name: str) -> Any:
        if name in _MADE_BY_DATACLASS and cls in _pending:
            build(cls)
            return cls.__dict__[name]
        raise AttributeError(f"type object {cls.__qualname__!r} has no attribute {name!r}")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
class Frozen(metaclass=_Meta):
    """Derive from it for a frozen dataclass made at first use (see the module's text)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and copy would make the copy with object.__new__, past the class's first
        # call: in a process that has not made the class yet, that copy would have no __eq__
        return (_remake, (type(self), dict(self.__dict__)))


def _remake(cls: type, state: dict[str, Any]) -> Any:
    build(cls)
    made: Any = object.__new__(cls)
    made.__dict__.update(state)
    return made
