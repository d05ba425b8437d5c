"""Serial saves, as one assistant makes them: code chunks of about 900 characters cut from a
source tree at line ends, saved one at a time over one keep-alive HTTP connection.

    python3 scripts/bench-serial-saves.py chunks SRC_DIR COUNT > chunks.json
    python3 scripts/bench-serial-saves.py save BASE_URL API_KEY PROJECT_ID chunks.json

`chunks` prints the chunks as a JSON list; `save` prints `<saves per second> <chunks>`.
"""
import glob
import http.client
import json
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


def save(base, key, project, texts):
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    headers = {"authorization": "Bearer " + key, "content-type": "application/json"}

    def one(text):
        body = json.dumps({"content": text, "project_id": project, "metadata": {"source": "bench"}})
        conn.request("POST", url.path + "/context/save", body, headers)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 201:
            sys.exit(f"save failed: {response.status} {answer[:200]!r}")

    for text in texts[:10]:
        one(text)  # warm-up, not counted
    started = time.perf_counter()
    for text in texts:
        one(text)
    return len(texts) / (time.perf_counter() - started)


if __name__ == "__main__":
    if sys.argv[1] == "chunks":
        json.dump(chunks(sys.argv[2], int(sys.argv[3])), sys.stdout)
    else:
        base, key, project, path = sys.argv[2:6]
        texts = json.load(open(path, encoding="utf-8"))
        print(f"{save(base, key, project, texts):.1f} {len(texts)}")
