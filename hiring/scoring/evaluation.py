"""Measuring a scorer on a labelled set: pools of résumés with graded labels for one job.

A pool file (TOML) holds ``[job] text`` and ``[[resume]]`` entries with ``id``, ``label``
(0..3, higher is a better fit), ``note`` and ``text``; see ``tests/hiring/eval/README.md``.
Pairwise accuracy counts, over every pair of résumés with different labels in a pool, the
share the scorer puts in the labels' order (a tie counts as half); NDCG@k uses the labels as
gains.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pool", "Resume", "load_pools", "ndcg", "pairwise_accuracy"]


@dataclass(frozen=True)
class Resume:
    """One labelled résumé of a pool."""

    id: str
    label: int
    note: str
    text: str


@dataclass(frozen=True)
class Pool:
    """A job and its labelled résumés."""

    name: str
    field: str
    split: str
    job: str
    resumes: tuple[Resume, ...]


def load_pools(directory: str | Path) -> list[Pool]:
    """Every ``*.toml`` pool in a directory, sorted by name."""
    pools = []
    for path in sorted(Path(directory).glob("*.toml")):
        data = tomllib.loads(path.read_text("utf-8"))
        resumes = tuple(
            Resume(r["id"], int(r["label"]), r.get("note", ""), r["text"]) for r in data["resume"]
        )
        pools.append(
            Pool(
                path.stem,
                data.get("field", path.stem),
                data.get("split", "dev"),
                data["job"]["text"],
                resumes,
            )
        )
    return pools


def pairwise_accuracy(labels: Sequence[int], scores: Sequence[float]) -> tuple[float, int]:
    """(share of differently-labelled pairs ordered like the labels, number of such pairs)."""
    right = 0.0
    pairs = 0
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if labels[i] == labels[j]:
                continue
            pairs += 1
            hi, lo = (i, j) if labels[i] > labels[j] else (j, i)
            if scores[hi] > scores[lo]:
                right += 1
            elif scores[hi] == scores[lo]:
                right += 0.5
    return (right / pairs if pairs else 1.0), pairs


def ndcg(labels: Sequence[int], scores: Sequence[float], k: int) -> float:
    """NDCG@k with gain 2^label - 1 (ties in score broken against the better label)."""
    order = sorted(range(len(labels)), key=lambda i: (-scores[i], labels[i]))

    def dcg(indices: Sequence[int]) -> float:
        return float(
            sum((2 ** labels[i] - 1) / math.log2(rank + 2) for rank, i in enumerate(indices[:k]))
        )

    ideal = dcg(sorted(range(len(labels)), key=lambda i: -labels[i]))
    return dcg(order) / ideal if ideal else 1.0


def evaluate(pool: Pool, scorer: Callable[[str, str], float]) -> dict[str, float]:
    """Pairwise accuracy, NDCG@3 and NDCG@8 of one scorer on one pool."""
    labels = [r.label for r in pool.resumes]
    scores = [scorer(pool.job, r.text) for r in pool.resumes]
    accuracy, pairs = pairwise_accuracy(labels, scores)
    return {
        "pairwise": accuracy,
        "pairs": pairs,
        "ndcg@3": ndcg(labels, scores, 3),
        "ndcg@8": ndcg(labels, scores, 8),
    }
