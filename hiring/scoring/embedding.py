"""Embeddings for the scorer: the offline MiniLM model, and a cache of each job's vectors.

A job's vectors (its title, its requirement sentences, its whole text) are computed once per
job text (keyed by its sha256) and kept for later calls, so scoring a pool of résumés embeds
the job once. The model is loaded on first use and shared by the process.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from plait.ai import OfflineEmbedder

__all__ = ["Vectors", "cached_job", "embed"]

Vectors = npt.NDArray[np.float32]
T = TypeVar("T")

_lock = threading.Lock()
_embedder: OfflineEmbedder | None = None
_JOB_CACHE_SIZE = 64
_jobs: OrderedDict[str, object] = OrderedDict()


def embed(texts: list[str]) -> Vectors:
    """Unit vectors (one row per text) from the offline embedder."""
    global _embedder
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    if _embedder is None:
        with _lock:
            if _embedder is None:
                from plait.ai import OfflineEmbedder

                _embedder = OfflineEmbedder()
    return np.asarray(_embedder.embed(texts), dtype=np.float32)


def cached_job(job_text: str, build: Callable[[str], T]) -> T:
    """The value ``build(job_text)`` made for this job text, computed once per text."""
    key = hashlib.sha256(job_text.encode("utf-8")).hexdigest()
    with _lock:
        found = _jobs.get(key)
        if found is not None:
            _jobs.move_to_end(key)
            return cast(T, found)
    value = build(job_text)
    with _lock:
        _jobs[key] = value
        while len(_jobs) > _JOB_CACHE_SIZE:
            _jobs.popitem(last=False)
    return value
