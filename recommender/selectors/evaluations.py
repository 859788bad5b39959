"""The stored offline evaluations (manage.py evaluate), shaped for the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recommender.engine.offline import row_cells, table_headers
from recommender.models import Evaluation


@dataclass(frozen=True)
class SweepCurve:
    """One family under one penalty transform: a point per alpha."""

    family: str
    transform: str
    alphas: list[float]
    ndcg: list[float]
    coverage: list[float]
    novelty: list[float]


@dataclass(frozen=True)
class EvaluationTable:
    id: int
    protocol: str
    protocol_label: str
    k: int
    seed: int
    created_at: datetime
    created_by: str
    dataset: dict
    headers: list[str]
    rows: list[list[str]]
    has_calibrated_ratings: bool
    curves: list[SweepCurve]


def latest_evaluation() -> EvaluationTable | None:
    """The newest evaluation as the table `manage.py evaluate` prints, and its sweep's
    curves; None before the first evaluation."""
    evaluation = Evaluation.objects.order_by("-created_at", "-id").first()
    if evaluation is None:
        return None
    return EvaluationTable(
        id=evaluation.pk,
        protocol=evaluation.protocol,
        protocol_label=evaluation.get_protocol_display(),
        k=evaluation.k,
        seed=evaluation.seed,
        created_at=evaluation.created_at,
        created_by=evaluation.created_by,
        dataset=evaluation.dataset,
        headers=table_headers(evaluation.k),
        rows=[row_cells(row) for row in evaluation.rows],
        has_calibrated_ratings=any(r.get("predicts_ratings") is False for r in evaluation.rows),
        curves=_curves(evaluation.sweep),
    )


def _curves(sweep: list[dict]) -> list[SweepCurve]:
    curves: dict[tuple[str, str], list[dict]] = {}
    for point in sweep:
        curves.setdefault((point["family"], point["transform"]), []).append(point)
    return [
        SweepCurve(
            family=family,
            transform=transform,
            alphas=[p["alpha"] for p in points],
            ndcg=[p["ndcg_at_k"] for p in points],
            coverage=[p["coverage"] for p in points],
            novelty=[p["novelty"] for p in points],
        )
        for (family, transform), points in curves.items()
    ]
