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


def test_the_dead_rating_check_runs_every_ten_minutes_after_migrating():
    from django_celery_beat.models import PeriodicTask

    from recsite.celery import app

    reclaim = PeriodicTask.objects.get(task="recommender.reclaim_dead_ratings")
    assert reclaim.enabled and (reclaim.interval.every, reclaim.interval.period) == (10, "minutes")
    assert reclaim.task in app.tasks, "the schedule names a task a worker knows"
