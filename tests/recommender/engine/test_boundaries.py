"""The engine stays a pure numerical core: no Django, no print, no pickle."""

from __future__ import annotations

import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import recommender.engine

ROOT = Path(__file__).resolve().parents[3]
ENGINE = Path(recommender.engine.__file__).parent


def engine_modules() -> list[str]:
    return [f"recommender.engine.{m.name}" for m in pkgutil.iter_modules([str(ENGINE)])]


def test_every_engine_module_imports_without_django():
    modules = engine_modules()
    assert {"recommender.engine.model", "recommender.engine.scoring"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not leaked, leaked\n"
        "print('ok', len(sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_engine_sources_never_print_or_unpickle():
    forbidden = re.compile(r"\bprint\(|\bimport pickle\b|allow_pickle\s*=\s*True|\bdjango\b")
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(ENGINE.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if forbidden.search(line) and not line.lstrip().startswith("#")
    ]

    assert offenders == []
