"""plait.frozen: a record made at first use is the frozen dataclass it would have been, every
such record of plait can be made, and importing plait makes none of them."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import pickle
import pkgutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import pydantic
import pytest

import plait
from plait.frozen import Frozen, _pending, build
from tests.test_startup import env

T = TypeVar("T")


def every_plait_module() -> Iterator[str]:
    skip = ("plait.cli.__main__",)
    for info in pkgutil.walk_packages(plait.__path__, "plait."):
        if info.name not in skip:
            yield info.name


def frozen_classes() -> list[type]:
    for name in every_plait_module():
        importlib.import_module(name)
    seen: list[type] = []
    todo = list(Frozen.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen and cls.__module__.startswith("plait."):
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_every_record_of_plait_can_be_made() -> None:
    """A mistake in a record's fields shows only when the record is made: make them all."""
    classes = frozen_classes()
    assert len(classes) > 60, [c.__qualname__ for c in classes]
    for cls in classes:
        build(cls)
        assert cls not in _pending
        params = vars(cls)["__dataclass_params__"]
        assert params.frozen and params.eq and params.init, cls
        assert "__call__" not in vars(type(cls)), cls  # calls go straight to type's again
        assert isinstance(vars(cls)["__dataclass_fields__"], dict), cls


def test_importing_plait_makes_no_record() -> None:
    """The point of plait.frozen: a worker pays only for the records it makes, none at import.
    WorkflowInfo is made at the store's first read of a workflow, which makes its instances
    without calling the class: what it makes then is the dataclass a call would have made."""
    code = (
        "import json, plait, plait.cli.worker_cmd, plait.store.sqlite\n"
        "from plait.frozen import Frozen, _pending\n"
        "from plait.store.rows import built_info\n"
        "from plait.types import WorkflowInfo\n"
        "made = [c.__qualname__ for c in Frozen.__subclasses__() if c not in _pending]\n"
        "values = {name: None for name in WorkflowInfo.__annotations__}\n"
        "info = built_info(**values)\n"
        "read = [c.__qualname__ for c in Frozen.__subclasses__() if c not in _pending]\n"
        "same = info == WorkflowInfo(**values) and hash(info) == hash(WorkflowInfo(**values))\n"
        "print(json.dumps({'made': made, 'waiting': len(_pending), 'read': read,\n"
        "                  'same': same, 'repr': repr(info)[:13]}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env(), capture_output=True, text=True, check=True
    ).stdout
    got = json.loads(out)
    assert got["made"] == []
    assert got["waiting"] > 40
    assert got["read"] == ["WorkflowInfo"]
    assert got["same"] is True and got["repr"] == "WorkflowInfo("


def fresh() -> Any:
    class Point(Frozen):
        """A point."""

        x: int
        y: str = "a"
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

    return Point


def same_as_a_dataclass(cls: Any) -> None:
    @dataclasses.dataclass(frozen=True)
    class Point:
        """A point."""

        x: int
        y: str = "a"
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

    p, q = cls(1, tags=("t",)), Point(1, tags=("t",))
    assert repr(p).endswith(".Point(x=1, y='a', tags=('t',))")
    assert repr(p).split(".<locals>.")[1] == repr(q).split(".<locals>.")[1]
    assert p == cls(1, tags=("t",)) and p != cls(2)
    assert hash(cls(1, "b")) == hash(Point(1, "b"))
    assert dataclasses.asdict(p) == dataclasses.asdict(q)
    assert dataclasses.replace(p, x=5) == cls(5, tags=("t",))
    assert [f.name for f in dataclasses.fields(cls)] == ["x", "y", "tags"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.y
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'x'"):
        cls()


def test_made_at_the_first_call() -> None:
    cls = fresh()
    assert cls in _pending and dataclasses.is_dataclass(cls)
    assert "made at first use" in repr(vars(cls)["__dataclass_fields__"])
    same_as_a_dataclass(cls)
    assert cls not in _pending and "__call__" not in vars(type(cls))


@pytest.mark.parametrize(
    "first_use",
    [
        lambda cls: dataclasses.fields(cls),
        lambda cls: cls.__dataclass_params__,
        lambda cls: cls.__match_args__,
        lambda cls: dict(cls.__dataclass_fields__),  # as pydantic reads it
        lambda cls: pydantic.TypeAdapter(cls).validate_python({"x": 3}),
        lambda cls: build(cls),
    ],
    ids=["fields", "params", "match_args", "fields_mapping", "pydantic", "build"],
)
def test_made_by_whatever_reads_its_fields_first(first_use: Any) -> None:
    cls = fresh()
    first_use(cls)
    assert cls not in _pending
    same_as_a_dataclass(cls)


def test_a_mistake_in_the_fields_is_raised_at_each_use() -> None:
    class Wrong(Frozen):
        x: int = 0
        y: int

    for _ in range(2):
        with pytest.raises(TypeError, match="non-default argument 'y' follows default argument"):
            Wrong(1, 2)
    assert Wrong in _pending
    _pending.discard(Wrong)  # not one of plait's: keep test_every_record_of_plait_can_be_made clean


def test_generic_subclassed_and_matched() -> None:
    class Box(Frozen, Generic[T]):
        value: T

    assert Box[int](3) == Box(3)

    class Pair(Frozen):
        a: int
        b: int = 0

    @dataclasses.dataclass(frozen=True)
    class Triple(Pair):
        c: int = 0

    assert Triple(1, c=3) == Triple(1, 0, 3) and repr(Triple(1)).endswith("Triple(a=1, b=0, c=0)")
    match Pair(1, 2):
        case Pair(a, b):
            assert (a, b) == (1, 2)


def test_pickled_and_copied() -> None:
    point = fresh()(1, tags=("t",))
    assert copy.copy(point) == point and copy.deepcopy(point) == point
    info = plait.ErrorInfo(type="ValueError", message="no", traceback="")
    assert pickle.loads(pickle.dumps(info)) == info
    # in a process that has not made the class yet, the copy still compares by value
    code = (
        "import pickle, sys; data = sys.stdin.buffer.read();"
        " a = pickle.loads(data); b = pickle.loads(data); print(a == b, a is b, repr(a))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env(),
        input=pickle.dumps(info),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert out.split(" ", 2)[:2] == ["True", "False"] and "ValueError" in out


def test_threads_making_the_same_class_at_once() -> None:
    """A thread that calls the class while another is making it waits for the whole of it."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    errors: list[str] = []
    try:
        for _ in range(100):
            cls = fresh()
            start = threading.Barrier(4)

            def make(cls: Any = cls, start: threading.Barrier = start) -> None:
                start.wait()
                try:
                    for i in range(10):
                        p = cls(i)
                        assert p == cls(i) and repr(p).endswith(f"Point(x={i}, y='a', tags=())")
                except Exception as e:  # noqa: BLE001 - collected for the assert below
                    errors.append(repr(e))

            threads = [threading.Thread(target=make) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
