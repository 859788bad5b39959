"""The metric charts are drawn by the jobs that change the history and read by the pages: a
round played or judged stores the charts of the history it leaves, the metric page and the
dashboard serve the stored set, and a history nobody drew for is drawn once and stored."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from recommender.engine.model import SVDConfig
from recommender.models import DrawnChartSet
from recommender.selectors.charts import drawn_chart_set
from recommender.services.charts import KEPT_CHART_SETS, drawn_chart_set_keep
from recommender.services.registry import model_version_train
from recommender.web.metric_charts import history_key
from recommender.web.presentation import metric_history
from simulation.models import SimulationRun
from tests.users import client_for
from tests.web.svg import SVG, chart, group, parse

pytestmark = pytest.mark.django_db

STORED = '<svg id="stored-r2-chart"><text>drawn by the job</text></svg>'


@pytest.fixture
def played(bundled_subset, artifact_dir):
    """A champion and one round played by `simulate`, as a user runs it (not judged)."""
    model_version_train(actor="test", config=SVDConfig(n_factors=5, n_epochs=5, seed=2))
    call_command("simulate", "--rounds", "1", "--arrivals", "0", "--no-progress")
    return SimulationRun.objects.get()


def test_a_played_round_stores_the_charts_of_every_runs_history_and_of_its_run(played):
    everything, own = metric_history(), metric_history(run_id=played.pk)

    stored = drawn_chart_set(history_key(everything))
    assert stored is not None and drawn_chart_set(history_key(own)) is not None
    assert [c["name"] for c in stored] == [
        "r2",
        "rmse",
        "genre-r2",
        "experience",
        "coverage",
        "diversity",
        "personalization",
    ]
    points = group(parse(stored[0]["svg"]), "r2-series-0").findall(f".//{SVG}use")
    assert len(points) == 1, "one point: the round just played"


def test_the_metric_page_and_the_dashboard_serve_the_stored_charts(played, reviewer):
    key = history_key(metric_history())
    charts = drawn_chart_set(key)
    charts[0]["svg"] = STORED
    DrawnChartSet.objects.filter(key=key).update(charts=charts)
    client = client_for(reviewer)

    metrics = client.get(reverse("web:metrics")).content.decode()
    dashboard = client.get(reverse("web:dashboard")).content.decode()

    assert STORED in metrics and STORED in dashboard, "served as stored, not drawn again"
    assert chart(metrics, "rmse") is not None, "the other charts are the stored ones too"


def test_judging_the_round_changes_the_history_and_stores_its_charts(played):
    before = history_key(metric_history())

    call_command("monitor", "--no-progress")

    after = history_key(metric_history())
    assert after != before, "the round now has a verdict"
    assert drawn_chart_set(after) is not None


def test_a_history_nobody_drew_for_is_drawn_on_its_first_request_and_stored(played, reviewer):
    DrawnChartSet.objects.all().delete()
    url = reverse("web:metrics") + f"?run={played.pk}"

    html = client_for(reviewer).get(url).content.decode()

    points = group(chart(html, "r2"), "r2-series-0").findall(f".//{SVG}use")
    assert len(points) == 1
    stored = drawn_chart_set(history_key(metric_history(run_id=played.pk)))
    assert stored is not None and stored[0]["svg"] in html
    assert DrawnChartSet.objects.count() == 1, "only the history asked for"


def test_equal_histories_share_a_key_and_an_empty_one_has_its_own(played):
    assert history_key(metric_history()) == history_key(metric_history())
    assert history_key(metric_history(run_id=played.pk + 1)) != history_key(metric_history())


def test_only_the_newest_sets_are_kept(db):
    for number in range(KEPT_CHART_SETS + 4):
        drawn_chart_set_keep(key=f"{number:064d}", charts=[{"name": "r2", "svg": str(number)}])
    # A process that drew the same history meanwhile: the set stored first stays.
    drawn_chart_set_keep(key=f"{5:064d}", charts=[{"name": "r2", "svg": "drawn again"}])

    kept = sorted(int(key) for key in DrawnChartSet.objects.values_list("key", flat=True))
    assert kept == list(range(4, KEPT_CHART_SETS + 4))
    assert drawn_chart_set(f"{5:064d}") == [{"name": "r2", "svg": "5"}]
    assert drawn_chart_set(f"{3:064d}") is None
