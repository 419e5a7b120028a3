"""plait's demo until the hiring pipeline lands: a small onboarding workflow on SQLite.

It journals three steps, fans out in parallel, sleeps durably, waits for a signal, runs a
child workflow, and then shows the journal. Run it with ``make demo``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import timedelta

import plait


@plait.step(retry=plait.Retry(max_attempts=3, initial_interval=timedelta(milliseconds=50)))
async def fetch_profile(user: str) -> dict[str, str]:
    return {"user": user, "team": "research"}


@plait.step
async def create_account(profile: dict[str, str]) -> str:
    return f"{profile['user']}@example.org"


@plait.step
def grant(account: str, system: str) -> str:  # a sync step runs in a thread
    return f"{system}:{account}"


@plait.workflow
async def send_welcome(ctx: plait.Context, account: str) -> str:
    return f"welcome mail to {account} (message id {ctx.idempotency_key})"


@plait.workflow
async def onboarding(ctx: plait.Context, user: str) -> dict[str, object]:
    profile = await fetch_profile(user)
    account = await create_account(profile)
    grants = await asyncio.gather(*(grant(account, s) for s in ("git", "wiki", "chat")))
    ctx.set_status("waiting for the manager", stage="approval")
    await ctx.sleep(timedelta(seconds=1))
    approved = await ctx.wait_for_signal("approved", timeout=timedelta(days=3))
    mail = await ctx.child(send_welcome, account)
    return {"account": account, "grants": grants, "approved_by": approved, "mail": mail}


async def main() -> None:
    folder = tempfile.mkdtemp(prefix="plait-demo-")
    url = "sqlite:///" + os.path.join(folder, "demo.db")
    print(f"database: {url}")
    async with plait.Engine(url, workflows=[onboarding, send_welcome]) as engine:
        async with engine.worker(concurrency=10):
            handle = await engine.start(onboarding, "ada", id="onboarding-ada")
            await asyncio.sleep(0.3)
            info = await engine.get(handle.id)
            print(f"status after 0.3 s: {info.status} ({info.status_text})")
            await engine.signal(handle.id, "approved", "grace", dedup_key="approval-1")
            await engine.signal(handle.id, "approved", "grace", dedup_key="approval-1")
            result = await handle.result(timeout=30)
            print(f"result: {result}")
        print("journal:")
        for entry in await engine.journal(handle.id):
            print(f"  {entry.seq:>2} {entry.kind:<12} {entry.name:<16} {entry.status}")


if __name__ == "__main__":
    asyncio.run(main())
