"""The metrics page: a chart per figure with one point per round, the promotions marked, and
the per-genre heatmap with the degraded cells outlined."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.users import client_for
from tests.web.conftest import ROUNDS
from tests.web.svg import SVG, chart, find_group, group, texts

pytestmark = pytest.mark.django_db


def test_the_metric_charts_plot_one_point_per_round_and_mark_the_promotion(world, reviewer):
    html = client_for(reviewer).get(reverse("web:metrics")).content.decode()
    run = world["run"]
    rounds = list(run.rounds.order_by("number").select_related("scoring_run"))
    served = [r.scoring_run.model_version_id for r in rounds]
    changes = [i for i in range(1, len(served)) if served[i] != served[i - 1]]

    r2 = chart(html, "r2")
    points = group(r2, "r2-series-0").findall(f".//{SVG}use")
    assert len(points) == ROUNDS, "one marker per round for existing viewers"
    labels = texts(r2)
    assert "Overall R² per round" in labels and "R²" in labels
    assert {"existing viewers", "all viewers", "champion's holdout benchmark"} <= set(labels)
    # Each round is labelled "run R, round N", on two lines under its tick.
    assert {f"run {run.pk}"} | {f"round {n}" for n in range(1, ROUNDS + 1)} <= set(labels)
    assert changes == [2], "round 2's retraining promoted a challenger that served round 3"
    assert find_group(r2, "r2-promotion-0") is not None
    assert find_group(r2, "r2-promotion-1") is None
    assert f"v{served[2]}" in labels

    drift_rounds = sum(1 for r in rounds if r.metrics["cycle"]["degraded"])
    alerts = group(r2, "r2-series-3")
    assert drift_rounds >= 1 and len(alerts.findall(f".//{SVG}use")) == drift_rounds

    for name in ("coverage", "diversity", "personalization"):
        svg = chart(html, name)
        assert len(group(svg, f"{name}-series-0").findall(f".//{SVG}use")) == ROUNDS

    experience = chart(html, "experience")
    assert "What viewers experienced (all viewers)" in texts(experience)
    for series in range(3):  # mean true rating / 5, share liked, top-10 hit rate
        assert len(group(experience, f"experience-series-{series}").findall(f".//{SVG}use")) == (
            ROUNDS
        )


def test_the_genre_heatmap_has_a_cell_per_genre_and_round_and_outlines_degraded_ones(
    world, reviewer
):
    response = client_for(reviewer).get(reverse("web:metrics"))
    history = response.context["history"]
    svg = chart(response.content.decode(), "genre-r2")

    cells = group(svg, "genre-r2-cells").findall(f"{SVG}path")
    assert len(cells) == len(history.genres) * ROUNDS
    assert "Action" in history.genres and "Action" in texts(svg)
    action = [p.genre_r2["Action"] for p in history.rounds]
    assert f"{action[1]:.2f}" in texts(svg), "cells carry their value"
    degraded = sum(1 for p in history.rounds for g in history.genres if f"genre:{g}" in p.degraded)
    assert degraded >= 1
    assert len(group(svg, "genre-r2-flagged").findall(f"{SVG}path")) == degraded


def test_the_metric_page_says_no_rounds_yet_without_data(reviewer):
    html = client_for(reviewer).get(reverse("web:metrics")).content.decode()

    assert "No rounds yet" in html
    for name in ("r2", "rmse", "genre-r2", "coverage", "diversity", "personalization"):
        assert "No rounds yet" in texts(chart(html, name))
