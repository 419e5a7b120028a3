"""What a durable model call adds over a bare one.

    python -m bench.ai_overhead [--calls 200] [--rounds 3] [--dir bench/results/db]

Prints one JSON document. One local model server (a subprocess speaking the OpenAI
``/v1/chat/completions`` wire format, answering at once over HTTP/1.1 keep-alive) serves
both sides, through the same ``plait.ai`` OpenAI-compatible provider and one shared
``httpx.AsyncClient``:

- **bare**: ``await model.complete(request)``, ``--calls`` times in a row;
- **durable**: one workflow on a fresh SQLite database, run by a worker in this process,
  making ``--calls`` calls ``await ctx.ai.chat(model, prompt)`` in a row: each reserves its
  journal position, fingerprints and deltas its request, writes its ledger row and journal
  entry in one transaction (priced by the default table).

Each side is timed over its calls only (the workflow times its own loop), per call, for
each of ``--rounds`` rounds (bare and durable alternate); the medians and the ratio are
reported, with the machine's load. Not run by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import plait
import plait.ai
from plait.ai import ChatRequest, Message
from plait.ai.providers.openai import OpenAIModel

SERVER = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = json.dumps({
    "id": "c1", "object": "chat.completion", "model": "bench-model",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "A short answer."}}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 4},
}).encode()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one segment per answer: no 40 ms delayed-ACK stall
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def request(i: int) -> ChatRequest:
    return ChatRequest(messages=(Message(role="user", content=f"Question number {i}?"),))


async def bare(model: OpenAIModel, calls: int) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        await model.complete(request(i))
    return time.perf_counter() - started, time.process_time() - cpu


MODEL: OpenAIModel | None = None


@plait.workflow
async def many_calls(ctx: plait.Context, calls: int) -> list[float]:
    started, cpu = time.perf_counter(), time.process_time()  # a bench: it never replays
    for i in range(calls):
        await ctx.ai.chat(MODEL, f"Question number {i}?", name="ask")
    return [time.perf_counter() - started, time.process_time() - cpu]


PRICES = plait.ai.Prices({"openai:bench-model": plait.ai.Price(0.15, 0.60)})


async def durable(folder: Path, calls: int, n: int) -> tuple[float, float]:
    engine = plait.Engine(
        f"sqlite:///{folder / f'ai-{n}.db'}", workflows=[many_calls], prices=PRICES
    )
    async with engine, engine.worker():
        handle = await engine.start(many_calls, calls)
        wall, cpu = await handle.result()
        rows = await engine.ledger(handle.id)
        assert len(rows) == calls and rows[0].cost_usd > 0, rows[:1]
    return wall, cpu


def us(seconds: float, calls: int) -> float:
    return round(seconds / calls * 1e6, 1)


def figures(runs: list[tuple[float, float]], calls: int) -> dict[str, object]:
    wall = [us(w, calls) for w, _ in runs]
    cpu = [us(c, calls) for _, c in runs]
    return {
        "wall_median": statistics.median(wall),
        "wall_min": min(wall),
        "cpu_median": statistics.median(cpu),
        "wall_runs": wall,
        "cpu_runs": cpu,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="bench/results/db")
    args = parser.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="ai-overhead-", dir=args.dir))
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    global MODEL
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        async with httpx.AsyncClient() as client:
            MODEL = OpenAIModel(
                "bench-model", base_url=f"http://127.0.0.1:{port}/v1", client=client
            )
            await bare(MODEL, 20)  # warm-up: connection, imports
            await durable(folder, 5, -1)
            load_before = os.getloadavg()
            bare_s: list[tuple[float, float]] = []
            durable_s: list[tuple[float, float]] = []
            for n in range(args.rounds):
                bare_s.append(await bare(MODEL, args.calls))
                durable_s.append(await durable(folder, args.calls, n))
            load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)
    b, d = figures(bare_s, args.calls), figures(durable_s, args.calls)

    def diff(key: str) -> float:
        return round(float(d[key]) - float(b[key]), 1)  # type: ignore[arg-type]

    print(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in load_after],
                },
                "calls": args.calls,
                "rounds": args.rounds,
                "unit": "microseconds per call; cpu = this process (client, engine, SQLite)",
                "bare": b,
                "durable": d,
                "overhead": {
                    "wall_median": diff("wall_median"),
                    "wall_min": diff("wall_min"),
                    "cpu_median": diff("cpu_median"),
                },
                "ratio": {
                    "wall_median": round(float(d["wall_median"]) / float(b["wall_median"]), 2),  # type: ignore[arg-type]
                    "wall_min": round(float(d["wall_min"]) / float(b["wall_min"]), 2),  # type: ignore[arg-type]
                    "cpu_median": round(float(d["cpu_median"]) / float(b["cpu_median"]), 2),  # type: ignore[arg-type]
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
