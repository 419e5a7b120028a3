"""The hiring scorer against baselines on the labelled set, and its latency; prints JSON.

    .venv/bin/python bench/hiring_scoring.py [--pools tests/hiring/eval/pools] [--repeat 3]

Methods, all measured the same way (pairwise accuracy and NDCG@3/@8 per pool, then the
mean over pools of the dev split, the held-out split, the fresh split and all):

- ``hiring.score``: the scorer.
- ``word_overlap``: share of the job's content words that appear in the résumé.
- ``doc_cosine``: MiniLM cosine of the raw résumé and the job text.
- ``hybrid3``: mean of doc cosine, soft skill coverage (each job skill's best cosine to a
  skill named in the résumé) and exact skill coverage, with this project's vocabulary (the
  "transparent hybrid" of docs/research).

Latency: wall and CPU time per ``hiring.score`` call once the model is loaded and the job is
cached, and the texts and words embedded per call (load-independent); the machine's load
average is printed beside them because other processes share its two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hiring import extract_skills, score  # noqa: E402
from hiring.scoring.embedding import embed  # noqa: E402
from hiring.scoring.evaluation import Pool, evaluate, load_pools  # noqa: E402
from hiring.scoring.skills import vocabulary  # noqa: E402

_STOP = frozenset(
    """a an and are as at be by for from has have in is it its of on or our the their this to
    we will with you your who what able ability work working experience years year including
    such other more than plus nice role team""".split()
)


def _words(text: str) -> set[str]:
    return {
        w for w in re.findall(r"[a-z0-9+#&/.-]+", text.lower()) if w not in _STOP and len(w) > 1
    }


def word_overlap(job: str, resume: str) -> float:
    wanted = _words(job)
    return len(wanted & _words(resume)) / len(wanted) if wanted else 0.0


_vectors: dict[str, np.ndarray] = {}


def _vector(text: str) -> np.ndarray:
    if text not in _vectors:
        _vectors[text] = embed([text])[0]
    return _vectors[text]


def doc_cosine(job: str, resume: str) -> float:
    return float(_vector(job) @ _vector(resume))


def hybrid3(job: str, resume: str) -> float:
    vocab = vocabulary()
    job_skills = [s.name for s in extract_skills(job)]
    found = sorted({m.name for m in vocab.mentions(resume)})
    if not job_skills:
        return doc_cosine(job, resume) / 3
    exact = sum(1 for s in job_skills if s in found) / len(job_skills)
    if found:
        jv = np.stack([_vector(s) for s in job_skills])
        rv = np.stack([_vector(s) for s in found])
        soft = float((jv @ rv.T).max(axis=1).mean())
    else:
        soft = 0.0
    return (doc_cosine(job, resume) + soft + exact) / 3


METHODS: dict[str, Callable[[str, str], float]] = {
    "hiring.score": lambda job, resume: score(job, resume).value,
    "word_overlap": word_overlap,
    "doc_cosine": doc_cosine,
    "hybrid3": hybrid3,
}


def measure(pools: list[Pool]) -> dict[str, object]:
    results: dict[str, object] = {}
    for name, method in METHODS.items():
        per_pool = {p.name: {**evaluate(p, method), "split": p.split} for p in pools}
        summary = {}
        for split in ("dev", "holdout", "fresh", "all"):
            chosen = [m for m in per_pool.values() if split == "all" or m["split"] == split]
            if chosen:
                summary[split] = {
                    k: round(statistics.mean(float(m[k]) for m in chosen), 3)
                    for k in ("pairwise", "ndcg@3", "ndcg@8")
                }
        results[name] = {
            "summary": summary,
            "pools": {
                k: {kk: (round(v, 3) if isinstance(v, float) else v) for kk, v in m.items()}
                for k, m in per_pool.items()
            },
        }
    return results


def latency(pools: list[Pool], repeat: int) -> dict[str, object]:
    import hiring.scoring.embedding as embedding
    import hiring.scoring.scorer as scorer

    for p in pools:  # load the model and cache every job
        score(p.job, p.resumes[0].text)
    words: list[int] = []
    texts_per_call: list[int] = []
    original = embedding.embed

    def counting(texts: list[str]) -> np.ndarray:
        words.append(sum(len(t.split()) for t in texts))
        texts_per_call.append(len(texts))
        return original(texts)

    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(repeat):
        for p in pools:
            for r in p.resumes:
                wall, cpu = time.perf_counter(), time.process_time()
                score(p.job, r.text)
                walls.append((time.perf_counter() - wall) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
    scorer.embed = counting  # type: ignore[assignment]
    try:
        for p in pools:
            for r in p.resumes:
                score(p.job, r.text)
    finally:
        scorer.embed = original  # type: ignore[assignment]

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "calls": len(walls),
        "wall_ms": {"p50": pct(walls, 0.5), "p95": pct(walls, 0.95), "max": round(max(walls), 1)},
        "cpu_ms": {"p50": pct(cpus, 0.5), "p95": pct(cpus, 0.95), "max": round(max(cpus), 1)},
        # embedding cost grows with the words embedded: a load-independent measure
        "embedded_per_call": {
            "texts_mean": round(statistics.mean(texts_per_call), 1),
            "words_mean": round(statistics.mean(words), 1),
            "words_max": max(words),
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "threads": os.environ.get("PLAIT_OFFLINE_THREADS", "1"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pools", default=str(Path(__file__).resolve().parents[1] / "tests/hiring/eval/pools")
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pools = load_pools(args.pools)
    out = {"quality": measure(pools), "latency": latency(pools, args.repeat)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
