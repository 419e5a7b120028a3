"""A model call as a journal entry: its fingerprint, its delta, what is recorded.

Journal kind ``model``. The entry's fingerprint covers what the call asks (the messages, the
output schema, the tools and the parameters), never who answers it (provider, model,
fallback), so switching providers never blocks a workflow, while a replay whose request
changed does: the fingerprint names each part separately, so the workflow's ``blocked``
message says which part changed.

The entry's output records the call's *new* messages only: the delta over the latest
earlier call of the same workflow run whose messages are a prefix of this call's (``base``
names that entry's position, ``keep`` how many of its messages are kept). The output schema
and the tools are recorded only when they differ from the base call's. So a tool loop of
n turns journals O(n) bytes, not O(n^2), and the whole prompt of any call can be rebuilt by
following ``base`` (:func:`conversation`).

Invariants kept here:
- The delta is computed at the call site, synchronously, in program order, from the
  messages the code passes: the same on every replay, whatever the journal recorded.
- No key or provider setting reaches the fingerprint or the record: both are made from the
  :class:`~plait.ai.types.ChatRequest` and :class:`~plait.ai.types.ChatResponse` alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from collections.abc import Coroutine, Sequence
from typing import Any

from plait.ai import errors as ai_errors
from plait.ai.call import (
    OUTPUT_INVALID,
    Call,
    ChatResult,
    Done,
    Ledger,
    OutputInvalid,
    parse_output,
    plain,
    result,
    run,
)
from plait.ai.errors import ModelError
from plait.ai.types import ChatRequest, ChatResponse, Message, Usage
from plait.errors import SerializationError, StepFailed
from plait.journal import Journal, mark
from plait.store.records import Entry
from plait.types import EntryStatus

KIND = "model"


def canonical(value: object) -> str:
    """Stable JSON text (sorted keys, no spaces) for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _message_text(m: Message) -> str:
    return canonical(m.model_dump(mode="json", exclude_defaults=True))


def _parts(request: ChatRequest) -> dict[str, str]:
    schema = canonical([request.output_schema, request.output_name])
    tools = canonical([t.model_dump(mode="json") for t in request.tools])
    params = canonical([request.temperature, request.max_tokens, list(request.stop)])
    return {"o": _hash(schema)[:12], "t": _hash(tools)[:12], "p": _hash(params)[:12]}


def prefix_hashes(messages: Sequence[Message]) -> list[str]:
    """``h[k]``: the hash of the first ``k`` messages (``h[0]`` is the empty prefix)."""
    hashes = [""]
    for m in messages:
        hashes.append(_hash(hashes[-1] + _message_text(m))[:32])
    return hashes


def fingerprint(request: ChatRequest, hashes: list[str] | None = None) -> str:
    """``m<count>:<hash>,o:<hash>,t:<hash>,p:<hash>``: messages, output schema, tools,
    parameters."""
    hashes = hashes or prefix_hashes(request.messages)
    parts = _parts(request)
    return (
        f"m{len(request.messages)}:{hashes[-1][:16]},o:{parts['o']},t:{parts['t']},p:{parts['p']}"
    )


_WHAT = {"o": "the output schema", "t": "the tools", "p": "the parameters"}


def explain(recorded: str, now: str | None) -> str:
    """Which parts of a model call's request differ between two fingerprints."""
    was = dict(p.split(":", 1) for p in recorded.split(",") if ":" in p)
    new = dict(p.split(":", 1) for p in (now or "").split(",") if ":" in p)
    changed = []
    old_m = next((k for k in was if k.startswith("m")), None)
    new_m = next((k for k in new if k.startswith("m")), None)
    if old_m != new_m or (old_m is not None and was[old_m] != new.get(old_m)):
        changed.append(
            f"the messages ({old_m[1:] if old_m else '?'} recorded, "
            f"{new_m[1:] if new_m else '?'} now"
            + (", same count but other content" if old_m == new_m else "")
            + ")"
        )
    changed += [what for key, what in _WHAT.items() if was.get(key) != new.get(key)]
    return "changed: " + (", ".join(changed) or "its fingerprint")


class Conversations:
    """What one workflow run's model calls asked, for deltas: each call's prefix hashes
    and the hashes of its schema and tools, by position."""

    def __init__(self) -> None:
        self._by_prefix: dict[tuple[int, str], int] = {}
        self._parts: dict[int, dict[str, str]] = {}

    def delta(self, seq: int, request: ChatRequest, hashes: list[str]) -> dict[str, Any]:
        """The request as journaled at ``seq``: new messages over the best earlier call."""
        base, keep = None, 0
        for k in range(len(hashes) - 1, 0, -1):
            found = self._by_prefix.get((k, hashes[k]))
            if found is not None:
                base, keep = found, k
                break
        parts = _parts(request)
        base_parts = self._parts.get(base) if base is not None else None
        self._by_prefix[(len(request.messages), hashes[-1])] = seq
        self._parts[seq] = parts
        out: dict[str, Any] = {
            "base": base,
            "keep": keep,
            "messages": [
                m.model_dump(mode="json", exclude_defaults=True) for m in request.messages[keep:]
            ],
        }
        if base_parts is None or base_parts["o"] != parts["o"]:
            out["output_schema"] = request.output_schema
            out["output_name"] = request.output_name
        if base_parts is None or base_parts["t"] != parts["t"]:
            out["tools"] = [t.model_dump(mode="json") for t in request.tools]
        params = {
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stop": list(request.stop),
        }
        out.update({k: v for k, v in params.items() if v not in (None, [])})
        return out


_runs: weakref.WeakKeyDictionary[Journal, Conversations] = weakref.WeakKeyDictionary()


def conversations(journal: Journal) -> Conversations:
    """The run's conversation index (rebuilt by replay in a new process)."""
    found = _runs.get(journal)
    if found is None:
        found = _runs[journal] = Conversations()
    return found


def conversation(records: dict[int, dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    """The full messages of the call at ``seq``, rebuilt from the recorded deltas
    (``records``: each model entry's decoded output, by position)."""
    chain: list[dict[str, Any]] = []
    at: int | None = seq
    while at is not None:
        request = records[at]["request"]
        chain.append(request)
        at = request.get("base")
    messages: list[dict[str, Any]] = []
    for request in reversed(chain):
        messages = messages[: int(request.get("keep", 0))] + list(request["messages"])
    return messages


# -- the operation ----------------------------------------------------------------------
def _record(done: Done, delta: dict[str, Any]) -> dict[str, Any]:
    return {
        "request": delta,
        "response": done.response.model_dump(mode="json", exclude_defaults=True),
        "reasks": done.reasks,
        "usage": done.usage.model_dump(mode="json"),
        "cost_usd": done.cost_usd,
        "latency_ms": done.latency_ms,
    }


async def _durable(
    journal: Journal, seq: int, entry: Entry | None, call: Call, delta: dict[str, Any]
) -> ChatResult[Any]:
    try:
        if entry is not None:
            return _replay(journal, seq, entry, call)
        await journal.interrupts(seq, None, KIND, call.name)
        await journal.flush()  # values the call may have been given are durable first
        started = journal.now_ms()
        engine = journal.engine
        try:
            done = await run(call, engine, Ledger(engine, journal, seq))
        except (ModelError, OutputInvalid) as exc:
            invalid = isinstance(exc, OutputInvalid)
            error = {
                "type": OUTPUT_INVALID if invalid else type(exc).__name__,
                "message": str(exc),
                "model": "" if invalid else getattr(exc, "model", ""),
            }
            attempts = exc.attempts if isinstance(exc, OutputInvalid) else 1
            failed = Entry(
                seq,
                KIND,
                call.name,
                EntryStatus.FAILED,
                output=engine.codec.encode({"request": delta}, what=f"model call {call.name!r}"),
                error=error,
                attempts=attempts,
                started_at=started,
                completed_at=journal.now_ms(),
                fingerprint=fingerprint(call.request),
            )
            await journal.record(failed)
            raise mark(_error(call.name, error, attempts), seq) from None
        output = engine.codec.encode(_record(done, delta), what=f"model call {call.name!r}")
        recorded = Entry(
            seq,
            KIND,
            call.name,
            EntryStatus.COMPLETED,
            output=output,
            attempts=done.reasks + 1,
            started_at=started,
            completed_at=journal.now_ms(),
            fingerprint=fingerprint(call.request),
        )
        store = engine.store
        cancel = await journal.store_call(
            store.record_model(
                journal.fence,
                journal.now_ms(),
                journal.take_pending(),
                recorded,
                [done.last],
                journal.take_status(),
            )
        )
        journal.remember(recorded)
        if cancel:
            journal.request_cancel()
        return result(done)
    finally:
        journal.done()


_ERRORS: dict[str, type[ModelError]] = {
    name: cls
    for name, cls in vars(ai_errors).items()
    if isinstance(cls, type) and issubclass(cls, ModelError)
}


def _error(name: str, error: dict[str, Any], attempts: int) -> Exception:
    kind = error.get("type", "ModelError")
    if kind == OUTPUT_INVALID:
        return StepFailed(name, kind, error.get("message", ""), attempts)
    cls = _ERRORS.get(kind, ModelError)
    return cls(error.get("message", ""), model=error.get("model") or "")


def _replay(journal: Journal, seq: int, entry: Entry, call: Call) -> ChatResult[Any]:
    if entry.status == EntryStatus.CANCELLED:
        raise asyncio.CancelledError()
    if entry.status == EntryStatus.FAILED:
        raise mark(_error(call.name, entry.error or {}, entry.attempts), seq)
    record = json.loads(journal.engine.codec.unseal(entry.output or "{}"))
    response = ChatResponse.model_validate(record["response"])
    value = None
    if call.output is not None and not response.tool_calls:
        try:
            value = parse_output(call.output, response.text)
        except ValueError as exc:
            raise journal.block(
                SerializationError(
                    f"the recorded answer of model call {call.name!r} no longer fits "
                    f"{call.request.output_name}: {exc}. Rename the call (name=...) or accept "
                    "the old shape"
                )
            ) from None
    return ChatResult(
        text=response.text,
        output=value,
        tool_calls=response.tool_calls,
        usage=Usage.model_validate(record.get("usage", {})),
        cost_usd=float(record.get("cost_usd", 0.0)),
        model=response.model,
        latency_ms=float(record.get("latency_ms", 0.0)),
        reasks=int(record.get("reasks", 0)),
        replayed=True,
    )


def start(journal: Journal | None, call: Call) -> Coroutine[Any, Any, ChatResult[Any]]:
    """In workflow code, reserves the call's position now (at the call site); elsewhere a
    plain call."""
    if journal is None:
        return plain(call)
    hashes = prefix_hashes(call.request.messages)
    fp = fingerprint(call.request, hashes)
    seq, entry = journal.reserve(KIND, call.name, fp, explain=explain)
    delta = conversations(journal).delta(seq, call.request, hashes)
    return _durable(journal, seq, entry, call, delta)
