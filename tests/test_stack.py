"""`make stack` on this machine: gunicorn, a Celery worker and beat against the real
PostgreSQL and Redis. Log in over HTTP, launch a cycle from the web form, watch the worker
finish it, and `make stack-stop` stops exactly what was started."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import requests
from django.db import connection

from benchmarks.processes import run_python

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "stack-reviewer-password-0123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stack_database(postgresql):
    """A database of its own (the stack's processes cannot see the test's transaction)."""
    settings = connection.settings_dict
    name = f"{settings['NAME']}_stack"
    server = (
        f"host={settings['HOST']} port={settings['PORT']} user={settings['USER']} dbname=postgres"
    )
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{name}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def web_connections(database_url: str, *, terminate: bool = False) -> int:
    """How many idle connections to the database last looked up an API token (only the web
    server does); with `terminate`, drop them."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        pids = [
            row[0]
            for row in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'idle' "
                "AND query ILIKE '%%authtoken_token%%'"
            )
        ]
        for pid in pids if terminate else ():
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    return len(pids)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_stack_serves_logs_in_runs_a_cycle_through_the_worker_and_stops(
    stack_database, redis_url, tmp_path
):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": stack_database,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "STACK_DIR": str(tmp_path / "stack"),
        "ARTIFACT_DIR": str(tmp_path / "models"),
        "WANDB_MODE": "disabled",
        "DEBUG": "1",
    }

    def manage(*args: str) -> str:
        return run_python("manage.py", *args, env=env, timeout=300)

    def make(target: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", target, f"PORT={port}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    manage("migrate", "--noinput", "-v0")
    manage("import_movielens", "data/ml-latest-small", "--max-viewers", "120", "--no-progress")
    manage(
        "train",
        "--family",
        "svd",
        "--factors",
        "20",
        "--epochs",
        "10",
        "--seed",
        "3",
        "--no-progress",
    )
    manage("create_reviewer", "stacky", "--password", PASSWORD)

    pids: dict[str, int] = {}
    started = make("stack")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        run_dir = tmp_path / "stack" / "run"
        pids = {
            name: int((run_dir / f"{name}.pid").read_text()) for name in ("web", "worker", "beat")
        }
        assert all(alive(pid) for pid in pids.values()), pids

        base = f"http://127.0.0.1:{port}"
        http = requests.Session()
        http.get(f"{base}/login/", timeout=10).raise_for_status()
        login = http.post(
            f"{base}/login/",
            data={
                "username": "stacky",
                "password": PASSWORD,
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            },
            headers={"Referer": f"{base}/login/"},
            timeout=10,
        )
        assert login.url == f"{base}/", "logged in and sent to the dashboard"

        # The web server keeps its database connections between requests, and dropping them
        # all (as a database restart does) fails no request: each is checked before reuse.
        # An unknown token's lookup is then the last query of each connection that answered.
        for _ in range(4):
            refused = requests.get(
                f"{base}/api/v1/champion/", headers={"Authorization": "Token none"}, timeout=10
            )
            assert refused.status_code == 401
        assert web_connections(stack_database, terminate=True) >= 1, "kept between requests"
        for _ in range(6):  # enough to reach both gunicorn workers, whichever answers
            assert http.get(f"{base}/", timeout=10).status_code == 200

        http.get(f"{base}/simulate/", timeout=10).raise_for_status()
        launched = http.post(
            f"{base}/simulate/",
            data={
                "rounds": "2",
                "truth": "model",
                "shift": "Action=0.8",
                "shift_start": "1",
                "arrivals": "0",
                "popularity_penalty": "on",
                "seed": "1",
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            },
            headers={"Referer": f"{base}/simulate/"},
            timeout=30,
        )
        match = re.fullmatch(rf"{base}/simulate/(\d+)/", launched.url)
        assert match, f"not redirected to the run's page: {launched.url}"

        deadline = time.monotonic() + 240
        page = ""
        while time.monotonic() < deadline:
            page = http.get(launched.url, timeout=10).text
            if "status-completed" in page or "status-failed" in page:
                break
            time.sleep(1)
        assert "status-completed" in page, page[-2000:]
        worker_log = (tmp_path / "stack" / "log" / "worker.log").read_text()
        assert "simulation.run" in worker_log and "succeeded" in worker_log
    finally:
        stopped = make("stack-stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for name, pid in pids.items():
        for _ in range(50):
            if not alive(pid):
                break
            time.sleep(0.2)
        assert not alive(pid), f"{name} (pid {pid}) still running after stack-stop"
    assert not list((tmp_path / "stack" / "run").glob("*.pid"))
