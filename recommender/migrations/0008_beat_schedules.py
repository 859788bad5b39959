"""The beat schedules, as data: editable (and switchable) in the Django admin afterwards.

- "monitor and retrain (daily)": every day at 03:00 UTC, judge the champion on the newest
  round and retrain if required. Enabled.
- "simulation cycle (hourly)": play one simulated round with the cycle on, every hour. For
  demonstrations; disabled by default."""

import json

from django.db import migrations
from django.utils import timezone

MONITOR = "monitor and retrain (daily)"
SIMULATION = "simulation cycle (hourly)"


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=MONITOR,
        defaults={
            "task": "recommender.monitor_and_retrain",
            "crontab": daily,
            "kwargs": json.dumps({"search": False}),
            "enabled": True,
            "description": "Judge the champion on the newest round; retrain if the drift report requires it.",
        },
    )
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=SIMULATION,
        defaults={
            "task": "simulation.cycle",
            "interval": hourly,
            "kwargs": json.dumps({"rounds": 1}),
            "enabled": False,
            "description": "Play one simulated round with the monitor-and-retrain cycle on.",
        },
    )
    # Tell a running beat that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[MONITOR, SIMULATION]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0007_lease"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
