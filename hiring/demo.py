"""``make demo``: the hiring pipeline on the embedded defaults, played in a browser.

It keeps its state in ``.demo/`` (a SQLite database, the users file, the demo's secret),
starts a local mail server on loopback whose every message lands in the demo mailbox page,
loads the three sample jobs with their candidates (once: a restart continues where it
stopped), runs ``plait server --app hiring.app:engine --worker`` and prints what happens
until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
from importlib import resources
from pathlib import Path

import plait
from hiring import book, jobs

USERS = (
    # name, display name, groups, roles
    ("rita", "Rita Recruiter", ("recruiters",), ("operator", "approver")),
    ("hank", "Hank Hiring-Manager", ("hiring-managers",), ("operator", "approver")),
    ("ada", "Ada Admin", ("recruiters", "hiring-managers"), ("admin",)),
)


def _secret(data: Path, name: str) -> str:
    path = data / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def _users(data: Path, password: str) -> Path:
    from plait.server import Users

    path = data / "users.toml"
    users = Users(path)
    for name, display, groups, roles in USERS:
        if users.get(name) is None:
            users.add(
                name,
                password=password,
                roles=roles,
                groups=groups,
                display_name=display,
                email=f"{name}@example.com",
                time_zone=None,
                token=False,
            )
    return path


def sample_jobs() -> list[Path]:
    root = resources.files("hiring") / "samples" / "jobs"
    return sorted(Path(str(p)) for p in root.iterdir() if p.is_dir())


async def load(engine: plait.Engine, say: object = print) -> None:
    """Creates the sample jobs that are not there yet (idempotent), with progress."""
    from hiring.intake import load_candidates, load_job_folder

    for folder in sample_jobs():
        files = load_job_folder(folder)
        job_id = files.config.id
        if await engine.records.get(book.JOB, job_id) is not None:
            print(f"  {job_id}: already loaded")
            continue
        found = load_candidates(folder / "candidates")
        print(f"  {job_id}: storing the description and {len(found)} résumés ...", flush=True)
        await jobs.create_job(engine, files, found, by="demo", demo_cadence=True)
        print(f"  {job_id}: pipeline started", flush=True)


async def watch(engine: plait.Engine) -> None:
    """Prints each workflow's new status text as it changes (the demo's live log)."""
    seen: dict[str, str] = {}
    async for change in engine.watch():
        info = await engine.get(change.workflow_id)
        text = f"{info.status}: {info.status_text or ''}"
        if seen.get(info.id) != text:
            seen[info.id] = text
            who = info.attributes.get("candidate") or info.attributes.get("job") or info.id
            print(f"  [{info.name}] {who}: {text}", flush=True)


async def serve(data: Path, port: int, smtp_port: int) -> int:
    from hiring.app import engine
    from hiring.mail.devserver import DevMailServer, ReceivedMail
    from hiring.mailbox import store_received

    password = _secret(data, "password")
    env = {
        **os.environ,
        "PLAIT_DATABASE_URL": f"sqlite:///{data / 'hiring.db'}",
        "PLAIT_SECRET_KEY": _secret(data, "secret"),
        "HIRING_SMTP": f"smtp://127.0.0.1:{smtp_port}",
        "HIRING_BASE_URL": f"http://127.0.0.1:{port}",
        "HIRING_DEMO": "1",
    }
    users = _users(data, password)
    async with engine:
        print("plait hiring demo: loading the sample jobs", flush=True)
        await load(engine)

        async def keep(mail: ReceivedMail) -> None:
            await store_received(engine, mail)

        server = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
            [
                sys.executable,
                "-m",
                "plait.cli",
                "server",
                "--app",
                "hiring.app:engine",
                "--worker",
                "--port",
                str(port),
                "--users-file",
                str(users),
            ],
            env=env,
        )
        try:
            async with DevMailServer(keep, port=smtp_port):
                print(
                    f"\nOpen http://127.0.0.1:{port}/hiring/jobs and sign in as rita (recruiter), "
                    f"hank (hiring manager) or ada (admin), password: {password}\n"
                    f"Mail goes to the demo mailbox (local SMTP on 127.0.0.1:{smtp_port}). "
                    "Ctrl-C stops; run it again to continue where it stopped.\n",
                    flush=True,
                )
                watcher = asyncio.create_task(watch(engine))
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                while not stop.is_set() and server.poll() is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
                watcher.cancel()
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
    return 0 if server.returncode in (0, -signal.SIGTERM) else 1


def run_demo(*, port: int, smtp_port: int, data: Path) -> int:
    data.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PLAIT_DATABASE_URL", f"sqlite:///{data / 'hiring.db'}")
    os.environ.setdefault("HIRING_SMTP", f"smtp://127.0.0.1:{smtp_port}")
    os.environ.setdefault("HIRING_BASE_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("HIRING_SECRET", _secret(data, "secret"))
    os.environ.setdefault("HIRING_DEMO", "1")
    return asyncio.run(serve(data, port, smtp_port))
