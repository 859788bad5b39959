"""`make bench`: every benchmark, each printing a markdown table of measured figures."""

import importlib
import sys

SUITES = [
    "benchmarks.imports",
    "benchmarks.scoring",
    "benchmarks.simulation",
    "benchmarks.judgements",
    "benchmarks.api",
    "benchmarks.scale",
    "benchmarks.quality",
]

if __name__ == "__main__":
    for name in SUITES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            print(f"(skipping {name}: {exc})", file=sys.stderr)
            continue
        module.main([])
