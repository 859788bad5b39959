"""The beat schedule of the dead-rating check, as data (editable in the Django admin):
"reclaim dead ratings (every 10 minutes)". Model work reclaims dead ratings itself when it
starts and when it fails; this covers a process killed outright with no model work after it,
whose dead rows slow every API request until vacuumed (docs/scaling.md)."""

from django.db import migrations
from django.utils import timezone

RECLAIM = "reclaim dead ratings (every 10 minutes)"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=RECLAIM,
        defaults={
            "task": "recommender.reclaim_dead_ratings",
            "interval": every_ten_minutes,
            "kwargs": "{}",
            "enabled": True,
            "description": "VACUUM the rating table when PostgreSQL counts more than 50k dead "
            "rows in it (left by a process killed mid-write); otherwise nothing.",
        },
    )
    # Tell a running beat that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=RECLAIM).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0015_drawn_chart_sets"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
