"""Writes crates/embed/tests/data/reference.json: all-MiniLM-L6-v2 vectors computed by
sentence-transformers (PyTorch, CPU) for a fixed set of texts. The Rust embedder's test checks
its own vectors against these. Run once after `pip install sentence-transformers`:

    python3 scripts/reference-vectors.py MODEL_DIR
"""
import json
import sys

from sentence_transformers import SentenceTransformer

TEXTS = [
    "How do we handle Stripe webhook retries?",
    "We decided to use PostgreSQL advisory locks for the nightly billing job.",
    "fn main() {\n    let total: u64 = (1..=10).map(|x| x * x).sum();\n    println!(\"{total}\");\n}",
    "def refund(payment_id: str, amount_cents: int) -> Refund:\n    \"\"\"Refund part of a payment.\"\"\"\n    return client.refunds.create(payment=payment_id, amount=amount_cents)",
    "Café déjà vu: naïve façade — 東京 and Zürich 🚀",
    "a",
    " ".join(f"word{i} alpha beta gamma" for i in range(150)),  # far beyond 256 tokens: truncated
    "The authentication service issues JWT access tokens valid for fifteen minutes and opaque refresh tokens valid for seven days.",
]

model = SentenceTransformer(sys.argv[1], device="cpu")
assert model.max_seq_length == 256, model.max_seq_length
vectors = model.encode(TEXTS, normalize_embeddings=False, convert_to_numpy=True)
out = {
    "model": "sentence-transformers/all-MiniLM-L6-v2",
    "max_seq_length": model.max_seq_length,
    "texts": TEXTS,
    "vectors": [[round(float(x), 7) for x in v] for v in vectors],
}
with open("crates/embed/tests/data/reference.json", "w") as f:
    json.dump(out, f)
print(f"wrote {len(TEXTS)} reference vectors")
