"""`manage.py evaluate` on a small imported data set: it stores one Evaluation with a row per
baseline and family, prints the table with the promised headers, and tracks the run."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from recommender.engine.families import FAMILIES
from recommender.engine.offline import BASELINES, SERVED, markdown_table
from recommender.models import Evaluation

pytestmark = pytest.mark.django_db

HEADERS = ["RMSE", "P@5", "R@5", "NDCG@5", "MAP@5", "coverage", "novelty", "MAE", "train s"]


def test_it_stores_an_evaluation_and_prints_every_row_under_the_headers(bundled_subset, settings):
    out = StringIO()

    call_command("evaluate", "--no-progress", "--k", "5", "--protocol", "holdout", stdout=out)

    printed = out.getvalue()
    [evaluation] = Evaluation.objects.all()
    assert (evaluation.protocol, evaluation.k, evaluation.seed) == ("holdout", 5, 0)
    names = [row["name"] for row in evaluation.rows]
    assert names == [*BASELINES, *FAMILIES, SERVED]
    header_line = next(line for line in printed.splitlines() if "NDCG@5" in line)
    assert all(f" {header} " in header_line for header in HEADERS)
    assert markdown_table(evaluation.rows, 5) in printed
    # The stored data set matches the imported subset: 80 % of it trained on.
    assert evaluation.dataset["ratings"] == bundled_subset.ratings
    assert evaluation.dataset["train"] == round(0.8 * bundled_subset.ratings)
    svd = evaluation.rows[names.index("svd")]
    assert 0 < svd["rmse"] < 1.5 and svd["train_seconds"] > 0
    assert evaluation.parameters["served"]["alpha"] == settings.RECOMMENDER["POPULARITY_ALPHA"]
    assert set(evaluation.parameters["families"]) == set(FAMILIES)
    # Ranking families' rating columns are calibrated ratings, and the table says so.
    assert "* a calibrated rating" in printed
    # The random baseline covers far more of the catalogue than most popular's ten films.
    by_name = dict(zip(names, evaluation.rows, strict=True))
    assert by_name["random"]["coverage"] > 5 * by_name["most popular"]["coverage"]


def test_the_sweep_is_stored_for_every_transform_and_alpha(bundled_subset):
    call_command("evaluate", "--no-progress", "--sweep", "--families", "svd", stdout=StringIO())

    evaluation = Evaluation.objects.get()
    assert evaluation.protocol == "recommenders" and evaluation.seed == 42
    points = {(p["family"], p["transform"], p["alpha"]) for p in evaluation.sweep}
    assert ("svd", "log", 0.0) in points and ("svd", "minmax", 1.5) in points
    no_penalty = next(p for p in evaluation.sweep if p["alpha"] == 0.0)
    svd_row = next(row for row in evaluation.rows if row["name"] == "svd")
    assert no_penalty["ndcg_at_k"] == svd_row["ndcg_at_k"]


def test_search_picks_each_familys_configuration_among_the_asked_candidates(bundled_subset):
    from recommender.engine.families import family_named

    call_command(
        "evaluate",
        *("--no-progress", "--search", "--iterations", "3", "--families", "als"),
        *("--protocol", "holdout"),
        stdout=StringIO(),
    )

    evaluation = Evaluation.objects.get()
    assert evaluation.parameters["searched"] is True
    assert evaluation.parameters["search_iterations"] == 3
    chosen = evaluation.parameters["families"]["als"]
    space = family_named("als").search_space
    default = family_named("als").config(seed=0).as_dict()
    # The default configuration or one of the space's points, field by field.
    assert all(chosen[name] in (*space[name], default[name]) for name in space)


def test_a_search_of_no_candidates_is_refused(bundled_subset):
    with pytest.raises(CommandError, match="search iterations must be"):
        call_command(
            "evaluate", "--no-progress", "--search", "--iterations", "0", stdout=StringIO()
        )
    assert not Evaluation.objects.exists()


def test_an_unknown_family_is_refused_naming_the_known_ones(bundled_subset):
    with pytest.raises(CommandError, match="unknown model family 'knn'; known: svd, als"):
        call_command("evaluate", "--no-progress", "--families", "svd,knn", stdout=StringIO())
    assert not Evaluation.objects.exists()


def test_without_ratings_it_says_to_import_first(db):
    with pytest.raises(CommandError, match="import ratings first"):
        call_command("evaluate", "--no-progress", stdout=StringIO())


def test_the_run_is_tracked_in_wandb(bundled_subset, settings, tmp_path):
    settings.WANDB = {**settings.WANDB, "MODE": "offline", "DIR": tmp_path}

    call_command("evaluate", "--no-progress", "--families", "svd", stdout=StringIO())

    runs = list(tmp_path.glob("wandb/offline-run-*"))
    assert len(runs) == 1
