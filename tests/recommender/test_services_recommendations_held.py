"""Lists held per process: a repeated request costs one query (the serving state and the
viewer in it); the viewer's own new rating, a new scoring run or a promotion drops their held
list, another viewer's rating does not. Films described lately are not read again."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommender.models import Rating
from recommender.services import recommendations
from recommender.services.recommendations import (
    COMPUTED_FROM_RUN,
    COMPUTED_ON_THE_FLY,
    viewer_recommendations,
)
from recommender.services.scoring import scoring_run_create
from tests.recommender.test_services_recommendations import rate


def answered(viewer_id: int, n: int = 10):
    with CaptureQueriesContext(connection) as queries:
        result = viewer_recommendations(viewer_id=viewer_id, n=n)
    return result, len(queries)


def test_a_repeated_request_is_answered_from_memory_with_one_query(served_run):
    answered(16)  # the served run, read once per process
    first, first_queries = answered(15)
    again, again_queries = answered(15)
    assert first.computed == COMPUTED_FROM_RUN and first_queries == 2  # + the descriptions
    assert again == first and again_queries == 1
    other_n, other_queries = answered(15, n=5)  # another n is another list
    assert other_n.films == first.films[:5]
    assert other_queries == 1, "read from the run, its films described lately: the state alone"


def test_an_on_the_fly_list_costs_three_queries_then_one(served_run, monkeypatch):
    monkeypatch.setattr(recommendations, "DESCRIPTION_HOLD_SECONDS", 0.0)  # none held
    rate(90_006, [1])  # viewers new to the run: their lists are computed
    rate(90_007, [1])
    answered(90_007)  # the served run, the champion and the film figures, read once per process
    first, first_queries = answered(90_006)
    again, again_queries = answered(90_006)
    assert first.computed == COMPUTED_ON_THE_FLY
    assert first_queries == 3  # the viewer and state, their ratings, the descriptions
    assert again == first and again_queries == 1


def test_an_on_the_fly_list_of_films_described_lately_costs_two_queries(served_run):
    rate(90_006, [1])
    answered(90_006, n=20)  # describes its 20 films
    shorter, queries = answered(90_006, n=10)
    assert shorter.computed == COMPUTED_ON_THE_FLY
    assert queries == 2  # the viewer and state, their ratings: the films are described


def test_another_viewers_rating_leaves_the_list_held_the_viewers_own_drops_it(served_run):
    before, _ = answered(15)
    rate(90_005, [1])  # someone else's rating: 15's list is still theirs
    after_other, queries = answered(15)
    assert queries == 1 and after_other == before
    top = before.films[0].film_id
    rate(15, [top])  # the viewer's own: the film is no longer listed
    after_own, queries = answered(15)
    assert queries > 1 and after_own.computed == COMPUTED_ON_THE_FLY
    assert top not in [film.film_id for film in after_own.films]
    assert Rating.objects.filter(viewer__source_id=15, film__source_id=top).exists()


def test_a_new_run_drops_the_held_lists(served_run):
    before, _ = answered(15)
    assert before.scoring_run_id == served_run.pk
    newer = scoring_run_create(actor="test")
    after, queries = answered(15)
    assert queries > 1 and after.scoring_run_id == newer.pk
    assert after.films == before.films  # same model, same ratings: the same list
