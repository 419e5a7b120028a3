"""The CLI's client of a running ``plait server``: the same operations as the database
source, through the REST API with a bearer token. HTTP errors become the CLI's exit codes:
404 → 3 (not found), 401/409/422 → 2 (bad credentials or input), others → 1."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

from plait.cli.base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, CommandError

Json = dict[str, Any]


class RemoteError(Exception):
    """The server answered with an error: its status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _code_for(status: int) -> int:
    if status == 404:
        return EXIT_NOT_FOUND
    if status in (401, 409, 422):
        return EXIT_USAGE
    return EXIT_FAILED


@contextlib.contextmanager
def remote_errors(url: str) -> Iterator[None]:
    """Turns the server's and the network's errors into one ``error:`` line and exit code."""
    import httpx

    try:
        yield
    except RemoteError as exc:
        raise CommandError(f"{exc} (HTTP {exc.status})", _code_for(exc.status)) from None
    except httpx.HTTPError as exc:
        raise CommandError(
            f"cannot reach the plait server at {url}: {type(exc).__name__}: {exc}", EXIT_FAILED
        ) from None


class RemoteSource:
    """A running server's REST API (see docs/server.md)."""

    def __init__(self, url: str, token: str | None) -> None:
        import httpx

        if not token:
            raise CommandError(
                "--url needs --token (or PLAIT_TOKEN): create one with 'plait users add NAME "
                "--token'",
                EXIT_USAGE,
            )
        self.client = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
        )

    async def __aenter__(self) -> RemoteSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            message = str(body.get("message") or response.reason_phrase or "request failed")
            if body.get("field"):
                message = f"{body['field']}: {message}"
            raise RemoteError(response.status_code, str(body.get("error", "")), message)
        return response.json() if response.content else None

    async def list_workflows(
        self, *, status: builtins.list[str], name: str | None, limit: int
    ) -> builtins.list[Json]:
        params: list[tuple[str, str | int]] = [("limit", limit)]
        params += [("status", s) for s in status]
        if name:
            params.append(("name", name))
        page = await self._call("GET", "/api/workflows", params=params)
        return list(page["items"])

    async def versions(self) -> builtins.list[Json]:
        found = await self._call("GET", "/api/workflows/versions")
        return list(found["versions"])

    async def workflow(self, workflow_id: str) -> Json:
        detail = await self._call("GET", f"/api/workflows/{workflow_id}")
        # The API nests each step's attempts in its journal entry; the CLI's shape (the
        # engine's records) has them apart, and "attempts" counting them.
        journal, attempts = [], []
        for entry in detail["journal"]:
            for a in entry.get("attempts") or []:
                attempts.append({**a, "seq": entry["seq"]})
            journal.append({**entry, "attempts": entry.get("attempt_count", 1)})
        return {
            "workflow": detail["info"],
            "journal": journal,
            "attempts": attempts,
            "events": detail.get("events", []),
            "children": detail.get("children", []),
            "tasks": detail.get("tasks", []),
            "runs": detail.get("runs", []),
        }

    async def start(
        self, name: str, args: builtins.list[Any], *, id: str | None, queue: str | None, by: str
    ) -> str:
        body: Json = {"workflow": name, "args": args}
        if id:
            body["id"] = id
        if queue:
            body["queue"] = queue
        started = await self._call("POST", "/api/workflows", json=body)
        return str(started["id"])

    async def signal(
        self, workflow_id: str, name: str, payload: Any, *, dedup_key: str | None, by: str
    ) -> bool:
        body: Json = {"name": name, "payload": payload}
        if dedup_key:
            body["dedup_key"] = dedup_key
        sent = await self._call("POST", f"/api/workflows/{workflow_id}/signal", json=body)
        return bool(sent.get("sent", True)) if isinstance(sent, dict) else True

    async def cancel(self, workflow_id: str, *, by: str) -> str:
        done = await self._call("POST", f"/api/workflows/{workflow_id}/cancel")
        return str(done.get("status", "")) if isinstance(done, dict) else ""

    async def resume(self, workflow_id: str, *, by: str) -> None:
        await self._call("POST", f"/api/workflows/{workflow_id}/resume")

    async def subject(self, subject: str) -> Json:
        return dict(await self._call("GET", f"/api/subjects/{quote(subject, safe='')}"))

    async def erase(self, subject: str, *, by: str) -> Json:
        return dict(await self._call("POST", f"/api/subjects/{quote(subject, safe='')}/erase"))

    async def gc(self, older_than: str, *, name: str | None, dry_run: bool, by: str) -> Json:
        body: Json = {"older_than": older_than, "dry_run": dry_run}
        if name:
            body["name"] = name
        return dict(await self._call("POST", "/api/gc", json=body))

    async def tasks(
        self,
        *,
        for_user: str | None,
        assignee: str | None,
        status: builtins.list[str],
        overdue: bool | None,
        limit: int,
    ) -> builtins.list[Json]:
        # The server knows who asks (the token): --for is "mine"; otherwise every task the
        # token's user may see.
        scope = "mine" if for_user else "all"
        params: list[tuple[str, str | int]] = [("scope", scope), ("limit", limit)]
        params += [("status", s) for s in status]
        if overdue is not None:
            params.append(("overdue", str(overdue).lower()))
        found = await self._call("GET", "/api/tasks", params=params)
        items = found["items"] if isinstance(found, dict) else found
        if assignee:
            items = [t for t in items if t.get("assignee") == assignee]
        return list(items)

    async def task(self, task_id: str) -> Json:
        return dict(await self._call("GET", f"/api/tasks/{task_id}"))

    async def claim(self, task_id: str, *, by: str) -> Json:
        return dict(await self._call("POST", f"/api/tasks/{task_id}/claim"))

    async def complete(
        self, task_id: str, answer: Any, *, comment: str | None, by: str | None
    ) -> Json:
        body: Json = {"answer": answer}
        if comment:
            body["comment"] = comment
        return dict(await self._call("POST", f"/api/tasks/{task_id}/complete", json=body))

    async def reassign(self, task_id: str, *, to: str, by: str | None) -> Json:
        return dict(await self._call("POST", f"/api/tasks/{task_id}/reassign", json={"to": to}))
