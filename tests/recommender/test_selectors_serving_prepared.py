"""On PostgreSQL the API's own statements (selectors.serving) are prepared on the server once a
connection has run them `prepare_threshold` times (settings: 5), and answer as unprepared;
the ORM's queries, bound on the client, are never prepared."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommender.models import Viewer
from recommender.selectors import serving
from recommender.services.recommendations import viewer_recommendations


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def served_state(viewer_id: int) -> tuple:
    viewer = serving.served_viewer(viewer_id=viewer_id)
    films, scores, predicted = viewer.stored.arrays()
    return (
        viewer.state,
        viewer.viewer_pk,
        viewer.rating_count,
        viewer.newest_rating_id,
        films.tolist(),
        scores.tolist(),
        predicted.tolist(),
    )


def test_the_serving_statements_are_prepared_and_answer_as_before(postgresql, served_run):
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 5
    first = served_state(15)
    for _ in range(6):
        again = served_state(15)
        ratings = serving.viewer_ratings(viewer_pk=again[1])
    assert again == first
    assert len(ratings.film_ids) == len(ratings.scores) > 0
    prepared = prepared_statements()
    statements = serving._statements()
    assert any(text.startswith(statements["served_viewer"][:60]) for text in prepared)
    assert any(text.startswith(statements["ratings"][:60]) for text in prepared)
    # Prepared by name, but still run through Django's wrapper: counted as any query.
    with CaptureQueriesContext(connection) as queries:
        serving.served_viewer(viewer_id=15)
    assert len(queries) == 1 and queries[0]["sql"].startswith("SELECT st.champion")


def test_the_orms_own_queries_are_never_prepared(postgresql, served_run):
    for _ in range(8):
        assert Viewer.objects.filter(source_id=15).count() == 1
    # Whatever an earlier test left prepared on this connection, only serving's statements.
    own = [statement[:60] for statement in serving._statements().values()]
    assert all(text.startswith(tuple(own)) for text in prepared_statements())


def test_a_list_is_the_same_before_and_after_its_statements_are_prepared(
    postgresql, served_run, monkeypatch
):
    from recommender.services import recommendations

    monkeypatch.setattr(recommendations.champion_cache, "hold_list", lambda *args: None)
    answers = [viewer_recommendations(viewer_id=15, n=10) for _ in range(7)]
    assert all(answer == answers[0] for answer in answers)
    assert answers[0].films
