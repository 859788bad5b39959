"""Pruning keeps the served run, the N completed runs before it, newer and running runs, and
deletes the rest with their lists."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from recommender.models import ScoredList, ScoringRun
from recommender.services.pruning import scoring_runs_prune
from recommender.services.scoring import scoring_run_create
from recommender.tasks import prune_runs


@pytest.fixture
def runs(served_run) -> dict[str, ScoringRun]:
    """Oldest first: a failed run, four completed runs (the last is served), a running one."""
    failed = ScoringRun.objects.create(
        model_version=served_run.model_version,
        status=ScoringRun.Status.FAILED,
        created_by="test",
        error="boom",
    )
    completed = [scoring_run_create(actor="test") for _ in range(3)]
    running = ScoringRun.objects.create(model_version=served_run.model_version, created_by="test")
    return {
        "first": served_run,
        "failed": failed,
        "second": completed[0],
        "third": completed[1],
        "served": completed[2],
        "running": running,
    }


def lists_of(run: ScoringRun) -> int:
    return ScoredList.objects.filter(run=run).count()


def test_keeps_the_served_run_and_n_before_it(runs):
    viewers = lists_of(runs["served"])
    assert viewers == 120

    outcome = scoring_runs_prune(keep=1, actor="test")

    assert outcome.served_run_id == runs["served"].pk
    assert outcome.kept_run_ids == sorted(
        r.pk for r in (runs["third"], runs["served"], runs["running"])
    )
    assert outcome.deleted_run_ids == sorted(
        r.pk for r in (runs["first"], runs["failed"], runs["second"])
    )
    assert outcome.deleted_lists == 2 * viewers
    assert set(ScoringRun.objects.values_list("pk", flat=True)) == set(outcome.kept_run_ids)
    assert lists_of(runs["served"]) == lists_of(runs["third"]) == viewers
    assert not ScoredList.objects.exclude(run__in=outcome.kept_run_ids).exists()


def test_the_task_keeps_the_setting_s_number_and_pruning_again_deletes_nothing(runs, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "KEEP_SCORING_RUNS": 0}
    result = prune_runs.apply().get()
    assert result["served_run"] == runs["served"].pk
    assert sorted(ScoringRun.objects.values_list("pk", flat=True)) == sorted(
        [runs["served"].pk, runs["running"].pk]
    )
    assert scoring_runs_prune(keep=0, actor="test").deleted_run_ids == []


def test_nothing_is_pruned_without_a_served_run(champion):
    ScoringRun.objects.create(
        model_version=champion, status=ScoringRun.Status.FAILED, created_by="test"
    )
    outcome = scoring_runs_prune(keep=0, actor="test")
    assert outcome.served_run_id is None and outcome.deleted_run_ids == []
    assert ScoringRun.objects.count() == 1


def test_the_command_says_what_it_deleted_and_refuses_a_negative_keep(runs, capsys):
    call_command("prune_runs", "--keep", "2")
    out = capsys.readouterr().out
    deleted = f"{runs['first'].pk}, {runs['failed'].pk}"
    assert f"served run {runs['served'].pk}; deleted run(s) {deleted} (120 lists)" in out
    with pytest.raises(CommandError, match="keep must be a non-negative integer, got -1"):
        call_command("prune_runs", "--keep", "-1")
