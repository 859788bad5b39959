"""The shape the architecture notes promise, checked: no function over 60 lines, in the
product, its engines and its benchmarks (the engines' kernels included: each reads as named
steps, with the order of the arithmetic kept in one short function)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 60


def function_lengths() -> dict[str, int]:
    lengths = {}
    for folder in ("recommender", "simulation", "recsite", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{path.relative_to(ROOT)}:{node.name}"
                    lengths[name] = max(lengths.get(name, 0), node.end_lineno - node.lineno + 1)
    return lengths


def test_no_function_is_longer_than_60_lines():
    long = {name: lines for name, lines in function_lengths().items() if lines > MAX_LINES}

    assert long == {}
