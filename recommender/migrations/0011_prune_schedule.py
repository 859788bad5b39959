"""The beat schedule of scoring-run pruning, as data (editable in the Django admin):
"prune scoring runs (daily)" at 04:00 UTC, an hour after monitor-and-retrain, keeping the
served run and KEEP_SCORING_RUNS completed runs before it. Enabled: a run is 436 MB at 270k
viewers (docs/scaling.md)."""

from django.db import migrations
from django.utils import timezone

PRUNE = "prune scoring runs (daily)"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="4", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=PRUNE,
        defaults={
            "task": "recommender.prune_runs",
            "crontab": daily,
            "kwargs": "{}",
            "enabled": True,
            "description": "Delete scoring runs nobody is served from: keep the served run, "
            "KEEP_SCORING_RUNS completed runs before it, and newer or running ones.",
        },
    )
    # Tell a running beat that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=PRUNE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0009_evaluation"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
