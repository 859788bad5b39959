"""Offline evaluation (`manage.py evaluate`): load the stored original ratings, run the engine's
evaluation (recommender.engine.offline), store the table as an Evaluation and track it in W&B."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import pandas as pd
from django.conf import settings

from recommender.engine.checks import checked_int
from recommender.engine.families import FAMILIES, default_config, family_named
from recommender.engine.offline import (
    DEFAULT_SEEDS,
    PROTOCOLS,
    RECOMMENDERS_SVD_PARAMETERS,
    Contender,
    OfflineEvaluation,
    evaluate_offline,
)
from recommender.engine.scoring import PopularityPenalty
from recommender.engine.search import search_families
from recommender.models import Evaluation, Rating
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.ratings import film_genres_frame, ratings_frame
from recommender.services.scoring import default_penalty
from recommender.tracking import track_run

logger = logging.getLogger(__name__)


def family_contenders(
    names: Sequence[str] | None,
    *,
    protocol: str,
    seed: int,
    k: int,
    search: bool,
    film_genres: pd.DataFrame,
    search_iterations: int | None = None,
) -> list[Contender]:
    """The families to evaluate (every registered one when names is None) with their default
    configuration and `seed`; under the recommenders protocol svd takes Microsoft's published
    parameters. search: each family's configuration is searched (engine.search, ranking
    objective) on the protocol's training ratings instead, search_iterations candidates per
    family (default: the SEARCH_ITERATIONS setting)."""
    iterations = checked_int(
        "search iterations",
        settings.RECOMMENDER["SEARCH_ITERATIONS"]
        if search_iterations is None
        else search_iterations,
        minimum=1,
    )
    families = [family_named(name) for name in (FAMILIES if names is None else names)]
    contenders = []
    for family in families:
        config = default_config(family.name, seed=seed)
        if protocol == "recommenders" and family.name == "svd":
            config = replace(config, **RECOMMENDERS_SVD_PARAMETERS)
        contenders.append(
            Contender(
                name=family.name,
                predicts_ratings=family.predicts_ratings,
                config=config,
                train=partial(family.train, film_genres=film_genres),
                search=partial(_searched_config, family.name, film_genres, seed, k, iterations)
                if search
                else None,
            )
        )
    return contenders


def _searched_config(
    family: str,
    film_genres: pd.DataFrame,
    seed: int,
    k: int,
    iterations: int,
    train: pd.DataFrame,
):
    result = search_families(
        train,
        [family],
        film_genres=film_genres,
        n_iter=iterations,
        seed=seed,
        k=k,
    )
    return result.best.config


def evaluation_create(
    *,
    actor: str,
    protocol: str = "recommenders",
    k: int = 10,
    seed: int | None = None,
    families: Sequence[str] | None = None,
    sweep: bool = False,
    search: bool = False,
    search_iterations: int | None = None,
    progress: ProgressCallback | None = None,
) -> Evaluation:
    """Evaluate every family (or the named ones) and the baselines on the stored original
    ratings under `protocol`, store the result and track it. Raises ValueError for an unknown
    protocol or family, EmptyRatingsError when nothing is imported."""
    progress = progress or no_progress
    progress("reading ratings", 0.0)
    ratings = ratings_frame(origin=Rating.Origin.ORIGINAL)
    film_genres = film_genres_frame()
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    seed = DEFAULT_SEEDS[protocol] if seed is None else seed
    if search_iterations is None:
        search_iterations = settings.RECOMMENDER["SEARCH_ITERATIONS"]
    contenders = family_contenders(
        families,
        protocol=protocol,
        seed=seed,
        k=k,
        search=search,
        film_genres=film_genres,
        search_iterations=search_iterations,
    )
    # The served row is the product's own lists: its family (MODEL_FAMILY) and penalty.
    served = settings.RECOMMENDER["MODEL_FAMILY"]
    penalty = default_penalty()
    result = evaluate_offline(
        ratings,
        protocol=protocol,
        contenders=contenders,
        served_family=served if served in [c.name for c in contenders] else None,
        served_penalty=penalty,
        new_user_threshold=settings.RECOMMENDER["NEW_USER_THRESHOLD"],
        k=k,
        seed=seed,
        sweep=sweep,
        progress=progress,
    )
    searched = {"searched": search, "search_iterations": search_iterations}
    evaluation = _store(result, _parameters(result, served, penalty, searched), actor)
    _track(evaluation, result)
    return evaluation


def _parameters(
    result: OfflineEvaluation, served: str, penalty: PopularityPenalty, searched: dict
) -> dict:
    return {
        "families": {row.name: row.parameters for row in result.rows if row.kind == "family"},
        **searched,
        "served": {
            "family": served,
            "transform": penalty.transform,
            "alpha": penalty.alpha,
            "new_user_threshold": settings.RECOMMENDER["NEW_USER_THRESHOLD"],
        },
    }


def _store(result: OfflineEvaluation, parameters: dict, actor: str) -> Evaluation:
    return Evaluation.objects.create(
        protocol=result.protocol,
        k=result.k,
        seed=result.seed,
        dataset=result.dataset,
        parameters=parameters,
        rows=[row.as_dict() for row in result.rows],
        sweep=[point.as_dict() for point in result.sweep],
        seconds=result.seconds,
        created_by=actor,
    )


def _track(evaluation: Evaluation, result: OfflineEvaluation) -> None:
    track_run(
        job_type="evaluate",
        name=f"evaluation-{evaluation.pk}-{result.protocol}",
        config={
            "protocol": result.protocol,
            "k": result.k,
            "seed": result.seed,
            **evaluation.parameters,
        },
        metrics={
            "dataset": result.dataset,
            **{
                row.name: {key: value for key, value in row.as_dict().items() if key != "name"}
                for row in result.rows
            },
        },
    )
