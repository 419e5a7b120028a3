"""The workflows list, a workflow's page (header, timeline, children), its live updates
(server-sent events of the engine's change feed) and its actions: cancel, resume, signal.

An action asks for confirmation first: with JavaScript inline, without it on a page of its
own (a post without ``confirmed=1`` answers with that page). Afterwards the workflow page
says what was done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

import plait
from plait.server.auth import Role, User, page_user, verify_csrf
from plait.server.ledger import call_costs
from plait.server.pages.common import (
    confirm,
    engine_of,
    fragment,
    now_of,
    render,
    require_role,
    show_error,
)
from plait.server.pages.model_calls import usd
from plait.server.pages.timeline import Waiting, build_timeline, waiting_on

router = APIRouter()
TIME_CHOICES = (
    ("", "any time"),
    ("1h", "last hour"),
    ("24h", "last 24 hours"),
    ("7d", "last 7 days"),
    ("30d", "last 30 days"),
)
_SPANS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
PAGE_SIZE = 50
KEEPALIVE = 15.0  # seconds between comments on a quiet event stream


def parse_attributes(text: str) -> dict[str, str]:
    """``"stage=outreach job=42"`` -> ``{"stage": "outreach", "job": "42"}``."""
    out: dict[str, str] = {}
    for part in text.replace(",", " ").split():
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"write attributes as key=value, not {part!r}")
        out[key] = value
    return out


def _waiting_summary(info: plait.WorkflowInfo, tasks: list[plait.HumanTask]) -> list[Waiting]:
    """The list's "waiting on" cell: open tasks, signals, children, a timer."""
    if info.status != "waiting":
        return []
    out = [Waiting(t.title, t.assignee, t.due_at, "due", f"/tasks/{t.id}") for t in tasks]
    signals = [str(s) for s in (info.waiting_on or {}).get("signals", ())]
    for s in signals:
        if s.startswith("plait:child:"):
            child = s.removeprefix("plait:child:")
            out.append(Waiting(f"child {child[:12]}", None, None, "", f"/workflows/{child}"))
    named = [s for s in signals if not s.startswith("plait:")]
    if named:
        out.append(
            Waiting("signal " + ", ".join(named), None, info.available_at, "times out", None)
        )
    if not out and info.available_at is not None:
        out.append(Waiting("a timer", None, info.available_at, "ends", None))
    return out


@router.get("/", response_class=RedirectResponse)
async def home() -> RedirectResponse:
    return RedirectResponse("/workflows", status_code=303)


@router.get("/workflows", response_class=HTMLResponse)
async def workflows(
    request: Request,
    user: User = Depends(page_user),
    status: str = "",
    name: str = "",
    time: str = "",
    attrs: str = "",
    q: str = "",
    cursor: str = "",
) -> HTMLResponse:
    """Every workflow, newest first, by status, name, start time, attributes or id."""
    engine = engine_of(request)
    now = now_of(engine)
    counts = {str(k): v for k, v in (await engine.counts()).items()}
    names = sorted(await engine.counts_by_name())
    error = None
    items: list[plait.WorkflowInfo] = []
    next_cursor = None
    q = q.strip()
    try:
        attributes = parse_attributes(attrs)
        if status and status not in counts:
            raise ValueError(f"unknown status {status!r}; use one of {', '.join(counts)}")
        if q:
            with contextlib.suppress(plait.WorkflowNotFound):
                items = [await engine.get(q)]
        else:
            since = now - _SPANS[time] if time in _SPANS else None
            page = await engine.page(
                status=status or None,
                name=name or None,
                since=since,
                attributes=attributes or None,
                cursor=cursor or None,
                limit=PAGE_SIZE,
            )
            items, next_cursor = page.items, page.next_cursor
    except (ValueError, plait.PlaitError) as exc:
        error = str(exc)
    open_tasks: dict[str, list[plait.HumanTask]] = {}
    if any(i.status == "waiting" for i in items):
        for t in await engine.tasks(status="open", limit=1000):
            open_tasks.setdefault(t.workflow_id, []).append(t)
    rows = [{"info": i, "waiting": _waiting_summary(i, open_tasks.get(i.id, []))} for i in items]
    query = {"status": status, "name": name, "time": time, "attrs": attrs, "q": q}

    def url(**changes: str | None) -> str:
        merged = {k: v for k, v in {**query, **changes}.items() if v}
        return "/workflows" + (f"?{urlencode(merged)}" if merged else "")

    return await render(
        request,
        "workflows.html",
        user,
        {
            "items": rows,
            "counts": counts,
            "total": sum(counts.values()),
            "names": names,
            "status": status,
            "name": name,
            "time": time,
            "time_choices": TIME_CHOICES,
            "attrs_text": attrs,
            "q": q,
            "cursor": cursor,
            "filtered": any(query.values()),
            "error": error,
            "versions": await engine.versions(),
            "name_url": lambda n: url(name=n, cursor=None, q=None),
            "chip_url": lambda s: url(status=s),
            "next_url": url(cursor=next_cursor) if next_cursor else None,
            "first_url": url(cursor=None),
        },
    )


async def _children(
    engine: plait.Engine, parent: str, depth: int, budget: list[int] | None = None
) -> list[dict[str, Any]]:
    """The tree of children, ``depth`` levels deep, reading at most 30 lists in all."""
    budget = [30] if budget is None else budget
    budget[0] -= 1
    page = await engine.page(parent_id=parent, limit=100)
    out = []
    for child in reversed(page.items):  # oldest first, as they were started
        deeper = depth > 1 and budget[0] > 0
        grand = await _children(engine, child.id, depth - 1, budget) if deeper else []
        out.append({"info": child, "children": grand})
    return out


async def _workflow_context(request: Request, user: User, workflow_id: str) -> dict[str, Any]:
    engine = engine_of(request)
    info = await engine.get(workflow_id)
    journal = await engine.journal(workflow_id)
    attempts = await engine.attempts(workflow_id)
    events = await engine.events(workflow_id)
    tasks = await engine.tasks(workflow_id=workflow_id, limit=1000)
    timeline = build_timeline(info, journal, attempts, events, tasks, now_of(engine))
    costs = call_costs(await engine.ledger(workflow_id))
    by_seq = costs.by_seq()
    for row in timeline.rows:
        if row.model is not None:
            row.model.cost = by_seq.get(row.model.seq)
    open_tasks = [t for t in tasks if t.is_open]
    signals = [s for s in (info.waiting_on or {}).get("signals", ()) if not s.startswith("plait:")]
    return {
        "info": info,
        "timeline": timeline,
        "events": events,
        "waiting": waiting_on(info, timeline.rows, open_tasks),
        "children": await _children(engine, workflow_id, 3),
        "runs": await engine.runs(workflow_id),
        "can_operate": user.can(Role.OPERATOR),
        "suggested_signal": signals[0] if signals else "",
        "costs": costs,
        "usd": usd,
        "tokens_here": bool(getattr(request.app.state, "worker_here", False)),
    }


@router.get("/workflows/{workflow_id}", response_class=HTMLResponse)
async def workflow_page(
    request: Request, workflow_id: str, user: User = Depends(page_user)
) -> HTMLResponse:
    """Where the workflow is, what happened, what it waits for, what one can do."""
    try:
        context = await _workflow_context(request, user, workflow_id)
    except plait.WorkflowNotFound:
        return await show_error(
            request, user, 404, await _gone(request, workflow_id), back="/workflows"
        )
    return await render(request, "workflow.html", user, context)


async def _gone(request: Request, workflow_id: str) -> str:
    """Why there is no such workflow: never was, or deleted by gc (its tombstone says when)."""
    try:
        events = await engine_of(request).events(workflow_id)
    except plait.WorkflowNotFound:
        events = []
    collected = [e for e in events if e.kind == plait.WorkflowEventKind.COLLECTED]
    if not collected:
        return f"There is no workflow with the id {workflow_id!r}."
    last = collected[-1]
    what = " ".join(str(last.details.get(k, "")) for k in ("name", "status")).strip()
    return (
        f"The workflow {workflow_id!r} ({what}) was deleted by gc on "
        f"{last.at:%Y-%m-%d %H:%M} UTC (by {last.by}): it had ended before the retention "
        "period. Its event log keeps this record."
    )


@router.get("/workflows/{workflow_id}/live", response_class=HTMLResponse)
async def workflow_live(
    request: Request, workflow_id: str, user: User = Depends(page_user)
) -> HTMLResponse:
    """The changing part of the workflow page, for live updates."""
    context = await _workflow_context(request, user, workflow_id)
    return fragment(request, "_workflow_live.html", {"user": user, **context})


@router.get("/workflows/{workflow_id}/stream")
async def workflow_stream(
    request: Request, workflow_id: str, user: User = Depends(page_user)
) -> StreamingResponse:
    """Server-sent events: ``event: change`` whenever the workflow's status or journal
    changes (the engine's change feed); a comment every 15 s keeps the connection open."""
    engine = engine_of(request)
    await engine.get(workflow_id)  # 404 for an unknown id
    stopping: asyncio.Event = request.app.state.stopping
    return StreamingResponse(
        _events(request, engine, workflow_id, stopping),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, engine: plait.Engine, workflow_id: str, stopping: asyncio.Event
) -> AsyncIterator[str]:
    queue: asyncio.Queue[plait.WorkflowChange] = asyncio.Queue()

    async def pump() -> None:
        feed = engine.watch(workflow_id)
        try:
            async for change in feed:
                queue.put_nowait(change)
        finally:
            close = getattr(feed, "aclose", None)
            if close is not None:
                await close()

    reader = asyncio.create_task(pump())
    stop = asyncio.create_task(stopping.wait())
    get: asyncio.Task[plait.WorkflowChange] | None = None
    try:
        yield "retry: 3000\n\n"
        while not stopping.is_set() and not reader.done():
            get = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait(
                {get, stop}, timeout=KEEPALIVE, return_when=asyncio.FIRST_COMPLETED
            )
            if get not in done:
                get.cancel()
                if await request.is_disconnected():
                    break
                if not stopping.is_set():
                    yield ": keep-alive\n\n"
                continue
            change = get.result()
            data = {
                "kind": change.kind,
                "workflow_id": change.workflow_id,
                "status": str(change.status),
                "name": change.name,
                "seq": change.seq,
                "at": change.at.astimezone(UTC).isoformat(),
            }
            yield f"event: change\ndata: {json.dumps(data)}\n\n"
    finally:
        for task in (reader, stop, get):
            if task is not None:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


# -- actions -------------------------------------------------------------------------------------
async def _confirm(
    request: Request,
    user: User,
    workflow_id: str,
    action: str,
    question: str,
    detail: str,
    button: str,
    fields: dict[str, str] | None = None,
    danger: bool = False,
) -> HTMLResponse:
    return await confirm(
        request,
        user,
        question=question,
        detail=detail,
        action=f"/workflows/{workflow_id}/{action}",
        back=f"/workflows/{workflow_id}",
        button=button,
        fields=fields,
        danger=danger,
    )


def _done(workflow_id: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"/workflows/{workflow_id}?done={what}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/workflows/{workflow_id}/cancel", dependencies=[Depends(verify_csrf)])
async def cancel(request: Request, workflow_id: str, user: User = Depends(page_user)) -> Response:
    require_role(user, Role.OPERATOR, "cancel workflows")
    engine = engine_of(request)
    form = await _form(request)
    try:
        info = await engine.get(workflow_id)
        if form.get("confirmed") != "1":
            return await _confirm(
                request,
                user,
                workflow_id,
                "cancel",
                f"Cancel {info.name} {workflow_id}?",
                "The workflow sees the cancellation at its next durable point, so its cleanup "
                "code runs; its children and open human tasks are cancelled too.",
                "Yes, cancel it",
                danger=True,
            )
        await engine.cancel(workflow_id, by=user.name)
    except plait.PlaitError as exc:
        return await _failed(request, user, workflow_id, exc)
    return _done(workflow_id, "cancelled")


@router.post("/workflows/{workflow_id}/resume", dependencies=[Depends(verify_csrf)])
async def resume(request: Request, workflow_id: str, user: User = Depends(page_user)) -> Response:
    require_role(user, Role.OPERATOR, "resume workflows")
    engine = engine_of(request)
    form = await _form(request)
    try:
        info = await engine.get(workflow_id)
        if form.get("confirmed") != "1":
            return await _confirm(
                request,
                user,
                workflow_id,
                "resume",
                f"Resume {info.name} {workflow_id}?",
                "It runs again from the step or wait that stopped it; completed steps do not "
                "run again.",
                "Yes, resume it",
            )
        await engine.resume(workflow_id, by=user.name)
    except plait.PlaitError as exc:
        return await _failed(request, user, workflow_id, exc)
    return _done(workflow_id, "resumed")


@router.post("/workflows/{workflow_id}/signal", dependencies=[Depends(verify_csrf)])
async def signal(request: Request, workflow_id: str, user: User = Depends(page_user)) -> Response:
    require_role(user, Role.OPERATOR, "send signals")
    engine = engine_of(request)
    form = await _form(request)
    name = form.get("name", "").strip()
    text = form.get("payload", "").strip()
    back = f"/workflows/{workflow_id}"
    if not name:
        return await show_error(request, user, 422, "Give the signal a name.", back=back)
    try:
        payload = json.loads(text) if text else None
    except ValueError as exc:
        return await show_error(
            request,
            user,
            422,
            f'The payload is not JSON: {exc}. Write e.g. {{"ok": true}}.',
            back=back,
        )
    try:
        await engine.get(workflow_id)
        if form.get("confirmed") != "1":
            return await _confirm(
                request,
                user,
                workflow_id,
                "signal",
                f"Send signal {name!r} to {workflow_id}?",
                f"Payload: {text or 'none'}",
                "Yes, send it",
                {"name": name, "payload": text},
            )
        sent = await engine.signal(workflow_id, name, payload, by=user.name)
    except plait.PlaitError as exc:
        return await _failed(request, user, workflow_id, exc)
    return _done(workflow_id, "signalled" if sent else "signal-duplicate")


async def _failed(
    request: Request, user: User, workflow_id: str, exc: plait.PlaitError
) -> HTMLResponse:
    status = 404 if isinstance(exc, plait.WorkflowNotFound) else 409
    if isinstance(exc, plait.ConfigurationError):
        status = 422
    return await show_error(request, user, status, str(exc), back=f"/workflows/{workflow_id}")
