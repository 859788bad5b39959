"""Simulation runs and their rounds (extended by the simulation issue)."""

from django.db import models


class SimulationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "running"
        COMPLETED = "completed", "completed"
        FAILED = "failed", "failed"

    seed = models.BigIntegerField()
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"simulation {self.pk} ({self.status})"


class SimulationRound(models.Model):
    run = models.ForeignKey(SimulationRun, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="round_number_unique_per_run")
        ]
        ordering = ["run", "number"]

    def __str__(self) -> str:
        return f"round {self.number} of simulation {self.run_id}"
