"""The embedded default (SQLite) under the load one person's demo puts on it: two reviewers
deciding at the same moment, and logins while a simulation cycle writes.

pytest-django's SQLite test database lives in memory with a shared cache, whose locking is not
the file database's, so each case runs in a fresh interpreter on a real SQLite file, with the
product's own settings, and threads that each hold their own connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import json, sys, threading
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client

from tests.users import create_reviewer

call_command("migrate", verbosity=0)
call_command(
    "import_movielens", "data/ml-latest-small", "--max-viewers", "{viewers}", verbosity=0
)
call_command("train", "--no-progress", verbosity=0)


def reviewer(name):
    return create_reviewer(name, password="correct horse battery staple")
"""

TWO_DECISIONS = (
    SETUP.replace("{viewers}", "60")
    + """
from recommender.models import ModelVersion
from recommender.services.lifecycle import model_version_send_to_review

call_command("train", "--no-progress", verbosity=0)
call_command("train", "--no-progress", verbosity=0)
pending = [
    model_version_send_to_review(version_id=v.pk, actor="test", reason="test", degraded=[]).pk
    for v in ModelVersion.objects.filter(status="challenger").order_by("pk")
]
cases = {"approve+approve": [(pending[0], "approve"), (pending[0], "approve")],
         "approve+reject": [(pending[1], "approve"), (pending[1], "reject")]}
out = {}
for case, decisions in cases.items():
    clients = []
    for i, _ in enumerate(decisions):
        client = Client()
        client.force_login(reviewer(f"{case}-{i}"))
        clients.append(client)
    barrier = threading.Barrier(len(decisions))
    answers = [None] * len(decisions)

    def decide(i, version, decision):
        barrier.wait()
        try:
            response = clients[i].post(
                f"/models/{version}/review/", {"decision": decision}, follow=True
            )
            answers[i] = [response.status_code, response.content.decode()]
        except Exception as exc:
            answers[i] = [500, repr(exc)]
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(i, v, d)) for i, (v, d) in enumerate(decisions)]
    for t in threads: t.start()
    for t in threads: t.join()
    out[case] = {
        "statuses": [a[0] for a in answers],
        "nothing_changed": sum("Nothing changed" in a[1] for a in answers),
        "locked": sum("database is locked" in a[1] for a in answers),
        "champions": ModelVersion.objects.filter(status="champion").count(),
    }
print("RESULT " + json.dumps(out))
"""
)

# The whole bundled data, so a round's write transaction lasts as long as in the demo.
LOGINS_DURING_A_CYCLE = (
    SETUP.replace("{viewers}", "671")
    + """
reviewer("alice")
done = threading.Event()
failures = []

def cycle():
    try:
        call_command("cycle", "--rounds", "2", "--shift", "Action=0.9", "--no-progress", verbosity=0)
    except Exception as exc:
        failures.append(repr(exc))
    finally:
        done.set()
        connection.close()

statuses = []
def log_in_repeatedly():
    try:
        while not done.is_set() or len(statuses) < 5:
            client = Client()
            try:
                response = client.post(
                    "/login/", {"username": "alice", "password": "correct horse battery staple"}
                )
                statuses.append(response.status_code)
            except Exception as exc:
                statuses.append(repr(exc))
    finally:
        connection.close()

def score_repeatedly():
    # A second writer, as when someone scores while the cycle runs (this process holds the
    # model-work lease already, so the lease does not serialise the two).
    try:
        while not done.is_set():
            try:
                call_command("score", "--no-progress", verbosity=0)
            except Exception as exc:
                failures.append("score: " + repr(exc))
    finally:
        connection.close()

threads = [
    threading.Thread(target=cycle),
    threading.Thread(target=log_in_repeatedly),
    threading.Thread(target=score_repeatedly),
]
for t in threads: t.start()
for t in threads: t.join()
print("RESULT " + json.dumps({"statuses": statuses, "cycle_failures": failures}))
"""
)


def run_on_a_sqlite_file(script: str, tmp_path: Path) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="recsite.settings",
        ARTIFACT_DIR=str(tmp_path / "models"),
        WANDB_MODE="disabled",
        CELERY_TASK_ALWAYS_EAGER="1",
        PYTHONPATH=str(ROOT),
        ALLOWED_HOSTS="testserver",
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def test_two_reviewers_deciding_at_once_one_wins_and_the_other_is_told_nothing_changed(
    tmp_path,
):
    outcome = run_on_a_sqlite_file(TWO_DECISIONS, tmp_path)

    for case, figures in outcome.items():
        assert figures["statuses"] == [200, 200], (case, figures)
        assert figures["locked"] == 0, (case, figures)
        assert figures["nothing_changed"] == 1, (case, figures)
        assert figures["champions"] == 1, (case, figures)


def test_logins_while_a_cycle_and_a_scoring_run_write_never_fail(tmp_path):
    outcome = run_on_a_sqlite_file(LOGINS_DURING_A_CYCLE, tmp_path)

    assert outcome["cycle_failures"] == []
    assert len(outcome["statuses"]) >= 5
    # A successful login redirects to the dashboard.
    assert set(outcome["statuses"]) == {302}, outcome["statuses"]
