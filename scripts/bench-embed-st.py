"""The same texts as crates/embed/examples/throughput.rs through sentence-transformers (PyTorch,
CPU), for a side-by-side figure. Needs `pip install sentence-transformers`.

    python3 scripts/bench-embed-st.py MODEL_DIR
"""
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

torch.set_num_threads(2)
model = SentenceTransformer(sys.argv[1], device="cpu")
sentences = [
    f"Decision {i}: we retry failed webhook deliveries with exponential backoff and alert on-call."
    for i in range(512)
]
code = [
    "".join(
        f"    let value_{i}_{j} = compute_total(items[{j}].price, tax_rate) * quantity_{j};\n"
        for j in range(12)
    )
    for i in range(96)
]
for name, texts in [("short sentences", sentences), ("code chunks", code)]:
    tokens = sum(min(len(model.tokenizer(t)["input_ids"]), 256) for t in texts)
    model.encode(texts[:8], batch_size=32)
    start = time.perf_counter()
    model.encode(texts, batch_size=32)
    secs = time.perf_counter() - start
    print(f"{name:16} {len(texts):5} texts  {tokens:7} tokens  {secs:6.2f} s  {tokens / secs:7.0f} tokens/s")
samples = []
for _ in range(50):
    start = time.perf_counter()
    model.encode(["how do we retry failed stripe webhook deliveries?"])
    samples.append((time.perf_counter() - start) * 1000)
samples.sort()
print(f"16-token query    p50 {samples[25]:.2f} ms  p99 {samples[49]:.2f} ms")
