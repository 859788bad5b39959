"""Holdout evaluation of a trained model: accuracy overall and per genre, and ranking quality.

Per-genre scores are what drift monitoring compares, so a genre with too few holdout ratings
is reported as not judged (rmse and r2 None, "insufficient data"), never as a number that
would be noise.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recommender.engine import metrics
from recommender.engine.checks import checked_float, checked_int
from recommender.engine.model import EmptyRatingsError, IdIndex, TrainedModel
from recommender.engine.scoring import build_seen_matrix, score_viewers
from recommender.engine.training import RATING_COLUMNS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentScore:
    """Accuracy on the holdout ratings of one segment (all ratings, or one genre).

    judged is False when the segment has fewer than the minimum number of ratings; rmse and
    r2 are then None. r2 is also None for a judged segment whose true ratings are all equal
    (R² undefined).
    """

    n: int
    rmse: float | None
    r2: float | None
    judged: bool

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")
        if not self.judged and (self.rmse is not None or self.r2 is not None):
            raise ValueError("a segment that is not judged has no rmse or r2 (they must be None)")

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "rmse": self.rmse, "r2": self.r2, "judged": self.judged}


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate_model` measured. Ranking metrics are None when no training ratings were
    given (the films already seen would be unknown) or no viewer could be ranked."""

    overall: SegmentScore
    per_genre: dict[str, SegmentScore]
    precision_at_k: float | None
    recall_at_k: float | None
    ndcg_at_k: float | None
    k: int
    relevance_threshold: float = 4.0
    ranked_viewers: int = 0
    min_segment_size: int = 100

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: plain floats, ints, bools and None."""
        return {
            "overall": self.overall.to_dict(),
            "per_genre": {genre: score.to_dict() for genre, score in self.per_genre.items()},
            "precision_at_k": self.precision_at_k,
            "recall_at_k": self.recall_at_k,
            "ndcg_at_k": self.ndcg_at_k,
            "k": self.k,
            "relevance_threshold": self.relevance_threshold,
            "ranked_viewers": self.ranked_viewers,
            "min_segment_size": self.min_segment_size,
        }


def _score(n: int, sse: float, sst: float, min_segment_size: int) -> SegmentScore:
    """Same formulas as metrics.rmse and metrics.r2, from sums already reduced per segment."""
    if n < min_segment_size:
        return SegmentScore(n=n, rmse=None, r2=None, judged=False)
    r2 = None if sst == 0.0 else 1.0 - sse / sst
    return SegmentScore(n=n, rmse=math.sqrt(sse / n), r2=r2, judged=True)


def evaluate_model(
    model: TrainedModel,
    holdout: pd.DataFrame,
    *,
    film_genres: pd.DataFrame,
    min_segment_size: int = 100,
    train: pd.DataFrame | None = None,
    k: int = 10,
    relevance_threshold: float = 4.0,
) -> Evaluation:
    """Score `model` on the holdout ratings (viewer_id, film_id, rating).

    Accuracy: RMSE and R² of model.predict on every holdout rating, overall and per genre
    (a rating belongs to every genre of its film; film_genres has one row per (film_id,
    genre); every genre in it is reported, with n = 0 when the holdout has none of it).

    Ranking (only when `train` is given), for each viewer known to the model with at least
    one relevant holdout rating (rating >= relevance_threshold): rank every film the model
    knows except those the viewer rated in `train` (score_viewers, no penalty), keep the
    top k, and average over those viewers
      precision@k = hits / k,
      recall@k    = hits / n_relevant (standard recall),
      NDCG@k      = DCG / ideal DCG, binary relevance, discount 1 / log2(rank + 1), the
                    ideal DCG having min(k, n_relevant) hits at the top.
    Relevant films the model does not know count in n_relevant but can never be hits.
    """
    min_segment_size = checked_int("min_segment_size", min_segment_size, minimum=1)
    k = checked_int("k", k, minimum=1)
    relevance_threshold = checked_float("relevance_threshold", relevance_threshold)
    _check_evaluation_frames(holdout, film_genres)
    truth = holdout["rating"].to_numpy(dtype=np.float64)
    film_ids = holdout["film_id"].to_numpy()
    predicted = model.predict(holdout["viewer_id"].to_numpy(), film_ids)
    overall = _overall_score(truth, predicted, min_segment_size)
    errors = (truth - predicted) ** 2
    per_genre = _per_genre(film_ids, truth, errors, film_genres, min_segment_size)
    precision = recall = ndcg = None
    ranked = 0
    if train is not None:
        result = ranking_metrics(model, holdout, train, k=k, threshold=relevance_threshold)
        if result is not None:
            precision, recall, ndcg, ranked = result
    evaluation = Evaluation(
        overall=overall,
        per_genre=per_genre,
        precision_at_k=precision,
        recall_at_k=recall,
        ndcg_at_k=ndcg,
        k=k,
        relevance_threshold=float(relevance_threshold),
        ranked_viewers=ranked,
        min_segment_size=min_segment_size,
    )
    _log_evaluation(evaluation)
    return evaluation


def _log_evaluation(evaluation: Evaluation) -> None:
    logger.info(
        "evaluated on %d holdout ratings: RMSE %s, R² %s; %d of %d genres judged; "
        "precision@%d %s over %d viewers",
        evaluation.overall.n,
        evaluation.overall.rmse,
        evaluation.overall.r2,
        sum(s.judged for s in evaluation.per_genre.values()),
        len(evaluation.per_genre),
        evaluation.k,
        evaluation.precision_at_k,
        evaluation.ranked_viewers,
    )


def _check_evaluation_frames(holdout: pd.DataFrame, film_genres: pd.DataFrame) -> None:
    missing = [c for c in RATING_COLUMNS if c not in holdout.columns]
    if missing:
        raise ValueError(f"holdout is missing column(s) {missing}; found {list(holdout.columns)}")
    if holdout.empty:
        raise EmptyRatingsError("the holdout is empty: there is nothing to evaluate on")
    missing = [c for c in ("film_id", "genre") if c not in film_genres.columns]
    if missing:
        raise ValueError(f"film_genres is missing column(s) {missing}")


def _overall_score(truth: np.ndarray, predicted: np.ndarray, min_segment_size: int) -> SegmentScore:
    if len(truth) < min_segment_size:
        return SegmentScore(n=len(truth), rmse=None, r2=None, judged=False)
    try:
        r2: float | None = metrics.r2(truth, predicted)
    except ValueError:
        logger.warning("overall R² undefined: every holdout rating is the same")
        r2 = None
    return SegmentScore(n=len(truth), rmse=metrics.rmse(truth, predicted), r2=r2, judged=True)


def _per_genre(
    film_ids: np.ndarray,
    truth: np.ndarray,
    errors: np.ndarray,
    film_genres: pd.DataFrame,
    min_segment_size: int,
) -> dict[str, SegmentScore]:
    pairs = film_genres[["film_id", "genre"]].drop_duplicates()
    genres = sorted(pairs["genre"].astype(str).unique())
    # One row per (holdout rating, genre of its film).
    rows = pd.DataFrame({"film_id": film_ids, "truth": truth, "error": errors}).merge(
        pairs, on="film_id", how="inner"
    )
    rows["genre"] = rows["genre"].astype(str)
    grouped = rows.groupby("genre", sort=True)
    deviation = (rows["truth"] - grouped["truth"].transform("mean")) ** 2
    sums = pd.DataFrame(
        {
            "n": grouped.size(),
            "sse": grouped["error"].sum(),
            "sst": deviation.groupby(rows["genre"]).sum(),
        }
    ).reindex(genres, fill_value=0)
    return {
        genre: _score(int(n), float(sse), float(sst), min_segment_size)
        for genre, n, sse, sst in zip(sums.index, sums["n"], sums["sse"], sums["sst"], strict=True)
    }


def ranking_metrics(
    model: TrainedModel, holdout: pd.DataFrame, train: pd.DataFrame, *, k: int, threshold: float
) -> tuple[float, float, float, int] | None:
    relevant = holdout[holdout["rating"] >= threshold]
    candidates = np.unique(relevant["viewer_id"].to_numpy())
    viewers = candidates[model.viewer_index(candidates) >= 0]
    if len(viewers) < len(candidates):
        logger.info(
            "%d viewer(s) with relevant holdout ratings are unknown to the model and not ranked",
            len(candidates) - len(viewers),
        )
    if len(viewers) == 0:
        logger.warning("no viewer to rank: ranking metrics are not computed")
        return None
    seen = build_seen_matrix(
        viewers,
        model.film_ids,
        rated_viewer_ids=train["viewer_id"].to_numpy(),
        rated_film_ids=train["film_id"].to_numpy(),
    )
    ranking = score_viewers(model, viewers, seen=seen, n=k)

    rows = IdIndex.build(viewers, "viewers")
    relevant_rows = rows.find(relevant["viewer_id"].to_numpy())
    relevant_films = model.film_index(relevant["film_id"].to_numpy())
    kept = relevant_rows >= 0
    n_relevant = np.bincount(relevant_rows[kept], minlength=len(viewers))
    # A (viewer row, film row) pair as one integer, so membership is one vectorised isin.
    stride = model.n_films + 1
    relevant_keys = relevant_rows[kept] * stride + relevant_films[kept]
    recommended = model.film_index(ranking.film_ids)
    recommended_keys = np.arange(len(viewers))[:, None] * stride + recommended
    hits = np.isin(recommended_keys, relevant_keys[relevant_films[kept] >= 0]) & (recommended >= 0)
    return (
        metrics.precision_at_k(hits),
        metrics.recall_at_k(hits, n_relevant),
        metrics.ndcg_at_k(hits, n_relevant),
        len(viewers),
    )


def segment_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    membership: np.ndarray,
    genre_names: list[str],
    *,
    min_segment_size: int = 100,
) -> tuple[SegmentScore, dict[str, SegmentScore]]:
    """Accuracy overall and per genre for arbitrary (rating, prediction) pairs, e.g. one
    simulated round. membership: (n, genres) bool, row i the genres of rating i's film.
    Vectorised: per-genre sums are matrix products with the membership matrix."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    members = np.asarray(membership, dtype=np.float64)
    if y_true.shape != y_pred.shape or members.shape != (len(y_true), len(genre_names)):
        raise ValueError(
            f"shapes disagree: y_true {y_true.shape}, y_pred {y_pred.shape}, membership {members.shape} "
            f"for {len(genre_names)} genres"
        )
    errors = (y_true - y_pred) ** 2
    n = len(y_true)
    overall = _score(
        n,
        float(errors.sum()),
        float(((y_true - y_true.mean()) ** 2).sum()) if n else 0.0,
        min_segment_size,
    )
    counts = members.sum(axis=0)
    sse = errors @ members
    # SST per genre = sum(y^2) - n * mean^2 over the genre's ratings.
    totals = y_true @ members
    sst = (y_true**2) @ members - np.divide(
        totals**2, counts, out=np.zeros_like(totals), where=counts > 0
    )
    per_genre = {
        name: _score(int(counts[g]), float(sse[g]), max(float(sst[g]), 0.0), min_segment_size)
        for g, name in enumerate(genre_names)
    }
    return overall, per_genre
