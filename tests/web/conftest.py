"""The world the web pages are shown with: bundled data, a champion, a scoring run, a
3-round monitored cycle and a challenger pending review."""

from __future__ import annotations

import pytest

from recommender.engine.model import SVDConfig
from recommender.models import ModelVersion
from recommender.services.lifecycle import model_version_send_to_review
from recommender.services.registry import model_version_train
from recommender.services.scoring import scoring_run_create
from simulation.services import (
    SimulationParameters,
    simulation_run_create,
    simulation_run_execute,
)

ROUNDS = 3


@pytest.fixture
def world(bundled_subset, artifact_dir):
    first = model_version_train(
        actor="command:test", config=SVDConfig(n_factors=20, n_epochs=10, seed=3)
    )
    scoring_run_create(actor="command:test")
    run = simulation_run_create(
        parameters=SimulationParameters(
            rounds=ROUNDS, seed=1, shift={"Action": 0.6}, shift_start=2, arrivals=0.05
        ),
        actor="command:test",
    )
    simulation_run_execute(run=run, monitor=True)
    retrained = ModelVersion.objects.exclude(comparison={}).order_by("pk").first()
    assert retrained is not None, "the shifted rounds must have triggered retraining"
    pending = model_version_train(
        actor="command:test", config=SVDConfig(n_factors=10, n_epochs=5, seed=4)
    )
    pending.comparison = retrained.comparison
    pending.save(update_fields=["comparison"])
    model_version_send_to_review(version_id=pending.pk, actor="command:test", reason="test")
    return {"first": first, "run": run, "retrained": retrained, "pending": pending}
