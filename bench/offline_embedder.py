"""The offline embedder's figures: cold start-up, ms per text (batched and single), classify.

    python -m bench.offline_embedder [--texts 100] [--cold-runs 3] [--threads 1]

Prints one JSON document. Cold start is measured in fresh subprocesses, from just before the
process is spawned to its first embedding returned (interpreter start, ``import plait.ai``,
hash checks, ONNX session, tokenizer, one embedding), with the child's own split of where the
time went. The rest runs in this process after one warm-up call. Not run by the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, time
t0 = time.time()
from plait.ai import OfflineEmbedder
t1 = time.time()
e = OfflineEmbedder()
e.load()
t2 = time.time()
e.embed(["Senior Python backend engineer, PostgreSQL and AWS"])
t3 = time.time()
print(json.dumps({"started": t0, "import_s": t1 - t0, "load_s": t2 - t1,
                  "first_embed_s": t3 - t2, "done": t3}))
"""

ROLES = ["backend engineer", "ICU nurse", "data scientist", "account executive", "SRE"]
SKILLS = [
    "Python and PostgreSQL",
    "patient care",
    "pandas and A/B tests",
    "SaaS sales",
    "Kubernetes",
]
YEARS = ["two", "five", "eight", "twelve"]


def sample_texts(n: int) -> list[str]:
    """Résumé-like paragraphs of 25-60 tokens, varied and deterministic."""
    out = []
    for i in range(n):
        role, skill, years = ROLES[i % 5], SKILLS[(i // 5) % 5], YEARS[i % 4]
        extra = " Led a team of four and mentored juniors." * (i % 3)
        out.append(
            f"{role.capitalize()} with {years} years of experience in {skill}; "
            f"shipped projects end to end and worked closely with stakeholders.{extra}"
        )
    return out


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def cold(runs: int, threads: int) -> dict[str, object]:
    env = {**os.environ, "PLAIT_OFFLINE_THREADS": str(threads)}
    samples = []
    for _ in range(runs):
        spawned = time.time()
        out = subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, env=env
        )
        child = json.loads(out.stdout)
        samples.append(
            {
                "total_s": round(child["done"] - spawned, 3),
                "interpreter_s": round(child["started"] - spawned, 3),
                "import_plait_ai_s": round(child["import_s"], 3),
                "load_and_verify_s": round(child["load_s"], 3),
                "first_embed_s": round(child["first_embed_s"], 3),
            }
        )
    return {
        "median_total_s": statistics.median(s["total_s"] for s in samples),
        "runs": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=100)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from plait.ai import OfflineEmbedder, classify

    load_before = os.getloadavg()
    result: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
        },
        "threads": args.threads,
        "cold_start_to_first_embedding": cold(args.cold_runs, args.threads),
    }

    embedder = OfflineEmbedder(threads=args.threads)
    texts = sample_texts(args.texts)
    embedder.embed(texts[:4])  # warm-up

    # wall time and this process's CPU time: on a shared machine the CPU time is the steadier
    # figure (with one onnxruntime thread it is the work done, whatever else runs)
    batched, batched_cpu = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        embedder.embed(texts)
        batched.append((time.perf_counter() - t) / len(texts))
        batched_cpu.append((time.process_time() - c) / len(texts))
    single = []
    c = time.process_time()
    for text in texts:
        t = time.perf_counter()
        embedder.embed([text])
        single.append(time.perf_counter() - t)
    single_cpu = (time.process_time() - c) / len(texts)
    single.sort()
    result["embed_ms_per_text"] = {
        "batched_median": ms(statistics.median(batched)),
        "batched_cpu_median": ms(statistics.median(batched_cpu)),
        "single_p50": ms(single[len(single) // 2]),
        "single_p95": ms(single[int(len(single) * 0.95) - 1]),
        "single_cpu_mean": ms(single_cpu),
        "texts": len(texts),
    }

    from tests.ai.test_offline_classify import EXAMPLES, HELD_OUT, LABELS

    t = time.perf_counter()
    classify(HELD_OUT[0][0], LABELS, EXAMPLES, embedder=embedder)
    first = time.perf_counter() - t  # embeds the 20 examples too
    warm = []
    c = time.process_time()
    for text, _ in HELD_OUT * 4:
        t = time.perf_counter()
        classify(text, LABELS, EXAMPLES, embedder=embedder)
        warm.append(time.perf_counter() - t)
    warm_cpu = (time.process_time() - c) / len(warm)
    warm.sort()
    result["classify_ms"] = {
        "first_call_with_20_examples": ms(first),
        "warm_p50": ms(warm[len(warm) // 2]),
        "warm_p95": ms(warm[int(len(warm) * 0.95) - 1]),
        "warm_cpu_mean": ms(warm_cpu),
        "labels": len(LABELS),
        "examples": sum(len(v) for v in EXAMPLES.values()),
    }
    result["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]  # type: ignore[index]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
