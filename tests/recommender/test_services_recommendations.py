from datetime import UTC, datetime

import numpy as np
import pytest
from django.utils import timezone

from recommender.engine.model import SVDConfig
from recommender.engine.scoring import PopularityPenalty
from recommender.models import Film, Rating, RunFilmStats, ScoredList, ScoringRun, Viewer
from recommender.selectors.ratings import film_stats, ratings_frame
from recommender.selectors.scoring import run_film_stats, scored_list_arrays
from recommender.services import recommendations
from recommender.services.lifecycle import model_version_promote
from recommender.services.recommendations import (
    UnknownViewerError,
    champion_cache,
    viewer_recommendations,
)
from recommender.services.registry import model_version_train
from recommender.services.scoring import NoChampionError, scoring_run_create

pytestmark = pytest.mark.django_db


def stored(run: ScoringRun, source_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return scored_list_arrays(ScoredList.objects.get(run=run, viewer__source_id=source_id))


def listed(result) -> tuple[list[int], np.ndarray, np.ndarray]:
    return (
        [f.film_id for f in result.films],
        np.array([f.score for f in result.films]),
        np.array([f.predicted_rating for f in result.films]),
    )


def rate(source_id: int, film_ids, *, score: float = 4.0, at: datetime | None = None) -> None:
    viewer, _ = Viewer.objects.get_or_create(source_id=source_id)
    Rating.objects.bulk_create(
        Rating(
            viewer=viewer,
            film=Film.objects.get(source_id=int(film)),
            score=score,
            rated_at=at or timezone.now(),
        )
        for film in film_ids
    )


def test_a_viewer_in_the_served_run_gets_the_stored_list(served_run):
    films, scores, predicted = stored(served_run, 15)

    result = viewer_recommendations(viewer_id=15, n=20)

    assert result.computed == "scoring_run" and result.source == "model"
    assert result.scoring_run_id == served_run.pk
    assert result.model_version_id == served_run.model_version_id
    ids, got_scores, got_predicted = listed(result)
    assert ids == films[:20].tolist()
    assert np.array_equal(got_scores, scores[:20]) and np.array_equal(got_predicted, predicted[:20])
    assert [f.rank for f in result.films] == list(range(1, 21))
    first = Film.objects.get(source_id=ids[0])
    assert (result.films[0].title, result.films[0].year) == (first.title, first.year)
    assert result.films[0].genres == sorted(first.genres.values_list("name", flat=True))


def test_films_rated_since_the_run_are_left_out_and_the_list_is_what_a_fresh_run_gives(
    served_run,
):
    films, _, _ = stored(served_run, 15)
    rate(15, films[:3])

    result = viewer_recommendations(viewer_id=15, n=50)

    assert result.computed == "on_the_fly" and result.scoring_run_id is None
    ids, scores, predicted = listed(result)
    assert not set(films[:3].tolist()) & set(ids)
    fresh_films, fresh_scores, fresh_predicted = stored(scoring_run_create(actor="test"), 15)
    assert ids == fresh_films[:50].tolist()
    assert np.allclose(predicted, fresh_predicted[:50], atol=1e-5, rtol=0)
    assert np.allclose(scores, fresh_scores[:50], atol=1e-5, rtol=0)
    assert viewer_recommendations(viewer_id=15, n=50).computed == "scoring_run", (
        "the fresh run includes the new ratings, so it serves again"
    )


def test_a_run_that_records_the_newest_rating_it_read_catches_any_later_rating(served_run):
    # Sharded runs record it; an import of old ratings after the run has old timestamps.
    newest = Rating.objects.order_by("-pk").values_list("pk", flat=True).first()
    served_run.parameters = {**served_run.parameters, "snapshot": {"rating_pk_max": newest}}
    served_run.save(update_fields=["parameters"])
    assert viewer_recommendations(viewer_id=15).computed == "scoring_run"
    films, _, _ = stored(served_run, 15)
    rate(15, films[:1], at=datetime(1999, 1, 1, tzinfo=UTC))

    result = viewer_recommendations(viewer_id=15)

    assert result.computed == "on_the_fly" and films[0] not in [f.film_id for f in result.films]


def test_a_run_from_before_snapshots_judges_new_ratings_by_its_start(served_run):
    """Runs that recorded no snapshot (stored before snapshots were): a rating made since the
    run started makes the list computed again; a historical one (older rated_at) is not seen."""
    served_run.parameters = {k: v for k, v in served_run.parameters.items() if k != "snapshot"}
    served_run.save(update_fields=["parameters"])
    films, _, _ = stored(served_run, 15)
    rate(15, films[1:2], at=datetime(1999, 1, 1, tzinfo=UTC))
    assert viewer_recommendations(viewer_id=15).computed == "scoring_run"

    rate(15, films[:1])

    result = viewer_recommendations(viewer_id=15)
    assert result.computed == "on_the_fly" and films[0] not in [f.film_id for f in result.films]


def test_lists_computed_on_the_fly_rank_with_the_served_runs_penalty(champion):
    served = scoring_run_create(
        actor="test", penalty=PopularityPenalty(transform="minmax", alpha=0.5)
    )
    rate(15, stored(served, 15)[0][:1])

    ids, scores, _ = listed(viewer_recommendations(viewer_id=15, n=30))

    fresh = scoring_run_create(
        actor="test", penalty=PopularityPenalty(transform="minmax", alpha=0.5)
    )
    fresh_films, fresh_scores, _ = stored(fresh, 15)
    assert ids == fresh_films[:30].tolist()
    assert np.allclose(scores, fresh_scores[:30], atol=1e-5, rtol=0)


def test_after_a_simulation_round_every_list_leaves_out_the_films_just_rated(served_run):
    from simulation.services import (
        SimulationParameters,
        simulation_run_create,
        simulation_run_execute,
    )

    run = simulation_run_create(
        parameters=SimulationParameters(rounds=1, seed=5, arrivals=0.0), actor="test"
    )
    simulation_run_execute(run=run)
    just_rated = set(
        Rating.objects.filter(viewer__source_id=15, round__run=run).values_list(
            "film__source_id", flat=True
        )
    )

    result = viewer_recommendations(viewer_id=15, n=100)

    assert just_rated and result.computed == "on_the_fly"
    ids, _, predicted = listed(result)
    assert not just_rated & set(ids)
    fresh_films, _, fresh_predicted = stored(scoring_run_create(actor="test"), 15)
    assert ids == fresh_films[:100].tolist()
    assert np.allclose(predicted, fresh_predicted[:100], atol=1e-5, rtol=0)


def test_a_cold_start_viewer_not_in_the_run_gets_the_popularity_fallback(served_run):
    rate(90_001, [1, 2], at=datetime(2000, 1, 1, tzinfo=UTC))

    result = viewer_recommendations(viewer_id=90_001, n=10)

    assert result.source == "fallback" and result.computed == "on_the_fly"
    ids, scores, predicted = listed(result)
    assert not {1, 2} & set(ids)
    fresh_films, fresh_scores, fresh_predicted = stored(scoring_run_create(actor="test"), 90_001)
    assert ids == fresh_films[:10].tolist()
    assert np.array_equal(scores, fresh_scores[:10])
    assert np.allclose(predicted, fresh_predicted[:10], atol=1e-6, rtol=0)


def test_a_viewer_the_model_never_saw_is_folded_in_past_the_threshold(served_run):
    popular = ratings_frame().groupby("film_id").size().sort_values(ascending=False).index
    rate(90_002, popular[:8], score=5.0)

    result = viewer_recommendations(viewer_id=90_002, n=25)

    assert result.source == "model" and result.computed == "on_the_fly"
    ids, _, predicted = listed(result)
    fresh_films, _, fresh_predicted = stored(scoring_run_create(actor="test"), 90_002)
    assert ids == fresh_films[:25].tolist()
    assert np.allclose(predicted, fresh_predicted[:25], atol=1e-5, rtol=0)


def test_more_films_than_the_run_kept_are_computed_and_begin_with_the_stored_list(served_run):
    # Every viewer, so the on-the-fly ranking is checked against the scoring run's everywhere.
    for viewer_id in Viewer.objects.values_list("source_id", flat=True):
        films, scores, predicted = stored(served_run, viewer_id)
        assert len(films) == 120

        result = viewer_recommendations(viewer_id=viewer_id, n=121)

        assert result.computed == "on_the_fly" and len(result.films) == 121
        ids, got_scores, got_predicted = listed(result)
        assert ids[:120] == films.tolist(), f"viewer {viewer_id}"
        assert np.allclose(got_predicted[:120], predicted, atol=1e-5, rtol=0)
        assert np.allclose(got_scores[:120], scores, atol=1e-5, rtol=0)


def test_without_a_served_run_lists_are_computed_with_the_champion(champion):
    result = viewer_recommendations(viewer_id=15, n=10)

    assert result.computed == "on_the_fly" and result.model_version_id == champion.pk
    fresh_films, _, _ = stored(scoring_run_create(actor="test"), 15)
    assert [f.film_id for f in result.films] == fresh_films[:10].tolist()


def test_an_unknown_viewer_is_an_error_naming_the_id(served_run):
    with pytest.raises(UnknownViewerError, match=r"^viewer 99999 not found$"):
        viewer_recommendations(viewer_id=99_999)
    with pytest.raises(UnknownViewerError, match="not found"):
        viewer_recommendations(viewer_id=2**70)


def test_n_must_be_a_positive_integer(served_run):
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            viewer_recommendations(viewer_id=15, n=n)


def test_without_a_champion_it_is_a_clear_error(bundled_subset):
    with pytest.raises(NoChampionError, match="no champion model yet"):
        viewer_recommendations(viewer_id=15)


def test_the_champion_is_loaded_once_and_again_after_a_promotion(champion, monkeypatch):
    loads = []
    real_load = recommendations.load_model
    monkeypatch.setattr(
        recommendations,
        "load_model",
        lambda path, sha256: loads.append(sha256) or real_load(path, sha256=sha256),
    )

    first = viewer_recommendations(viewer_id=15)
    viewer_recommendations(viewer_id=16)
    held = champion_cache.held_champion.model
    assert loads == [champion.artifact_sha256] and first.model_version_id == champion.pk

    challenger = model_version_train(
        actor="test", config=SVDConfig(n_factors=10, n_epochs=5, seed=4)
    )
    model_version_promote(version_id=challenger.pk, actor="test", reason="test")
    after = viewer_recommendations(viewer_id=15)
    promoted = champion_cache.held_champion.model

    assert loads == [champion.artifact_sha256, challenger.artifact_sha256]
    assert after.model_version_id == challenger.pk and promoted is not held
    assert promoted.n_factors == 10


def test_film_figures_start_from_the_runs_stored_ones_and_add_new_ratings_alone(
    served_run, monkeypatch
):
    """A process starts from the served run's stored figures plus the ratings since its
    snapshot; later ratings are aggregated alone and added. The held figures always equal a
    full aggregate. Without stored figures (a simulation reset drops them) everything is
    aggregated."""
    reads = []
    real_film_stats = recommendations.film_stats
    monkeypatch.setattr(
        recommendations,
        "film_stats",
        lambda **kwargs: (
            reads.append("since" if kwargs.get("rating_pk_after") is not None else "all")
            or real_film_stats(**kwargs)
        ),
    )

    def assert_held_equal_a_full_aggregate():
        held, full = champion_cache.film_stats().stats, real_film_stats()
        for name in ("film_ids", "counts", "sums", "means"):
            np.testing.assert_array_equal(getattr(held, name), getattr(full, name))

    rate(90_003, [1])  # not in the served run: computed on the fly, with the figures
    viewer_recommendations(viewer_id=90_003)
    viewer_recommendations(viewer_id=90_003, n=11)
    assert reads == ["since"]
    assert_held_equal_a_full_aggregate()
    rate(90_003, [2], score=2.5)
    rate(90_004, [164_979], score=0.5)  # a film none of the bundled subset's viewers rated
    assert 2 not in [f.film_id for f in viewer_recommendations(viewer_id=90_003).films]
    assert reads == ["since", "since"]
    assert_held_equal_a_full_aggregate()
    assert champion_cache.film_stats().stats.counts[
        champion_cache.film_stats().stats.film_ids == 164_979
    ].tolist() == [1]

    Rating.objects.filter(viewer__source_id=90_004).delete()  # newer than the snapshot
    viewer_recommendations(viewer_id=90_003, n=12)
    assert reads[-1] == "since"
    assert_held_equal_a_full_aggregate()

    champion_cache.clear()
    RunFilmStats.objects.all().delete()
    viewer_recommendations(viewer_id=90_003, n=13)
    assert reads[-1] == "all"
    assert champion_cache.held_champion.version_id == served_run.model_version_id
    assert_held_equal_a_full_aggregate()


def test_a_scoring_run_stores_the_film_figures_of_its_snapshot(served_run):
    stored = run_film_stats(served_run.pk)
    full = film_stats(rating_pk_max=served_run.parameters["snapshot"]["rating_pk_max"])
    for name in ("film_ids", "counts", "sums", "means"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(full, name))
    assert stored.counts.sum() == Rating.objects.count()


def test_a_champion_not_scored_yet_starts_from_an_earlier_runs_figures(served_run, monkeypatch):
    """The figures depend on the ratings, not the model: after a promotion, before the new
    champion has a run, a fresh process still starts from the earlier run's figures."""
    challenger = model_version_train(
        actor="test", config=SVDConfig(n_factors=10, n_epochs=5, seed=4)
    )
    model_version_promote(version_id=challenger.pk, actor="test", reason="test")
    rate(90_008, [1])
    champion_cache.clear()
    reads = []
    real_film_stats = recommendations.film_stats
    monkeypatch.setattr(
        recommendations,
        "film_stats",
        lambda **kwargs: reads.append(kwargs) or real_film_stats(**kwargs),
    )

    result = viewer_recommendations(viewer_id=90_008)

    snapshot = served_run.parameters["snapshot"]["rating_pk_max"]
    assert result.model_version_id == challenger.pk and result.computed == "on_the_fly"
    assert [r.get("rating_pk_after") for r in reads] == [snapshot]


@pytest.fixture
def description_reads(monkeypatch) -> list[list[int]]:
    """The film ids of every description query."""
    reads = []
    real = recommendations.film_descriptions

    def recorded(*, film_ids):
        reads.append(list(film_ids))
        return real(film_ids=film_ids)

    monkeypatch.setattr(recommendations, "film_descriptions", recorded)
    return reads


def listed_ids(viewer_id: int, n: int = 20) -> list[int]:
    return [f.film_id for f in viewer_recommendations(viewer_id=viewer_id, n=n).films]


def test_descriptions_are_held_so_films_listed_before_are_not_read_again(
    served_run, description_reads
):
    first = listed_ids(15, n=20)
    shorter = listed_ids(15, n=10)  # another n: not the held list, the same films
    other = listed_ids(16, n=20)

    assert shorter == first[:10]
    assert description_reads == [first, [film for film in other if film not in first]]


def test_a_film_edited_through_the_orm_is_described_afresh(served_run, description_reads):
    top = listed_ids(15)[0]
    film = Film.objects.get(source_id=top)
    film.title = "Renamed"
    film.save()  # as the admin saves it: the signal drops what the process holds

    assert viewer_recommendations(viewer_id=15, n=20).films[0].title == "Renamed"
    assert description_reads[-1][0] == top


def test_a_held_description_is_read_again_once_its_time_is_up(
    served_run, description_reads, monkeypatch
):
    top = listed_ids(15, n=20)[0]
    Film.objects.filter(source_id=top).update(title="Renamed")  # no signal: another process

    assert viewer_recommendations(viewer_id=15, n=19).films[0].title != "Renamed"
    monkeypatch.setattr(recommendations, "DESCRIPTION_HOLD_SECONDS", 0.0)
    assert viewer_recommendations(viewer_id=15, n=18).films[0].title == "Renamed"
    assert len(description_reads) == 2
