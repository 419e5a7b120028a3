"""Classification by examples: the offline stand-in for "ask a model which label fits".

``classify(text, labels, examples)`` embeds the text and each label's examples (examples are
cached per process) and picks the label whose examples are most similar to the text. The
result carries a score per label, the closest example of the chosen label as the
explanation, the margin over the runner-up and the embedder's name (``offline:...`` for the
offline embedder), so an application can show why and send close calls to a person.

Two ways to compare, ``method=``:

- ``"prototype"`` (default): a label's score is the cosine similarity of the text to the
  label's prototype, the normalised mean of its example vectors.
- ``"nearest"``: a label's score is the similarity of its single most similar example (max
  over examples).

Measured on the reply test (tests/ai/test_offline_classify.py: four labels, five examples
each, twelve held-out replies written before the first run): prototype 12/12 right, nearest
10/12. Nearest follows whichever one example shares the most surface words with the text
("What does the interview process look like?" landed on an "interested" example about
setting up a call); the mean keeps what a label's examples have in common, the intent, and
averages away the words peculiar to one example. The closest example is still reported as
the explanation either way. Twelve texts is a small set: treat the difference as a
direction, and check your own labels with held-out texts.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Literal

from plait.ai.model import Embedder
from plait.errors import ConfigurationError
from plait.frozen import Frozen

Method = Literal["prototype", "nearest"]
METHODS: tuple[Method, ...] = ("prototype", "nearest")
CACHE_SIZE = 4096  # example vectors kept per process (384 floats each)
Vector = tuple[float, ...]


class Classification(Frozen):
    """What ``classify`` decided and why."""

    label: str
    score: float  # similarity of the text to the chosen label (cosine, -1..1)
    scores: dict[str, float]  # every label's score, in the order the labels were given
    closest_example: str  # the chosen label's example most similar to the text
    closest_similarity: float
    margin: float  # score minus the runner-up's score: small means a close call
    model: str  # the embedder's name, e.g. "offline:all-MiniLM-L6-v2-int8"
    method: str

    @property
    def offline(self) -> bool:
        """True when no hosted model was involved (the offline embedder decided)."""
        return self.model.startswith("offline:")


_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str], Vector] = OrderedDict()  # (embedder, text) -> unit vector
_prototypes: OrderedDict[tuple[str, tuple[str, ...]], Vector] = OrderedDict()
_default: Embedder | None = None


def _default_embedder() -> Embedder:
    global _default
    if _default is None:
        from plait.ai.offline import OfflineEmbedder

        _default = OfflineEmbedder()
    return _default


def _check(
    text: str, labels: Sequence[str], examples: Mapping[str, Sequence[str]], method: str
) -> list[str]:
    """Validate the arguments; return the distinct example texts in a stable order."""
    if not isinstance(text, str):
        raise TypeError(f"classify(): text is {type(text).__name__}, not str")
    if isinstance(labels, str) or len(labels) < 2:
        raise ConfigurationError("classify(): give at least two labels, as a list of strings")
    if len(set(labels)) != len(labels):
        raise ConfigurationError(f"classify(): labels repeat: {list(labels)}")
    if method not in METHODS:
        raise ConfigurationError(f"classify(): method={method!r}; use one of {list(METHODS)}")
    unknown = [key for key in examples if key not in labels]
    if unknown:
        raise ConfigurationError(
            f"classify(): examples are given for {unknown}, which are not among the labels "
            f"{list(labels)}"
        )
    texts: list[str] = []
    for label in labels:
        given = examples.get(label)
        if given is None or isinstance(given, str) or not [e for e in given if e.strip()]:
            raise ConfigurationError(
                f"classify(): label {label!r} has no examples; give each label a list of "
                f"example texts (4-6 varied ones work well)"
            )
        texts.extend(e for e in given if e.strip())
    return list(dict.fromkeys(texts))


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def _unit(v: Sequence[float]) -> Vector:
    norm = math.sqrt(_dot(v, v)) or 1.0
    return tuple(x / norm for x in v)


def _split(embedder: Embedder, texts: list[str]) -> tuple[dict[str, Vector], list[str]]:
    """The cached unit vectors of ``texts``, and the texts still to embed."""
    found: dict[str, Vector] = {}
    missing: list[str] = []
    with _lock:
        for t in texts:
            key = (embedder.name, t)
            vector = _cache.get(key)
            if vector is None:
                missing.append(t)
            else:
                found[t] = vector
                _cache.move_to_end(key)
    return found, missing


def _remember(
    embedder: Embedder, found: dict[str, Vector], missing: list[str], vectors: list[list[float]]
) -> None:
    with _lock:
        for t, v in zip(missing, vectors, strict=True):
            found[t] = _cache[(embedder.name, t)] = _unit(v)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def _prototype(embedder: Embedder, own: tuple[str, ...], vectors: Mapping[str, Vector]) -> Vector:
    """The normalised mean of the examples' unit vectors (cached per process)."""
    key = (embedder.name, own)
    with _lock:
        cached = _prototypes.get(key)
    if cached is not None:
        return cached
    columns = zip(*(vectors[e] for e in own), strict=True)
    prototype = _unit([math.fsum(column) / len(own) for column in columns])
    with _lock:
        _prototypes[key] = prototype
        while len(_prototypes) > CACHE_SIZE // 4:
            _prototypes.popitem(last=False)
    return prototype


def _decide(
    text_vector: Sequence[float],
    labels: Sequence[str],
    examples: Mapping[str, Sequence[str]],
    vectors: Mapping[str, Vector],
    embedder: Embedder,
    method: Method,
) -> Classification:
    query = _unit(text_vector)
    scores: dict[str, float] = {}
    closest: dict[str, tuple[float, str]] = {}
    for label in labels:
        own = tuple(e for e in examples[label] if e.strip())
        closest[label] = max((_dot(query, vectors[e]), e) for e in own)
        if method == "nearest":
            scores[label] = closest[label][0]
        else:
            scores[label] = _dot(query, _prototype(embedder, own, vectors))
    ranked = sorted(labels, key=lambda name: scores[name], reverse=True)
    best, runner_up = ranked[0], ranked[1]
    return Classification(
        label=best,
        score=round(scores[best], 6),
        scores={name: round(scores[name], 6) for name in labels},
        closest_example=closest[best][1],
        closest_similarity=round(closest[best][0], 6),
        margin=round(scores[best] - scores[runner_up], 6),
        model=embedder.name,
        method=method,
    )


def classify(
    text: str,
    labels: Sequence[str],
    examples: Mapping[str, Sequence[str]],
    *,
    embedder: Embedder | None = None,
    method: Method = "prototype",
) -> Classification:
    """Assign ``text`` to one of ``labels`` by its similarity to each label's ``examples``.

    ``examples`` maps every label to a few example texts. The embedder defaults to the
    process's shared ``OfflineEmbedder`` (no network); example vectors are cached per
    process, so only the text is embedded on later calls with the same examples.
    """
    wanted = _check(text, labels, examples, method)
    embedder = embedder if embedder is not None else _default_embedder()
    found, missing = _split(embedder, wanted)
    vectors = embedder.embed([text, *missing])
    _remember(embedder, found, missing, vectors[1:])
    return _decide(vectors[0], labels, examples, found, embedder, method)


async def aclassify(
    text: str,
    labels: Sequence[str],
    examples: Mapping[str, Sequence[str]],
    *,
    embedder: Embedder | None = None,
    method: Method = "prototype",
) -> Classification:
    """``classify`` without blocking the event loop (the embedding runs in a thread)."""
    wanted = _check(text, labels, examples, method)
    embedder = embedder if embedder is not None else _default_embedder()
    found, missing = _split(embedder, wanted)
    vectors = await embedder.aembed([text, *missing])
    _remember(embedder, found, missing, vectors[1:])
    return _decide(vectors[0], labels, examples, found, embedder, method)
