"""Model search across families and their hyperparameters (the original system had none).

Every candidate (a family and a point of its search space) is trained on one seeded split of
the given ratings and judged on the rest with the chosen objective:

- `ranking` (the default): NDCG@k of each viewer's top k among the films they have not rated,
  a held-out rating of at least `relevant_min` counting as relevant: what a viewer sees.
  Gorse's model search picks by ranking quality the same way.
- `rmse`: rating error on the held-out ratings (the original system's measure; a ranking
  family is judged by its calibrated rating, see engine.families).

The search is random (seeded), with each family's default configuration always among the
candidates, so a search never returns something worse on its own split than the default.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from recommender.engine.checks import checked_int
from recommender.engine.evaluation import ranking_metrics
from recommender.engine.families import Family, family_named
from recommender.engine.model import EmptyRatingsError, TrainedModel
from recommender.engine.training import split_holdout

logger = logging.getLogger(__name__)

# Share of the ratings a search holds out to judge its candidates.
VALIDATION_SHARE = 0.2


class Objective(StrEnum):
    RANKING = "ranking"
    RMSE = "rmse"


@dataclass(frozen=True)
class Trial:
    """One candidate: its family, configuration, objective value and training time."""

    family: str
    config: Any
    value: float
    seconds: float

    def describe(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "config": self.config.as_dict(),
            "value": self.value,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class SearchResult:
    """The best trial under the objective and every trial, in the order they ran."""

    objective: Objective
    best: Trial
    trials: tuple[Trial, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "objective": str(self.objective),
            "best": self.best.describe(),
            "trials": [trial.describe() for trial in self.trials],
        }


def candidate_configs(family: Family, *, n_iter: int, seed: int) -> list[Any]:
    """The family's default configuration with `seed`, then up to n_iter - 1 distinct random
    points of its search space (drawn with `seed`), each with `seed` as its training seed."""
    default = family.config(seed=seed)
    candidates = [default]
    seen = {tuple(sorted(default.as_dict().items()))}
    rng = np.random.default_rng([seed, len(family.name)])
    attempts = 0
    while len(candidates) < n_iter and attempts < 20 * n_iter:
        attempts += 1
        point = {
            name: values[rng.integers(len(values))] for name, values in family.search_space.items()
        }
        config = replace(default, **point)
        key = tuple(sorted(config.as_dict().items()))
        if key not in seen:
            seen.add(key)
            candidates.append(config)
    return candidates


def objective_value(
    model: TrainedModel,
    validation: pd.DataFrame,
    train: pd.DataFrame,
    *,
    objective: Objective,
    k: int,
    relevant_min: float,
) -> float:
    """The objective on the validation ratings, oriented so that larger is better (RMSE is
    negated). A model that ranks nobody scores -inf."""
    if objective is Objective.RMSE:
        predicted = model.predict(validation["viewer_id"], validation["film_id"])
        return -float(np.sqrt(np.mean((validation["rating"].to_numpy() - predicted) ** 2)))
    ranked = ranking_metrics(model, validation, train, k=k, threshold=relevant_min)
    return float("-inf") if ranked is None else float(ranked[2])


def search_families(
    ratings: pd.DataFrame,
    family_names: Sequence[str],
    *,
    film_genres: pd.DataFrame | None = None,
    objective: Objective | str = Objective.RANKING,
    n_iter: int = 8,
    seed: int = 0,
    k: int = 10,
    relevant_min: float = 4.0,
    progress: Callable[[float], None] | None = None,
) -> SearchResult:
    """The best family and configuration for `ratings` among `family_names` (n_iter
    candidates each) by `objective` on a seeded validation split of `ratings`."""
    if ratings.empty:
        raise EmptyRatingsError("no ratings to search models on")
    objective = Objective(objective)
    n_iter = checked_int("search iterations", n_iter, minimum=1)
    families = [family_named(name) for name in family_names]
    train, validation = split_holdout(
        ratings, test_size=VALIDATION_SHARE, seed=np.random.default_rng([seed, 1])
    )
    plan = [
        (family, config)
        for family in families
        for config in candidate_configs(family, n_iter=n_iter, seed=seed)
    ]
    trials = []
    for done, (family, config) in enumerate(plan, start=1):
        started = time.perf_counter()
        model = family.train(train, config, film_genres=film_genres)
        seconds = time.perf_counter() - started
        value = objective_value(
            model, validation, train, objective=objective, k=k, relevant_min=relevant_min
        )
        trials.append(Trial(family.name, config, value, seconds))
        logger.info("search %s %s: %s %.4f", family.name, config.as_dict(), objective, value)
        if progress is not None:
            progress(done / len(plan))
    # max keeps the first of equal values: the default configuration wins a tie.
    best = max(trials, key=lambda trial: trial.value)
    return SearchResult(objective=objective, best=best, trials=tuple(trials))
