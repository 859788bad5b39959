"""The task pipeline through real Celery worker (and beat) processes, on the real PostgreSQL
and Redis: the whole cycle, a worker killed with SIGKILL mid-training, two requests for the
same work, and two beats for one schedule."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from recommender.engine.model import SVDConfig
from recommender.models import DriftReport, Lease, ModelVersion, ModelVersionEvent
from recommender.selectors.charts import drawn_chart_set
from recommender.selectors.tasks import task_progress
from recommender.services.registry import model_version_train
from recommender.web.metric_charts import history_key
from recommender.web.presentation import metric_history
from recsite.celery import app
from simulation.models import SimulationRun
from simulation.services import SimulationParameters, simulation_run_create
from simulation.tasks import run_simulation
from tests.champions import train_champion

ROOT = Path(__file__).resolve().parents[1]
Status = ModelVersion.Status


@pytest.fixture
def celery_processes(postgresql, redis_url, artifact_dir, tmp_path):
    """Start `celery worker` / `celery beat` subprocesses on the test database and broker, with
    this process as their client. Everything started is stopped at the end."""
    database = connection.settings_dict
    base_env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ARTIFACT_DIR": str(artifact_dir),
        "WANDB_MODE": "disabled",
        "DJANGO_SETTINGS_MODULE": "recsite.settings",
    }
    started: list[tuple[subprocess.Popen, Path]] = []

    def start(kind: str = "worker", **env) -> subprocess.Popen:
        log_path = tmp_path / f"{kind}-{len(started)}.log"
        if kind == "worker":
            args = ["worker", "--pool", "solo", "--without-gossip", "--without-mingle"]
            args += ["--without-heartbeat", "-n", f"worker{len(started)}@%h"]
        else:
            args = ["beat", "--pidfile=", "--max-interval", "1"]
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "recsite", *args, "--loglevel", "INFO"],
                cwd=ROOT,
                env={**base_env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append((process, log_path))
        return process

    previous = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = redis_url
    # Connection and producer pools are cached with the broker URL they were made for (an
    # eager task earlier in this process made them for the default broker): make new ones.
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield start
    finally:
        app.conf.task_always_eager, app.conf.broker_url = previous
        app._pool = None
        app.amqp._producer_pool = None
        for process, log_path in started:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            print(f"--- {log_path.name} ---\n" + log_path.read_text()[-3000:])


def queued_task_id(output: str) -> str:
    match = re.search(r"^queued task ([0-9a-f-]{36}) ", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def wait_for_challenger(task_id: str, timeout: float, task: str) -> ModelVersion:
    """The challenger the task `task_id` trains, once it is registered."""
    return wait_for(
        lambda: ModelVersion.objects.filter(
            created_by=f"task:{task_id}", status=Status.CHALLENGER
        ).first(),
        timeout,
        f"{task} to train a challenger",
    )


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_whole_cycle_and_reports_progress(
    celery_processes, bundled_subset, artifact_dir
):
    celery_processes("worker")
    champion = train_champion()
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

    assert result.get(timeout=5) == {"simulation_run": run.pk, "rounds": 2}
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
    assert Lease.objects.count() == 0, "the lease was released"
    # The worker drew the metric charts of the history it left, for every process to read.
    assert drawn_chart_set(history_key(metric_history())) is not None
    assert drawn_chart_set(history_key(metric_history(run_id=run.pk))) is not None


@pytest.mark.django_db(transaction=True)
def test_progress_inside_a_round_is_visible_before_the_round_commits(
    celery_processes, bundled_subset, artifact_dir, tmp_path
):
    # A round is one transaction; the worker is held inside it, at the start of its scoring.
    gate = tmp_path / "gate"
    gate.write_text("scoring")
    celery_processes("worker", RECOMMENDER_TEST_GATE_FILE=str(gate))
    train_champion()
    run = simulation_run_create(
        parameters=SimulationParameters(rounds=2, seed=1, arrivals=0.0), actor="test"
    )

    result = run_simulation.delay(run.pk)
    wait_for(lambda: (tmp_path / "gate.reached").exists(), 120, "the round to reach scoring")
    progress = wait_for(
        lambda: (p := task_progress(result.id)).state == "PROGRESS" and p, 10, "progress"
    )
    try:
        assert progress.stage == "round 1: scoring"
        assert progress.percent == 5, "a tenth of the first of two rounds"
        assert not run.rounds.exists(), "the round's transaction is still open"
    finally:
        gate.unlink()
    assert result.get(timeout=120) == {"simulation_run": run.pk, "rounds": 2}
    assert task_progress(result.id).percent == 100


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_training_leaves_the_champion_serving_and_the_redelivery_completes(
    celery_processes, bundled_subset, artifact_dir, tmp_path, capsys
):
    champion = model_version_train(actor="command:test", config=SVDConfig(n_factors=5, seed=3))
    gate = tmp_path / "gate"
    gate.touch()
    # A short visibility timeout, so the broker hands the unacknowledged task to the next
    # worker within seconds (production: an hour, above every task's time limit).
    fast_redelivery = {
        "CELERY_VISIBILITY_TIMEOUT": "20",
        "CELERY_TASK_TIME_LIMIT": "15",
        "CELERY_TASK_SOFT_TIME_LIMIT": "12",
        "LEASE_SECONDS": "6",
    }
    first = celery_processes("worker", RECOMMENDER_TEST_GATE_FILE=str(gate), **fast_redelivery)

    call_command("train", "--async", "--family", "svd", "--factors", "5", "--epochs", "5")
    task_id = queued_task_id(capsys.readouterr().out)
    wait_for(lambda: (tmp_path / "gate.reached").exists(), 120, "training to reach the gate")
    interrupted = ModelVersion.objects.get(status=Status.TRAINING)
    assert interrupted.created_by == f"task:{task_id}"

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # While nobody runs it: the champion serves, the interrupted version is not a champion.
    assert ModelVersion.objects.get(status=Status.CHAMPION).pk == champion.pk
    assert ModelVersion.objects.get(pk=interrupted.pk).status == Status.TRAINING

    gate.unlink()  # the next worker trains straight through
    celery_processes("worker", **fast_redelivery)
    redone = wait_for_challenger(task_id, 180, "the redelivered task")

    interrupted.refresh_from_db()
    assert interrupted.status == Status.FAILED
    assert "interrupted" in interrupted.decision_reason
    assert ModelVersion.objects.filter(status=Status.CHAMPION).count() == 1
    assert ModelVersion.objects.get(status=Status.CHAMPION).pk == champion.pk
    # No orphans: every version is the champion, the redone challenger or the failed one, each
    # with its history, and nothing is left training.
    assert set(ModelVersion.objects.values_list("pk", flat=True)) == {
        champion.pk,
        interrupted.pk,
        redone.pk,
    }
    assert not ModelVersion.objects.filter(status=Status.TRAINING).exists()
    assert Path(redone.artifact_path).is_file()
    assert ModelVersionEvent.objects.filter(version=redone).count() == 2
    wait_for(lambda: not Lease.objects.exists(), 30, "the lease to be released")
    print(
        f"observed: v{interrupted.pk} killed mid-training -> {interrupted.status} "
        f"({interrupted.decision_reason}); redelivered task {task_id} trained v{redone.pk} "
        f"-> {redone.status}; champion v{champion.pk} unchanged"
    )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_retrain_requests_run_once(
    celery_processes, bundled_subset, artifact_dir, capsys
):
    model_version_train(actor="command:test", config=SVDConfig(n_factors=5, n_epochs=5, seed=3))
    call_command("simulate", "--rounds", "1", "--arrivals", "0", "--no-progress")
    celery_processes("worker")

    call_command("retrain", "--async")
    task_id = queued_task_id(capsys.readouterr().out)
    with pytest.raises(CommandError) as refused:
        call_command("retrain", "--async")

    assert "retraining already running since" in str(refused.value)
    assert f"task {task_id}" in str(refused.value)
    wait_for(lambda: not Lease.objects.exists(), 180, "the retraining to finish")
    challengers = ModelVersion.objects.exclude(created_by="command:test")
    assert [v.created_by for v in challengers] == [f"task:{task_id}"], "exactly one ran"


@pytest.mark.django_db(transaction=True)
def test_two_beats_for_one_schedule_run_one_cycle(celery_processes, bundled_subset, artifact_dir):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask
    from django_celery_results.models import TaskResult

    model_version_train(actor="command:test", config=SVDConfig(n_factors=5, n_epochs=5, seed=3))
    call_command(
        "simulate", "--rounds", "1", "--arrivals", "0", "--shift", "Action=0.6", "--no-progress"
    )
    round_id = SimulationRun.objects.get().rounds.get().pk
    PeriodicTask.objects.update(enabled=False)
    every_two_seconds, _ = IntervalSchedule.objects.get_or_create(every=2, period="seconds")
    PeriodicTask.objects.create(
        name="test: monitor and retrain",
        task="recommender.monitor_and_retrain",
        interval=every_two_seconds,
        kwargs=json.dumps({}),
    )

    celery_processes("worker")
    celery_processes("beat")
    celery_processes("beat")
    sent = wait_for(
        lambda: (
            TaskResult.objects.filter(
                task_name="recommender.monitor_and_retrain", status="SUCCESS"
            ).count()
            >= 4
            and TaskResult.objects.filter(task_name="recommender.monitor_and_retrain")
        ),
        120,
        "the two beats to send several ticks",
    )

    assert DriftReport.objects.filter(round_id=round_id).count() == 1, "one cycle for the round"
    results = [json.loads(r.result) for r in sent.order_by("date_done") if r.status == "SUCCESS"]
    assert sum(1 for r in results if r.get("drift_report") and "already" not in r["reason"]) == 1
    assert all("already monitored" in r["reason"] for r in results[1:]), results
    assert ModelVersion.objects.filter(status=Status.CHAMPION).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_that_loses_its_database_connection_is_retried_and_completes(
    celery_processes, bundled_subset, artifact_dir, tmp_path, capsys
):
    """A real transient error: PostgreSQL terminates the worker's connections mid-training.
    The task fails with OperationalError, is retried with backoff, and the retry trains."""
    champion = model_version_train(actor="command:test", config=SVDConfig(n_factors=5, seed=3))
    gate = tmp_path / "gate"
    gate.touch()
    celery_processes("worker", RECOMMENDER_TEST_GATE_FILE=str(gate))

    call_command("train", "--async", "--family", "svd", "--factors", "5", "--epochs", "5")
    task_id = queued_task_id(capsys.readouterr().out)
    wait_for(lambda: (tmp_path / "gate.reached").exists(), 120, "training to reach the gate")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (terminated,) = cursor.fetchone()
    assert terminated >= 1, "the worker's connections were cut"
    gate.unlink()

    trained = wait_for_challenger(task_id, 120, "the retried task")
    from django_celery_results.models import TaskResult

    result = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first(),
        30,
        "the task to succeed",
    )
    assert json.loads(result.result) == {
        "model_version": trained.pk,
        "family": "svd",
        "status": "challenger",
    }
    interrupted = ModelVersion.objects.filter(created_by=f"task:{task_id}").exclude(pk=trained.pk)
    assert [v.status for v in interrupted] == [Status.FAILED], "the first attempt is failed"
    assert ModelVersion.objects.get(status=Status.CHAMPION).pk == champion.pk
