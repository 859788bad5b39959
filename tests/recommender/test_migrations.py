"""What recommender's data migrations leave in the database."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_beat_schedules_exist_after_migrating():
    from django_celery_beat.models import PeriodicTask

    daily = PeriodicTask.objects.get(task="recommender.monitor_and_retrain")
    assert daily.enabled and (daily.crontab.hour, daily.crontab.minute) == ("3", "0")
    simulation = PeriodicTask.objects.get(task="simulation.cycle")
    assert not simulation.enabled, "the simulation schedule is optional, off by default"


def test_the_pruning_schedule_exists_after_migrating():
    from django_celery_beat.models import PeriodicTask

    prune = PeriodicTask.objects.get(task="recommender.prune_runs")
    assert prune.enabled and (prune.crontab.hour, prune.crontab.minute) == ("4", "0")
