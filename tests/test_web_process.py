"""A web server process limits BLAS to one thread and imports its views before serving
(recsite.web_process); a worker does neither, and loads its tasks without the web side."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The module is imported first, as a server does: whatever it loads, BLAS included, is limited
# then or never (threadpoolctl limits the libraries loaded when it is called). numpy is
# imported after it, and the threads counted.
BLAS_THREADS_AFTER = """
import {module}
import numpy
from threadpoolctl import threadpool_info

print([pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"])
"""


def printed_by(script: str, **environment: str):
    """The JSON a fresh Python process running `script` prints last, on the embedded default."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "recsite.settings", "DATABASE_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def blas_threads_after_importing(module: str) -> list[int]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    return printed_by(BLAS_THREADS_AFTER.format(module=module), **environment)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: BLAS has one thread anyway")
@pytest.mark.parametrize("module", ["recsite.wsgi", "recsite.asgi"])
def test_a_web_server_process_runs_blas_on_one_thread(module):
    threads = blas_threads_after_importing(module)

    assert threads and set(threads) == {1}, "every BLAS library loaded (numpy's, scipy's)"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: BLAS has one thread anyway")
def test_a_celery_worker_process_keeps_every_blas_thread():
    threads = blas_threads_after_importing("recsite.celery")

    assert threads == [os.cpu_count()], "OpenBLAS's default: a thread per CPU"


@pytest.mark.parametrize("module", ["recsite.wsgi", "recsite.asgi"])
def test_a_web_server_process_imports_every_view_before_its_first_request(module):
    script = (
        f"import json, sys, {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.endswith('views'))))"
    )

    imported = printed_by(script, **os.environ)

    assert {"recommender.api.views", "django.contrib.admin.views"} <= set(imported), imported


# As a worker starts: the app, then its task modules (Celery's import_modules signal is where
# its Django fixup would run the system checks).
WORKER_IMPORTS = """
import json, sys
from recsite.celery import app

app.loader.import_default_modules()
print(json.dumps({"tasks": sorted(app.tasks), "modules": sorted(sys.modules)}))
"""


def test_a_worker_loads_its_tasks_without_the_web_side():
    environment = {k: v for k, v in os.environ.items() if k != "CELERY_SKIP_CHECKS"}

    loaded = printed_by(WORKER_IMPORTS, **environment)

    assert {"recommender.score", "recommender.score_shard"} <= set(loaded["tasks"])
    assert "recommender.services.scoring" in loaded["modules"]
    web = {"recsite.urls", "recommender.web.charts", "matplotlib", "rest_framework.views"}
    assert web.isdisjoint(loaded["modules"]), web & set(loaded["modules"])
    # Imported by the functions that use them: about 165 MB of every process otherwise.
    heavy = {"scipy.stats", "scipy.optimize", "cornac"}
    assert heavy.isdisjoint(loaded["modules"]), heavy & set(loaded["modules"])
    # What the checks would have loaded: the web side, views and all.
    checked = printed_by(WORKER_IMPORTS, **environment, CELERY_SKIP_CHECKS="")
    assert web <= set(checked["modules"])
