"""Weights & Biases tracking of trainings, simulation rounds and retraining decisions.

Offline by default (runs are written under var/wandb/, no account, no network); `disabled`
turns it off; `online` needs WANDB_API_KEY in the environment. Tracking never fails the
product's work: any error is logged as a warning and the work goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)


def flatten(values: Mapping, prefix: str = "") -> dict[str, float]:
    """Nested metrics as flat 'a/b/c' keys, numbers only (None and text are left out)."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}/"))
        elif isinstance(value, bool):
            flat[name] = float(value)
        elif isinstance(value, int | float):
            flat[name] = value
    return flat


def track_run(
    *,
    job_type: str,
    name: str,
    config: Mapping,
    metrics: Mapping,
    artifact: Path | None = None,
    artifact_name: str | None = None,
) -> str | None:
    """Record one run (config, metrics and optionally a model file); return its id, or None."""
    mode = settings.WANDB["MODE"]
    if mode == "disabled":
        return None
    try:
        import wandb

        directory = Path(settings.WANDB["DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        run = wandb.init(
            project=settings.WANDB["PROJECT"],
            job_type=job_type,
            name=name,
            config=dict(config),
            dir=str(directory),
            mode=mode,
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
        )
        try:
            flat = flatten(metrics)
            run.log(flat)
            run.summary.update(flat)
            if artifact is not None:
                logged = wandb.Artifact(artifact_name or Path(artifact).stem, type="model")
                logged.add_file(str(artifact))
                run.log_artifact(logged)
        finally:
            run.finish()
        return run.id
    except Exception as exc:  # noqa: BLE001 - tracking must never fail the work it records
        logger.warning("W&B tracking of %s %r failed: %s", job_type, name, exc)
        return None
