"""What scoring reads: a run's lists are those the engine ranks from the ORM's reading of the
ratings (the reading before arrays; results at the bundled size unchanged), and a shard reads
only its own viewers' ratings plus the snapshot's per-film statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from django.conf import settings

from recommender.engine.scoring import PopularityPenalty
from recommender.engine.serving import FilmStats, rank_every_viewer
from recommender.models import Rating, ScoredList, Viewer
from recommender.selectors.ratings import film_stats, ratings_frame
from recommender.selectors.scoring import scored_list_arrays
from recommender.services.scoring import (
    _shard_ratings,
    _shards,
    champion_model,
    scoring_run_create,
    scoring_run_start,
)
from tests.recommender.test_scoring_sharded import add_viewers_the_model_does_not_know


def orm_ratings() -> pd.DataFrame:
    rows = Rating.objects.order_by("pk").values_list(
        "viewer__source_id", "film__source_id", "score"
    )
    frame = pd.DataFrame.from_records(list(rows), columns=["viewer_id", "film_id", "rating"])
    return frame.astype({"viewer_id": "int64", "film_id": "int64", "rating": "float64"})


def test_stored_lists_equal_the_engine_s_ranking_of_the_orm_reading(champion):
    add_viewers_the_model_does_not_know()
    run = scoring_run_create(actor="test")
    _, model = champion_model()
    config = settings.RECOMMENDER
    expected = rank_every_viewer(
        model,
        orm_ratings(),
        np.array(list(Viewer.objects.values_list("source_id", flat=True))),
        new_user_threshold=config["NEW_USER_THRESHOLD"],
        n=config["LIST_LENGTH"] + config["LIST_BUFFER"],
        penalty=PopularityPenalty(**run.parameters["penalty"]),
    )
    stored = {
        scored.viewer.source_id: scored
        for scored in ScoredList.objects.filter(run=run).select_related("viewer")
    }
    assert len(stored) == expected.n_viewers == 123
    for row, viewer_id in enumerate(expected.viewer_ids):
        films, scores, predicted = scored_list_arrays(stored[int(viewer_id)])
        listed = expected.film_ids[row] >= 0
        np.testing.assert_array_equal(films, expected.film_ids[row][listed])
        np.testing.assert_array_equal(scores, expected.scores[row][listed].astype(np.float32))
        np.testing.assert_array_equal(predicted, expected.predicted[row][listed].astype(np.float32))
        assert stored[int(viewer_id)].from_model == bool(expected.from_model[row])


def test_a_shard_reads_only_its_viewers_and_the_snapshot_s_film_figures(champion):
    add_viewers_the_model_does_not_know()
    run = scoring_run_start(actor="test", owner="test", shards=3)
    Rating.objects.create(  # after the snapshot: no shard sees it
        viewer=Viewer.objects.get(source_id=90_001),
        film=Rating.objects.first().film,
        score=1.0,
        rated_at=Rating.objects.first().rated_at,
    )
    everything = ratings_frame()
    snapshot = everything.iloc[:-1]
    read = []
    for viewers in _shards(run):
        ratings = _shard_ratings(run, viewers)
        mine = snapshot[snapshot["viewer_id"].isin(viewers["viewer_id"])]
        pd.testing.assert_frame_equal(ratings, mine.reset_index(drop=True), check_exact=True)
        read.append(len(ratings))
    assert sum(read) == len(snapshot) and max(read) < 0.5 * len(snapshot)

    stats, expected = (
        film_stats(rating_pk_max=run.parameters["snapshot"]["rating_pk_max"]),
        (FilmStats.from_ratings(snapshot)),
    )
    for name in ("film_ids", "counts", "sums", "means"):
        np.testing.assert_array_equal(getattr(stats, name), getattr(expected, name))
