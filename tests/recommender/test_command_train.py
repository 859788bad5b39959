"""`manage.py train` prints what it measured, and says so where the data was too small."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from recommender.engine.families import FAMILIES
from recommender.models import ModelVersion
from tests.recommender.fixtures import write_movielens


def test_training_on_a_tiny_data_set_prints_insufficient_data_instead_of_crashing(
    db, tmp_path, artifact_dir
):
    call_command("import_movielens", str(write_movielens(tmp_path / "tiny")), verbosity=0)
    out = StringIO()

    call_command(
        "train", "--no-progress", "--family", "svd", "--factors", "2", "--epochs", "2", stdout=out
    )

    printed = out.getvalue()
    assert "holdout RMSE insufficient data, R² insufficient data" in printed
    [version] = ModelVersion.objects.all()
    assert version.status == ModelVersion.Status.CHAMPION
    assert version.metrics["overall"]["r2"] is None
    assert f"model v{version.pk} (champion)" in printed


def test_training_uses_the_model_family_setting_and_prints_family_and_hyperparameters(
    bundled_subset, artifact_dir, settings
):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "MODEL_FAMILY": "bpr"}
    out = StringIO()

    call_command("train", "--no-progress", "--param", "iterations=5", "--seed", "2", stdout=out)

    [version] = ModelVersion.objects.all()
    assert version.algorithm == "bpr"
    assert version.hyperparameters["iterations"] == 5 and version.hyperparameters["seed"] == 2
    default = FAMILIES["bpr"].config().factors
    assert version.hyperparameters["factors"] == default  # the family's default
    printed = out.getvalue()
    assert f"model v{version.pk} (champion): family bpr; hyperparameters " in printed
    assert f"factors={default}" in printed
    assert "iterations=5" in printed and "NDCG@10 0." in printed


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--family", "lda"], "unknown model family 'lda'; known: svd, als, bpr, genre-als"),
        (
            ["--family", "als", "--param", "factor=8"],
            "als has no hyperparameter 'factor' (its hyperparameters: factors, regularization",
        ),
        (["--family", "als", "--param", "factors=many"], "'many' is not a whole number"),
        (["--family", "als", "--param", "factors=0"], "als: factors must be"),
        (["--family", "als", "--factors", "8"], "--factors sets svd's n_factors; for als use"),
        (["--search", "--family", "svd"], "--search picks the family and hyperparameters"),
        (["--search", "--families", "svd,knn"], "unknown model family 'knn'"),
    ],
)
def test_a_bad_family_or_hyperparameter_is_named_before_any_work(db, arguments, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("train", "--no-progress", *arguments)

    assert not ModelVersion.objects.exists()


def test_a_search_trains_the_family_it_chose_and_says_so(bundled_subset, artifact_dir, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "SEARCH_ITERATIONS": 1}
    out = StringIO()

    call_command(
        "train", "--no-progress", "--search", "--families", "svd,als", "--seed", "1", stdout=out
    )

    [version] = ModelVersion.objects.all()
    assert version.algorithm in {"svd", "als"}
    assert version.training_window["search"] is True
    assert version.training_window["search_objective"] == "ranking"
    assert f"family {version.algorithm} (chosen by a model search, objective ranking)" in (
        out.getvalue()
    )
