"""Child processes of this checkout's Python, run from its root: manage.py commands, and the
benchmarks' measuring runs that need a process (and a peak memory) of their own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "ml-latest-small"


def run_python(
    *args: str, env: Mapping[str, str] | None = None, timeout: float | None = None
) -> str:
    """The standard output of `python ARGS` run in the checkout's root; a RuntimeError with the
    end of its output when it fails."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-2000:]
        raise RuntimeError(f"python {' '.join(args)} failed:\n{output}")
    return result.stdout
