"""Worker processes for the tests that kill them: started with their output in a log file."""

from __future__ import annotations

import os
import subprocess
import sys
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

    def close_logs(self) -> None:
        for f in self._files:
            f.close()
