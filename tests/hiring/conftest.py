"""Shared by the hiring tests: the labelled pools, each résumé scored once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

import hiring
from hiring.scoring.evaluation import Pool, load_pools

POOLS: list[Pool] = load_pools(Path(__file__).parent / "eval" / "pools")


@pytest.fixture(scope="session")
def scored() -> dict[str, list[tuple[hiring.Score, int, str]]]:
    """Every résumé of every pool scored once: pool name -> [(score, label, id)]."""
    return {
        pool.name: [(hiring.score(pool.job, r.text), r.label, r.id) for r in pool.resumes]
        for pool in POOLS
    }
