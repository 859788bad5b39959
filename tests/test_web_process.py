"""A web server process limits BLAS to one thread (recsite.web_process); a worker does not."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BLAS_THREADS_AFTER = """
import numpy  # loads OpenBLAS, so its threads can be counted before the module is imported
from threadpoolctl import threadpool_info

def blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

before = blas_threads()
import {module}
print(before, blas_threads())
"""


def blas_threads_before_and_after(module: str) -> tuple[list[int], list[int]]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", BLAS_THREADS_AFTER.format(module=module)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "recsite.settings", "DATABASE_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.strip().splitlines()[-1].split("] [")
    return (
        [int(n) for n in before.strip("[]").split(",") if n],
        [int(n) for n in after.strip("[]").split(",") if n],
    )


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: BLAS has one thread anyway")
@pytest.mark.parametrize("module", ["recsite.wsgi", "recsite.asgi"])
def test_a_web_server_process_runs_blas_on_one_thread(module):
    before, after = blas_threads_before_and_after(module)

    assert before and min(before) > 1, "BLAS starts with a thread per CPU"
    assert after == [1] * len(before)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: BLAS has one thread anyway")
def test_a_celery_worker_process_keeps_every_blas_thread():
    before, after = blas_threads_before_and_after("recsite.celery")

    assert after == before and min(after) > 1
