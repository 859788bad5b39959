"""The API's answers as OpenAPI 3 describes them (drf-spectacular, served at /api/v1/schema/).

Documentation only: the API builds its answers as plain dicts in recommender.api.serializers,
and these serializer classes say what those dicts hold, field for field (same names, same
nullability), so the schema shows clients the shapes they really get. Nothing here parses or
renders a request; tests/api/test_openapi.py checks real answers against these shapes.
"""

from __future__ import annotations

import dataclasses
import typing

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from recommender.engine.families import FAMILIES
from recommender.engine.monitoring import Decision, DriftThresholds
from recommender.engine.segments import VIEWER_GROUPS
from recommender.services.recommendations import (
    COMPUTED_FROM_RUN,
    COMPUTED_ON_THE_FLY,
    SOURCE_FALLBACK,
    SOURCE_MODEL,
)

# --- errors --------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What is wrong, and with which parameter or id.")


# Said of every endpoint: no credentials (or a wrong token), and a failure of the server.
UNAUTHENTICATED = (
    "No credentials, or a token that does not exist: the answer carries `WWW-Authenticate: Token`."
)
SERVER_ERROR = "An unexpected failure; it was logged for the operators and is not detailed here."
NOT_A_BROWSER = "The account is neither a reviewer nor staff."


def responses(ok: type[serializers.Serializer], answer: str, errors: dict[int, str]) -> dict:
    """The 200 answer (`ok`, described by `answer`) and every error status the endpoint can
    give, each {"error": ...}; 401 and 500 are added to every endpoint's `errors`."""
    statuses = {**errors, 401: UNAUTHENTICATED, 500: SERVER_ERROR}
    return {
        200: OpenApiResponse(response=ok, description=answer),
        **{
            status: OpenApiResponse(response=ErrorSerializer, description=description)
            for status, description in sorted(statuses.items())
        },
    }


# --- parameters ----------------------------------------------------------------------------


def id_in_path(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT, OpenApiParameter.PATH, description=description)


def bounded_int_query(
    name: str, description: str, *, default: int, minimum: int, maximum: int
) -> OpenApiParameter:
    """An optional integer query parameter; outside its bounds (or not an integer written in
    decimal digits) the endpoint answers 400."""
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": minimum, "maximum": maximum},
        OpenApiParameter.QUERY,
        required=False,
        default=default,
        description=f"{description} ({minimum} to {maximum}; {default} if absent)",
    )


# --- GET viewers/<viewer_id>/recommendations/ ----------------------------------------------


class RecommendedFilmSerializer(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1, help_text="1 is the best.")
    film_id = serializers.IntegerField(help_text="The film's MovieLens id.")
    title = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    genres = serializers.ListField(child=serializers.CharField())
    predicted_rating = serializers.FloatField(
        help_text="The model's predicted rating; for the popularity fallback, the film's "
        "mean rating."
    )
    score = serializers.FloatField(
        help_text="What the list is ordered by: the prediction minus the popularity penalty "
        "for the model, rating count x mean rating for the fallback."
    )


class RecommendationsSerializer(serializers.Serializer):
    viewer_id = serializers.IntegerField(help_text="The viewer's MovieLens id.")
    source = serializers.ChoiceField(
        choices=[SOURCE_MODEL, SOURCE_FALLBACK],
        help_text="`model`, or `fallback` (popularity) for a viewer with too few ratings.",
    )
    computed = serializers.ChoiceField(
        choices=[COMPUTED_FROM_RUN, COMPUTED_ON_THE_FLY],
        help_text="Read from the served scoring run, or computed on the fly with the champion.",
    )
    scoring_run_id = serializers.IntegerField(
        allow_null=True, help_text="The run the list was read from; null when computed on the fly."
    )
    model_version_id = serializers.IntegerField(
        allow_null=True, help_text="The champion the list was served under."
    )
    films = RecommendedFilmSerializer(many=True)


# --- GET champion/ -------------------------------------------------------------------------


def dataclass_serializer(config: type) -> type[serializers.Serializer]:
    """A serializer with one field per field of an engine config dataclass, typed as the
    dataclass types it: the documented shape cannot drift from the config the API passes
    through as it is (asdict)."""
    field_types = {int: serializers.IntegerField, float: serializers.FloatField}
    field_types |= {bool: serializers.BooleanField, str: serializers.CharField}
    hints = typing.get_type_hints(config)
    declared = {f.name: field_types[hints[f.name]]() for f in dataclasses.fields(config)}
    return type(f"{config.__name__}Serializer", (serializers.Serializer,), declared)


def family_fields() -> str:
    """Each model family's hyperparameters, as the champion's `config` documents them."""
    return "; ".join(
        f"`{name}`: {', '.join(f.name for f in dataclasses.fields(family.config_type))}"
        for name, family in FAMILIES.items()
    )


class TrainingWindowSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["all", "last rounds", "since"], help_text="Which ratings the model saw."
    )
    holdout_share = serializers.FloatField()
    seed = serializers.IntegerField()
    rounds = serializers.IntegerField(required=False, help_text="With kind `last rounds`.")
    since = serializers.DateTimeField(required=False, help_text="With kind `since`.")
    recent_holdout_round = serializers.IntegerField(
        required=False, help_text="A retrained challenger: the round it was compared on."
    )
    search = serializers.BooleanField(
        required=False, help_text="A retrained challenger: whether its config was searched."
    )


class SegmentScoreSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Holdout ratings in the segment.")
    rmse = serializers.FloatField(allow_null=True)
    r2 = serializers.FloatField(allow_null=True, help_text="Null when undefined.")
    judged = serializers.BooleanField(
        help_text="False for a segment with too few ratings (rmse and r2 are then null)."
    )


class RankingSerializer(serializers.Serializer):
    k = serializers.IntegerField(allow_null=True)
    precision_at_k = serializers.FloatField(allow_null=True)
    recall_at_k = serializers.FloatField(allow_null=True)
    ndcg_at_k = serializers.FloatField(allow_null=True)
    relevance_threshold = serializers.FloatField(allow_null=True)
    ranked_viewers = serializers.IntegerField(allow_null=True)


class BenchmarkSerializer(serializers.Serializer):
    """The holdout benchmark; its figures are null for a version without one."""

    overall = SegmentScoreSerializer(allow_null=True)
    per_genre = serializers.DictField(child=SegmentScoreSerializer(), help_text="By genre name.")
    ranking = RankingSerializer()
    min_segment_size = serializers.IntegerField(allow_null=True)


class ChampionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="`champion`.")
    algorithm = serializers.ChoiceField(
        choices=list(FAMILIES), help_text="The model family (docs/architecture.md)."
    )
    trained_at = serializers.DateTimeField()
    trained_by = serializers.CharField()
    training_seconds = serializers.FloatField(allow_null=True)
    champion_since = serializers.DateTimeField(allow_null=True)
    made_champion_by = serializers.CharField()
    reason = serializers.CharField(help_text="Why it became champion.")
    config = serializers.DictField(
        help_text="The hyperparameters of the model's family (`algorithm`): " + family_fields()
    )
    training_window = TrainingWindowSerializer()
    training_rows = serializers.IntegerField()
    holdout_rows = serializers.IntegerField()
    artifact_sha256 = serializers.CharField(help_text="The model file's sha256.")
    benchmark = BenchmarkSerializer()


# --- GET metrics/ --------------------------------------------------------------------------


class GenreAccuracySerializer(serializers.Serializer):
    n = serializers.IntegerField()
    r2 = serializers.FloatField(
        allow_null=True, help_text="Null for a genre with too few interactions to judge."
    )


class GroupAccuracySerializer(serializers.Serializer):
    n = serializers.IntegerField()
    rmse = serializers.FloatField(allow_null=True)
    r2 = serializers.FloatField(allow_null=True)
    per_genre = serializers.DictField(child=GenreAccuracySerializer(), help_text="By genre name.")


class ListFiguresSerializer(serializers.Serializer):
    viewers = serializers.IntegerField()
    coverage = serializers.FloatField(allow_null=True)
    diversity = serializers.FloatField(allow_null=True)
    personalization = serializers.FloatField(allow_null=True)


def _by_viewer_group(child: type[serializers.Serializer], name: str) -> type:
    """An object with one optional entry per viewer group (engine.segments.VIEWER_GROUPS):
    a round has only the groups it had viewers of."""
    fields = {group: child(required=False) for group in VIEWER_GROUPS}
    return type(name, (serializers.Serializer,), fields)


AccuracyByGroupSerializer = _by_viewer_group(GroupAccuracySerializer, "AccuracyByGroupSerializer")
ListsByGroupSerializer = _by_viewer_group(ListFiguresSerializer, "ListsByGroupSerializer")


class RoundDriftSerializer(serializers.Serializer):
    """The round's verdict: the first drift report on it."""

    report_id = serializers.IntegerField()
    retraining_required = serializers.BooleanField()
    degraded = serializers.ListField(child=serializers.CharField())


class RoundRetrainingSerializer(serializers.Serializer):
    challenger_id = serializers.IntegerField(allow_null=True)
    decision = serializers.ChoiceField(choices=[d.value for d in Decision], allow_null=True)
    reason = serializers.CharField()


class ExperienceSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Films consumed in the segment.")
    mean_true_rating = serializers.FloatField(
        allow_null=True, help_text="Mean true rating of the consumed films (before noise)."
    )
    liked_share = serializers.FloatField(
        allow_null=True, help_text="Share of the consumed films rated 4 or more."
    )
    top_hit_rate = serializers.FloatField(
        allow_null=True, help_text="Share of top-10 slots consumed and rated 4 or more."
    )


class SimulationRoundSerializer(serializers.Serializer):
    round_id = serializers.IntegerField(help_text="The round's own id (drift reports name it).")
    simulation_run_id = serializers.IntegerField()
    round = serializers.IntegerField(help_text="Its number in the run, from 1.")
    played_at = serializers.DateTimeField(help_text="When it was played (wall-clock time).")
    shift_active = serializers.BooleanField(help_text="Whether a taste shift applied.")
    interactions = serializers.IntegerField(help_text="Films chosen and rated in the round.")
    arrivals = serializers.IntegerField(help_text="New viewers who arrived in the round.")
    scoring_run_id = serializers.IntegerField(
        allow_null=True, help_text="The scoring run whose lists the viewers chose from."
    )
    champion_version_id = serializers.IntegerField(
        allow_null=True, help_text="The champion whose lists the viewers chose from."
    )
    accuracy = AccuracyByGroupSerializer()
    lists = ListsByGroupSerializer()
    experience = serializers.DictField(
        child=ExperienceSerializer(),
        help_text="What viewers experienced, per segment ('overall', 'genre:NAME'); "
        "empty for rounds played before it was measured.",
    )
    drift = RoundDriftSerializer(allow_null=True, help_text="Null for a round not monitored.")
    retraining = RoundRetrainingSerializer(
        allow_null=True, help_text="Null unless the cycle retrained on this round."
    )


class PromotionSerializer(serializers.Serializer):
    version_id = serializers.IntegerField(help_text="The model version made champion.")
    at = serializers.DateTimeField()
    from_status = serializers.CharField(help_text="The status the version left.")
    actor = serializers.CharField(help_text="Who or what promoted it: user:NAME, beat, ...")
    reason = serializers.CharField()


class MetricHistorySerializer(serializers.Serializer):
    rounds = SimulationRoundSerializer(many=True, help_text="Oldest first.")
    promotions = PromotionSerializer(many=True, help_text="Oldest first.")


# --- GET drift-reports/ and drift-reports/<report_id>/ -------------------------------------


class DriftReportSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_version_id = serializers.IntegerField(help_text="The champion it judged.")
    round_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    retraining_required = serializers.BooleanField()
    degraded = serializers.ListField(
        child=serializers.CharField(), help_text="The degraded metrics' names."
    )
    judged = serializers.IntegerField(help_text="How many metrics were judged.")
    not_judged = serializers.IntegerField(help_text="How many segments could not be judged.")


class DriftReportListSerializer(serializers.Serializer):
    drift_reports = DriftReportSummarySerializer(many=True, help_text="Newest first.")


class DriftReferenceSerializer(serializers.Serializer):
    rounds = serializers.ListField(
        child=serializers.IntegerField(), help_text="Round ids, in play order."
    )
    wanted = serializers.IntegerField(help_text="DRIFT_REFERENCE_ROUNDS.")
    kind = serializers.ChoiceField(choices=["first", "rolling"])
    ratings = serializers.IntegerField(help_text="Their ratings by viewers the champion knows.")


class DriftWindowSerializer(serializers.Serializer):
    round = serializers.IntegerField(help_text="The round whose interactions were judged.")
    ratings = serializers.IntegerField()
    existing_viewer_ratings = serializers.IntegerField(
        help_text="Those by viewers the champion was trained on (the ones judged)."
    )
    reference = DriftReferenceSerializer(
        required=False, help_text="The reference rule's reference rounds (absent otherwise)."
    )


class DriftThresholdsSerializer(dataclass_serializer(DriftThresholds)):
    rule = serializers.ChoiceField(
        choices=["reference", "benchmark"],
        required=False,
        help_text="Which rule judged: the champion's earlier rounds, or its training benchmark.",
    )
    alpha = serializers.FloatField(required=False, help_text="Reference rule: error rate.")
    correction = serializers.ChoiceField(
        choices=["holm", "bh"], required=False, help_text="Reference rule: across segments."
    )
    interval = serializers.ChoiceField(
        choices=["auto", "bootstrap", "analytic"],
        required=False,
        help_text="Reference rule: DRIFT_INTERVAL, how intervals are found.",
    )
    analytic_min_viewers = serializers.IntegerField(
        required=False,
        help_text="Reference rule: with interval auto, the viewers each side needs for the "
        "analytic interval (DRIFT_ANALYTIC_MIN_VIEWERS).",
    )
    interval_used = serializers.ChoiceField(
        choices=["bootstrap", "analytic", ""],
        required=False,
        help_text="Reference rule: the interval this report used (empty: nothing judged).",
    )


class MetricDriftSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="`overall` or `genre:<name>`.")
    benchmark_r2 = serializers.FloatField()
    current_r2 = serializers.FloatField()
    drop = serializers.FloatField(help_text="benchmark_r2 - current_r2 (positive: worse).")
    threshold = serializers.FloatField()
    degraded = serializers.BooleanField()
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField()
    above_threshold = serializers.BooleanField()
    n = serializers.IntegerField()
    reference_n = serializers.IntegerField(allow_null=True, required=False)
    reference_rmse = serializers.FloatField(allow_null=True, required=False)
    current_rmse = serializers.FloatField(allow_null=True, required=False)
    round_r2 = serializers.FloatField(
        allow_null=True, required=False, help_text="The round's R² at its own spread."
    )
    p_value = serializers.FloatField(
        allow_null=True, required=False, help_text="Reference rule: one-sided, no rise."
    )
    p_adjusted = serializers.FloatField(
        allow_null=True, required=False, help_text="After the correction across segments."
    )


class DriftReportSerializer(DriftReportSummarySerializer):
    window = DriftWindowSerializer()
    thresholds = DriftThresholdsSerializer()
    metrics = MetricDriftSerializer(many=True)
    not_judged = serializers.ListField(
        child=serializers.CharField(), help_text="The segments that could not be judged."
    )
