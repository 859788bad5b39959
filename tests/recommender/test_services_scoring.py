from datetime import UTC, datetime

import numpy as np
import pytest

from recommender.engine.artifact import ArtifactIntegrityError
from recommender.engine.scoring import PopularityPenalty
from recommender.models import Film, Rating, ScoredList, ScoringRun, Viewer
from recommender.selectors.ratings import ratings_frame
from recommender.selectors.scoring import scored_list_arrays, served_scoring_run
from recommender.services.scoring import NoChampionError, scoring_run_create
from tests.champions import damage_artifact

pytestmark = pytest.mark.django_db


def stored_list(run: ScoringRun, viewer: Viewer) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    scored = ScoredList.objects.get(run=run, viewer=viewer)
    return (*scored_list_arrays(scored), scored.from_model)


def test_every_viewer_gets_a_list_of_unseen_films(champion):
    run = scoring_run_create(actor="command:test")

    assert run.status == ScoringRun.Status.COMPLETED and run.viewers == 120
    assert ScoredList.objects.filter(run=run).count() == 120
    viewer = Viewer.objects.get(source_id=15)
    films, scores, predicted, from_model = stored_list(run, viewer)
    seen = set(Rating.objects.filter(viewer=viewer).values_list("film__source_id", flat=True))
    assert from_model and len(films) == 120 and len(set(films)) == 120
    assert not seen & set(films.tolist())
    assert np.all(np.diff(scores) <= 0), "ranked by score, best first"
    assert np.all((predicted >= 0.5) & (predicted <= 5.0))
    assert served_scoring_run() == run


def test_a_viewer_with_few_unseen_films_gets_a_short_list_stored_beside_full_ones(champion):
    viewer = Viewer.objects.get(source_id=15)
    seen = set(Rating.objects.filter(viewer=viewer).values_list("film_id", flat=True))
    # Three films the champion knows (others rated them) stay unseen; the viewer rates the rest.
    rated_by_others = Film.objects.filter(ratings__isnull=False).exclude(pk__in=seen).distinct()
    unseen = list(rated_by_others.order_by("source_id")[:3])
    at = datetime(2020, 1, 1, tzinfo=UTC)
    Rating.objects.bulk_create(
        Rating(viewer=viewer, film=film, score=3.0, rated_at=at)
        for film in Film.objects.exclude(pk__in=seen).exclude(pk__in=[f.pk for f in unseen])
    )

    run = scoring_run_create(actor="command:test")

    short, scores, predicted, _ = stored_list(run, viewer)
    assert sorted(short.tolist()) == sorted(f.source_id for f in unseen)
    assert len(scores) == len(predicted) == 3 and np.all(np.diff(scores) <= 0)
    other, *_ = stored_list(run, Viewer.objects.get(source_id=16))
    assert len(other) == 120


def test_the_run_records_its_parameters_and_metrics_per_group(champion):
    run = scoring_run_create(
        actor="command:test", penalty=PopularityPenalty(transform="minmax", alpha=0.5)
    )

    assert run.parameters["penalty"] == {"transform": "minmax", "alpha": 0.5}
    assert run.parameters["list_length"] == 100 and run.parameters["buffer"] == 20
    assert run.metrics["all"]["viewers"] == 120 and run.metrics["existing"]["viewers"] == 120
    assert run.metrics["new"]["viewers"] == 0
    assert (
        0 < run.metrics["all"]["coverage"] <= 1 and 0 < run.metrics["all"]["personalization"] <= 1
    )
    assert sum(run.metrics["all"]["genre_counts"].values()) >= 100, (
        "every film has at least one genre"
    )


def test_the_penalty_spreads_recommendations_over_more_films(champion):
    plain = scoring_run_create(
        actor="command:test", penalty=PopularityPenalty(transform="none", alpha=0.0)
    )
    penalised = scoring_run_create(
        actor="command:test", penalty=PopularityPenalty(transform="log", alpha=0.875)
    )

    assert penalised.metrics["all"]["coverage"] != plain.metrics["all"]["coverage"]
    assert served_scoring_run() == penalised


def test_a_cold_start_viewer_gets_popular_films_minus_what_they_have_seen(champion):
    newcomer = Viewer.objects.create(source_id=99_999)
    ratings = ratings_frame()
    stats = ratings.groupby("film_id")["rating"].agg(["size", "mean"])
    most_popular = (stats["size"] * stats["mean"]).sort_values(ascending=False, kind="stable")
    Rating.objects.create(
        viewer=newcomer,
        film=Film.objects.get(source_id=int(most_popular.index[0])),
        score=4.0,
        rated_at=datetime(2020, 1, 1, tzinfo=UTC),
    )

    run = scoring_run_create(actor="command:test")

    films, _, predicted, from_model = stored_list(run, newcomer)
    assert not from_model and run.metrics["new"]["viewers"] == 1
    assert int(most_popular.index[0]) not in films
    assert films[:5].tolist() == most_popular.index[1:6].tolist()


def test_without_a_champion_scoring_is_refused(db):
    with pytest.raises(NoChampionError, match="no champion model yet: train one first"):
        scoring_run_create(actor="command:test")
    assert not ScoringRun.objects.exists()


def test_a_tampered_artifact_is_refused_and_the_previous_lists_keep_serving(champion):
    served = scoring_run_create(actor="command:test")
    path = champion.artifact_path
    damage_artifact(path)

    with pytest.raises(ArtifactIntegrityError, match=champion.artifact_sha256):
        scoring_run_create(actor="command:test")

    assert served_scoring_run() == served
    assert ScoringRun.objects.count() == 1


def test_a_failed_or_unfinished_run_is_never_served(champion):
    served = scoring_run_create(actor="command:test")
    ScoringRun.objects.create(
        model_version=champion, created_by="test", status=ScoringRun.Status.RUNNING
    )
    ScoringRun.objects.create(
        model_version=champion, created_by="test", status=ScoringRun.Status.FAILED
    )

    assert served_scoring_run() == served
