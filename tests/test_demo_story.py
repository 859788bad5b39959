"""`make demo` tells its story: the commands of the Makefile's demo recipe, run as they are
written there on the bundled data, detect the Action shift, promote a challenger on their own
with fewer Action films in the lists after it, and leave a challenger of another family
awaiting a reviewer (README, docs/architecture.md "Decisions")."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from django.core.management import call_command

from recommender.models import ModelVersion
from simulation.metrics import RoundMetrics
from simulation.models import SimulationRun

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]
Status = ModelVersion.Status


def demo_commands() -> list[list[str]]:
    """The manage.py commands of the Makefile's `demo` recipe, in order, with $(DATA) filled
    in; the login and the server are left out."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = lines.index("demo: install")
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        if not line.strip().startswith("$(PY) manage.py "):
            continue
        words = shlex.split(line.strip().replace("$(DATA)", "data/ml-latest-small"))
        if words[2] not in (
            "runserver",
            "create_demo_login",
            "migrate",
        ):
            commands.append(words[2:])
    return commands


def test_the_demo_recipe_is_what_this_test_runs():
    names = [command[0] for command in demo_commands()]
    assert names == [
        "import_movielens",
        "reset_simulation",
        "train",
        "score",
        "cycle",
        "simulate",
        "monitor",
        "retrain",
    ]


def test_the_demo_detects_promotes_and_leaves_a_change_of_family_for_a_reviewer(
    artifact_dir, capsys
):
    quiet = {"train", "score", "cycle", "simulate", "monitor", "retrain"}
    for command in demo_commands():
        call_command(*command, *(["--no-progress"] if command[0] in quiet else []))

    cycle = SimulationRun.objects.get(rounds_planned=5)
    rounds = {r.number: RoundMetrics.from_json(r.metrics) for r in cycle.rounds.all()}
    # Two clean rounds, then the shift is detected and a challenger of the champion's family
    # is promoted on its own, at the first shifted round.
    assert [rounds[n].cycle.retrained for n in (1, 2)] == [False, False]
    assert "genre:Action" in rounds[3].cycle.degraded and rounds[3].cycle.decision == "promote"
    promoted = ModelVersion.objects.get(pk=rounds[3].cycle.challenger)
    assert promoted.algorithm == "als"
    # Under the new champion the lists hold fewer Action films than under the old one.
    action = {n: rounds[n].lists["all"].genre_counts["Action"] for n in rounds}
    assert max(action[4], action[5]) < min(action[1], action[2], action[3])
    # Then Comedy shifts too, and the SVD challenger waits for a reviewer.
    pending = ModelVersion.objects.get(status=Status.PENDING_REVIEW)
    assert pending.algorithm == "svd"
    assert "another family" in pending.comparison["reason"]
    assert ModelVersion.objects.get(status=Status.CHAMPION) == promoted
