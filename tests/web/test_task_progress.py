"""Task progress: the endpoint the pages poll, and the dashboard's list of running tasks."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django_celery_results.models import TaskResult

from tests.users import client_for

pytestmark = pytest.mark.django_db


def test_the_task_endpoint_returns_stage_and_percent_and_the_dashboard_lists_running_tasks(
    reviewer,
):
    TaskResult.objects.create(
        task_id="t-7",
        task_name="recommender.retrain",
        status="PROGRESS",
        result=json.dumps({"stage": "training the challenger", "percent": 40}),
    )
    client = client_for(reviewer)

    progress = client.get(reverse("web:task-status", kwargs={"task_id": "t-7"})).json()
    unknown = client.get(reverse("web:task-status", kwargs={"task_id": "nope"})).json()
    dashboard = client.get(reverse("web:dashboard")).content.decode()

    assert (progress["state"], progress["stage"], progress["percent"]) == (
        "PROGRESS",
        "training the challenger",
        40,
    )
    assert progress["finished"] is False
    assert (unknown["state"], unknown["percent"]) == ("PENDING", 0)
    assert 'data-url="/tasks/t-7/"' in dashboard and "recommender.retrain" in dashboard
    assert "/static/web/progress.js" in dashboard
