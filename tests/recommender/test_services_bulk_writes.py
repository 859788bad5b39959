"""Bulk writes on PostgreSQL ask the kernel to write their pages out as they go
(services.bulk_writes): a scoring run's lists, a round's or an import's ratings and pruning set
backend_flush_after for their own transaction, and nothing after it."""

from __future__ import annotations

import pandas as pd
import pytest
from django.db import connection, transaction

from recommender.models import Film, Viewer
from recommender.services.bulk_writes import flush_as_written
from recommender.services.imports import ratings_bulk_insert
from recommender.services.pruning import scoring_runs_prune
from recommender.services.scoring import scoring_run_create


def flush_after() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW backend_flush_after")
        return cursor.fetchone()[0]


def test_refused_outside_a_transaction(transactional_db):
    with pytest.raises(RuntimeError, match="inside one"):
        flush_as_written()


@pytest.mark.django_db(transaction=True)
def test_set_for_the_transaction_only(postgresql):
    server = flush_after()
    assert server == "0"  # PostgreSQL's default: this machine's server is not tuned
    with transaction.atomic():
        flush_as_written()
        assert flush_after() == "256kB"
    assert flush_after() == server
    with transaction.atomic():
        with pytest.raises(RuntimeError, match="rolled back"), transaction.atomic():
            flush_as_written()
            raise RuntimeError("rolled back")
        # The savepoint rolled back takes its setting with it.
        assert flush_after() == server


def test_zero_leaves_the_servers_setting(postgresql, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "BULK_FLUSH_AFTER_KB": 0}
    with transaction.atomic():
        flush_as_written()
        assert flush_after() == "0"


def test_another_size_is_passed_on(postgresql, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "BULK_FLUSH_AFTER_KB": 1024}
    with transaction.atomic():
        flush_as_written()
        assert flush_after() == "1MB"


# Each of these runs inside the test's transaction, so a SET LOCAL made by the service is still
# in force when it returns. The fixtures' imports set it too: each test takes it back first.


def reset_in_this_transaction() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('backend_flush_after', '0', true)")
    assert flush_after() == "0"


def test_a_scoring_run_stores_its_lists_so(postgresql, champion):
    reset_in_this_transaction()
    run = scoring_run_create(actor="test")
    assert run.viewers > 0
    assert flush_after() == "256kB"


def test_a_bulk_insert_of_ratings_does_so(postgresql, bundled_subset):
    reset_in_this_transaction()
    viewer = Viewer.objects.create(source_id=10**9)
    films = list(Film.objects.values_list("pk", flat=True)[:3])
    frame = pd.DataFrame(
        {"viewer_id": [viewer.pk] * 3, "film_id": films, "score": [4.0, 3.5, 5.0], "timestamp": 0}
    )
    assert ratings_bulk_insert(frame) == 3
    assert flush_after() == "256kB"


def test_pruning_does_so(postgresql, served_run):
    reset_in_this_transaction()
    scoring_runs_prune(keep=0, actor="test")
    assert flush_after() == "256kB"
