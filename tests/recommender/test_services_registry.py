"""The model registry (recommender.services.registry): training a version, the first one
becoming champion, every status change recorded, a failed training leaving the champion."""

import pytest

from recommender.engine.artifact import load_model
from recommender.engine.model import SVDConfig
from recommender.models import ModelVersion, ModelVersionEvent
from recommender.services.registry import TrainingError, model_version_train

pytestmark = pytest.mark.django_db

FAST = SVDConfig(n_factors=20, n_epochs=10, seed=3)


def test_the_first_trained_model_becomes_champion(bundled_subset, artifact_dir):
    version = model_version_train(actor="command:test", config=FAST)

    assert version.status == ModelVersion.Status.CHAMPION
    assert version.decided_by == "command:test" and "first trained model" in version.decision_reason
    assert version.training_rows + version.holdout_rows == bundled_subset.ratings
    assert version.holdout_rows == round(0.2 * bundled_subset.ratings)
    assert 0.75 < version.metrics["overall"]["rmse"] < 1.05
    assert version.metrics["overall"]["n"] == version.holdout_rows
    assert version.hyperparameters["n_factors"] == 20 and version.hyperparameters["seed"] == 3
    # The artifact is content-addressed and loads only with its recorded hash.
    assert version.artifact_path.endswith(f"{version.artifact_sha256}.npz")
    model = load_model(
        artifact_dir / f"{version.artifact_sha256}.npz", sha256=version.artifact_sha256
    )
    assert model.n_factors == 20


def test_per_genre_scores_are_numbers_only_for_judged_segments(bundled_subset, artifact_dir):
    version = model_version_train(actor="command:test", config=FAST)

    per_genre = version.metrics["per_genre"]
    assert per_genre["Drama"]["judged"] and per_genre["Drama"]["n"] >= 100
    assert isinstance(per_genre["Drama"]["r2"], float)
    small = [g for g, s in per_genre.items() if s["n"] < 100]
    assert small, "the subset has genres with fewer than 100 holdout ratings"
    assert all(per_genre[g]["judged"] is False and per_genre[g]["r2"] is None for g in small)


def test_later_models_become_challengers_and_every_change_is_recorded(bundled_subset, artifact_dir):
    first = model_version_train(actor="command:test", config=FAST)
    second = model_version_train(actor="beat", config=SVDConfig(n_factors=10, n_epochs=5, seed=4))

    assert second.status == ModelVersion.Status.CHALLENGER
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == first
    assert list(second.events.values_list("from_status", "to_status", "actor")) == [
        ("", "training", "beat"),
        ("training", "challenger", "beat"),
    ]


def test_training_with_no_ratings_is_refused_and_writes_nothing(db, artifact_dir):
    with pytest.raises(TrainingError, match="no ratings to train on: import a dataset first"):
        model_version_train(actor="command:test", config=FAST)

    assert not ModelVersion.objects.exists() and not ModelVersionEvent.objects.exists()


def test_a_failed_training_is_marked_failed_and_the_champion_keeps_serving(
    bundled_subset, artifact_dir, settings
):
    champion = model_version_train(actor="command:test", config=FAST)
    not_a_folder = artifact_dir / "a-file"
    not_a_folder.write_text("occupied")
    settings.RECOMMENDER = {**settings.RECOMMENDER, "ARTIFACT_DIR": not_a_folder}

    with pytest.raises(TrainingError, match=r"training of v\d+ failed"):
        model_version_train(actor="command:test", config=FAST)

    failed = ModelVersion.objects.exclude(pk=champion.pk).get()
    assert (
        failed.status == ModelVersion.Status.FAILED and "training failed" in failed.decision_reason
    )
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == champion
