"""Catalogue and ratings: the data every later part of the product reads."""

from django.conf import settings
from django.db import models
from django.db.models import Q

# The source data is on the half-star scale 0.5-5.0 (the original system wrongly assumed 0-5).
HALF_STAR_SCORES = tuple(i / 2 for i in range(1, 11))


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

    source_id = models.BigIntegerField(unique=True)
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
    round = models.ForeignKey(
        "simulation.SimulationRound",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="ratings",
    )

    class Meta:
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
