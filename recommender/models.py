"""Catalogue and ratings: the data every later part of the product reads."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from recommender.engine.segments import OverallFigures

# The source data is on the half-star scale 0.5-5.0 (the original system wrongly assumed 0-5).
HALF_STAR_SCORES = tuple(i / 2 for i in range(1, 11))


def optional_link(
    to: str, *, on_delete: Callable[..., None], related_name: str, **options: Any
) -> models.ForeignKey:
    """A foreign key that may be empty: NULL in the database, not required in forms."""
    return models.ForeignKey(
        to, null=True, blank=True, on_delete=on_delete, related_name=related_name, **options
    )


class Genre(models.Model):
    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Film(models.Model):
    # The MovieLens movieId: the id ratings refer to in both supported data formats.
    source_id = models.BigIntegerField(unique=True)
    title = models.CharField(max_length=512)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    imdb_id = models.CharField(max_length=16, blank=True)
    tmdb_id = models.BigIntegerField(null=True, blank=True)
    genres = models.ManyToManyField(Genre, related_name="films", blank=True)

    class Meta:
        ordering = ["source_id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title


class Viewer(models.Model):
    """A person who rates films (a "user" in the source data); not a login account."""

    class Origin(models.TextChoices):
        ORIGINAL = "original", "original"
        SIMULATED = "simulated", "arrived in a simulation"

    source_id = models.BigIntegerField(unique=True)
    origin = models.CharField(max_length=9, choices=Origin.choices, default=Origin.ORIGINAL)
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="viewer",
    )

    class Meta:
        ordering = ["source_id"]

    def __str__(self) -> str:
        return f"viewer {self.source_id}"


class Rating(models.Model):
    class Origin(models.TextChoices):
        ORIGINAL = "original", "original"
        SIMULATED = "simulated", "simulated"

    # No separate index on viewer: the unique (viewer, film) constraint's index serves
    # "all ratings of a viewer" as its leading column.
    viewer = models.ForeignKey(
        Viewer, on_delete=models.CASCADE, db_index=False, related_name="ratings"
    )
    film = models.ForeignKey(Film, on_delete=models.CASCADE, related_name="ratings")
    score = models.FloatField()
    rated_at = models.DateTimeField()
    origin = models.CharField(max_length=9, choices=Origin.choices, default=Origin.ORIGINAL)
    # Indexed only where set (see Meta): original ratings, the bulk of the table, have no round.
    round = optional_link(
        "simulation.SimulationRound",
        on_delete=models.CASCADE,
        related_name="ratings",
        db_index=False,
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["round"], condition=Q(round__isnull=False), name="rating_round_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["viewer", "film"], name="rating_one_per_viewer_film"),
            models.CheckConstraint(
                condition=Q(score__in=HALF_STAR_SCORES), name="rating_half_star_scale"
            ),
            models.CheckConstraint(
                condition=(
                    Q(origin="original", round__isnull=True)
                    | Q(origin="simulated", round__isnull=False)
                ),
                name="rating_simulated_iff_round",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.viewer} rated {self.film_id}: {self.score}"


class RunStatus(models.TextChoices):
    """Where a long run of work stands: a scoring run here, a simulation run in simulation."""

    RUNNING = "running", "running"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"


class ModelVersion(OverallFigures, models.Model):
    """A trained model in the registry. Its learned arrays live in an immutable,
    content-addressed artifact file whose sha256 is recorded here and checked on load."""

    class Status(models.TextChoices):
        TRAINING = "training", "training"
        CHALLENGER = "challenger", "challenger"
        CHAMPION = "champion", "champion"
        PENDING_REVIEW = "pending_review", "pending review"
        REJECTED = "rejected", "rejected"
        RETIRED = "retired", "retired"
        FAILED = "failed", "failed"

    algorithm = models.CharField(max_length=32, default="svd")
    hyperparameters = models.JSONField(default=dict)
    training_window = models.JSONField(
        default=dict, help_text="which ratings the model was trained on"
    )
    training_rows = models.PositiveIntegerField(default=0)
    holdout_rows = models.PositiveIntegerField(default=0)
    artifact_path = models.CharField(max_length=512, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(
        default=dict, help_text="holdout benchmark: overall, per genre, ranking"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, help_text="who or what started the training")
    trained_seconds = models.FloatField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)
    decision_reason = models.TextField(blank=True)
    comparison = models.JSONField(
        default=dict,
        blank=True,
        help_text="challenger vs champion on the same recent holdout, per metric",
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [("review_challengers", "Can approve or reject challengers pending review")]
        constraints = [
            # At most one champion, whatever the code above does: a partial unique index.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="champion"), name="model_version_one_champion"
            ),
        ]

    def __str__(self) -> str:
        return f"model v{self.pk} ({self.status})"


class ModelVersionEvent(models.Model):
    """Every change of a model version's status: who or what made it, when and why."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.CharField(max_length=150, help_text="user:NAME, command:NAME, beat, task:NAME")
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"v{self.version_id}: {self.from_status or '-'} -> {self.to_status} by {self.actor}"


class ScoringRun(models.Model):
    """One scoring of every viewer with a model version. Served only once completed."""

    Status = RunStatus

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="scoring_runs"
    )
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150)
    viewers = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, help_text="per viewer group (all, existing, new)")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status", "-finished_at"], name="scoring_run_served_idx")]

    def __str__(self) -> str:
        return f"scoring run {self.pk} of v{self.model_version_id} ({self.status})"


class ScoredList(models.Model):
    """One viewer's ranked list in a scoring run, stored as packed little-endian arrays:
    int32 film source ids, float32 ranking scores and float32 predicted ratings.

    One row per viewer (not per viewer and film): 270k viewers x 120 films is 270k rows of
    about 1.4 kB, instead of 32M rows.
    """

    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="lists")
    viewer = models.ForeignKey(Viewer, on_delete=models.CASCADE, db_index=False, related_name="+")
    from_model = models.BooleanField(help_text="False: the cold-start popularity fallback")
    film_ids = models.BinaryField()
    scores = models.BinaryField()
    predicted = models.BinaryField()

    class Meta:
        # (run, viewer) serves "this viewer's list in the served run"; no other index is needed.
        constraints = [
            models.UniqueConstraint(fields=["run", "viewer"], name="scored_list_one_per_viewer")
        ]


class PackedFilmStats(models.Model):
    """Per-film figures over every rating up to some rating id: rating count and sum per film,
    packed little-endian (int64 film source ids in ascending order, int64 counts, float64
    sums; about 1 MB at 45k films)."""

    film_ids = models.BinaryField()
    counts = models.BinaryField()
    sums = models.BinaryField()

    class Meta:
        abstract = True


class RunFilmStats(PackedFilmStats):
    """A scoring run's per-film figures over its snapshot (every rating up to its newest
    rating id).

    Aggregating them takes one pass over every rating (14 s at 26M ratings); stored once per
    run, they serve the run's shards and metrics, and a process serving lists adds only the
    ratings made since the snapshot."""

    run = models.OneToOneField(
        ScoringRun, on_delete=models.CASCADE, primary_key=True, related_name="film_stats"
    )

    class Meta:
        verbose_name = "scoring run's film figures"
        verbose_name_plural = "scoring runs' film figures"

    def __str__(self) -> str:
        return f"film figures of scoring run {self.run_id}"


class RoundFilmStats(PackedFilmStats):
    """Per-film figures over every rating up to rating_pk_max, stored by a simulation round
    once its ratings are in: its scoring run stored those of before
    them, and a process serving lists would otherwise aggregate the round's ratings again
    (about 0.7 s for a round of 3M, paid by the first request after it). Deleted with the
    round."""

    round = models.OneToOneField(
        "simulation.SimulationRound",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="film_stats",
    )
    rating_pk_max = models.BigIntegerField()

    class Meta:
        verbose_name = "round's film figures"
        verbose_name_plural = "rounds' film figures"

    def __str__(self) -> str:
        return f"film figures after round {self.round_id}"


class ShardListSums(models.Model):
    """What one shard of a sharded scoring run adds to the run's list metrics (coverage,
    diversity, personalisation, genre counts are ratios of sums over lists:
    engine.list_sums): per viewer group, the counts in `scalars` and, in `arrays`,
    little-endian float64 figures per film of the run's catalogue (RunFilmStats' film ids).

    Stored with the shard's lists in one transaction, so the chord's callback adds a few
    arrays of the catalogue's length instead of reading every stored list."""

    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="shard_sums")
    shard = models.PositiveIntegerField()
    scalars = models.JSONField()
    arrays = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "shard"], name="shard_list_sums_once_per_shard")
        ]
        verbose_name = "scoring shard's list sums"
        verbose_name_plural = "scoring shards' list sums"

    def __str__(self) -> str:
        return f"list sums of shard {self.shard} of scoring run {self.run_id}"


class DriftReport(models.Model):
    """The champion's accuracy on a window of recent interactions against its training
    benchmark, metric by metric, and whether retraining is required."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="drift_reports"
    )
    round = optional_link(
        "simulation.SimulationRound",
        on_delete=models.SET_NULL,
        related_name="drift_reports",
    )
    window = models.JSONField(default=dict, help_text="which interactions were judged")
    thresholds = models.JSONField(default=dict)
    metrics = models.JSONField(
        default=list, help_text="per judged metric: both R², drop, CI, degraded"
    )
    not_judged = models.JSONField(default=list)
    retraining_required = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        verdict = "retraining required" if self.retraining_required else "stable"
        return f"drift report {self.pk} on v{self.model_version_id}: {verdict}"

    @property
    def degraded(self) -> list[str]:
        return [m["metric"] for m in self.metrics if m["degraded"]]


class Lease(models.Model):
    """Who holds a piece of exclusive work (training, retraining, the cycle) and until when.

    A lease is an efficiency lock with an owner token and an expiry: a second request is told
    who is busy instead of queueing a duplicate, and a holder that died lets go when its lease
    expires. Correctness of the champion itself lives in the registry's transaction lock."""

    name = models.CharField(max_length=64, primary_key=True)
    owner = models.CharField(max_length=255, help_text="task id, or command:<host>:<pid>")
    purpose = models.CharField(max_length=64)
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.purpose} by {self.owner} until {self.expires_at:%H:%M:%S}"


class Evaluation(models.Model):
    """One offline evaluation (`manage.py evaluate`): every model family and baseline trained
    and judged on one protocol's split of the stored original ratings, as one table."""

    class Protocol(models.TextChoices):
        RECOMMENDERS = "recommenders", "Microsoft Recommenders (stratified 75/25)"
        HOLDOUT = "holdout", "project holdout (seeded 80/20, relevant = rating >= 4)"

    protocol = models.CharField(max_length=32, choices=Protocol.choices)
    k = models.PositiveSmallIntegerField(help_text="list length the ranking metrics judge")
    seed = models.BigIntegerField()
    dataset = models.JSONField(default=dict, help_text="ratings, viewers, films evaluated")
    parameters = models.JSONField(
        default=dict, help_text="each family's hyperparameters and the served penalty"
    )
    rows = models.JSONField(default=list, help_text="one row per family or baseline")
    sweep = models.JSONField(
        default=list, blank=True, help_text="penalty trade-off curve (evaluate --sweep)"
    )
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"evaluation {self.pk} ({self.protocol}, k={self.k})"


class DrawnChartSet(models.Model):
    """The metric page's charts as drawn for one metric history (`recommender/web/
    metric_charts.py`). Drawing them takes seconds and grows with the history, so the job that
    changes the history draws them once and every web process reads them from here."""

    key = models.CharField(
        max_length=64,
        unique=True,
        help_text="digest of what the charts plot and how they are drawn",
    )
    charts = models.JSONField(help_text='in page order: {"name", "title", "svg"} each')
    drawn_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"charts {self.key[:12]} drawn {self.drawn_at:%Y-%m-%d %H:%M:%S}"
