"""Parses Prometheus exposition text from the file named by the first argument with the official client library's parser and
prints the samples as JSON: [{"name", "labels", "value"}, ...], plus each family's type.
Exits non-zero (with the parser's message) if the text does not parse."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

with open(sys.argv[1], encoding="utf-8") as f:
    families = list(text_string_to_metric_families(f.read()))
print(json.dumps({
    "types": {f.name: f.type for f in families},
    "samples": [
        {"name": s.name, "labels": s.labels, "value": s.value}
        for f in families
        for s in f.samples
    ],
}))
