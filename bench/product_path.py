"""The product path: a hiring-like workflow with a human task and a model call, layer by layer.

    python -m bench.product_path [--n 200] [--latency-runs 100] [--rounds 3]
                                 [--backend sqlite | --backend postgresql --database URL]
                                 [--dir bench/results/db] [--out file.json]

The workflow has five steps, as a screening stage of ``hiring/`` does: ``parse`` a candidate
(string work), ``score`` them against a job's skills, **classify** their reply, ``draft`` a
message, ``record`` the outcome; between ``classify`` and ``draft`` it **asks a person**
whether to go ahead (``ctx.ask_human``, an Approval for the group ``recruiter``).

- The **model call** is the offline classifier the hiring app uses for replies
  (``plait.ai.classify`` on the offline embedder: four labels, five example replies each,
  the examples' vectors cached per process), made in a durable step as ``hiring.steps``
  does; the step is a sync ``def``, so plait runs it in a thread and the event loop keeps
  serving the other workflows. In variants without it, ``classify`` is a keyword rule.
- The **human task** is answered through the engine's task API as a person's client would:
  a responder lists open tasks for ``recruiter`` (``engine.tasks``), claims each
  (``claim_task``) and approves it (``complete_task(..., True, by="ada")``), polling every
  ``--poll`` seconds (2 ms by default: the time a person takes is not what is measured).
  It runs only in the variants with a human task, in this process, so their CPU figures
  include its polling (a read every 2 ms while no task is open).

Four variants, so what each layer adds is measured, not guessed: ``engine`` (five steps, no
model, no person), ``ai`` (the model call), ``human`` (the human task) and ``full`` (both).
For each variant and round, on a fresh database with a worker in this process
(``concurrency`` = ``--n``):

- **throughput**: ``--n`` workflows started at once, clock stopped when every result is
  back: workflows/s, and this process's CPU ms per workflow (all threads: the event loop,
  the store's thread, the step threads and onnxruntime's);
- **latency**: ``--latency-runs`` workflows one at a time, start to result: p50, p99
  (nearest rank) and mean ms, CPU ms per workflow.

Rounds interleave the variants (engine, ai, human, full, engine, ...); the medians over the
rounds are reported, with every round's figures. The embedder is loaded and the examples
embedded once before the first round (a worker pays that once; ``bench/offline_embedder.py``
measures it). Prints one JSON document. A benchmark, never run by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

import plait
from bench.backends import Backend, backend_for
from bench.measure import cpu_seconds, emit, machine, percentile

VARIANTS = ("engine", "ai", "human", "full")
LABELS = ("interested", "not interested", "question", "unsubscribe")
EXAMPLES: dict[str, list[str]] = {
    "interested": [
        "Yes, I'd love to hear more about the role. When can we talk?",
        "Sounds interesting, happy to set up a call next week.",
        "Thanks for reaching out, I am definitely interested.",
        "This looks like a great fit, let's schedule an interview.",
        "I'm open to discussing it, what times work for you?",
    ],
    "not interested": [
        "Thanks, but I'm not looking for a new position right now.",
        "I appreciate it, but I'll pass on this one.",
        "Not interested at the moment, good luck with the search.",
        "I've just accepted another offer, so no thank you.",
        "This role isn't right for me, thanks anyway.",
    ],
    "question": [
        "What is the salary range for this position?",
        "Is the role remote or in the office?",
        "Could you tell me more about the team and the tech stack?",
        "How many interview rounds are there?",
        "Does the position include relocation support?",
    ],
    "unsubscribe": [
        "Please remove me from your mailing list.",
        "Stop emailing me.",
        "Unsubscribe.",
        "Do not contact me again.",
        "Take me off your list, please.",
    ],
}
REPLIES = [
    "Hi, this sounds great. Could we talk on Tuesday?",
    "What does the compensation look like for this role?",
    "No thanks, I'm happy where I am.",
    "Please stop contacting me.",
    "I'd be glad to learn more, when are you free?",
]
SKILLS = ["python", "postgresql", "asyncio", "kubernetes", "testing"]


def candidate(i: int) -> dict[str, Any]:
    return {
        "id": f"c-{i}",
        "name": f"Candidate {i}",
        "resume": "Senior engineer; Python, asyncio, PostgreSQL; testing at scale; "
        f"{i % 7} years of Kubernetes. " * 3,
        "reply": REPLIES[i % len(REPLIES)],
    }


# -- the workflow ----------------------------------------------------------------------
@plait.step
async def parse(c: dict[str, Any]) -> dict[str, Any]:
    words = {w.strip(".,;").lower() for w in c["resume"].split()}
    return {"id": c["id"], "name": c["name"], "words": sorted(words)}


@plait.step
async def score(profile: dict[str, Any]) -> dict[str, Any]:
    matched = [s for s in SKILLS if s in profile["words"]]
    return {"matched": matched, "score": len(matched) / len(SKILLS)}


@plait.step
def classify_reply(text: str) -> dict[str, Any]:
    """The model call: the offline classifier (sync: plait runs it in a thread)."""
    from plait.ai import classify

    found = classify(text, LABELS, EXAMPLES)
    return {"label": found.label, "score": found.score, "model": found.model}


@plait.step
async def classify_rule(text: str) -> dict[str, Any]:
    """The same step's place without a model: a keyword rule."""
    lowered = text.lower()
    label = "unsubscribe" if "stop" in lowered else "question" if "?" in lowered else "interested"
    return {"label": label, "score": 1.0, "model": "rule"}


@plait.step
async def draft(profile: dict[str, Any], fit: dict[str, Any], label: str) -> str:
    skills = ", ".join(fit["matched"]) or "your experience"
    return f"Dear {profile['name']}, thank you ({label}). We liked {skills}."


@plait.step
async def record(outcome: dict[str, Any]) -> dict[str, Any]:
    return {**outcome, "recorded": True}


async def _screen(ctx: plait.Context, c: dict[str, Any], ai: bool, human: bool) -> dict[str, Any]:
    profile = await parse(c)
    fit = await score(profile)
    reply = await (classify_reply(c["reply"]) if ai else classify_rule(c["reply"]))
    approved = True
    if human:
        answer = await ctx.ask_human(
            f"Advance {profile['name']}?",
            assignee="recruiter",
            context={"score": fit["score"], "reply": reply["label"]},
        )
        approved = answer.approved
    message = await draft(profile, fit, reply["label"])
    return await record({"id": c["id"], "approved": approved, "message": message})


@plait.workflow(name="screen-engine")
async def screen_engine(ctx: plait.Context, c: dict[str, Any]) -> dict[str, Any]:
    return await _screen(ctx, c, ai=False, human=False)


@plait.workflow(name="screen-ai")
async def screen_ai(ctx: plait.Context, c: dict[str, Any]) -> dict[str, Any]:
    return await _screen(ctx, c, ai=True, human=False)


@plait.workflow(name="screen-human")
async def screen_human(ctx: plait.Context, c: dict[str, Any]) -> dict[str, Any]:
    return await _screen(ctx, c, ai=False, human=True)


@plait.workflow(name="screen-full")
async def screen_full(ctx: plait.Context, c: dict[str, Any]) -> dict[str, Any]:
    return await _screen(ctx, c, ai=True, human=True)


WORKFLOWS = {"engine": screen_engine, "ai": screen_ai, "human": screen_human, "full": screen_full}


# -- the person ------------------------------------------------------------------------
async def responder(engine: plait.Engine, poll: float, answered: list[int]) -> None:
    """Answers every open task for ``recruiter``: claim, then approve, as ada."""
    while True:
        tasks = await engine.tasks(status="open", assignee="recruiter", limit=500)
        for task in tasks:
            await engine.claim_task(task.id, by="ada")
            await engine.complete_task(task.id, True, by="ada")
            answered[0] += 1
        if not tasks:
            await asyncio.sleep(poll)


async def idle() -> None:
    """No person where no task is asked: nothing polls in the ``engine`` and ``ai`` runs."""
    await asyncio.Event().wait()


# -- the measurements ------------------------------------------------------------------
async def run_variant(url: str, variant: str, n: int, latency_runs: int, poll: float) -> dict:
    wf = WORKFLOWS[variant]
    answered = [0]
    async with plait.Engine(url, workflows=[wf], step_threads=8) as engine:
        async with engine.worker(concurrency=max(n, 10)):
            human = variant in ("human", "full")
            person = asyncio.create_task(responder(engine, poll, answered) if human else idle())
            try:
                for i in range(5):  # warm-up: the first claims, adapters, threads
                    await (await engine.start(wf, candidate(i))).result(timeout=60)
                handles = []
                cpu0, t0 = cpu_seconds(), time.perf_counter()
                handles = await asyncio.gather(
                    *(engine.start(wf, candidate(i), id=f"t-{i}") for i in range(n))
                )
                results = await asyncio.gather(*(h.result(timeout=600) for h in handles))
                took, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
                assert all(r["recorded"] for r in results)
                times = []
                cpu1 = cpu_seconds()
                for i in range(latency_runs):
                    s = time.perf_counter()
                    h = await engine.start(wf, candidate(i), id=f"l-{i}")
                    await h.result(timeout=60)
                    times.append((time.perf_counter() - s) * 1000)
                lat_cpu = cpu_seconds() - cpu1
            finally:
                person.cancel()
                try:
                    await person
                except asyncio.CancelledError:
                    pass
    expected = (5 + n + latency_runs) if variant in ("human", "full") else 0
    assert answered[0] == expected, (variant, answered[0], expected)
    return {
        "throughput_workflows_per_s": n / took,
        "throughput_cpu_ms_per_workflow": cpu / n * 1000,
        "latency_p50_ms": percentile(times, 50),
        "latency_p99_ms": percentile(times, 99),
        "latency_mean_ms": statistics.fmean(times),
        "latency_cpu_ms_per_workflow": lat_cpu / latency_runs * 1000,
    }


def warm_model() -> dict[str, float]:
    """Loads the offline embedder and embeds the examples once (what a worker pays once)."""
    from plait.ai import classify

    t0, c0 = time.perf_counter(), cpu_seconds()
    classify(REPLIES[0], LABELS, EXAMPLES)
    return {"model_warmup_s": time.perf_counter() - t0, "model_warmup_cpu_s": cpu_seconds() - c0}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.product_path")
    ap.add_argument("--n", type=int, default=200, help="workflows at once (throughput)")
    ap.add_argument("--latency-runs", type=int, default=100, help="workflows one at a time")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--poll", type=float, default=0.002, help="the person's poll interval, s")
    ap.add_argument("--backend", default="sqlite")
    ap.add_argument("--database", help="PostgreSQL server URL (--backend postgresql)")
    ap.add_argument("--dir", default="bench/results/db", help="folder for SQLite files")
    ap.add_argument("--out", help="also write the JSON here")
    a = ap.parse_args()
    variants = [v for v in a.variants.split(",") if v]
    backend: Backend = backend_for(a.backend, a.database, a.dir)
    warm = warm_model() if any(v in ("ai", "full") for v in variants) else {}
    rounds: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for r in range(a.rounds):
        for v in variants:
            url = backend.fresh(f"product-{v}-{r}")
            try:
                figures = asyncio.run(run_variant(url, v, a.n, a.latency_runs, a.poll))
            finally:
                backend.discard(url)
            rounds[v].append(figures)
            shown = {k: round(x, 2) for k, x in figures.items()}
            print(f"round {r + 1}/{a.rounds} {v}: {shown}", file=sys.stderr, flush=True)
    medians = {
        v: {k: round(statistics.median(f[k] for f in rs), 3) for k in rs[0]}
        for v, rs in rounds.items()
    }
    added: dict[str, dict[str, float]] = {}
    if "engine" in medians:
        base = medians["engine"]
        for v in variants:
            if v != "engine":
                added[v] = {
                    k: round(medians[v][k] - base[k], 3)
                    for k in (
                        "throughput_cpu_ms_per_workflow",
                        "latency_p50_ms",
                        "latency_cpu_ms_per_workflow",
                    )
                }
    doc = {
        "bench": "product_path",
        "machine": machine(a.dir if a.backend == "sqlite" else None),
        "backend": backend.describe(),
        "n": a.n,
        "latency_runs": a.latency_runs,
        "rounds": a.rounds,
        "poll_s": a.poll,
        "load_average": os.getloadavg(),
        **warm,
        "medians": medians,
        "added_over_engine": added,
        "runs": rounds,
    }
    emit(doc, a.out)


if __name__ == "__main__":
    main()
