"""The dashboard: the latest drift report with its degraded segments highlighted (its list of
running tasks: test_task_progress.py)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from recommender.models import DriftReport
from tests.users import client_for

pytestmark = pytest.mark.django_db


def test_the_dashboard_highlights_the_degraded_segments_of_the_latest_drift_report(world, reviewer):
    report = DriftReport.objects.first()
    html = client_for(reviewer).get(reverse("web:dashboard")).content.decode()

    highlighted = re.findall(r'<tr class="degraded">\s*<th scope="row">([^<]+)</th>', html)
    expected = [m.removeprefix("genre:").replace("overall", "Overall") for m in report.degraded]
    assert sorted(highlighted) == sorted(expected)
