"""Simulation runs and their rounds. Simulated ratings are recommender.Rating rows with
origin=simulated and a link to the round that produced them."""

from django.db import models

from recommender.models import RunStatus, optional_link


class SimulationRun(models.Model):
    Status = RunStatus

    class Truth(models.TextChoices):
        MODEL = "model", "the served model's prediction (as the original system)"
        ORACLE = "oracle", "a separate ground-truth model the served model never sees"

    seed = models.BigIntegerField()
    truth = models.CharField(max_length=8, choices=Truth.choices, default=Truth.MODEL)
    # What was asked for (simulation.services.SimulationParameters, resolved). State picked up
    # while the run is recorded or played has its own columns below.
    parameters = models.JSONField(default=dict)
    time_origin = models.BigIntegerField(
        null=True, blank=True, help_text="unix seconds where round 1 starts (after every rating)"
    )
    oracle_artifact_path = models.CharField(
        max_length=500, blank=True, help_text="the oracle model's file (truth=oracle)"
    )
    oracle_artifact_sha256 = models.CharField(max_length=64, blank=True)
    oracle_ratings = models.CharField(
        max_length=400,
        blank=True,
        help_text="what the oracle was trained on (the original ratings' count, id range and "
        "score sum, and the oracle's configuration): runs on the same data share one oracle",
    )
    sigma_calibrated = models.FloatField(
        null=True, blank=True, help_text="the rating noise calibrated on round 1 (sigma=auto)"
    )
    task_id = models.CharField(max_length=255, blank=True, help_text="the queued task, if any")
    rounds_planned = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, default="")
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"simulation {self.pk} ({self.status})"


class SimulationRound(models.Model):
    run = models.ForeignKey(SimulationRun, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    scoring_run = optional_link(
        "recommender.ScoringRun",
        on_delete=models.SET_NULL,
        related_name="rounds",
    )
    window_start = models.DateTimeField(
        null=True, blank=True, help_text="simulated time of the round"
    )
    window_end = models.DateTimeField(null=True, blank=True)
    arrivals = models.PositiveIntegerField(default=0)
    interactions = models.PositiveIntegerField(default=0)
    shift_active = models.BooleanField(default=False)
    metrics = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="round_number_unique_per_run")
        ]
        ordering = ["run", "number"]

    def __str__(self) -> str:
        return f"round {self.number} of simulation {self.run_id}"
