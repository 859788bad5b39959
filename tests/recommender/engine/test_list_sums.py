"""A run's list metrics from sums: the lists split into parts (a sharded run's shards) give the
same metrics as all of them at once, through storage too, and bad lists are refused."""

import numpy as np
import pandas as pd
import pytest

from recommender.engine.list_sums import ListSums
from recommender.engine.metrics import coverage, diversity, personalization
from recommender.engine.serving import lists_metrics
from tests.recommender.engine.test_scoring import random_model


def random_lists(seed: int, n_viewers: int = 60, n_films: int = 80):
    rng = np.random.default_rng(seed)
    model = random_model(rng, n_viewers=n_viewers, n_films=n_films)
    film_ids = np.where(
        rng.random((n_viewers, 8)) < 0.9, rng.choice(model.film_ids, size=(n_viewers, 8)), -1
    )
    film_ids[3] = -1  # a list with no films
    from_model = rng.random(n_viewers) < 0.7
    film_genres = pd.DataFrame(
        {"film_id": model.film_ids, "genre": rng.choice(["Action", "Drama", "War"], n_films)}
    )
    return model, film_ids, from_model, film_genres


@pytest.mark.parametrize("parts", [2, 3, 7, 60])
def test_the_sums_of_parts_give_the_metrics_of_the_whole(parts):
    model, film_ids, from_model, film_genres = random_lists(seed=parts)
    catalogue = np.sort(model.film_ids)

    whole = lists_metrics(
        film_ids, from_model, model=model, film_genres=film_genres, catalogue_ids=catalogue
    )
    bounds = np.linspace(0, len(film_ids), parts + 1).astype(int)
    sums = [
        ListSums.of(film_ids[a:b], from_model[a:b], model=model, catalogue_ids=catalogue)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    added = sum(sums[1:], sums[0]).metrics(film_genres=film_genres, catalogue_ids=catalogue)

    for group in ("all", "existing", "new"):
        assert added[group]["viewers"] == whole[group]["viewers"]
        for name in ("coverage", "diversity", "personalization"):
            assert added[group][name] == pytest.approx(whole[group][name], rel=1e-12)
        assert added[group]["genre_counts"] == pytest.approx(whole[group]["genre_counts"])
    # And the whole equals the metrics' own functions on the model-served lists.
    served = film_ids[from_model]
    assert whole["existing"]["coverage"] == pytest.approx(coverage(served, len(catalogue)))
    assert whole["existing"]["personalization"] == pytest.approx(personalization(served))
    assert whole["existing"]["diversity"] == pytest.approx(
        diversity(
            np.where(served >= 0, model.film_index(served.ravel()).reshape(served.shape), -1),
            model.film_factors,
        )
    )


def test_stored_sums_read_back_as_the_same_figures():
    model, film_ids, from_model, film_genres = random_lists(seed=11)
    catalogue = np.sort(model.film_ids)
    sums = ListSums.of(film_ids, from_model, model=model, catalogue_ids=catalogue)

    scalars, arrays = sums.pack()
    again = ListSums.unpack(scalars, arrays, len(catalogue))

    options = dict(film_genres=film_genres, catalogue_ids=catalogue)
    assert again.metrics(**options) == sums.metrics(**options)
    with pytest.raises(ValueError, match="not 4 x 81 films"):
        ListSums.unpack(scalars, arrays, len(catalogue) + 1)


def test_a_group_without_lists_or_pairs_reports_what_it_can():
    model, film_ids, _, film_genres = random_lists(seed=5)
    catalogue = np.sort(model.film_ids)
    one_film_each = np.full((4, 3), -1)
    one_film_each[:, 0] = catalogue[:4]

    metrics = ListSums.of(
        one_film_each, np.ones(4, dtype=bool), model=model, catalogue_ids=catalogue
    ).metrics(film_genres=film_genres, catalogue_ids=catalogue)

    assert metrics["new"] == {"viewers": 0}
    assert metrics["existing"]["diversity"] is None, "no list has a pair of films"
    assert metrics["existing"]["personalization"] == pytest.approx(1.0)
    assert metrics["existing"]["coverage"] == pytest.approx(4 / len(catalogue))


def test_a_listed_film_outside_the_catalogue_is_named():
    model, film_ids, from_model, _ = random_lists(seed=2)
    catalogue = np.sort(model.film_ids)
    film_ids[5, 2] = 999_999

    with pytest.raises(ValueError, match="film 999999 is listed but not in the catalogue of 80"):
        ListSums.of(film_ids, from_model, model=model, catalogue_ids=catalogue)
