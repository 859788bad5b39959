"""Imports run one way: entry points -> tasks -> services -> selectors / engine.

The rules checked here, each by reading the sources with `ast` (every import statement at any
depth, so an import inside a function counts as much as one at the top, and
`importlib.import_module("...")` with a literal name counts too):

(a) Services never import a tasks module: no module under recommender/services/ nor
    simulation/services* imports `recommender.tasks`, `simulation.tasks` or any `*.tasks`.
    An entry point that queues work passes the task in (job_enqueue(task, ...),
    simulation_run_launch(task=...)).
(b) The recommender app does not depend on the simulation app: no module of recommender/
    (models, services, selectors, engine, tasks, commands, migrations, ...) imports
    `simulation`, except the HTTP entry points recommender/web/ and recommender/api/, which
    show simulated rounds and launch runs. A string foreign key ("simulation.SimulationRound")
    is a database relation, not an import, and is not counted.
(c) The simulation's pure modules import without Django, in a fresh interpreter:
    simulation/engine.py (the behaviour model and play_round) and simulation/shifts.py (the
    shift parser). simulation/metrics.py is not among them: RoundMetrics carries the cycle's
    CycleOutcome, which lives in recommender.services.cycle (Django), and a round's figures are
    only ever read from the database anyway.

Each rule has a second test that feeds its checker a small offending source, so a checker that
silently finds nothing would fail.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PURE_SIMULATION_MODULES = ["simulation.engine", "simulation.shifts"]
MAY_IMPORT_SIMULATION = ("recommender.web", "recommender.api")


@dataclass(frozen=True)
class Import:
    module: str  # the module whose source holds the import
    line: int
    target: str  # a module it imports

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def imports_of(module: str, source: str, *, is_package: bool = False) -> list[Import]:
    """Every module `source` imports, at any depth. `from a import b` names both a and a.b (b
    may be a submodule); relative imports are resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif _is_import_module_call(node):
            targets = [node.args[0].value]
        else:
            continue
        found += [Import(module, node.lineno, target) for target in targets if target]
    return found


def _absolute(name: str | None, level: int, package: str) -> str:
    if level == 0:
        return name or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


def _is_import_module_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    first = node.args[0]
    return (
        name == "import_module" and isinstance(first, ast.Constant) and isinstance(first.value, str)
    )


def module_imports(paths: list[Path]) -> list[Import]:
    found = []
    for path in paths:
        relative = path.relative_to(ROOT).with_suffix("")
        is_package = relative.name == "__init__"
        module = ".".join(relative.parent.parts if is_package else relative.parts)
        found += imports_of(module, path.read_text(), is_package=is_package)
    return found


def tasks_imports(imports: list[Import]) -> list[Import]:
    """Rule (a): imports of a tasks module."""
    return [i for i in imports if i.target.rpartition(".")[2] == "tasks"]


def simulation_imports(imports: list[Import]) -> list[Import]:
    """Rule (b): imports of the simulation app by a module other than the web and the API."""
    return [
        i
        for i in imports
        if (i.target == "simulation" or i.target.startswith("simulation."))
        and not any(
            i.module == allowed or i.module.startswith(f"{allowed}.")
            for allowed in MAY_IMPORT_SIMULATION
        )
    ]


def django_leaks(modules: list[str], extra_path: Path | None = None) -> list[str]:
    """Rule (c): the django modules loaded by importing `modules` in a fresh interpreter
    (settings unconfigured). Raises if a module does not import at all."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (extra_path, ROOT) if p is not None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


# --- the rules on the real tree ---------------------------------------------------------------


def service_files() -> list[Path]:
    simulation_services = [
        path
        for entry in sorted((ROOT / "simulation").glob("services*"))
        for path in ([entry] if entry.is_file() else sorted(entry.rglob("*.py")))
        if path.suffix == ".py"
    ]
    return sorted((ROOT / "recommender" / "services").rglob("*.py")) + simulation_services


def test_services_never_import_a_tasks_module():
    files = service_files()
    assert ROOT / "simulation" / "services.py" in files
    assert ROOT / "recommender" / "services" / "jobs.py" in files

    offenders = tasks_imports(module_imports(files))

    assert [str(i) for i in offenders] == []


def test_only_the_web_and_the_api_of_the_recommender_import_the_simulation():
    files = sorted((ROOT / "recommender").rglob("*.py"))
    assert any(path.parent.name == "migrations" for path in files)
    imports = module_imports(files)
    assert any(i.target.startswith("simulation") for i in imports), (
        "the web imports the simulation: the checker must see those imports to allow them"
    )

    assert [str(i) for i in simulation_imports(imports)] == []


def test_the_pure_simulation_modules_import_without_django():
    assert django_leaks(PURE_SIMULATION_MODULES) == []


# --- each checker catches a synthetic offender ------------------------------------------------


def test_the_tasks_rule_catches_top_level_function_level_and_relative_imports():
    sources = {
        "simulation.services": "def launch():\n    from simulation.tasks import run_simulation\n",
        "recommender.services.a": "from recommender import tasks\n",
        "recommender.services.b": "from . import tasks\n",
        "recommender.services.c": "import recommender.tasks as t\n",
        "recommender.services.d": "import importlib\nimportlib.import_module('simulation.tasks')\n",
        "recommender.services.clean": (
            "from recommender.services.jobs import job_enqueue\nfrom .jobs import task_progress\n"
        ),
    }
    imports = [i for module, source in sources.items() for i in imports_of(module, source)]

    offenders = {(i.module, i.target) for i in tasks_imports(imports)}

    assert offenders == {
        ("simulation.services", "simulation.tasks"),
        ("recommender.services.a", "recommender.tasks"),
        ("recommender.services.b", "recommender.services.tasks"),
        ("recommender.services.c", "recommender.tasks"),
        ("recommender.services.d", "simulation.tasks"),
    }


def test_the_simulation_rule_catches_the_recommender_core_and_allows_the_web_and_the_api():
    sources = {
        "recommender.models": (
            'round = ForeignKey("simulation.SimulationRound")\n'  # a relation, not an import
            "def f():\n    import simulation.services\n"
        ),
        "recommender.migrations.0009_x": "from simulation.models import SimulationRound\n",
        "recommender.selectors.rounds": "from simulation import metrics\n",
        "recommender.webhooks": "import simulation\n",  # not recommender.web
        "recommender.web.queries": "from simulation.models import SimulationRun\n",
        "recommender.api.views": "from simulation.metrics import RoundMetrics\n",
    }
    imports = [i for module, source in sources.items() for i in imports_of(module, source)]

    offenders = {(i.module, i.line) for i in simulation_imports(imports)}

    assert offenders == {
        ("recommender.models", 3),
        ("recommender.migrations.0009_x", 1),
        ("recommender.selectors.rounds", 1),
        ("recommender.webhooks", 1),
    }


def test_the_django_rule_catches_a_module_that_imports_django(tmp_path):
    (tmp_path / "leaky_engine.py").write_text("import numpy\nfrom django.db import models\n")
    (tmp_path / "pure_engine.py").write_text("import numpy\n")

    assert django_leaks(["pure_engine"], extra_path=tmp_path) == []
    assert "django.db" in django_leaks(["leaky_engine"], extra_path=tmp_path)
