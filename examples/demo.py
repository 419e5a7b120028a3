"""plait's demo until the hiring pipeline lands, on the embedded SQLite default.

Part 1 runs an onboarding workflow in this process: journaled steps with retries, a parallel
fan-out, a durable sleep, a wait for a signal (sent twice with one dedup key: delivered
once), a child workflow, and the journal that records it all.

Part 2 shows durability with real processes: a ``plait worker`` process is killed with
``kill -9`` in the middle of a workflow, a new worker process takes over at once, and the
steps that had finished are not run again. Run it with ``make demo``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import plait

FOLDER = Path(os.environ.get("PLAIT_DEMO_DIR") or tempfile.mkdtemp(prefix="plait-demo-"))
os.environ["PLAIT_DEMO_DIR"] = str(FOLDER)  # the worker processes of part 2 inherit it
URL = f"sqlite:///{FOLDER / 'demo.db'}"
EFFECTS = FOLDER / "effects.log"


# -- part 1: an onboarding workflow ---------------------------------------------------------
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


# -- part 2: a pipeline whose worker is killed -------------------------------------------
@plait.step
async def stage(name: str) -> str:
    with EFFECTS.open("a") as f:  # the side effect: one line per execution
        f.write(f"{name} started\n")
    await asyncio.sleep(0.4)  # an LLM call, say
    return f"{name} done"


@plait.workflow
async def pipeline(ctx: plait.Context) -> list[str]:
    return [await stage(name) for name in ("parse", "extract", "score", "rank", "report")]


engine = plait.Engine(URL, workflows=[onboarding, send_welcome, pipeline])


async def part1() -> None:
    print("== part 1: an onboarding workflow, worker in this process")
    async with engine, engine.worker(concurrency=10):
        handle = await engine.start(onboarding, "ada", id="onboarding-ada")
        await asyncio.sleep(0.3)
        info = await engine.get(handle.id)
        print(f"status after 0.3 s: {info.status} ({info.status_text})")
        await engine.signal(handle.id, "approved", "grace", dedup_key="approval-1")
        await engine.signal(handle.id, "approved", "grace", dedup_key="approval-1")
        print(f"result: {await handle.result(timeout=30)}")
        await show_journal(handle.id)


def start_worker() -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    return subprocess.Popen(
        [sys.executable, "-m", "plait.cli", "worker", "demo:engine", "--concurrency", "10"],
        env=env,
        stderr=subprocess.DEVNULL,
    )


async def part2() -> None:
    print("\n== part 2: kill -9 a worker process mid-workflow; another one finishes it")
    async with engine:
        first = start_worker()
        handle = await engine.start(pipeline, id="pipeline-1")
        while "score started" not in (EFFECTS.read_text() if EFFECTS.exists() else ""):
            await asyncio.sleep(0.02)  # until the third step is under way
        first.send_signal(signal.SIGKILL)
        first.wait()
        done = [e.name for e in await engine.journal(handle.id) if e.status == "completed"]
        print(f"worker {first.pid} killed with kill -9 after {len(done)} completed steps")
        second = start_worker()
        try:
            result = await handle.result(timeout=60)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        print(f"a new worker ({second.pid}) finished it: {result}")
        runs = Counter(line.split()[0] for line in EFFECTS.read_text().splitlines())
        for name, count in runs.items():
            note = "  <- interrupted by the kill, so run again" if count > 1 else ""
            print(f"  {name:<8} ran {count}x{note}")
        await show_journal(handle.id)


async def show_journal(workflow_id: str) -> None:
    print(f"journal of {workflow_id}:")
    for entry in await engine.journal(workflow_id):
        print(f"  {entry.seq:>2} {entry.kind:<12} {entry.name:<16} {entry.status}")


async def main() -> None:
    print(f"database: {URL}")
    await part1()
    await part2()


if __name__ == "__main__":
    asyncio.run(main())
