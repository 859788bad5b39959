"""The training task takes a family with its hyperparameters, or a model search, as JSON."""

from __future__ import annotations

import pytest

from recommender import tasks
from recommender.engine.families import FAMILIES
from recommender.models import ModelVersion
from recommender.services.registry import ModelSearch, TrainingError

pytestmark = pytest.mark.django_db


def test_the_task_trains_the_named_family_with_the_given_hyperparameters(
    bundled_subset, artifact_dir
):
    result = tasks.train.apply(kwargs={"family": "bpr", "config": {"iterations": 5}}).get()

    version = ModelVersion.objects.get(pk=result["model_version"])
    assert result["family"] == version.algorithm == "bpr"
    assert version.hyperparameters["iterations"] == 5
    assert version.hyperparameters["factors"] == FAMILIES["bpr"].config().factors


def test_the_task_runs_a_search_given_as_json(bundled_subset, artifact_dir, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "SEARCH_ITERATIONS": 1}
    search = ModelSearch(families=("als", "genre-als"), objective="rmse", seed=2).as_dict()

    result = tasks.train.apply(kwargs={"search": search}).get()

    version = ModelVersion.objects.get(pk=result["model_version"])
    assert version.algorithm in {"als", "genre-als"}
    assert version.training_window["search_objective"] == "rmse"
    assert version.training_window["seed"] == 2


def test_the_task_refuses_a_hyperparameter_the_family_does_not_have(db):
    with pytest.raises(TrainingError, match=r"als: unknown ALSConfig field\(s\) \['n_factors'\]"):
        tasks.train.apply(kwargs={"family": "als", "config": {"n_factors": 5}}).get()
    assert not ModelVersion.objects.exists()
