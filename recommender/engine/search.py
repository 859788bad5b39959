"""Hyperparameter search for the SVD (the original system had none): surprise's randomised
search with cross-validation over factors, epochs, learning rate and regularisation."""

from __future__ import annotations

import logging
from dataclasses import replace

import pandas as pd
from surprise import SVD, Dataset, Reader
from surprise.model_selection import RandomizedSearchCV

from recommender.engine.model import RATING_MAX, RATING_MIN, EmptyRatingsError, SVDConfig

logger = logging.getLogger(__name__)

SEARCH_SPACE = {
    "n_factors": [20, 50, 100, 150],
    "n_epochs": [10, 20, 30],
    "lr_all": [0.002, 0.005, 0.01],
    "reg_all": [0.02, 0.05, 0.1],
}


def search_svd_config(
    ratings: pd.DataFrame, base: SVDConfig, *, n_iter: int = 8, folds: int = 3
) -> SVDConfig:
    """The best of `n_iter` random points of SEARCH_SPACE by cross-validated RMSE, with the
    base config's seed for the search and the fit."""
    if ratings.empty:
        raise EmptyRatingsError("no ratings to search hyperparameters on")
    data = Dataset.load_from_df(
        ratings[["viewer_id", "film_id", "rating"]], Reader(rating_scale=(RATING_MIN, RATING_MAX))
    )
    search = RandomizedSearchCV(
        SVD,
        {**SEARCH_SPACE, "random_state": [base.seed]},
        n_iter=n_iter,
        measures=["rmse"],
        cv=folds,
        random_state=base.seed,
        n_jobs=1,
    )
    search.fit(data)
    best = search.best_params["rmse"]
    logger.info("hyperparameter search: best RMSE %.4f with %s", search.best_score["rmse"], best)
    return replace(
        base,
        n_factors=best["n_factors"],
        n_epochs=best["n_epochs"],
        lr_all=best["lr_all"],
        reg_all=best["reg_all"],
    )
