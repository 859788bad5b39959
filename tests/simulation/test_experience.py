"""What viewers experienced in a round, on a hand-made round whose figures are counted by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulation.engine import RoundDraw, round_experience

FILM_GENRES = pd.DataFrame(
    {"film_id": [1, 2, 3, 4], "genre": ["Action", "Drama", "Action", "Drama"]}
)


def draw(film_ids, ranks, ratings, true_ratings) -> RoundDraw:
    n = len(film_ids)
    return RoundDraw(
        viewer_ids=np.zeros(n, dtype=np.int64),
        film_ids=np.asarray(film_ids, dtype=np.int64),
        predicted=np.full(n, 3.5),
        from_model=np.ones(n, dtype=bool),
        membership=np.zeros((n, 0), dtype=bool),
        genre_names=[],
        ratings=np.asarray(ratings, dtype=np.float64),
        timestamps=np.zeros(n, dtype=np.int64),
        sigma=0.5,
        sigma_calibrated=False,
        shift_active=False,
        true_ratings=np.asarray(true_ratings, dtype=np.float64),
        ranks=np.asarray(ranks, dtype=np.int64),
    )


def test_mean_true_rating_liked_share_and_top_hits_per_genre():
    # Two viewers, top-2 lists: viewer 0 [1, 2], viewer 1 [3, -1 padding].
    top = np.array([[1, 2], [3, -1]])
    # Consumed: film 1 at rank 0 rated 4.5 (true 4.2); film 2 at rank 1 rated 3.0 (true 3.4);
    # film 4 at rank 5 (outside the top) rated 5.0 (true 4.8).
    played = draw([1, 2, 4], [0, 1, 5], [4.5, 3.0, 5.0], [4.2, 3.4, 4.8])

    experience = round_experience(played, top, FILM_GENRES)

    overall = experience["overall"]
    assert overall["n"] == 3
    assert overall["mean_true_rating"] == pytest.approx((4.2 + 3.4 + 4.8) / 3)
    assert overall["liked_share"] == pytest.approx(2 / 3)
    # Three top slots (the padding is no slot); one was consumed and liked (film 1).
    assert overall["top_hit_rate"] == pytest.approx(1 / 3)
    action, drama = experience["genre:Action"], experience["genre:Drama"]
    assert (action["n"], action["mean_true_rating"], action["liked_share"]) == (1, 4.2, 1.0)
    assert action["top_hit_rate"] == pytest.approx(1 / 2)  # slots: films 1 and 3
    assert drama["n"] == 2 and drama["top_hit_rate"] == 0.0  # slot: film 2, not liked
    assert drama["liked_share"] == pytest.approx(1 / 2)


def test_a_genre_nobody_consumed_has_no_figures_but_its_slots_count():
    top = np.array([[3, 2]])
    played = draw([2], [1], [4.0], [3.9])

    experience = round_experience(played, top, FILM_GENRES)

    assert experience["genre:Action"] == {
        "n": 0,
        "mean_true_rating": None,
        "liked_share": None,
        "top_hit_rate": 0.0,
    }
    assert experience["genre:Drama"]["top_hit_rate"] == 1.0
