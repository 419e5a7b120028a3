"""Where a command reads and acts: the database through an ``Engine``, or a running
``plait server`` through its REST API (``--url`` with a token, see ``remote.py``).

Both sources answer with the same plain JSON shapes (the engine's records as dicts: a
``WorkflowInfo``'s fields, a ``HumanTask``'s fields, ...), so each command renders one shape
whichever source it used.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from plait.cli.base import jsonable
from plait.engine import Engine

Json = dict[str, Any]


class Source(Protocol):
    """The operations the CLI performs; ``by`` is who acts (a server uses the token's user)."""

    async def list_workflows(
        self, *, status: builtins.list[str], name: str | None, limit: int
    ) -> builtins.list[Json]: ...

    async def versions(self) -> builtins.list[Json]:
        """The (name, version) pairs in flight: a ``VersionCount``'s fields."""
        ...

    async def workflow(self, workflow_id: str) -> Json:
        """``{"workflow", "journal", "attempts", "events", "children", "tasks"}``."""
        ...

    async def start(
        self, name: str, args: builtins.list[Any], *, id: str | None, queue: str | None, by: str
    ) -> str: ...

    async def signal(
        self, workflow_id: str, name: str, payload: Any, *, dedup_key: str | None, by: str
    ) -> bool: ...

    async def cancel(self, workflow_id: str, *, by: str) -> str: ...

    async def resume(self, workflow_id: str, *, by: str) -> None: ...

    async def subject(self, subject: str) -> Json:
        """What carries ``subject``: a ``SubjectInfo``'s fields."""
        ...

    async def erase(self, subject: str, *, by: str) -> Json:
        """An ``ErasureReport``'s fields."""
        ...

    async def gc(self, older_than: str, *, name: str | None, dry_run: bool, by: str) -> Json:
        """A ``GcReport``'s fields (``dry_run``, ``deleted``)."""
        ...

    async def tasks(
        self,
        *,
        for_user: str | None,
        assignee: str | None,
        status: builtins.list[str],
        overdue: bool | None,
        limit: int,
    ) -> builtins.list[Json]: ...

    async def task(self, task_id: str) -> Json:
        """The task's fields plus ``"events"``, its audit trail."""
        ...

    async def claim(self, task_id: str, *, by: str) -> Json: ...

    async def complete(
        self, task_id: str, answer: Any, *, comment: str | None, by: str | None
    ) -> Json: ...

    async def reassign(self, task_id: str, *, to: str, by: str | None) -> Json: ...


class EngineSource:
    """The database, through the engine's public API."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def list_workflows(
        self, *, status: builtins.list[str], name: str | None, limit: int
    ) -> builtins.list[Json]:
        infos = await self.engine.list(status=status or None, name=name, limit=limit)
        return [jsonable(i) for i in infos]

    async def versions(self) -> builtins.list[Json]:
        return [{**jsonable(v), "in_flight": v.in_flight} for v in await self.engine.versions()]

    async def workflow(self, workflow_id: str) -> Json:
        e = self.engine
        info = await e.get(workflow_id)
        children = await e.page(parent_id=workflow_id, limit=200)
        return {
            "workflow": jsonable(info),
            "journal": jsonable(await e.journal(workflow_id)),
            "attempts": jsonable(await e.attempts(workflow_id)),
            "events": jsonable(await e.events(workflow_id)),
            "children": jsonable(children.items),
            "tasks": jsonable(await e.tasks(workflow_id=workflow_id, limit=200)),
        }

    async def start(
        self, name: str, args: builtins.list[Any], *, id: str | None, queue: str | None, by: str
    ) -> str:
        return (await self.engine.start(name, *args, id=id, queue=queue, by=by)).id

    async def signal(
        self, workflow_id: str, name: str, payload: Any, *, dedup_key: str | None, by: str
    ) -> bool:
        return await self.engine.signal(workflow_id, name, payload, dedup_key=dedup_key, by=by)

    async def cancel(self, workflow_id: str, *, by: str) -> str:
        return str(await self.engine.cancel(workflow_id, by=by))

    async def resume(self, workflow_id: str, *, by: str) -> None:
        await self.engine.resume(workflow_id, by=by)

    async def subject(self, subject: str) -> Json:
        return dict(jsonable(await self.engine.subject(subject)))

    async def erase(self, subject: str, *, by: str) -> Json:
        return dict(jsonable(await self.engine.erase_subject(subject, by=by)))

    async def gc(self, older_than: str, *, name: str | None, dry_run: bool, by: str) -> Json:
        done = await self.engine.gc(older_than=older_than, name=name, dry_run=dry_run, by=by)
        return dict(jsonable(done))

    async def tasks(
        self,
        *,
        for_user: str | None,
        assignee: str | None,
        status: builtins.list[str],
        overdue: bool | None,
        limit: int,
    ) -> builtins.list[Json]:
        found = await self.engine.tasks(
            status=status or None,
            assignee=assignee,
            for_user=for_user,
            overdue=overdue,
            order="urgent",
            limit=limit,
        )
        return [jsonable(t) for t in found]

    async def task(self, task_id: str) -> Json:
        task = dict(jsonable(await self.engine.task(task_id)))
        task["events"] = jsonable(await self.engine.task_events(task_id=task_id))
        return task

    async def claim(self, task_id: str, *, by: str) -> Json:
        return dict(jsonable(await self.engine.claim_task(task_id, by=by)))

    async def complete(
        self, task_id: str, answer: Any, *, comment: str | None, by: str | None
    ) -> Json:
        done = await self.engine.complete_task(task_id, answer, by=by, comment=comment)
        return dict(jsonable(done))

    async def reassign(self, task_id: str, *, to: str, by: str | None) -> Json:
        return dict(jsonable(await self.engine.reassign_task(task_id, to=to, by=by)))
