"""sentence-transformers (PyTorch, CPU) embedding the chunks of bench-serial-saves.py one at a
time, as a plain Python server would per save: first as sentence-transformers does by default
(the first 256 tokens of each chunk; the rest is not embedded), then every 256-token window of
each chunk, as TeamContext embeds it. Needs `pip install sentence-transformers`.

    python3 scripts/bench-serial-st.py MODEL_DIR chunks.json
"""
import json
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

torch.set_num_threads(2)
model = SentenceTransformer(sys.argv[1], device="cpu")
texts = json.load(open(sys.argv[2], encoding="utf-8"))
tokenizer = model.tokenizer


def windows(text, size=254, overlap=32):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    out, start = [], 0
    while True:
        out.append(tokenizer.decode(ids[start:start + size]))
        if start + size >= len(ids):
            return out
        start += size - overlap


longer = sum(len(tokenizer(t)["input_ids"]) > 256 for t in texts)
for name, inputs in [("truncated to 256 tokens", [[t] for t in texts]),
                     ("every window", [windows(t) for t in texts])]:
    for batch in inputs[:10]:
        model.encode(batch)
    started = time.perf_counter()
    for batch in inputs:
        model.encode(batch)
    rate = len(inputs) / (time.perf_counter() - started)
    print(f"{name}|{rate:.1f}|{longer}")
