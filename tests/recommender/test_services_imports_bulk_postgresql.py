"""The PostgreSQL bulk path drops and rebuilds the rating table's indexes and foreign keys:
afterwards they must be exactly Django's again, validated, and still enforcing."""

import pandas as pd
import pytest
from django.db import IntegrityError, connection, transaction

from recommender.models import Film, Rating, Viewer
from recommender.services import imports
from tests.recommender.fixtures import write_movielens


def rating_schema() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
            "WHERE conrelid = 'recommender_rating'::regclass ORDER BY conname"
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'recommender_rating' ORDER BY 1"
        )
        return {"constraints": constraints, "indexes": cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_bulk_path_restores_every_constraint_and_index(postgresql, tmp_path, monkeypatch):
    before = rating_schema()
    monkeypatch.setattr(imports, "REBUILD_MIN_ROWS", 1)

    summary = imports.dataset_import_movielens(directory=write_movielens(tmp_path))

    assert summary.ratings_added == 7 and Rating.objects.count() == 7
    assert rating_schema() == before
    assert all(validated for _, _, validated in before["constraints"])
    # ... and they still enforce: a second rating for the same viewer and film is refused.
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(
            viewer=Viewer.objects.get(source_id=1),
            film=Film.objects.get(source_id=1),
            score=1.0,
            rated_at="2020-01-01T00:00:00Z",
        )


def secondary_index_oids() -> list[int]:
    """The rating table's secondary indexes' oids: a rebuilt index has a new one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = 'recommender_rating'::regclass "
            "AND NOT i.indisprimary AND NOT i.indisunique ORDER BY 1"
        )
        return [oid for (oid,) in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_bulk_path_is_idempotent_too(postgresql, tmp_path, monkeypatch):
    before = rating_schema()
    monkeypatch.setattr(imports, "REBUILD_MIN_ROWS", 1)
    directory = write_movielens(tmp_path)
    imports.dataset_import_movielens(directory=directory)
    built = secondary_index_oids()

    # The staging path (these viewers have ratings) adding as many rows as the table holds:
    # unique index kept, the other indexes and the foreign keys rebuilt.
    again = imports.dataset_import_movielens(directory=directory)

    assert again.ratings_added == 0 and Rating.objects.count() == 7
    assert rating_schema() == before
    assert len(built) == 2 and set(secondary_index_oids()).isdisjoint(built)


@pytest.mark.django_db(transaction=True)
def test_a_staged_insert_small_beside_the_table_keeps_its_indexes(
    postgresql, tmp_path, monkeypatch
):
    before = rating_schema()
    monkeypatch.setattr(imports, "REBUILD_MIN_ROWS", 1)
    imports.dataset_import_movielens(directory=write_movielens(tmp_path / "first"))
    built = secondary_index_oids()
    # 7 ratings stored, 3 staged (one already stored): below a share of 2 of the table, so
    # the indexes are updated in place.
    monkeypatch.setattr(imports, "INDEX_REBUILD_SHARE", 2.0)
    more = (
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,2,3.0,964982703\n3,1,2.0,964982703\n"
    )

    again = imports.dataset_import_movielens(
        directory=write_movielens(tmp_path / "more", ratings=more)
    )

    assert again.ratings_added == 2 and Rating.objects.count() == 9
    assert secondary_index_oids() == built
    assert rating_schema() == before  # the foreign keys back, validated
    by_film = Rating.objects.filter(film__source_id=1, viewer__source_id=3)
    assert by_film.get().score == 2.0  # found through the film index, kept up to date
    with pytest.raises(IntegrityError), transaction.atomic():  # and still enforcing
        Rating.objects.create(
            viewer_id=Viewer.objects.get(source_id=1).pk,
            film_id=Film.objects.order_by("-pk").first().pk + 1_000,
            score=1.0,
            rated_at="2020-01-01T00:00:00Z",
        )


@pytest.mark.django_db(transaction=True)
def test_ratings_of_new_viewers_are_copied_straight_in_with_origin_round_and_time(
    postgresql, tmp_path
):
    import pandas as pd

    from simulation.models import SimulationRound, SimulationRun

    imports.dataset_import_movielens(directory=write_movielens(tmp_path))
    round_ = SimulationRound.objects.create(run=SimulationRun.objects.create(seed=1), number=1)
    newcomer = Viewer.objects.create(source_id=500)
    films = [Film.objects.get(source_id=s).pk for s in (1, 2)]
    frame = pd.DataFrame(
        {
            "viewer_id": [newcomer.pk] * 2,
            "film_id": films,
            "score": [4.5, 1.0],
            "timestamp": [1_700_000_000, 1_700_000_123],
        }
    )

    with transaction.atomic():
        added = imports.ratings_bulk_insert(
            frame, origin=Rating.Origin.SIMULATED, round_id=round_.pk
        )

    assert added == 2
    stored = list(
        Rating.objects.filter(viewer=newcomer)
        .order_by("film__source_id")
        .values_list("score", "origin", "round_id", "rated_at")
    )
    assert [(s, o, r) for s, o, r, _ in stored] == [
        (4.5, "simulated", round_.pk),
        (1.0, "simulated", round_.pk),
    ]
    assert [int(at.timestamp()) for *_, at in stored] == [1_700_000_000, 1_700_000_123]


def round_id_null_fraction() -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT null_frac FROM pg_stats WHERE tablename = 'recommender_rating' "
            "AND attname = 'round_id'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_bulk_insert_leaves_the_planner_statistics_of_what_it_inserted(
    postgresql, tmp_path, monkeypatch
):
    """The planner's statistics follow the insert at once, not when autovacuum gets to it:
    after simulated ratings are stored, it knows some ratings have a round."""
    from simulation.models import SimulationRun

    imports.dataset_import_movielens(directory=write_movielens(tmp_path))
    assert round_id_null_fraction() == 1.0  # analysed: every rating is original
    run = SimulationRun.objects.create(seed=1, rounds_planned=1, parameters={}, created_by="t")
    round_ = run.rounds.create(
        number=1,
        window_start="2020-01-01T00:00:00Z",
        window_end="2020-01-02T00:00:00Z",
    )
    viewer, film = (
        Viewer.objects.get(source_id=1),
        Film.objects.exclude(ratings__viewer__source_id=1).first(),
    )
    frame = pd.DataFrame(
        {"viewer_id": [viewer.pk], "film_id": [film.pk], "score": [4.0], "timestamp": [0]}
    )

    with transaction.atomic():
        imports.ratings_bulk_insert(frame, origin=Rating.Origin.SIMULATED, round_id=round_.pk)

    assert round_id_null_fraction() == pytest.approx(7 / 8)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bulk", [False, True], ids=["row by row", "foreign keys dropped"])
def test_ratings_expected_new_are_inserted_and_a_stored_pair_among_them_is_kept(
    postgresql, tmp_path, monkeypatch, caplog, bulk
):
    """expect_new inserts without probing for stored pairs first; when one is there after
    all, the insert is made again skipping it, as without expect_new: same rows, same count,
    the stored rating untouched, the schema restored."""
    imports.dataset_import_movielens(directory=write_movielens(tmp_path))
    before = rating_schema()
    if bulk:
        monkeypatch.setattr(imports, "REBUILD_MIN_ROWS", 1)
    viewer = {s: Viewer.objects.get(source_id=s).pk for s in (1, 2, 3)}
    film = {s: Film.objects.get(source_id=s).pk for s in (1, 2, 3, 4, 5)}

    def insert(pairs: list[tuple[int, int]]) -> int:
        frame = pd.DataFrame(
            {
                "viewer_id": [viewer[v] for v, _ in pairs],
                "film_id": [film[f] for _, f in pairs],
                "score": [0.5] * len(pairs),
                "timestamp": [1_700_000_000] * len(pairs),
            }
        )
        with transaction.atomic():
            return imports.ratings_bulk_insert(frame, expect_new=True)

    caplog.set_level("INFO", logger="recommender.services.imports")
    assert insert([(1, 4), (2, 2)]) == 2
    assert "stored ones" not in caplog.text  # all new: one plain insert
    # Viewer 3 rated film 5 (1.0 stars) in the data set: kept as it is, the others added.
    assert insert([(2, 4), (3, 5), (3, 1)]) == 2
    assert "ratings expected new include stored ones" in caplog.text
    scores = {
        (v, f): s
        for v, f, s in Rating.objects.values_list("viewer__source_id", "film__source_id", "score")
    }
    assert len(scores) == Rating.objects.count() == 7 + 4
    assert scores[(3, 5)] == 1.0
    assert [scores[p] for p in [(1, 4), (2, 2), (2, 4), (3, 1)]] == [0.5] * 4
    assert rating_schema() == before


@pytest.mark.django_db(transaction=True)
def test_a_bad_rating_expected_new_is_still_refused_and_nothing_is_added(postgresql, tmp_path):
    imports.dataset_import_movielens(directory=write_movielens(tmp_path))
    frame = pd.DataFrame(
        {
            "viewer_id": [Viewer.objects.get(source_id=1).pk] * 2,
            "film_id": [Film.objects.get(source_id=s).pk for s in (4, 5)],
            "score": [3.0, 3.0],
            "timestamp": [1_700_000_000] * 2,
        }
    )
    # A simulated rating must name its round: the plain insert and the one after both refuse.
    with pytest.raises(IntegrityError, match="rating_simulated_iff_round"), transaction.atomic():
        imports.ratings_bulk_insert(frame, origin=Rating.Origin.SIMULATED, expect_new=True)
    assert Rating.objects.count() == 7
