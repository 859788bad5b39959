"""False-alarm rate and power of the drift check: over many seeds, an unshifted round and a
round with Action rated 10 % lower, each judged at the default thresholds with and without
the significance requirement.

Run: .venv/bin/python -m benchmarks.false_alarms [--seeds 24] [--truth model]
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from benchmarks.imports import BENCH_DIR, BUNDLED


def prepare_database() -> None:
    """A fresh SQLite file with the bundled data and a trained champion."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    database = BENCH_DIR / "false_alarms.sqlite3"
    database.unlink(missing_ok=True)
    os.environ.update(
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_SETTINGS_MODULE="recsite.settings",
        WANDB_MODE="disabled",
        ARTIFACT_DIR=str(BENCH_DIR / "models"),
    )
    import django

    django.setup()
    from django.core.management import call_command

    from recommender.services.imports import dataset_import_movielens
    from recommender.services.registry import model_version_train

    call_command("migrate", verbosity=0)
    dataset_import_movielens(directory=BUNDLED)
    model_version_train(actor="bench")


def measure(seeds: int, truth: str) -> tuple[dict, dict, dict]:
    """Per seed: one unshifted round (any retraining is a false alarm) and one round with
    Action rated 10 % lower (retraining with Action degraded is a detection), each judged with
    and without the significance requirement."""
    from recommender.services.monitoring import drift_report_create
    from simulation.services import (
        SimulationParameters,
        simulation_reset,
        simulation_run_create,
        simulation_run_execute,
    )

    alarms = {False: 0, True: 0}
    detections = {False: 0, True: 0}
    flagged: dict[bool, Counter[str]] = {False: Counter(), True: Counter()}
    for seed in range(seeds):
        for shift in ({}, {"Action": 0.9}):
            parameters = SimulationParameters(rounds=1, seed=seed, truth=truth, shift=shift)
            simulation_run_execute(run=simulation_run_create(parameters=parameters, actor="bench"))
            for significance in (False, True):
                report = drift_report_create(
                    actor="bench", require_significance=significance, seed=seed
                )
                if shift:
                    detections[significance] += "genre:Action" in report.degraded
                else:
                    alarms[significance] += report.retraining_required
                    flagged[significance].update(report.degraded)
            simulation_reset()
    return alarms, detections, flagged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--truth", choices=["model", "oracle"], default="model")
    options = parser.parse_args(argv)
    prepare_database()
    alarms, detections, flagged = measure(options.seeds, options.truth)
    n = options.seeds
    print(f"\n### Drift check: {n} seeds, truth {options.truth}, default thresholds\n")
    print("| retraining needs | false alarms (unshifted round) | Action x0.9 detected |")
    print("|---|---:|---:|")
    for significance, label in (
        (False, "drop > threshold (default, as the original)"),
        (True, "whole 95 % CI of the drop > threshold (`DRIFT_REQUIRE_SIGNIFICANCE=1`)"),
    ):
        print(
            f"| {label} | {alarms[significance]} / {n} ({alarms[significance] / n:.0%}) "
            f"| {detections[significance]} / {n} ({detections[significance] / n:.0%}) |"
        )
    for significance in (False, True):
        if flagged[significance]:
            label = "with significance" if significance else "threshold only"
            counts = ", ".join(f"{m} x{c}" for m, c in flagged[significance].most_common())
            print(f"\nfalse alarms by metric ({label}): {counts}")


if __name__ == "__main__":
    main()
