"""Serial saves, as one assistant makes them, beside a plain Python stack doing the same.

Code chunks of about 900 characters, cut from a source tree at line ends, are saved one at a
time over one keep-alive HTTP connection to each TeamContext server given; sentence-transformers
(PyTorch, CPU, 2 threads) encodes the same chunks one at a time, as a plain Python server would
per save: first as it does by default (the first 256 tokens of each chunk; the rest is never
embedded), then every 256-token window of each chunk, the work TeamContext does.

This machine's speed moves by 15–40% from minute to minute (other tenants share its cores), so
figures taken one after the other cannot be compared. The systems therefore take turns: each
round gives every system the same slice of the chunks, and the table reports the median over the
rounds and the median of each row's per-round ratio to sentence-transformers (its default, and
every window) in that same round.

    python3 bench-serial.py chunks SRC_DIR COUNT > chunks.json
    python3 bench-serial.py compare chunks.json ROUNDS [--st MODEL_DIR] NAME=URL,KEY,PROJECT ...

`compare` prints a Markdown table. `--st` needs `sentence-transformers` installed in the Python
running the script; without it only the TeamContext rows are printed.
"""
import glob
import http.client
import json
import statistics
import sys
import time
import urllib.parse


def chunks(src, count, size=900):
    out = []
    for path in sorted(glob.glob(f"{src}/src/**/*.rs", recursive=True)):
        current = ""
        for line in open(path, encoding="utf-8").read().splitlines(keepends=True):
            if len(current) + len(line) > size and len(current) >= size * 3 // 4:
                out.append(current)
                current = ""
            current += line
        if len(out) >= count:
            break
    return out[:count]


class Server:
    """One TeamContext server's save endpoint, over one keep-alive connection."""

    def __init__(self, spec):
        url, self.key, self.project = spec.split(",")
        self.url = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port)

    def save(self, text):
        body = json.dumps({"content": text, "project_id": self.project, "metadata": {"source": "bench"}})
        headers = {"authorization": "Bearer " + self.key, "content-type": "application/json"}
        self.conn.request("POST", self.url.path + "/context/save", body, headers)
        response = self.conn.getresponse()
        answer = response.read()
        if response.status != 201:
            sys.exit(f"save failed: {response.status} {answer[:200]!r}")


def sentence_transformers(model_dir):
    """The two ways a Python server would embed a chunk, as functions of one chunk."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(model_dir, device="cpu")
    tokenizer = model.tokenizer

    def windows(text, size=254, overlap=32):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        out, start = [], 0
        while True:
            out.append(tokenizer.decode(ids[start:start + size]))
            if start + size >= len(ids):
                return out
            start += size - overlap

    def longer(text):
        return len(tokenizer(text)["input_ids"]) > 256

    return longer, [
        ("sentence-transformers, first 256 tokens (its default)", lambda t: model.encode([t])),
        ("sentence-transformers, every 256-token window", lambda t: model.encode(windows(t))),
    ]


def rate(one, texts):
    started = time.perf_counter()
    for text in texts:
        one(text)
    return len(texts) / (time.perf_counter() - started)


def compare(path, rounds, args):
    texts = json.load(open(path, encoding="utf-8"))
    systems, longer, baseline_names = [], None, []
    while args:
        arg = args.pop(0)
        if arg == "--st":
            longer, encoders = sentence_transformers(args.pop(0))
            systems += encoders
            baseline_names = [name for name, _ in encoders]
        else:
            name, spec = arg.split("=", 1)
            systems.append((name, Server(spec).save))
    for _, one in systems:
        for text in texts[:5]:
            one(text)  # warm-up, not counted
    per_round = len(texts) // rounds
    rates = {name: [] for name, _ in systems}
    for r in range(rounds):
        part = texts[r * per_round:(r + 1) * per_round]
        for name, one in systems:
            rates[name].append(rate(one, part))
    # sentence-transformers' default, and its run of every window (the same work as TeamContext).
    baselines = [rates[name] for name in baseline_names]
    print(f"{rounds} rounds of {per_round} chunks; every system saves or encodes the same slice in a round")
    if longer:
        print(f"{sum(map(longer, texts[:per_round * rounds]))} of {per_round * rounds} chunks are longer than 256 tokens")
    print()
    header = ["serial saves of 900-character code chunks", "per second, median", "lowest–highest round"]
    header += ["÷ sentence-transformers default", "÷ sentence-transformers every window"][:len(baselines)]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for name, _ in systems:
        cells = [name, f"{statistics.median(rates[name]):.1f}", f"{min(rates[name]):.1f}–{max(rates[name]):.1f}"]
        cells += [f"{statistics.median(a / b for a, b in zip(rates[name], base)):.2f}×" for base in baselines]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if sys.argv[1] == "chunks":
        json.dump(chunks(sys.argv[2], int(sys.argv[3])), sys.stdout)
    elif sys.argv[1] == "compare":
        compare(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    else:
        sys.exit(__doc__)
