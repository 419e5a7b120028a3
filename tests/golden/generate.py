"""Writes the golden journals in tests/golden/ (checked by tests/test_golden_journals.py).

    PYTHONPATH=. python -m tests.golden.generate

Runs the example workflows (examples/demo.py, examples/human_review.py) and one hiring job
(hiring/pipeline.py: the job, a screening, a decline and candidate journeys) on
``plait.testing.TestEngine`` (fake clock, SQLite in a temp folder, mail to a local SMTP
server on loopback: offline), then exports their journals with
``plait.replaycheck.export_journals``: finished workflows and workflows stopped mid-way
(waiting for a person or a reply), so replay is checked both to the end of a journal and
up to a pending wait. Regenerate them when a change to those workflows is intended (and
in-flight workflows of the old code are handled: a new version, or ctx.patched).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import plait
from plait.replaycheck import export_journals
from plait.testing import TestEngine

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def load_example(name: str) -> ModuleType:
    """An example module of examples/ (not a package), loaded by path."""
    os.environ.setdefault("PLAIT_DEMO_DIR", tempfile.mkdtemp(prefix="plait-golden-demo-"))
    module_name = f"plait_golden_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def example_workflows() -> list[plait.WorkflowDef[..., Any]]:
    demo, review = load_example("demo"), load_example("human_review")
    return [demo.onboarding, demo.send_welcome, demo.pipeline, review.announce]


def hiring_workflows() -> list[plait.WorkflowDef[..., Any]]:
    from hiring.app import WORKFLOWS

    return list(WORKFLOWS)


async def examples(out: Path) -> None:
    demo, review = load_example("demo"), load_example("human_review")
    directory = plait.Directory(groups={"editors": ["ada", "lin"]}, admins=["grace"])
    async with TestEngine(
        workflows=example_workflows(), directory=directory, start=START
    ) as engine:
        onboarding = await engine.start(demo.onboarding, "ada", id="example-onboarding")
        await engine.signal(onboarding.id, "approved", "grace", dedup_key="approval-1")
        await engine.start(demo.onboarding, "lin", id="example-onboarding-waiting")
        pipeline = await engine.start(demo.pipeline, id="example-pipeline")
        announce = await engine.start(review.announce, "plait 1.0", id="example-announce")
        await engine.start(review.announce, "plait 2.0", id="example-announce-waiting")
        await engine.run_until_idle(within=timedelta(hours=45))
        (task,) = await engine.tasks(status="open", workflow_id=announce.id)
        edited = dict(task.proposal)
        edited["subject"] = "plait 1.0 is out"
        await engine.complete_task(task.id, edited, by="ada")
        await engine.run_until_idle(within=timedelta(hours=1))
        await onboarding.result()
        await pipeline.result()
        await announce.result()
        children = [w.id for w in await engine.list(name="send_welcome")]
        ids = [
            onboarding.id,
            "example-onboarding-waiting",
            pipeline.id,
            announce.id,
            "example-announce-waiting",
            *children,
        ]
        await export_journals(engine, ids, out)


async def hiring_job(out: Path) -> None:
    from hiring import settings as hiring_settings
    from hiring.mail.devserver import DevMailServer
    from tests.hiring.pipeline_kit import SECRET, Pipeline, job_folder

    async def keep(mail: Any) -> None:
        p.received.append(mail)

    tmp = Path(tempfile.mkdtemp(prefix="plait-golden-hiring-"))
    try:
        async with TestEngine(workflows=hiring_workflows(), start=START) as engine:
            # hiring stamps a routed reply with the wall clock: the fake clock's time here,
            # so that a regenerated file is the same
            from hiring import routing

            clock = engine.clock

            class FakeNow(datetime):
                @classmethod
                def now(cls, tz: Any = None) -> Any:
                    return clock.now()

            wall_clock = routing.datetime
            routing.datetime = FakeNow  # type: ignore[misc]
            p = Pipeline(engine, job_folder(tmp))
            async with DevMailServer(keep) as server:
                os.environ["HIRING_SECRET"] = SECRET
                os.environ["HIRING_SMTP"] = f"smtp://127.0.0.1:{server.port}"
                os.environ["HIRING_BASE_URL"] = "http://hiring.test"
                hiring_settings.settings.cache_clear()
                await p.start()
                await p.confirm_skills()
                await p.shortlist()
                await p.confirm_declines()
                await p.approve_outreach()
                # one candidate declines by reply: that journey ends; the others wait
                first = next(w for w in await engine.list(name="hiring.candidate", limit=50))
                profile = await p.profile(first.subject or "")
                await p.reply(profile.email, "Thanks, but I'm not interested.", number=1)
                await p.step()
            hiring_settings.settings.cache_clear()
            picked: list[str] = [p.job_wid]
            for name in ("hiring.screening", "hiring.decline", "hiring.candidate"):
                found = sorted(await engine.list(name=name, limit=50), key=lambda w: w.id)
                by_status: dict[str, str] = {}
                for w in found:  # one of each status: finished ones and in-flight ones
                    by_status.setdefault(str(w.status), w.id)
                picked.extend(sorted(by_status.values()))
            await export_journals(engine, picked, out)
            routing.datetime = wall_clock  # type: ignore[misc]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def main() -> None:
    for old in HERE.glob("*.json"):
        old.unlink()
    await examples(HERE)
    await hiring_job(HERE)
    print(f"wrote {len(list(HERE.glob('*.json')))} golden journals to {HERE}")


if __name__ == "__main__":
    asyncio.run(main())
