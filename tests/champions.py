"""The first champion most database tests start from: a small, fast SVD trained on the
bundled subset (the `bundled_subset` fixture), and the scoring run that serves it.

Django is imported inside the functions: tests/recommender/conftest.py imports these fixtures,
and the engine tests below it also run without Django (`-p no:django`)."""

from __future__ import annotations

import os

import pytest

from recommender.engine.model import SVDConfig

FAST_CONFIG = SVDConfig(n_factors=20, n_epochs=10, seed=3)


def train_champion():
    """Train and register the first model; with no champion yet it becomes the champion."""
    from recommender.services.registry import model_version_train

    return model_version_train(actor="command:test", config=FAST_CONFIG)


@pytest.fixture
def champion(bundled_subset, artifact_dir):
    return train_champion()


@pytest.fixture
def served_run(champion):
    from recommender.services.scoring import scoring_run_create

    return scoring_run_create(actor="command:test")


def damage_artifact(path: str) -> None:
    """Flip one byte of a model file in place (it is saved read-only): its sha256 no longer
    matches the one recorded, as after disk corruption or tampering."""
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture
def monitored_rounds(champion) -> list:
    """Two rounds with Action rated 20 % lower, each monitored (and retrained if needed)."""
    from simulation.services import (
        SimulationParameters,
        simulation_run_create,
        simulation_run_execute,
    )

    run = simulation_run_create(
        parameters=SimulationParameters(rounds=2, seed=1, shift={"Action": 0.8}), actor="test"
    )
    simulation_run_execute(run=run, monitor=True)
    return list(run.rounds.order_by("number"))
