"""Worker processes for the tests that kill them: started with their output in a log file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class WorkerProcesses:
    """Starts ``python -m plait.cli -v worker APP`` processes, each logging to a file in
    ``tmp``; keeps them (``procs``) and their logs (``logs``) for teardown and failures."""

    def __init__(self, tmp: Path, app: str) -> None:
        self.tmp = tmp
        self.app = app
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self._files: list[Any] = []

    def start_worker(
        self, env: dict[str, str], *, concurrency: int, grace: float
    ) -> subprocess.Popen[bytes]:
        full = {**os.environ, **env}
        full["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        log = self.tmp / f"worker-{len(self.logs)}.log"
        out = open(log, "wb")  # noqa: SIM115 - closed at teardown
        self._files.append(out)
        self.logs.append(log)
        command = [sys.executable, "-m", "plait.cli", "-v", "worker", self.app,
                   "--concurrency", str(concurrency), "--grace", str(grace)]  # fmt: skip
        proc = subprocess.Popen(command, cwd=ROOT, env=full, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
        self.procs.append(proc)
        return proc

    poll = 0.05  # seconds between checks in ``until``

    def log_text(self, tail: int = 4000) -> str:
        """The end of every worker's log, for a failing test's message."""
        parts = []
        for log in self.logs:
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"--- {log.name} ---\n{text[-tail:]}")
        return "\n".join(parts)

    async def until(
        self, predicate: Callable[[], Awaitable[bool]], timeout: float, what: str
    ) -> float:
        """Polls ``predicate`` until it is true; returns the seconds it took."""
        start = time.monotonic()
        while not await predicate():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out after {timeout} s: {what}\n{self.log_text()}")
            await asyncio.sleep(self.poll)
        return time.monotonic() - start

    def cleanup(self) -> None:
        """Kills every process still running (thawing frozen ones first) and closes logs."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL always works
                pass
        for f in self._files:
            f.close()
