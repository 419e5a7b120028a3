"""A real ``plait server`` in a subprocess, on a free loopback port, for the tests that need
one (schemathesis against its /openapi.json, the live change stream, shutdown)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.server.apifixtures import KEY

ROOT = Path(__file__).resolve().parent.parent.parent
APP = "tests.server.server_app:engine"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningServer:
    """A ``plait server`` process: its URL, its log, and clients for its users."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a service manager stops it; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"the server did not stop on SIGTERM:\n{self.log_text()}"
            ) from None


@contextlib.contextmanager
def running_server(
    tmp: Path, users_file: Path, db_url: str, *args: str, app: str | None = APP
) -> Iterator[RunningServer]:
    """Starts ``plait server`` (with ``--app`` and ``--worker`` unless ``app`` is None)
    and waits until it answers /healthz; stops it at the end."""
    port = free_port()
    env = {
        **os.environ,
        "PLAIT_SECRET_KEY": KEY,
        "PLAIT_SERVER_DB": db_url,
        "PLAIT_USERS_FILE": str(users_file),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    command = [sys.executable, "-m", "plait.cli", "server", "--port", str(port)]
    command += ["--app", app, "--worker"] if app else ["--database", db_url]
    log = tmp / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = RunningServer(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"plait server exited {proc.returncode}:\n{server.log_text()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"plait server did not answer:\n{server.log_text()}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
