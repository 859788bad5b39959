"""Sharded scoring: the viewers split into shard tasks (a Celery chord) give the same lists and
metrics as one unsharded run, a shard delivered twice stores nothing twice, and a missing or
failing shard fails the run while the previous completed run keeps serving. Eagerly on any
database, and through real worker processes on PostgreSQL and Redis."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django_celery_results.models import TaskResult

from recommender import tasks
from recommender.models import (
    Film,
    Lease,
    Rating,
    ScoredList,
    ScoringRun,
    ShardListSums,
    Viewer,
)
from recommender.selectors.scoring import run_film_stats, scored_list_arrays, served_scoring_run
from recommender.services.leases import (
    REAPING_AT_START,
    AlreadyRunningError,
    lease_acquire,
    lease_holder,
    lease_release,
)
from recommender.services.scoring import (
    scoring_run_complete,
    scoring_run_create,
    scoring_run_fail,
    scoring_run_lease_owner,
    scoring_run_start,
    scoring_shard_store,
)
from tests.champions import train_champion
from tests.test_celery_worker import celery_processes, wait_for  # noqa: F401 (a fixture)

Status = ScoringRun.Status


def add_viewers_the_model_does_not_know() -> None:
    """Every path of the ranking: a cold-start viewer (2 ratings), a graduate the model was
    not trained on (8 ratings, folded in) and a viewer with no ratings at all."""
    films = list(Film.objects.filter(ratings__isnull=False).distinct().order_by("pk")[:8])
    for source_id, count in ((90_001, 2), (90_002, 8), (90_003, 0)):
        viewer = Viewer.objects.create(source_id=source_id)
        Rating.objects.bulk_create(
            Rating(
                viewer=viewer,
                film=film,
                score=[3.5, 4.0, 5.0, 2.5][i % 4],
                rated_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
            for i, film in enumerate(films[:count])
        )


def stored_lists(run: ScoringRun) -> dict[int, tuple]:
    lists = ScoredList.objects.filter(run=run).select_related("viewer")
    return {
        scored.viewer.source_id: (*scored_list_arrays(scored), scored.from_model)
        for scored in lists
    }


def flat(metrics: dict, prefix: str = "") -> dict:
    """Nested metrics as {"all.coverage": 0.4, "all.genre_counts.Drama": 38.0, ...}."""
    items = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            items.update(flat(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = value
    return items


def assert_same_lists_and_metrics(sharded: ScoringRun, unsharded: ScoringRun) -> None:
    expected, actual = stored_lists(unsharded), stored_lists(sharded)
    assert actual.keys() == expected.keys() and len(actual) == Viewer.objects.count()
    for viewer_id, (films, scores, predicted, from_model) in expected.items():
        got_films, got_scores, got_predicted, got_from_model = actual[viewer_id]
        assert got_films.tolist() == films.tolist(), f"viewer {viewer_id}: same films, same order"
        np.testing.assert_allclose(got_scores, scores, atol=1e-6)
        np.testing.assert_allclose(got_predicted, predicted, atol=1e-6)
        assert got_from_model == from_model
    assert sharded.viewers == unsharded.viewers
    assert flat(sharded.metrics) == pytest.approx(flat(unsharded.metrics), abs=1e-9)
    assert {k: v for k, v in sharded.parameters.items() if k != "shards"} == (
        unsharded.parameters
    ), "the same parameters and the same snapshot of the data"
    stored, unsharded_stored = run_film_stats(sharded.pk), run_film_stats(unsharded.pk)
    for name in ("film_ids", "counts", "sums"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(unsharded_stored, name))


# --- eager Celery, any database ---------------------------------------------------------------


@pytest.mark.django_db
def test_three_shards_give_every_viewer_the_same_list_and_the_run_the_same_metrics(champion):
    add_viewers_the_model_does_not_know()
    unsharded = scoring_run_create(actor="command:test")

    outcome = tasks.score_sharded.delay(shards=3).get()

    sharded = ScoringRun.objects.get(pk=outcome["scoring_run"])
    assert sharded.status == Status.COMPLETED and sharded.parameters["shards"] == 3
    assert sharded.metrics["new"]["viewers"] == 2 and sharded.metrics["existing"]["viewers"] == 121
    assert_same_lists_and_metrics(sharded, unsharded)
    assert served_scoring_run() == sharded
    assert not Lease.objects.exists(), "the callback released the run's lease"


@pytest.mark.django_db
def test_a_shard_delivered_twice_stores_nothing_twice(champion):
    run = scoring_run_start(actor="command:test", owner="test", shards=3)
    first = scoring_shard_store(run_id=run.pk, shard=1, shards=3)
    before = stored_lists(run)

    again = tasks.score_shard.apply(args=(run.pk, 1, 3)).get()

    assert first == 40 and again["lists"] == 40
    assert ScoredList.objects.filter(run=run).count() == 40
    assert ShardListSums.objects.filter(run=run).count() == 1, "its sums replaced, not added"
    after = stored_lists(run)
    assert after.keys() == before.keys()
    assert all(after[v][0].tolist() == before[v][0].tolist() for v in before)
    for shard in (0, 2):
        scoring_shard_store(run_id=run.pk, shard=shard, shards=3)
    completed = scoring_run_complete(run_id=run.pk)
    # The viewer count comes from the shards' sums: a shard counted twice would give 160.
    assert completed.status == Status.COMPLETED and completed.viewers == 120
    assert completed.metrics["all"]["viewers"] == 120
    assert scoring_run_complete(run_id=run.pk) == completed, "a second callback changes nothing"


@pytest.mark.django_db
def test_a_missing_shard_fails_the_run_and_the_previous_run_keeps_serving(champion):
    served = scoring_run_create(actor="command:test")
    run = scoring_run_start(actor="command:test", owner="test", shards=3)
    for shard in (0, 2):
        scoring_shard_store(run_id=run.pk, shard=shard, shards=3)

    failed = scoring_run_complete(run_id=run.pk)

    assert failed.status == Status.FAILED
    assert failed.error == (
        "shard(s) 1 of 0-2 did not store their lists: 40 of 120 viewers have none"
    )
    assert not ScoredList.objects.filter(run=run).exists(), "its partial lists are dropped"
    assert not ShardListSums.objects.filter(run=run).exists(), "and their sums"
    assert served_scoring_run() == served
    assert not Lease.objects.exists()


@pytest.mark.django_db
def test_a_shard_whose_sums_are_missing_fails_the_run_with_its_number(champion):
    run = scoring_run_start(actor="command:test", owner="test", shards=3)
    for shard in range(3):
        scoring_shard_store(run_id=run.pk, shard=shard, shards=3)
    ShardListSums.objects.filter(run=run, shard=2).delete()

    failed = scoring_run_complete(run_id=run.pk)

    assert failed.status == Status.FAILED
    assert failed.error == "shard(s) 2 stored lists but not their sums"
    assert not ScoredList.objects.filter(run=run).exists()


@pytest.mark.django_db
def test_a_shard_that_raises_fails_the_run_and_releases_the_lease(champion, monkeypatch):
    served = scoring_run_create(actor="command:test")
    real_store = tasks.scoring_shard_store

    def store_or_fail(*, shard, **kwargs):
        if shard == 1:
            raise ValueError("shard 1 broke")
        return real_store(shard=shard, **kwargs)

    monkeypatch.setattr(tasks, "scoring_shard_store", store_or_fail)

    with pytest.raises(ValueError, match="shard 1 broke"):
        tasks.score_sharded.delay(shards=3)

    run = ScoringRun.objects.get(parameters__shards=3)
    assert run.status == Status.FAILED and "shard 1 broke" in run.error
    assert not ScoredList.objects.filter(run=run).exists()
    assert served_scoring_run() == served
    assert not Lease.objects.exists()


@pytest.mark.django_db
def test_while_a_sharded_run_is_in_flight_its_lease_refuses_other_model_work(champion):
    run = scoring_run_start(actor="command:test", owner="task-a", shards=2)

    assert lease_holder().owner == scoring_run_lease_owner(run.pk)
    with pytest.raises(AlreadyRunningError, match=f"scoring run {run.pk} \\(2 shards\\)"):
        lease_acquire(owner="task-b", purpose="training", seconds=60)
    assert "skipped" in tasks.score_sharded.delay(shards=2).get()
    assert ScoringRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_sharded_run_asked_for_while_a_worker_starts_waits_for_its_reap(
    postgresql, bundled_subset, artifact_dir
):
    """A sharded scoring queued as a second worker started was skipped ("reaping interrupted
    work already running"), which failed the two-worker test below in CI: the run's start
    waits for a start-up reap as exclusive_model_work does."""
    train_champion()
    lease_acquire(owner="worker-start:w1", purpose=REAPING_AT_START, seconds=60)
    reap_ends = threading.Timer(
        0.5, lambda: (lease_release(owner="worker-start:w1"), connection.close())
    )
    reap_ends.start()

    run = scoring_run_start(actor="command:test", owner="task-a", shards=2)
    reap_ends.join()

    assert run.status == Status.RUNNING
    assert lease_holder().owner == scoring_run_lease_owner(run.pk)


@pytest.mark.django_db
def test_shards_of_a_run_that_ended_store_nothing(champion):
    run = scoring_run_start(actor="command:test", owner="test", shards=2)
    scoring_run_fail(run_id=run.pk, error="stopped by the test")

    assert scoring_shard_store(run_id=run.pk, shard=0, shards=2) == 0
    assert scoring_run_complete(run_id=run.pk).status == Status.FAILED
    assert not ScoredList.objects.filter(run=run).exists()
    with pytest.raises(ValueError, match="shard 0 of 3 does not fit scoring run"):
        other = scoring_run_start(actor="command:test", owner="test", shards=2)
        scoring_shard_store(run_id=other.pk, shard=0, shards=3)


@pytest.mark.django_db
def test_the_score_command_runs_the_chord_in_process_with_shards(champion, capsys):
    call_command("score", "--shards", "3", "--no-progress")

    run = ScoringRun.objects.get()
    assert run.status == Status.COMPLETED and run.parameters["shards"] == 3
    assert f"scoring run {run.pk} with model v{champion.pk}: 120 viewers" in capsys.readouterr().out


# --- real worker processes on PostgreSQL and Redis ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_real_workers_score_the_shards_and_the_run_equals_an_unsharded_one(
    celery_processes,  # noqa: F811
    bundled_subset,
    artifact_dir,
):
    train_champion()
    add_viewers_the_model_does_not_know()
    unsharded = scoring_run_create(actor="command:test")
    celery_processes("worker")
    celery_processes("worker")

    outcome = tasks.score_sharded.delay(shards=3).get(timeout=120)
    sharded = wait_for(
        lambda: (
            ScoringRun.objects.exclude(status=Status.RUNNING)
            .filter(pk=outcome["scoring_run"])
            .first()
        ),
        180,
        "the chord's callback to finish the run",
    )

    assert sharded.status == Status.COMPLETED, sharded.error
    assert_same_lists_and_metrics(sharded, unsharded)
    assert served_scoring_run() == sharded
    wait_for(lambda: not Lease.objects.exists(), 30, "the run's lease to be released")
    shards = TaskResult.objects.filter(task_name="recommender.score_shard", status="SUCCESS")
    assert shards.count() == 3
    print(f"shards ran on: {sorted({r.worker for r in shards})}")


@pytest.mark.django_db(transaction=True)
def test_a_shard_failing_on_a_real_worker_fails_the_run_through_the_error_callback(
    celery_processes,  # noqa: F811
    bundled_subset,
    artifact_dir,
    tmp_path,
):
    champion = train_champion()
    served = scoring_run_create(actor="command:test")
    run = scoring_run_start(actor="command:test", owner="test", shards=3)
    artifact = Path(champion.artifact_path)
    artifact.rename(tmp_path / "hidden")  # every shard now fails to load the model
    celery_processes("worker")

    tasks.scoring_chord(run.pk, 3).apply_async()
    failed = wait_for(
        lambda: ScoringRun.objects.filter(pk=run.pk, status=Status.FAILED).first(),
        120,
        "the error callback to fail the run",
    )

    assert failed.error.startswith("sharded scoring failed: ChordError: ")
    assert "failed its integrity check" in failed.error and "the file is missing" in failed.error
    assert not ScoredList.objects.filter(run=run).exists()
    assert served_scoring_run() == served
    assert not Lease.objects.exists(), "the error callback released the run's lease"
    (tmp_path / "hidden").rename(artifact)
