"""Model versions: the champion, challengers and their history."""

from __future__ import annotations

from recommender.models import ModelVersion


def current_champion() -> ModelVersion | None:
    """The model version in production, or None before the first training."""
    return ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
