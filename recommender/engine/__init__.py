"""The numerical core: numpy, pandas, scipy and scikit-surprise only, never Django.

It takes arrays and DataFrames and returns arrays and plain frozen dataclasses; it touches
no database, network or settings.
"""

from recommender.engine.artifact import (
    ArtifactError,
    ArtifactFormatError,
    ArtifactIntegrityError,
    SavedArtifact,
    load_model,
    save_model,
)
from recommender.engine.evaluation import Evaluation, SegmentScore, evaluate_model
from recommender.engine.metrics import (
    build_genre_matrix,
    coverage,
    diversity,
    genre_counts,
    ndcg_at_k,
    personalization,
    precision_at_k,
    r2,
    recall_at_k,
    rmse,
)
from recommender.engine.model import (
    EmptyRatingsError,
    IdIndex,
    SVDConfig,
    TrainedModel,
    UnknownViewerError,
)
from recommender.engine.scoring import (
    PopularityPenalty,
    Ranking,
    build_seen_matrix,
    concat_rankings,
    film_popularity,
    popularity_ranking,
    score_viewers,
    top_n,
)
from recommender.engine.training import fit_svd, split_holdout

__all__ = [
    "ArtifactError",
    "ArtifactFormatError",
    "ArtifactIntegrityError",
    "EmptyRatingsError",
    "Evaluation",
    "IdIndex",
    "PopularityPenalty",
    "Ranking",
    "SVDConfig",
    "SavedArtifact",
    "SegmentScore",
    "TrainedModel",
    "UnknownViewerError",
    "build_genre_matrix",
    "build_seen_matrix",
    "concat_rankings",
    "coverage",
    "diversity",
    "evaluate_model",
    "film_popularity",
    "fit_svd",
    "genre_counts",
    "load_model",
    "ndcg_at_k",
    "personalization",
    "popularity_ranking",
    "precision_at_k",
    "r2",
    "recall_at_k",
    "rmse",
    "save_model",
    "score_viewers",
    "split_holdout",
    "top_n",
]
