"""The SVG chart builders: pure functions of plain lists, checked by parsing their output."""

from __future__ import annotations

import re

import pytest

from recommender.web.charts import (
    NOT_JUDGED_COLOUR,
    Marker,
    Series,
    empty_chart,
    heatmap,
    line_chart,
)
from tests.web.svg import SVG, group, parse, texts


def r2_chart(**overrides) -> str:
    arguments = {
        "name": "r2",
        "title": "Overall R² per round",
        "x_labels": ["1.1", "1.2", "1.3", "2.1"],
        "series": [
            Series("existing viewers", [0.30, 0.10, None, 0.28]),
            Series("benchmark", [0.17, 0.17, 0.21, 0.21], "reference"),
            Series("drift detected", [None, 0.10, None, None], "alert"),
        ],
        "y_label": "R²",
        "x_label": "simulation run . round",
        "markers": [Marker(2, "v7")],
    }
    return line_chart(**{**arguments, **overrides})


def test_a_line_chart_has_one_marker_per_value_and_none_for_a_gap():
    root = parse(r2_chart())

    assert len(group(root, "r2-series-0").findall(f".//{SVG}use")) == 3
    assert len(group(root, "r2-series-2").findall(f".//{SVG}use")) == 1
    assert group(root, "r2-series-1").findall(f".//{SVG}use") == [], "a reference has no markers"


def test_a_line_chart_is_labelled_with_title_axes_legend_and_rounds():
    labels = texts(parse(r2_chart()))

    assert {"Overall R² per round", "R²", "simulation run . round"} <= set(labels)
    assert {"existing viewers", "benchmark", "drift detected", "new champion from here"} <= set(
        labels
    )
    assert {"1.1", "1.2", "1.3", "2.1", "v7"} <= set(labels)


def test_a_marker_is_a_vertical_line_between_the_rounds_it_separates():
    root = parse(r2_chart())
    xs = {
        float(u.get("x")) for u in group(root, "r2-series-0").findall(f".//{SVG}use")
    }  # rounds 0, 1, 3
    path = group(root, "r2-promotion-0").find(f".//{SVG}path").get("d")
    line_x = {float(x) for x in re.findall(r"[ML] ([\d.]+) ", path)}

    assert len(line_x) == 1, "vertical"
    (x,) = line_x
    first, second, fourth = sorted(xs)
    step = second - first
    assert x == pytest.approx(second + 0.5 * step, abs=0.01), "halfway between rounds 2 and 3"
    assert fourth == pytest.approx(first + 3 * step, abs=0.01)


def test_values_are_placed_by_height():
    root = parse(r2_chart())
    ys = [float(u.get("y")) for u in group(root, "r2-series-0").findall(f".//{SVG}use")]

    # 0.30, 0.10, 0.28: SVG y grows downwards.
    assert ys[0] < ys[2] < ys[1]


def test_a_chart_without_rounds_says_so():
    root = parse(r2_chart(x_labels=[], series=[]))

    assert "No rounds yet" in texts(root) and "Overall R² per round" in texts(root)


def test_series_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="'existing viewers' has 2 values for 4 x positions"):
        r2_chart(series=[Series("existing viewers", [0.1, 0.2])])


def test_a_marker_outside_the_rounds_is_refused():
    with pytest.raises(ValueError, match="outside"):
        r2_chart(markers=[Marker(4, "v9")])


def genre_heatmap(**overrides) -> str:
    arguments = {
        "name": "genre-r2",
        "title": "R² per genre",
        "row_labels": ["Action", "Drama", "Sci-Fi & <Fantasy>"],
        "column_labels": ["1.1", "1.2"],
        "values": [[0.2, -5.5], [0.31, None], [None, None]],
        "x_label": "round",
        "y_label": "genre",
        "value_label": "R²",
        "flagged": [(0, 1)],
        "flagged_label": "degraded",
    }
    return heatmap(**{**arguments, **overrides})


def test_a_heatmap_has_a_cell_per_genre_and_round_with_its_value():
    root = parse(genre_heatmap())
    cells = group(root, "genre-r2-cells").findall(f"{SVG}path")
    labels = texts(root)

    assert len(cells) == 3 * 2
    assert {"0.20", "-5.50", "0.31"} <= set(labels), "values written in their cells"
    assert {"Action", "Drama", "Sci-Fi & <Fantasy>", "R² per genre", "round", "genre"} <= set(
        labels
    )


def test_a_heatmap_greys_out_cells_not_judged_and_outlines_flagged_ones():
    root = parse(genre_heatmap())
    cells = group(root, "genre-r2-cells").findall(f"{SVG}path")
    grey = [c for c in cells if NOT_JUDGED_COLOUR in c.get("style", "")]

    assert len(grey) == 3
    assert len(group(root, "genre-r2-flagged").findall(f"{SVG}path")) == 1
    assert "degraded" in texts(root) and "not judged (too few interactions)" in texts(root)


def test_a_heatmap_without_genres_or_rounds_says_no_rounds_yet():
    root = parse(genre_heatmap(row_labels=[], values=[], flagged=[]))

    assert "No rounds yet" in texts(root)


def test_charts_on_one_page_share_no_ids_and_render_the_same_twice():
    first, second = r2_chart(), genre_heatmap()
    ids = lambda svg: set(re.findall(r' id="([^"]+)"', svg))  # noqa: E731

    assert ids(first) and ids(second)
    assert ids(first) & ids(second) == set(), "ids must be unique on a page"
    assert r2_chart() == first, "deterministic output"


def test_the_svg_is_ready_to_inline():
    svg = empty_chart(name="coverage", title="Coverage")

    assert svg.startswith('<svg role="img" aria-label="Coverage: No rounds yet"')
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<style" not in svg
    assert 'viewBox="' in svg and ' width="' not in svg.split(">", 1)[0]
