"""Offline evaluation (`manage.py evaluate`): load the stored original ratings, run the engine's
evaluation (recommender.engine.offline), store the table as an Evaluation and track it in W&B."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from django.conf import settings

from recommender.engine.model import SVDConfig
from recommender.engine.offline import (
    DEFAULT_SEEDS,
    PROTOCOLS,
    RECOMMENDERS_SVD_PARAMETERS,
    Contender,
    OfflineEvaluation,
    evaluate_offline,
)
from recommender.engine.training import fit_svd
from recommender.models import Evaluation, Rating
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.ratings import ratings_frame
from recommender.services.scoring import default_penalty
from recommender.tracking import track_run

logger = logging.getLogger(__name__)

FAMILY_NAMES: tuple[str, ...] = ("svd",)
DEFAULT_FAMILY = "svd"


def family_contenders(
    names: Sequence[str] | None, *, protocol: str, seed: int, search: bool
) -> list[Contender]:
    """The families to evaluate (all of them when names is None), configured for `protocol`
    with `seed`: under the recommenders protocol svd takes Microsoft's published parameters."""
    names = list(FAMILY_NAMES) if names is None else list(names)
    unknown = [name for name in names if name not in FAMILY_NAMES]
    if unknown:
        raise ValueError(
            f"unknown model famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
            f"known: {', '.join(FAMILY_NAMES)}"
        )
    config = SVDConfig(seed=seed)
    if protocol == "recommenders":
        config = replace(config, **RECOMMENDERS_SVD_PARAMETERS)
    return [
        Contender(
            name="svd",
            fit=lambda train: fit_svd(train, config),
            predicts_ratings=True,
            parameters=config.as_dict(),
        )
    ]


def evaluation_create(
    *,
    actor: str,
    protocol: str = "recommenders",
    k: int = 10,
    seed: int | None = None,
    families: Sequence[str] | None = None,
    sweep: bool = False,
    search: bool = False,
    progress: ProgressCallback | None = None,
) -> Evaluation:
    """Evaluate every family (or the named ones) and the baselines on the stored original
    ratings under `protocol`, store the result and track it. Raises ValueError for an unknown
    protocol or family, EmptyRatingsError when nothing is imported."""
    progress = progress or no_progress
    progress("reading ratings", 0.0)
    ratings = ratings_frame(origin=Rating.Origin.ORIGINAL)
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    seed = DEFAULT_SEEDS[protocol] if seed is None else seed
    contenders = family_contenders(families, protocol=protocol, seed=seed, search=search)
    names = [c.name for c in contenders]
    penalty = default_penalty()
    result = evaluate_offline(
        ratings,
        protocol=protocol,
        contenders=contenders,
        served_family=DEFAULT_FAMILY if DEFAULT_FAMILY in names else None,
        served_penalty=penalty,
        new_user_threshold=settings.RECOMMENDER["NEW_USER_THRESHOLD"],
        k=k,
        seed=seed,
        sweep=sweep,
        progress=progress,
    )
    parameters = {
        "families": {c.name: dict(c.parameters) for c in contenders},
        "served": {
            "family": DEFAULT_FAMILY,
            "transform": penalty.transform,
            "alpha": penalty.alpha,
            "new_user_threshold": settings.RECOMMENDER["NEW_USER_THRESHOLD"],
        },
    }
    evaluation = _store(result, parameters, actor)
    _track(evaluation, result)
    return evaluation


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
