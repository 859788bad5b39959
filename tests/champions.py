"""The first champion most database tests start from: a small, fast SVD trained on the
bundled subset (the `bundled_subset` fixture), and the scoring run that serves it."""

from __future__ import annotations

import pytest

from recommender.engine.model import SVDConfig
from recommender.models import ModelVersion, ScoringRun
from recommender.services.registry import model_version_train
from recommender.services.scoring import scoring_run_create

FAST_CONFIG = SVDConfig(n_factors=20, n_epochs=10, seed=3)


def train_champion() -> ModelVersion:
    """Train and register the first model; with no champion yet it becomes the champion."""
    return model_version_train(actor="command:test", config=FAST_CONFIG)


@pytest.fixture
def champion(bundled_subset, artifact_dir) -> ModelVersion:
    return train_champion()


@pytest.fixture
def served_run(champion) -> ScoringRun:
    return scoring_run_create(actor="command:test")
