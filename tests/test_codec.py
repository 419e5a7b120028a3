"""Payload codec: JSON only, decoded to the annotated type (Pydantic models, dataclasses,
datetime, enum, bytes), on the first run and on replay; unencodable values and oversized
payloads fail at the step that produced them; undecodable recorded values park the
workflow blocked; the optional transform layer."""

from __future__ import annotations

import base64
import dataclasses
import enum
import sqlite3
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pydantic
import pytest

import plait
from plait.codec import Codec
from plait.testing import TestEngine

calls: Counter[str] = Counter()
seen: list[object] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    seen.clear()


class Stage(enum.Enum):
    SCREEN = "screen"
    OFFER = "offer"


class Level(enum.IntEnum):
    JUNIOR = 1
    SENIOR = 2


class Candidate(pydantic.BaseModel):
    name: str
    applied: datetime
    stage: Stage
    tags: list[str] = []


@dataclasses.dataclass
class Attachment:
    filename: str
    content: bytes
    received: date


@dataclasses.dataclass
class Bundle:
    candidate: Candidate
    attachment: Attachment
    when: datetime
    stage: Stage
    level: Level
    raw: bytes
    id: uuid.UUID
    amount: Decimal
    pair: tuple[int, str]


WHEN = datetime(2030, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@plait.step
async def make_bundle(c: Candidate) -> Bundle:
    calls["make_bundle"] += 1
    return Bundle(
        candidate=c,
        attachment=Attachment("cv.pdf", b"%PDF-\x00\xff", date(2030, 1, 2)),
        when=WHEN,
        stage=Stage.OFFER,
        level=Level.SENIOR,
        raw=bytes(range(256)),
        id=ID,
        amount=Decimal("12.50"),
        pair=(1, "a"),
    )


@plait.step
async def stamp() -> datetime:
    return WHEN


@plait.step
async def blob() -> bytes:
    return b"\x00\x01binary\xff"


@plait.step
async def stage_of() -> Stage:
    return Stage.SCREEN


@plait.workflow
async def typed_flow(ctx: plait.Context, c: Candidate, level: Level, raw: bytes) -> Bundle:
    seen.append(("args", c, level, raw))
    bundle = await make_bundle(c)
    scalars = (await stamp(), await blob(), await stage_of())
    seen.append(("values", bundle, scalars))
    await ctx.sleep(timedelta(days=1))  # replay: every value is decoded from the journal
    return bundle


async def test_values_round_trip_to_the_annotated_type(test_engine: TestEngine) -> None:
    test_engine.register(typed_flow)
    cand = Candidate(name="ada", applied=WHEN, stage=Stage.SCREEN, tags=["ml"])
    h = await test_engine.start(typed_flow, cand, Level.JUNIOR, b"\x00\xfe")
    await test_engine.run_until_idle()
    result = await h.result()
    assert calls["make_bundle"] == 1
    (args1, values1, args2, values2) = seen
    assert args1 == args2 == ("args", cand, Level.JUNIOR, b"\x00\xfe")
    assert isinstance(args2[1], Candidate) and isinstance(args2[2], Level)
    assert values1 == values2  # the replayed values equal the live ones
    bundle = values2[1]
    assert isinstance(bundle, Bundle)
    assert isinstance(bundle.candidate, Candidate)
    assert isinstance(bundle.attachment, Attachment)
    assert bundle.attachment.content == b"%PDF-\x00\xff"
    assert bundle.raw == bytes(range(256))
    assert bundle.when == WHEN and bundle.when.tzinfo is not None
    assert bundle.stage is Stage.OFFER and bundle.level is Level.SENIOR
    assert bundle.id == ID and bundle.amount == Decimal("12.50") and bundle.pair == (1, "a")
    assert values2[2] == (WHEN, b"\x00\x01binary\xff", Stage.SCREEN)
    assert result == bundle  # the workflow's result, decoded by handle.result()
    # stored as JSON (bytes as base64), never pickle
    info = await h.info()
    assert base64.urlsafe_b64decode(info.output["raw"]) == bytes(range(256))
    assert info.output["stage"] == "offer"
    assert info.input[1] == 1


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


@plait.step(retry=plait.Retry(max_attempts=3))
async def returns_opaque() -> Opaque:
    calls["returns_opaque"] += 1
    return Opaque()


@plait.workflow
async def unencodable(ctx: plait.Context) -> str:
    try:
        await returns_opaque()
    except plait.StepFailed as exc:
        return f"{exc.step}|{exc.error_type}|{exc.message}"
    return "no error"


async def test_unencodable_step_value_fails_at_that_step_naming_step_and_type(
    test_engine: TestEngine,
) -> None:
    test_engine.register(unencodable)
    h = await test_engine.start(unencodable)
    await test_engine.run_until_idle()
    step, error_type, message = (await h.result()).split("|", 2)
    assert (step, error_type) == ("returns_opaque", "SerializationError")
    assert "step 'returns_opaque'" in message
    assert "Opaque" in message
    assert calls["returns_opaque"] == 1  # plait's own errors are not retried


@plait.workflow
async def bad_result(ctx: plait.Context) -> object:
    return {"handle": Opaque()}


async def test_unencodable_workflow_result_fails_the_workflow(test_engine: TestEngine) -> None:
    test_engine.register(bad_result)
    h = await test_engine.start(bad_result)
    await test_engine.run_until_idle()
    with pytest.raises(plait.WorkflowFailed) as info:
        await h.result()
    assert info.value.error_type == "SerializationError"
    assert "workflow 'bad_result'" in info.value.message


@plait.step
async def big(n: int) -> str:
    return "x" * n


@plait.workflow
async def payloads(ctx: plait.Context, n: int) -> str:
    try:
        return await big(n)
    except plait.StepFailed as exc:
        return f"{exc.error_type}: {exc.message}"


async def test_payload_above_max_payload_bytes_fails_clearly() -> None:
    async with TestEngine(workflows=[payloads], max_payload_bytes=1000) as engine:
        ok = await engine.start(payloads, 900)
        too_big = await engine.start(payloads, 2000)
        await engine.run_until_idle()
        assert await ok.result() == "x" * 900
        message = await too_big.result()
        assert message.startswith("SerializationError: step 'big' produced 2,002 bytes")
        assert "max_payload_bytes (1,000)" in message
        assert "blob" in message
        with pytest.raises(plait.SerializationError, match="max_payload_bytes"):
            await engine.start(payloads, "y" * 2000)  # type: ignore[arg-type]
        with pytest.raises(plait.SerializationError, match="signal 'big'"):
            await engine.signal(ok.id, "big", "z" * 2000)


def test_default_max_payload_is_2_mb() -> None:
    assert Codec().max_payload_bytes == 2 * 1024 * 1024


@plait.step(name="shape")
async def shape_v1() -> dict[str, int]:
    return {"old": 1}


class NewShape(pydantic.BaseModel):
    new: int


@plait.step(name="shape")
async def shape_v2() -> NewShape:
    return NewShape(new=2)


@plait.workflow(name="shaped")
async def shaped_v1(ctx: plait.Context) -> str:
    await shape_v1()
    await ctx.sleep(timedelta(days=1))
    return "v1"


@plait.workflow(name="shaped")
async def shaped_v2(ctx: plait.Context) -> str:
    value = await shape_v2()
    await ctx.sleep(timedelta(days=1))
    return f"v2 {value.new}"


async def test_a_recorded_value_that_no_longer_decodes_parks_the_workflow_blocked(
    db_url: str,
) -> None:
    async with TestEngine(db_url, workflows=[shaped_v1]) as engine:
        await engine.start("shaped", id="s")
        await engine.run_until_idle(within=timedelta(hours=1))
    async with TestEngine(db_url, workflows=[shaped_v2]) as engine:
        await engine.run_until_idle()
        info = await engine.get("s")
        assert info.status == plait.WorkflowStatus.BLOCKED
        assert info.error is not None and info.error.type == "SerializationError"
        assert "step 'shape'" in info.error.message and "NewShape" in info.error.message
        with pytest.raises(plait.WorkflowBlocked):
            await engine.handle("s").result()
    async with TestEngine(db_url, workflows=[shaped_v1]) as engine:  # roll back, resume
        await engine.resume("s")
        await engine.run_until_idle()
        assert await engine.handle("s").result() == "v1"


def test_codec_unit_round_trip_and_errors() -> None:
    codec = Codec()
    text = codec.encode(Stage.OFFER, what="x")
    assert text == '"offer"'
    assert codec.decode(text, Stage, what="x") is Stage.OFFER
    assert codec.decode(codec.encode(b"\x00", what="x"), bytes, what="x") == b"\x00"
    assert codec.decode(None, int, what="x") is None
    with pytest.raises(plait.SerializationError, match="no longer fits its type int"):
        codec.decode('"abc"', int, what="step 'n'")
    with pytest.raises(plait.SerializationError, match="set_value produced a value of type"):
        codec.encode(lambda: 1, what="set_value")


class Label(enum.StrEnum):
    HIGH = "high"


def test_plain_json_skips_pydantic_core_with_the_same_text() -> None:
    """Plain JSON data is written without pydantic-core; the text is what pydantic-core's
    conversion gives, and anything richer (subclasses of the built-ins included) still
    goes through it."""
    import collections

    import pydantic_core

    from plait.codec import compact_dumps

    codec = Codec()
    deep: object = "leaf"
    for _ in range(40):
        deep = [deep]
    values: list[object] = [
        None, True, 0, -1, 10**40, 2.5, -0.0, float("nan"), float("inf"), "", "é\u2028",
        "a\ud800b", {"i": 1, "payload": "x" * 80}, {"a": [1, 2.5, None, True, {"b": []}]},
        [], {}, deep, {1: "int key"}, (1, 2), {"t": (1,)}, Label.HIGH, {"e": Label.HIGH},
        collections.OrderedDict(a=1), collections.defaultdict(list, a=[1]), {"s": {1}},
        WHEN, b"\x00", Stage.OFFER,
    ]  # fmt: skip
    for value in values:
        expected = compact_dumps(pydantic_core.to_jsonable_python(value, bytes_mode="base64"))
        assert codec.dumps(value, what="v") == expected, value
    plain = {"i": 1, "payload": ["x", 2.5, None]}
    assert codec.to_jsonable(plain, what="v") is plain  # taken as it is, no copy
    assert codec.to_jsonable((1, 2), what="v") == [1, 2]  # a tuple is converted


class Reverse:
    """A toy transform (stands in for encryption)."""

    def forward(self, text: str) -> str:
        return "rev:" + text[::-1]

    def backward(self, text: str) -> str:
        assert text.startswith("rev:")
        return text[4:][::-1]


@plait.step
async def secret(name: str) -> Candidate:
    return Candidate(name=name, applied=WHEN, stage=Stage.SCREEN)


@plait.workflow
async def confidential(ctx: plait.Context, name: str) -> str:
    c = await secret(name)
    await ctx.sleep(60)
    return c.name.upper()


@pytest.mark.backends("sqlite")  # reads the file directly
async def test_transform_layer_applies_to_everything_stored(db_url: str) -> None:
    async with TestEngine(db_url, workflows=[confidential], transform=Reverse()) as engine:
        h = await engine.start(confidential, "marguerite", id="c1")
        assert (await engine.start(confidential, "marguerite", id="c1")).id == "c1"
        await engine.run_until_idle()
        assert await h.result() == "MARGUERITE"
        assert (await h.info()).input == ["marguerite"]
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT input, output FROM workflows").fetchall()
        rows += conn.execute("SELECT output, '' FROM journal WHERE kind = 'step'").fetchall()
    for stored in (v for row in rows for v in row if v):
        assert "marguerite" not in stored.lower()
        assert stored.startswith("rev:")
