"""The task pipeline through a real Celery worker process, on the real PostgreSQL and Redis."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from recommender.engine.model import SVDConfig
from recommender.models import DriftReport, ModelVersion
from recommender.services.registry import model_version_train
from recsite.celery import app
from simulation.models import SimulationRun
from simulation.services import SimulationParameters, simulation_run_create
from simulation.tasks import run_simulation

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def worker(postgresql, redis_url, artifact_dir, tmp_path):
    """A `celery worker` subprocess on the test database, and this process as its client."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ARTIFACT_DIR": str(artifact_dir),
        "WANDB_MODE": "disabled",
        "DJANGO_SETTINGS_MODULE": "recsite.settings",
    }
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "recsite",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    previous = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = redis_url
    app._pool = None  # the connection pool is cached per broker URL: make a new one
    try:
        yield process
    finally:
        app.conf.task_always_eager, app.conf.broker_url = previous
        app._pool = None
        process.terminate()
        process.wait(timeout=30)
        log.close()
        print((tmp_path / "worker.log").read_text()[-3000:])


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_whole_cycle_and_reports_progress(worker, bundled_subset, artifact_dir):
    champion = model_version_train(
        actor="command:test", config=SVDConfig(n_factors=20, n_epochs=10, seed=3)
    )
    run = simulation_run_create(
        parameters=SimulationParameters(
            rounds=2, seed=1, shift={"Action": 0.6}, shift_start=2, arrivals=0.0
        ),
        actor="test",
    )

    result = run_simulation.delay(run.pk, monitor=True)
    states = set()
    deadline = time.monotonic() + 240
    while not result.ready() and time.monotonic() < deadline:
        states.add(result.state)
        if result.state == "PROGRESS":
            assert 0 <= result.info["percent"] <= 100 and result.info["stage"].startswith("round ")
        time.sleep(0.2)

    assert result.get(timeout=5) == run.pk
    run.refresh_from_db()
    assert run.status == SimulationRun.Status.COMPLETED and run.rounds.count() == 2
    assert DriftReport.objects.count() == 2
    second = run.rounds.get(number=2)
    assert (
        second.metrics["cycle"]["retrained"]
        and "genre:Action" in second.metrics["cycle"]["degraded"]
    )
    assert ModelVersion.objects.filter(status="champion").count() == 1
    assert ModelVersion.objects.filter(pk=champion.pk).exists()
    assert "PROGRESS" in states, states
