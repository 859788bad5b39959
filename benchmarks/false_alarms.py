"""False-alarm rate of the drift check: unshifted simulation rounds over many seeds, each judged
at the default thresholds with and without the bootstrap-significance requirement.

Run: .venv/bin/python -m benchmarks.false_alarms [--seeds 24] [--truth model]
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from benchmarks.imports import BENCH_DIR, BUNDLED


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--truth", choices=["model", "oracle"], default="model")
    options = parser.parse_args(argv)
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
    from recommender.services.monitoring import drift_report_create
    from recommender.services.registry import model_version_train
    from simulation.services import (
        SimulationParameters,
        simulation_reset,
        simulation_run_create,
        simulation_run_execute,
    )

    call_command("migrate", verbosity=0)
    dataset_import_movielens(directory=BUNDLED)
    model_version_train(actor="bench")
    alarms = {False: 0, True: 0}
    flagged: Counter[str] = Counter()
    for seed in range(options.seeds):
        run = simulation_run_create(
            parameters=SimulationParameters(rounds=1, seed=seed, truth=options.truth), actor="bench"
        )
        simulation_run_execute(run=run)
        for significance in (False, True):
            report = drift_report_create(
                actor="bench", require_significance=significance, seed=seed
            )
            alarms[significance] += report.retraining_required
            if not significance:
                flagged.update(report.degraded)
        simulation_reset()
    print(f"\n### Drift false alarms: {options.seeds} unshifted rounds, truth {options.truth}\n")
    print("| retraining needs | false alarms | rate |")
    print("|---|---:|---:|")
    for significance, label in (
        (False, "threshold only (default)"),
        (True, "threshold and significance"),
    ):
        print(
            f"| {label} | {alarms[significance]} / {options.seeds} | {alarms[significance] / options.seeds:.0%} |"
        )
    if flagged:
        print(
            f"\nmetrics flagged (threshold only): {', '.join(f'{m} x{n}' for m, n in flagged.most_common())}"
        )


if __name__ == "__main__":
    main()
