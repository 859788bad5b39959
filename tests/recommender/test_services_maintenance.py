"""Dead rows in the rating table (recommender.services.maintenance): a rollback or a reset
leaves them in the indexes, where every request's MAX(id) walks them, until vacuumed. Counted
and vacuumed through PostgreSQL's own statistics, so these run on PostgreSQL, outside a test
transaction (VACUUM cannot run inside one)."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from recommender.models import Film, Rating, Viewer
from recommender.services import maintenance
from recommender.services.leases import exclusive_model_work
from recommender.services.maintenance import dead_ratings_reclaim
from recommender.tasks import reclaim_dead_ratings
from simulation.services import (
    SimulationParameters,
    simulation_reset,
    simulation_run_create,
    simulation_run_execute,
)

pytestmark = pytest.mark.django_db(transaction=True)

FILMS = 300


class Failed(Exception):
    pass


@pytest.fixture(autouse=True)
def no_dead_ratings(postgresql):
    """Start from none: every test run in a transaction, here or elsewhere, leaves its ratings
    behind as dead rows when it rolls back."""
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {Rating._meta.db_table}")


@pytest.fixture
def films(no_dead_ratings):
    return Film.objects.bulk_create(
        Film(source_id=i, title=f"Film {i}") for i in range(1, FILMS + 1)
    )


def insert_and_roll_back(films: list[Film], count: int) -> None:
    """Store `count` ratings in a transaction that fails: they stay behind as dead rows."""
    viewer = Viewer.objects.create(source_id=10_000 + Viewer.objects.count())
    at = datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(Failed), transaction.atomic():
        Rating.objects.bulk_create(
            Rating(viewer=viewer, film=film, score=3.0, rated_at=at) for film in films[:count]
        )
        raise Failed()


def table_statistics() -> tuple[int, datetime | None]:
    """PostgreSQL's count of the rating table's dead rows, and when it was last vacuumed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(
            "SELECT n_dead_tup, last_vacuum FROM pg_stat_user_tables WHERE relname = %s",
            [Rating._meta.db_table],
        )
        return cursor.fetchone()


def test_dead_rows_past_the_threshold_are_vacuumed_and_fewer_are_left(films, monkeypatch):
    monkeypatch.setattr(maintenance, "DEAD_RATINGS_THRESHOLD", 100)
    _, vacuumed_before = table_statistics()
    insert_and_roll_back(films, 80)

    assert dead_ratings_reclaim(reason="test") == 0
    assert table_statistics() == (80, vacuumed_before)

    insert_and_roll_back(films, 120)
    assert dead_ratings_reclaim(reason="test") == 200

    dead, vacuumed = table_statistics()
    assert dead == 0 and vacuumed != vacuumed_before


@pytest.mark.parametrize("stop", [Failed, KeyboardInterrupt])
def test_failed_or_interrupted_model_work_reclaims_its_own_rollback(films, monkeypatch, stop):
    monkeypatch.setattr(maintenance, "DEAD_RATINGS_THRESHOLD", 100)
    _, vacuumed_before = table_statistics()

    with pytest.raises(stop), exclusive_model_work(owner="test", purpose="a round"):
        insert_and_roll_back(films, FILMS)
        raise stop()

    dead, vacuumed = table_statistics()
    assert dead == 0 and vacuumed != vacuumed_before


def test_model_work_starts_by_reclaiming_what_an_earlier_holder_left(films, monkeypatch):
    monkeypatch.setattr(maintenance, "DEAD_RATINGS_THRESHOLD", 100)
    _, vacuumed_before = table_statistics()
    insert_and_roll_back(films, FILMS)  # as a holder killed mid-round leaves them
    assert table_statistics() == (FILMS, vacuumed_before)

    with exclusive_model_work(owner="test", purpose="scoring"):
        dead, vacuumed = table_statistics()

    assert dead == 0 and vacuumed != vacuumed_before


def test_inside_a_transaction_nothing_is_vacuumed(films, monkeypatch):
    monkeypatch.setattr(maintenance, "DEAD_RATINGS_THRESHOLD", 100)
    _, vacuumed_before = table_statistics()
    insert_and_roll_back(films, FILMS)

    with transaction.atomic():
        assert dead_ratings_reclaim(reason="test") == 0

    assert table_statistics() == (FILMS, vacuumed_before)


def test_a_simulation_reset_reclaims_the_ratings_it_deleted(champion, monkeypatch):
    parameters = SimulationParameters(rounds=1, seed=1, arrivals=0.0)
    simulation_run_execute(run=simulation_run_create(parameters=parameters, actor="test"))
    simulated = Rating.objects.filter(origin=Rating.Origin.SIMULATED).count()
    assert simulated > 120
    monkeypatch.setattr(maintenance, "DEAD_RATINGS_THRESHOLD", simulated - 1)
    _, vacuumed_before = table_statistics()

    summary = simulation_reset()

    assert summary.ratings == simulated
    dead, vacuumed = table_statistics()
    assert dead == 0 and vacuumed != vacuumed_before


def test_the_periodic_check_vacuums_what_a_killed_process_left_and_then_finds_nothing(
    films, monkeypatch
):
    monkeypatch.setattr(maintenance, "DEAD_RATINGS_THRESHOLD", 100)
    insert_and_roll_back(films, 150)  # as a process killed mid-write leaves them

    assert reclaim_dead_ratings.apply().get() == {"dead_ratings_vacuumed": 150}
    assert table_statistics()[0] == 0
    assert reclaim_dead_ratings.apply().get() == {"dead_ratings_vacuumed": 0}
